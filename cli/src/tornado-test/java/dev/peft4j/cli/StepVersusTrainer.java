package dev.peft4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.peft4j.api.Parameter;
import dev.peft4j.kernels.tornado.LoraStep;
import dev.peft4j.models.LlamaConfig;
import dev.peft4j.models.LlamaWeights;
import dev.peft4j.models.peft.PeftModel;
import dev.peft4j.models.train.Batch;
import dev.peft4j.models.train.LlamaTrainer;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * What the device-step-versus-trainer tests share: one small GQA model with norm weights other than
 * 1 (so a norm read at the wrong layer shows), a batch with a masked two-token prompt per sequence,
 * the step's view of the same weights, copying the step's starting values into the trainer's
 * parameters by name, and the 1e-4 relative comparison with its printed evidence.
 */
final class StepVersusTrainer {
    static final int DIM = 32, HIDDEN = 48, LAYERS = 3, HEADS = 4, KV_HEADS = 2, VOCAB = 41, RANK = 8;
    static final int BATCH = 2, SEQ = 7;
    static final float ALPHA = 16f;

    final LlamaWeights base;
    final LoraStep.Shape shape;
    final LoraStep.Weights weights;
    final int[] tokens, targets;
    final float[] lossWeights;

    /** @param context the model's context length (at least SEQ; prefix tuning needs P + SEQ positions) */
    StepVersusTrainer(int context) {
        LlamaConfig c = LlamaConfig.of(DIM, HIDDEN, LAYERS, HEADS, KV_HEADS, VOCAB, context, false);
        base = LlamaWeights.random(c, 7, 0.2f);
        for (float[] norm : base.attnNorm) scatter(norm, 11);
        for (float[] norm : base.ffnNorm) scatter(norm, 12);
        scatter(base.finalNorm, 13);
        shape = new LoraStep.Shape(DIM, LAYERS, HEADS, KV_HEADS, HIDDEN, VOCAB, BATCH, SEQ, RANK, ALPHA, c.normEps(), c.ropeTheta());
        weights = new LoraStep.Weights(base.tokenEmbedding.f32(), LoraStep.Weights.pack(base.attnNorm),
                LoraStep.Weights.pack(LlamaWeights.f32(base.wq)), LoraStep.Weights.pack(LlamaWeights.f32(base.wk)), LoraStep.Weights.pack(LlamaWeights.f32(base.wv)),
                LoraStep.Weights.pack(LlamaWeights.f32(base.wo)), LoraStep.Weights.pack(base.ffnNorm), LoraStep.Weights.pack(LlamaWeights.f32(base.wGate)),
                LoraStep.Weights.pack(LlamaWeights.f32(base.wUp)), LoraStep.Weights.pack(LlamaWeights.f32(base.wDown)), base.finalNorm, base.classifier.f32());
        int n = BATCH * SEQ;
        SplittableRandom r = new SplittableRandom(5);
        tokens = new int[n];
        targets = new int[n];
        lossWeights = new float[n];
        for (int i = 0; i < n; i++) {
            tokens[i] = r.nextInt(VOCAB);
            targets[i] = r.nextInt(VOCAB);
            lossWeights[i] = i % SEQ < 2 ? 0f : 1f; // a masked prompt of two tokens per sequence
        }
    }

    /** The model's trainable parameters by name. */
    static Map<String, Parameter> params(PeftModel model) {
        Map<String, Parameter> params = new HashMap<>();
        for (Parameter p : model.trainableParameters()) params.put(p.name(), p);
        return params;
    }

    /** The LoRA names in the step's order: {@code q_proj.lora_A, q_proj.lora_B, ...}. */
    static String[] loraNames(List<LoraStep.Site> order) {
        String[] names = new String[2 * order.size()];
        for (int i = 0; i < order.size(); i++) {
            names[2 * i] = order.get(i).module() + ".lora_A";
            names[2 * i + 1] = order.get(i).module() + ".lora_B";
        }
        return names;
    }

    /** Copies the step's LoRA A and B (B is not zero, so every path carries a gradient) into the trainer's. */
    static void copyLora(LoraStep step, Map<String, Parameter> params, String[] names) {
        float[][][] lora = step.fetchLora();
        for (int m = 0; m < names.length; m++)
            for (int l = 0; l < LAYERS; l++) {
                float[] data = loraParam(params, l, names[m]).data();
                assertEquals(lora[m][l].length, data.length, names[m]);
                System.arraycopy(lora[m][l], 0, data, 0, data.length);
            }
    }

    /** One step of each on the batch; asserts the losses agree within 1e-4 relative. */
    void stepBoth(LoraStep step, PeftModel model) {
        LlamaTrainer trainer = model.trainer(BATCH, SEQ, false);
        double expectedLoss = trainer.forwardBackward(new Batch(BATCH, SEQ, tokens, targets, lossWeights));
        double loss = step.step(tokens, targets, lossWeights, 1e-3f);
        System.out.printf(Locale.ROOT, "loss  LoraStep %.7f  LlamaTrainer %.7f  rel diff %.2e%n", loss, expectedLoss,
                Math.abs(loss - expectedLoss) / expectedLoss);
        assertEquals(expectedLoss, loss, 1e-4 * expectedLoss, "loss");
    }

    /** Every LoRA gradient of the step against the trainer's. */
    static void checkLoraGradients(LoraStep step, Map<String, Parameter> params, String[] names) {
        float[][][] grads = step.fetchLoraGradients();
        for (int m = 0; m < names.length; m++)
            for (int l = 0; l < LAYERS; l++) check("layer_" + l + "." + names[m] + ".grad", grads[m][l], loraParam(params, l, names[m]).grad());
    }

    /** A layer's LoRA parameter, e.g. {@code q_proj.lora_A} (under {@code mlp} for gate, up and down). */
    static Parameter loraParam(Map<String, Parameter> params, int layer, String name) {
        String block = name.startsWith("gate_") || name.startsWith("up_") || name.startsWith("down_") ? ".mlp." : ".self_attn.";
        return named(params, "base_model.model.model.layers." + layer + block + name + ".weight");
    }

    static Parameter named(Map<String, Parameter> params, String key) {
        Parameter p = params.get(key);
        assertTrue(p != null, "no parameter " + key + " in " + params.keySet());
        return p;
    }

    private static void scatter(float[] w, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        for (int i = 0; i < w.length; i++) w[i] = (float) (0.5 + r.nextDouble());
    }

    /** Asserts max |actual − expected| <= 1e-4 · max |expected| and prints the evidence. */
    static void check(String name, float[] actual, float[] expected) {
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
