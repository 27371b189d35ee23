package dev.peft4j.models.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.peft4j.api.Parameter;
import dev.peft4j.models.LlamaConfig;
import dev.peft4j.models.LlamaModel;
import dev.peft4j.models.LlamaWeights;
import java.util.List;
import org.junit.jupiter.api.Test;

class OptimizationTest {

    @Test
    void scheduleWarmsUpLinearlyThenDecaysByCosine() {
        LrSchedule s = new LrSchedule(1e-3, 10, 110, 1e-4);
        assertEquals(1e-4, s.at(0), 1e-12);
        assertEquals(5e-4, s.at(4), 1e-12);
        assertEquals(1e-3, s.at(9), 1e-12);
        assertEquals(1e-3, s.at(10), 1e-12);
        assertEquals(1e-4 + 0.5 * 9e-4, s.at(60), 1e-12); // halfway through the decay
        assertEquals(1e-4, s.at(110), 1e-12);
        assertEquals(1e-4, s.at(500), 1e-12);
        assertEquals(3e-4, LrSchedule.constant(3e-4).at(1234), 0);
    }

    @Test
    void adamWMatchesTheUpdateRuleInDouble() {
        float[] w = {0.5f, -1.0f, 2.0f}, g = {0.1f, -0.2f, 0.3f};
        Parameter p = new Parameter("p", new int[]{3}, w);
        double[] wd = {0.5, -1.0, 2.0}, m = new double[3], v = new double[3];
        AdamWOptimizer opt = new AdamWOptimizer(List.of(p), 0.9f, 0.95f, 1e-8f, 0.1f, 0);
        for (int t = 1; t <= 5; t++) {
            System.arraycopy(new float[]{0.1f * t, -0.2f, 0.3f / t}, 0, p.grad(), 0, 3);
            for (int i = 0; i < 3; i++) {
                double gi = p.grad()[i], lr = 0.01;
                wd[i] *= 1 - lr * 0.1;
                m[i] = 0.9 * m[i] + 0.1 * gi;
                v[i] = 0.95 * v[i] + 0.05 * gi * gi;
                wd[i] -= lr * (m[i] / (1 - Math.pow(0.9, t))) / (Math.sqrt(v[i] / (1 - Math.pow(0.95, t))) + 1e-8);
            }
            opt.step(0.01, 1);
            for (int i = 0; i < 3; i++) assertEquals(wd[i], w[i], 1e-6, "step " + t + " [" + i + "]");
            assertArrayEquals(new float[3], p.grad(), "gradients are zeroed after a step");
        }
        assertEquals(5, opt.stepCount());
    }

    @Test
    void clippingScalesToTheMaxNormAndAccumulationAverages() {
        float[] w1 = new float[2], w2 = new float[2];
        Parameter a = new Parameter("a", new int[]{2}, w1), b = new Parameter("b", new int[]{2}, w2);
        AdamWOptimizer opt = new AdamWOptimizer(List.of(a, b), 0.9f, 0.999f, 1e-8f, 0f, 1.0);
        a.grad()[0] = 6f; b.grad()[1] = 8f; // norm 10 over 2 micro-batches: 5
        assertEquals(5.0, opt.gradNorm(0.5f), 1e-9);
        assertEquals(5.0, opt.step(0.1, 2), 1e-9);
    }

    @Test
    void textEvaluationIsTheMeanCrossEntropyOfEveryNextToken() {
        LlamaConfig c = LlamaConfig.of(16, 24, 2, 2, 1, 30, 8, true);
        LlamaWeights w = LlamaWeights.random(c, 4, 0.3f);
        int[] ids = randomTokens(21, 30, 9); // 20 predictions: windows of 8, 8 and 4
        TextEvaluator.Result r = TextEvaluator.evaluate(w, ids, 8, 2);
        assertEquals(20, r.tokens());
        LlamaModel m = new LlamaModel(w);
        double sum = 0;
        for (int start = 0; start < 20; start += 8) {
            int len = Math.min(8, 20 - start);
            float[][] logits = m.forwardAll(java.util.Arrays.copyOfRange(ids, start, start + len));
            for (int t = 0; t < len; t++) {
                double max = -1e30, z = 0;
                for (float x : logits[t]) max = Math.max(max, x);
                for (float x : logits[t]) z += Math.exp(x - max);
                sum += max + Math.log(z) - logits[t][ids[start + t + 1]];
            }
        }
        assertEquals(sum / 20, r.loss(), 1e-5);
        assertTrue(r.perplexity() > 1);
    }

    private static int[] randomTokens(int n, int vocab, long seed) {
        java.util.SplittableRandom r = new java.util.SplittableRandom(seed);
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = r.nextInt(vocab);
        return t;
    }
}
