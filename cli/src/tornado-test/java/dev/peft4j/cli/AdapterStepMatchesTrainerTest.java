package dev.peft4j.cli;

import static dev.peft4j.cli.StepVersusTrainer.LAYERS;
import static dev.peft4j.cli.StepVersusTrainer.SEQ;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.peft4j.api.Parameter;
import dev.peft4j.kernels.tornado.LoraStep;
import dev.peft4j.lora.LoraConfig;
import dev.peft4j.lora.LoraMethod;
import dev.peft4j.models.peft.PeftModel;
import dev.peft4j.prefix.AdaptionPromptConfig;
import dev.peft4j.prefix.LlamaAdapterMethod;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The kernels' TornadoVM step with a LLaMA-Adapter ({@link LoraStep} with {@link LoraStep.LlamaAdapter}, in its
 * plain-Java form: the device form is checked against that one in the kernels' device tests) against the
 * real CPU trainer: a {@link PeftModel} with {@link LlamaAdapterMethod} (prompts of 4 rows on layers 1 and 2
 * of three, non-zero gates) next to {@link LoraMethod} r8 on q_proj and v_proj (the step always carries
 * LoRA), trained by {@link LlamaTrainer}, on the same base weights, parameters and batch. The loss and every
 * adapter and LoRA gradient agree within 1e-4 relative (max |diff| / max |expected| per tensor).
 *
 * <p>Compiled only in the {@code tornado} profile (TORNADOVM_HOME set).
 */
class AdapterStepMatchesTrainerTest {
    private static final LoraStep.LlamaAdapter ADAPTER = new LoraStep.LlamaAdapter(4, 1);
    private static final String[] ADAPTER_NAMES = {"adaption_prompt", "adaption_gate"};

    @Test
    void lossAndAdapterGradientsMatchTheCpuTrainer() {
        StepVersusTrainer f = new StepVersusTrainer(SEQ);
        try (LoraStep step = LoraStep.inJava(f.shape, f.weights, 3, ADAPTER)) {
            PeftModel model = new PeftModel(f.base, 0);
            model.install(new LoraMethod(), LoraConfig.of(StepVersusTrainer.RANK, StepVersusTrainer.ALPHA, List.of("q_proj", "v_proj")));
            model.install(new LlamaAdapterMethod(), AdaptionPromptConfig.fromLayer(ADAPTER.len(), ADAPTER.startLayer()).perHeadGate()); // the device step has the per-head gate
            Map<String, Parameter> params = StepVersusTrainer.params(model);
            assertEquals(4 * LAYERS + 2 * (LAYERS - ADAPTER.startLayer()), params.size(),
                    "LoRA A and B on q and v of every layer, prompt and gate on the adapted ones: " + params.keySet());
            String[] names = StepVersusTrainer.loraNames(step.loraSites());
            StepVersusTrainer.copyLora(step, params, names);
            float[][][] adapter = step.fetchAdapter();
            for (int m = 0; m < 2; m++)
                for (int a = 0; a < adapter[m].length; a++) {
                    Parameter p = adapterParam(params, a + ADAPTER.startLayer(), ADAPTER_NAMES[m]);
                    assertEquals(adapter[m][a].length, p.data().length, ADAPTER_NAMES[m]);
                    System.arraycopy(adapter[m][a], 0, p.data(), 0, p.data().length);
                }
            for (float g : adapter[1][0]) assertTrue(g != 0f, "non-zero gates");

            f.stepBoth(step, model);
            StepVersusTrainer.checkLoraGradients(step, params, names);
            float[][][] adapterGrads = step.fetchAdapterGradients();
            for (int m = 0; m < 2; m++)
                for (int a = 0; a < adapterGrads[m].length; a++) {
                    int l = a + ADAPTER.startLayer();
                    StepVersusTrainer.check("layer_" + l + "." + ADAPTER_NAMES[m] + ".grad", adapterGrads[m][a],
                            adapterParam(params, l, ADAPTER_NAMES[m]).grad());
                }
        }
    }

    private static Parameter adapterParam(Map<String, Parameter> params, int layer, String name) {
        return StepVersusTrainer.named(params, "base_model.model.model.layers." + layer + ".self_attn." + name);
    }
}
