package dev.peft4j.models.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.peft4j.api.Parameter;
import dev.peft4j.models.LlamaConfig;
import dev.peft4j.models.LlamaModel;
import dev.peft4j.models.LlamaWeights;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class LlamaTrainerTest {

    static Batch randomBatch(LlamaConfig c, int B, int T, long seed, boolean masked) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] in = new int[B * T], tg = new int[B * T];
        float[] w = new float[B * T];
        for (int i = 0; i < B * T; i++) {
            in[i] = r.nextInt(c.vocabSize());
            tg[i] = r.nextInt(c.vocabSize());
            w[i] = masked && i % T < 2 ? 0f : 1f; // the first two tokens of each sequence are "prompt"
        }
        return new Batch(B, T, in, tg, w);
    }

    @Test
    void lossEqualsTheInferenceModelsCrossEntropy() {
        LlamaConfig c = LlamaConfig.of(24, 40, 2, 4, 2, 30, 16, true);
        LlamaWeights w = LlamaWeights.random(c, 2, 0.3f);
        Batch b = randomBatch(c, 2, 6, 3, true);
        double loss = new LlamaTrainer(w, 2, 6, Set.of(), false).loss(b);
        LlamaModel m = new LlamaModel(w);
        double sum = 0, n = 0;
        for (int s = 0; s < 2; s++) {
            float[][] logits = m.forwardAll(java.util.Arrays.copyOfRange(b.inputs(), s * 6, s * 6 + 6));
            for (int t = 0; t < 6; t++) {
                double max = -1e30, z = 0;
                for (float v : logits[t]) max = Math.max(max, v);
                for (float v : logits[t]) z += Math.exp(v - max);
                double ce = max + Math.log(z) - logits[t][b.targets()[s * 6 + t]];
                sum += b.weights()[s * 6 + t] * ce;
                n += b.weights()[s * 6 + t];
            }
        }
        assertEquals(sum / n, loss, 1e-5 * Math.abs(loss));
        assertEquals(new DoubleLlama(w).loss(b), loss, 1e-5 * Math.abs(loss));
    }

    /** Every parameter's gradient against central differences of the double-precision model. */
    private static void checkGradients(LlamaConfig c, boolean recompute) {
        LlamaWeights w = LlamaWeights.random(c, 11, 0.3f);
        Batch b = randomBatch(c, 2, 5, 13, true);
        LlamaTrainer trainer = new LlamaTrainer(w, 2, 5, LlamaTrainer.ALL, recompute);
        double loss = trainer.forwardBackward(b);
        DoubleLlama ref = new DoubleLlama(w);
        assertEquals(ref.loss(b), loss, 1e-5 * Math.abs(loss), "loss");
        SplittableRandom r = new SplittableRandom(17);
        double h = 1e-5;
        double worst = 0;
        for (Parameter p : trainer.parameters()) {
            double[] x = ref.t.get(p.name());
            double gmax = 0;
            for (float g : p.grad()) gmax = Math.max(gmax, Math.abs(g));
            for (int trial = 0; trial < 6; trial++) {
                int i = r.nextInt(x.length);
                double old = x[i];
                x[i] = old + h;
                double up = ref.loss(b);
                x[i] = old - h;
                double down = ref.loss(b);
                x[i] = old;
                double fd = (up - down) / (2 * h);
                double err = Math.abs(fd - p.grad()[i]) / Math.max(gmax, 1e-6);
                worst = Math.max(worst, err);
                assertEquals(fd, p.grad()[i], 1e-4 * Math.max(gmax, 1e-6), p.name() + "[" + i + "]");
            }
        }
        System.out.printf("gradient check %s recompute=%s: loss %.6f, %d tensors, worst error %.2e of the max gradient (tol 1e-4)%n",
                c, recompute, loss, trainer.parameters().size(), worst);
    }

    @Test
    void gradientsMatchFiniteDifferencesTiedMha() {
        checkGradients(LlamaConfig.of(16, 24, 2, 2, 2, 20, 8, true), false);
    }

    @Test
    void gradientsMatchFiniteDifferencesUntiedGqa() {
        checkGradients(LlamaConfig.of(16, 24, 2, 4, 2, 20, 8, false), false);
    }

    @Test
    void recomputationGivesIdenticalGradients() {
        LlamaConfig c = LlamaConfig.of(16, 24, 3, 4, 1, 20, 8, false);
        Batch b = randomBatch(c, 2, 7, 5, true);
        LlamaWeights w = LlamaWeights.random(c, 3, 0.3f);
        LlamaTrainer plain = new LlamaTrainer(w, 2, 7, LlamaTrainer.ALL, false);
        LlamaTrainer recompute = new LlamaTrainer(w, 2, 7, LlamaTrainer.ALL, true);
        assertEquals(plain.forwardBackward(b), recompute.forwardBackward(b));
        List<Parameter> a = plain.parameters(), r = recompute.parameters();
        for (int i = 0; i < a.size(); i++) assertArrayEquals(a.get(i).grad(), r.get(i).grad(), a.get(i).name());
        System.out.printf("activations: %d bytes kept without recomputation, %d with%n", plain.activationBytes(), recompute.activationBytes());
    }

    @Test
    void frozenWeightsGetNoGradientAndTheInputGradientIsUnchanged() {
        LlamaConfig c = LlamaConfig.of(16, 24, 2, 2, 2, 20, 8, false);
        LlamaWeights w = LlamaWeights.random(c, 3, 0.3f);
        Batch b = randomBatch(c, 1, 6, 5, false);
        LlamaTrainer some = new LlamaTrainer(w, 1, 6, Set.of("model.layers.0.self_attn.q_proj.weight"), false);
        LlamaTrainer all = new LlamaTrainer(w, 1, 6, LlamaTrainer.ALL, false);
        some.forwardBackward(b);
        all.forwardBackward(b);
        assertEquals(1, some.parameters().size());
        Parameter q = all.parameters().stream().filter(p -> p.name().equals("model.layers.0.self_attn.q_proj.weight")).findFirst().orElseThrow();
        assertArrayEquals(q.grad(), some.parameters().get(0).grad());
    }

    @Test
    void backwardStopsAtTheLowestTrainableLayerWithTheSameGradients() {
        LlamaConfig c = LlamaConfig.of(16, 24, 4, 2, 2, 20, 8, false);
        LlamaWeights w = LlamaWeights.random(c, 7, 0.3f);
        Batch b = randomBatch(c, 2, 6, 9, true);
        Set<String> upper = Set.of("model.layers.1.self_attn.o_proj.weight", "model.layers.3.mlp.down_proj.weight");
        LlamaTrainer some = new LlamaTrainer(w, 2, 6, upper, false);
        LlamaTrainer all = new LlamaTrainer(w, 2, 6, LlamaTrainer.ALL, false);
        assertEquals(1, some.lowestBackwardLayer());
        assertEquals(0, all.lowestBackwardLayer());
        assertEquals(4, new LlamaTrainer(w, 2, 6, Set.of("model.norm.weight"), false).lowestBackwardLayer());
        assertEquals(0, new LlamaTrainer(w, 2, 6, Set.of("model.embed_tokens.weight"), false).lowestBackwardLayer());
        assertEquals(all.forwardBackward(b), some.forwardBackward(b));
        for (Parameter p : some.parameters()) {
            Parameter full = all.parameters().stream().filter(q -> q.name().equals(p.name())).findFirst().orElseThrow();
            assertArrayEquals(full.grad(), p.grad(), p.name());
        }
    }
}
