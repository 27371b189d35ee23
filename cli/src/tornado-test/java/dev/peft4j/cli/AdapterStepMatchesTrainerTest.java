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
import dev.peft4j.prefix.AdaptionPromptConfig;
import dev.peft4j.prefix.LlamaAdapterMethod;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
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
    private static final int DIM = 32, HIDDEN = 48, LAYERS = 3, HEADS = 4, KV_HEADS = 2, VOCAB = 41, RANK = 8;
    private static final int BATCH = 2, SEQ = 7;
    private static final float ALPHA = 16f;
    private static final LoraStep.LlamaAdapter ADAPTER = new LoraStep.LlamaAdapter(4, 1);

    @Test
    void lossAndAdapterGradientsMatchTheCpuTrainer() {
        LlamaConfig c = LlamaConfig.of(DIM, HIDDEN, LAYERS, HEADS, KV_HEADS, VOCAB, SEQ, false);
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

        try (LoraStep step = LoraStep.inJava(shape, weights, 3, ADAPTER)) {
            // the trainer's LoRA starts from the step's A and B (B is not zero, so every path carries a gradient)
            PeftModel model = new PeftModel(base, 0);
            model.install(new LoraMethod(), LoraConfig.of(RANK, ALPHA, List.of("q_proj", "v_proj")));
            model.install(new LlamaAdapterMethod(), AdaptionPromptConfig.fromLayer(ADAPTER.len(), ADAPTER.startLayer()));
            Map<String, Parameter> params = new HashMap<>();
            for (Parameter p : model.trainableParameters()) params.put(p.name(), p);
            assertEquals(4 * LAYERS + 2 * (LAYERS - ADAPTER.startLayer()), params.size(),
                    "LoRA A and B on q and v of every layer, prompt and gate on the adapted ones: " + params.keySet());
            float[][][] lora = step.fetchLora();
            String[] names = {"q_proj.lora_A", "q_proj.lora_B", "v_proj.lora_A", "v_proj.lora_B"};
            for (int m = 0; m < 4; m++)
                for (int l = 0; l < LAYERS; l++) {
                    float[] data = param(params, l, names[m]).data();
                    assertEquals(lora[m][l].length, data.length, names[m]);
                    System.arraycopy(lora[m][l], 0, data, 0, data.length);
                }
            float[][][] adapter = step.fetchAdapter();
            String[] adapterNames = {"adaption_prompt", "adaption_gate"};
            for (int m = 0; m < 2; m++)
                for (int a = 0; a < adapter[m].length; a++) {
                    Parameter p = adapterParam(params, a + ADAPTER.startLayer(), adapterNames[m]);
                    assertEquals(adapter[m][a].length, p.data().length, adapterNames[m]);
                    System.arraycopy(adapter[m][a], 0, p.data(), 0, p.data().length);
                }
            for (float g : adapter[1][0]) assertTrue(g != 0f, "non-zero gates");

            LlamaTrainer trainer = model.trainer(BATCH, SEQ, false);
            double expectedLoss = trainer.forwardBackward(new Batch(BATCH, SEQ, tokens, targets, lossWeights));
            double loss = step.step(tokens, targets, lossWeights, 1e-3f);
            System.out.printf(Locale.ROOT, "loss  LoraStep %.7f  LlamaTrainer %.7f  rel diff %.2e%n", loss, expectedLoss,
                    Math.abs(loss - expectedLoss) / expectedLoss);
            assertEquals(expectedLoss, loss, 1e-4 * expectedLoss, "loss");

            float[][][] grads = step.fetchLoraGradients();
            for (int m = 0; m < 4; m++)
                for (int l = 0; l < LAYERS; l++) check("layer_" + l + "." + names[m] + ".grad", grads[m][l], param(params, l, names[m]).grad());
            float[][][] adapterGrads = step.fetchAdapterGradients();
            for (int m = 0; m < 2; m++)
                for (int a = 0; a < adapterGrads[m].length; a++) {
                    int l = a + ADAPTER.startLayer();
                    check("layer_" + l + "." + adapterNames[m] + ".grad", adapterGrads[m][a], adapterParam(params, l, adapterNames[m]).grad());
                }
        }
    }

    private static Parameter param(Map<String, Parameter> params, int layer, String name) {
        String key = "base_model.model.model.layers." + layer + ".self_attn." + name + ".weight";
        Parameter p = params.get(key);
        assertTrue(p != null, "no parameter " + key + " in " + params.keySet());
        return p;
    }

    private static Parameter adapterParam(Map<String, Parameter> params, int layer, String name) {
        String key = "base_model.model.model.layers." + layer + ".self_attn." + name;
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
