package dev.peft4j.lora;


import dev.peft4j.models.golden.Golden;
import dev.peft4j.models.io.Checkpoints;
import dev.peft4j.models.peft.PeftModel;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * LoRA against the float64 PyTorch reference of {@code models/src/test/golden/make_golden_peft.py},
 * on a frozen 2-layer GQA model: from the fixture's (non-zero) A and B, the loss and the gradient of
 * every A and B after one backward, then five AdamW steps (lr 1e-2, betas 0.9/0.95, weight decay
 * 0.1, clipping at global norm 1) on the LoRA parameters only: the losses and gradient norms. Each
 * within 1e-4 relative (max |diff| / max |expected| per tensor); every parameter after the last step
 * within 1e-3; the base weights must come out bit for bit unchanged.
 */
class GoldenLoraTest {
    @ParameterizedTest
    @CsvSource({
            "c1_lora_qv,  q_proj v_proj",
            "c2_lora_all, q_proj k_proj v_proj o_proj gate_proj up_proj down_proj"})
    void lossGradientsAndFiveAdamWStepsMatchPyTorch(String name, String modules) {
        PeftModel m = new PeftModel(Checkpoints.load(golden("base/hf")), 0);
        m.install(new LoraMethod(), LoraConfig.of(4, 8, List.of(modules.split(" "))));
        Golden.trainAndCompare(m, GoldenLoraTest.class, name);
    }

    private static java.nio.file.Path golden(String relative) {
        return Golden.resource(GoldenLoraTest.class, relative);
    }
}
