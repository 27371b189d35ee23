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

    /**
     * The same on a base stored as BF16 (make_golden_bf16.py: the reference computes from the bfloat16
     * weights): the frozen matrices stay BF16 in memory, read in place by the frozen linear kernels.
     */
    @org.junit.jupiter.api.Test
    void loraOnABf16BaseMatchesPyTorchWithBf16Weights() {
        dev.peft4j.models.LlamaWeights base = Checkpoints.load(golden("base_bf16/hf"));
        org.junit.jupiter.api.Assertions.assertEquals(java.util.Set.of(dev.peft4j.kernels.quant.GgmlType.BF16), base.storedTypes(),
                "the base's matrices are kept as stored");
        PeftModel m = new PeftModel(base, 0);
        m.install(new LoraMethod(), LoraConfig.of(4, 8, List.of("q_proj", "v_proj")));
        Golden.trainAndCompare(m, GoldenLoraTest.class, "c6_lora_qv_bf16");
        org.junit.jupiter.api.Assertions.assertEquals(java.util.Set.of(dev.peft4j.kernels.quant.GgmlType.BF16), base.storedTypes(),
                "training LoRA leaves the base BF16");
    }

    private static java.nio.file.Path golden(String relative) {
        return Golden.resource(GoldenLoraTest.class, relative);
    }
}
