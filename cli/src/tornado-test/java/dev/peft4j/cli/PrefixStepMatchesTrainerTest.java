package dev.peft4j.cli;

import static dev.peft4j.cli.StepVersusTrainer.LAYERS;
import static dev.peft4j.cli.StepVersusTrainer.SEQ;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.peft4j.api.Parameter;
import dev.peft4j.kernels.tornado.LoraStep;
import dev.peft4j.lora.LoraConfig;
import dev.peft4j.lora.LoraMethod;
import dev.peft4j.models.peft.PeftModel;
import dev.peft4j.prefix.PrefixTuningConfig;
import dev.peft4j.prefix.PrefixTuningMethod;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The kernels' TornadoVM step with prefix tuning ({@link LoraStep} with {@link LoraStep.Prefix}, in its plain-Java
 * form: the device form is checked against that one in the kernels' device tests) against the real CPU trainer: a
 * {@link PeftModel} with {@link PrefixTuningMethod} (5 virtual tokens, a plain table) next to {@link LoraMethod} r8
 * (the step always carries LoRA: on q and v, and on all seven linears), trained by {@link LlamaTrainer}, on the same
 * base weights, parameters and batch. The loss, the table's gradient and every LoRA gradient agree within 1e-4
 * relative (max |diff| / max |expected| per tensor).
 *
 * <p>Compiled only in the {@code tornado} profile (TORNADOVM_HOME set).
 */
class PrefixStepMatchesTrainerTest {
    private static final LoraStep.Prefix PREFIX = new LoraStep.Prefix(5);

    @Test
    void prefixWithLoraOnQAndVMatchesTheCpuTrainer() {
        matches(LoraStep.QV);
    }

    @Test
    void prefixWithLoraOnAllSevenLinearsMatchesTheCpuTrainer() {
        matches(EnumSet.allOf(LoraStep.Site.class));
    }

    private static void matches(Set<LoraStep.Site> sites) {
        // the table's RoPE positions run to P + T: the model must know that many
        StepVersusTrainer f = new StepVersusTrainer(PREFIX.len() + SEQ);
        try (LoraStep step = LoraStep.of(f.shape, f.weights, 3, sites, null, PREFIX, null)) {
            PeftModel model = new PeftModel(f.base, 0);
            List<LoraStep.Site> order = step.loraSites();
            model.install(new LoraMethod(), LoraConfig.of(StepVersusTrainer.RANK, StepVersusTrainer.ALPHA,
                    order.stream().map(LoraStep.Site::module).toList()));
            model.install(new PrefixTuningMethod(), PrefixTuningConfig.of(PREFIX.len()));
            Map<String, Parameter> params = StepVersusTrainer.params(model);
            assertEquals(2 * sites.size() * LAYERS + 1, params.size(), "LoRA A and B per site and layer, one table: " + params.keySet());
            String[] names = StepVersusTrainer.loraNames(order);
            StepVersusTrainer.copyLora(step, params, names);
            Parameter table = StepVersusTrainer.named(params, "prompt_embeddings");
            float[] prefix = step.fetchPrefix();
            assertEquals(prefix.length, table.data().length, "table [P][L·2·kvDim]");
            System.arraycopy(prefix, 0, table.data(), 0, prefix.length);
            f.stepBoth(step, model);
            StepVersusTrainer.check("prompt_embeddings.grad", step.fetchPrefixGradient(), table.grad());
            StepVersusTrainer.checkLoraGradients(step, params, names);
        }
    }
}
