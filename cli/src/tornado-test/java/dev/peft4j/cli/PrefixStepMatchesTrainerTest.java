package dev.peft4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.peft4j.api.Parameter;
import dev.peft4j.kernels.tornado.LoraStep;
import dev.peft4j.lora.LoraConfig;
import dev.peft4j.lora.LoraMethod;
import dev.peft4j.models.LlamaConfig;
import dev.peft4j.models.LlamaWeights;
import dev.peft4j.models.peft.PeftModel;
import dev.peft4j.models.train.Batch;
import dev.peft4j.models.train.LlamaTrainer;
import dev.peft4j.prefix.PrefixTuningConfig;
import dev.peft4j.prefix.PrefixTuningMethod;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
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
    private static final int DIM = 32, HIDDEN = 48, LAYERS = 3, HEADS = 4, KV_HEADS = 2, VOCAB = 41, RANK = 8;
    private static final int BATCH = 2, SEQ = 7;
    private static final float ALPHA = 16f;
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
        LlamaConfig c = LlamaConfig.of(DIM, HIDDEN, LAYERS, HEADS, KV_HEADS, VOCAB, PREFIX.len() + SEQ, false);
        LlamaWeights base = LlamaWeights.random(c, 7, 0.2f);
        for (float[] norm : base.attnNorm) scatter(norm, 11);
        for (float[] norm : base.ffnNorm) scatter(norm, 12);
        scatter(base.finalNorm, 13);
        LoraStep.Shape shape = new LoraStep.Shape(DIM, LAYERS, HEADS, KV_HEADS, HIDDEN, VOCAB, BATCH, SEQ, RANK, ALPHA,
                c.normEps(), c.ropeTheta());
        LoraStep.Weights weights = new LoraStep.Weights(base.tokenEmbedding, LoraStep.Weights.pack(base.attnNorm),
                LoraStep.Weights.pack(base.wq), LoraStep.Weights.pack(base.wk), LoraStep.Weights.pack(base.wv),
                LoraStep.Weights.pack(base.wo), LoraStep.Weights.pack(base.ffnNorm), LoraStep.Weights.pack(base.wGate),
                LoraStep.Weights.pack(base.wUp), LoraStep.Weights.pack(base.wDown), base.finalNorm, base.classifier);

        int n = BATCH * SEQ;
        SplittableRandom r = new SplittableRandom(5);
        int[] tokens = new int[n], targets = new int[n];
        float[] lossWeights = new float[n];
        for (int i = 0; i < n; i++) {
            tokens[i] = r.nextInt(VOCAB);
            targets[i] = r.nextInt(VOCAB);
            lossWeights[i] = i % SEQ < 2 ? 0f : 1f; // a masked prompt of two tokens per sequence
        }

        try (LoraStep step = LoraStep.of(shape, weights, 3, sites, null, PREFIX, null)) {
            PeftModel model = new PeftModel(base, 0);
            List<LoraStep.Site> order = step.loraSites();
            model.install(new LoraMethod(), LoraConfig.of(RANK, ALPHA, order.stream().map(LoraStep.Site::module).toList()));
            model.install(new PrefixTuningMethod(), PrefixTuningConfig.of(PREFIX.len()));
            Map<String, Parameter> params = new HashMap<>();
            for (Parameter p : model.trainableParameters()) params.put(p.name(), p);
            assertEquals(2 * sites.size() * LAYERS + 1, params.size(), "LoRA A and B per site and layer, one table: " + params.keySet());
            float[][][] lora = step.fetchLora();
            String[] names = new String[2 * order.size()];
            for (int i = 0; i < order.size(); i++) {
                names[2 * i] = order.get(i).module() + ".lora_A";
                names[2 * i + 1] = order.get(i).module() + ".lora_B";
            }
            for (int m = 0; m < names.length; m++)
                for (int l = 0; l < LAYERS; l++) {
                    float[] data = param(params, l, names[m]).data();
                    assertEquals(lora[m][l].length, data.length, names[m]);
                    System.arraycopy(lora[m][l], 0, data, 0, data.length);
                }
            Parameter table = table(params);
            float[] prefix = step.fetchPrefix();
            assertEquals(prefix.length, table.data().length, "table [P][L·2·kvDim]");
            System.arraycopy(prefix, 0, table.data(), 0, prefix.length);

            LlamaTrainer trainer = model.trainer(BATCH, SEQ, false);
            double expectedLoss = trainer.forwardBackward(new Batch(BATCH, SEQ, tokens, targets, lossWeights));
            double loss = step.step(tokens, targets, lossWeights, 1e-3f);
            System.out.printf(Locale.ROOT, "loss  LoraStep %.7f  LlamaTrainer %.7f  rel diff %.2e%n", loss, expectedLoss,
                    Math.abs(loss - expectedLoss) / expectedLoss);
            assertEquals(expectedLoss, loss, 1e-4 * expectedLoss, "loss");

            check("prompt_embeddings.grad", step.fetchPrefixGradient(), table.grad());
            float[][][] grads = step.fetchLoraGradients();
            for (int m = 0; m < names.length; m++)
                for (int l = 0; l < LAYERS; l++) check("layer_" + l + "." + names[m] + ".grad", grads[m][l], param(params, l, names[m]).grad());
        }
    }

    private static Parameter table(Map<String, Parameter> params) {
        return params.entrySet().stream().filter(e -> e.getKey().endsWith("prompt_embeddings")).map(Map.Entry::getValue)
                .findFirst().orElseThrow(() -> new AssertionError("no prompt_embeddings in " + params.keySet()));
    }

    private static Parameter param(Map<String, Parameter> params, int layer, String name) {
        String block = name.startsWith("gate_") || name.startsWith("up_") || name.startsWith("down_") ? ".mlp." : ".self_attn.";
        String key = "base_model.model.model.layers." + layer + block + name + ".weight";
        Parameter p = params.get(key);
        assertTrue(p != null, "no parameter " + key + " in " + params.keySet());
        return p;
    }

    /** Norm weights other than 1, so that a norm read at the wrong layer shows. */
    private static void scatter(float[] w, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        for (int i = 0; i < w.length; i++) w[i] = (float) (0.5 + r.nextDouble());
    }

    /** Asserts max |actual − expected| <= 1e-4 · max |expected| and prints the evidence. */
    private static void check(String name, float[] actual, float[] expected) {
        assertEquals(expected.length, actual.length, name + ": lengths");
        double diff = 0, max = 0;
        for (int i = 0; i < actual.length; i++) {
            assertTrue(Float.isFinite(actual[i]), name + ": non-finite");
            diff = Math.max(diff, Math.abs((double) actual[i] - expected[i]));
            max = Math.max(max, Math.abs(expected[i]));
        }
        System.out.printf(Locale.ROOT, "%-28s LoraStep [%.6f %.6f ..]  trainer [%.6f %.6f ..]  max diff %.3e  max %.3e%n", name,
                actual[0], actual[1], expected[0], expected[1], diff, max);
        assertTrue(max > 0, name + ": the expected gradient is all zero");
        assertTrue(diff <= 1e-4 * max, name + ": max diff " + diff + " > 1e-4 * " + max);
    }
}
