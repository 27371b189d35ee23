package dev.peft4j.cli;

import static dev.peft4j.cli.StepVersusTrainer.LAYERS;
import static dev.peft4j.cli.StepVersusTrainer.SEQ;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.peft4j.api.Parameter;
import dev.peft4j.kernels.tornado.LoraStep;
import dev.peft4j.lora.LoraConfig;
import dev.peft4j.lora.LoraMethod;
import dev.peft4j.models.peft.PeftModel;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The kernels' TornadoVM LoRA step ({@link LoraStep}, in its plain-Java form: the device form is
 * checked against that one in the kernels' device tests) against the real CPU trainer: a
 * {@link PeftModel} with {@link LoraMethod} r8 on q_proj and v_proj, and on all seven linears, trained by {@link LlamaTrainer},
 * on the same base weights, the same LoRA A and B and the same batch (with masked tokens). The loss
 * and every LoRA gradient agree within 1e-4 relative (max |diff| / max |expected| per tensor).
 *
 * <p>Compiled only in the {@code tornado} profile (TORNADOVM_HOME set), where the kernels jar holds
 * the TornadoVM classes.
 */
class LoraStepMatchesTrainerTest {
    @Test
    void lossAndLoraGradientsMatchTheCpuTrainer() {
        matches(LoraStep.QV);
    }

    /** LoRA on q, k, v, o, gate, up and down. */
    @Test
    void allSevenLinearsMatchTheCpuTrainer() {
        matches(EnumSet.allOf(LoraStep.Site.class));
    }

    private static void matches(Set<LoraStep.Site> sites) {
        StepVersusTrainer f = new StepVersusTrainer(SEQ);
        try (LoraStep step = LoraStep.of(f.shape, f.weights, 3, sites, null, null, null)) {
            PeftModel model = new PeftModel(f.base, 0);
            List<LoraStep.Site> order = step.loraSites();
            model.install(new LoraMethod(), LoraConfig.of(StepVersusTrainer.RANK, StepVersusTrainer.ALPHA,
                    order.stream().map(LoraStep.Site::module).toList()));
            Map<String, Parameter> params = StepVersusTrainer.params(model);
            assertEquals(2 * sites.size() * LAYERS, params.size(), "LoRA A and B on " + sites + " of every layer: " + params.keySet());
            String[] names = StepVersusTrainer.loraNames(order);
            StepVersusTrainer.copyLora(step, params, names);
            f.stepBoth(step, model);
            StepVersusTrainer.checkLoraGradients(step, params, names);
        }
    }
}
