package dev.peft4j.models;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class LlamaModelTest {

    static int[] randomTokens(int n, int vocab, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = r.nextInt(vocab);
        return t;
    }

    static double maxRelDiff(float[] a, float[] b) {
        double scale = 0, diff = 0;
        for (int i = 0; i < a.length; i++) {
            scale = Math.max(scale, Math.abs(b[i]));
            diff = Math.max(diff, Math.abs(a[i] - b[i]));
        }
        return diff / Math.max(scale, 1e-30);
    }

    private static void checkAgainstReference(LlamaConfig c, int n) {
        LlamaWeights w = LlamaWeights.random(c, 7, 0.2f);
        int[] tokens = randomTokens(n, c.vocabSize(), 11);
        float[][] got = new LlamaModel(w).forwardAll(tokens);
        float[][] want = ReferenceLlama.logits(w, tokens);
        double worst = 0;
        for (int i = 0; i < n; i++) worst = Math.max(worst, maxRelDiff(got[i], want[i]));
        System.out.printf("model vs reference %s: logits[0][0..3]=%.6f %.6f %.6f want %.6f %.6f %.6f max rel diff %.2e (tol 1e-5)%n",
                c, got[0][0], got[0][1], got[0][2], want[0][0], want[0][1], want[0][2], worst);
        assertEquals(0, worst, 1e-5);
    }

    @Test
    void tiedModelMatchesReference() {
        checkAgainstReference(LlamaConfig.of(32, 64, 2, 4, 4, 50, 96, true), 70); // spans two chunks
    }

    @Test
    void gqaUntiedModelMatchesReference() {
        checkAgainstReference(LlamaConfig.of(48, 80, 2, 6, 2, 40, 32, false), 20);
    }

    @Test
    void llama3RopeScalingMatchesReference() {
        LlamaConfig c = new LlamaConfig(32, 64, 1, 2, 1, 30, 64, 1e-5f, 500000f, new RopeScaling(8f, 1f, 4f, 16), false);
        checkAgainstReference(c, 40);
    }

    @Test
    void decodingTokenByTokenEqualsOnePass() {
        LlamaConfig c = LlamaConfig.of(32, 64, 2, 4, 2, 50, 40, true);
        LlamaWeights w = LlamaWeights.random(c, 3, 0.2f);
        LlamaModel m = new LlamaModel(w);
        int[] tokens = randomTokens(30, c.vocabSize(), 5);
        float[][] all = m.forwardAll(tokens);
        LlamaModel.State s = m.newState();
        m.forward(s, tokens, 10, 0); // a prompt of 10, then one at a time
        assertArrayEquals(all[9], s.logits(), 1e-5f);
        for (int p = 10; p < tokens.length; p++) {
            float[] logits = m.forward(s, new int[]{tokens[p]}, 1, p);
            assertEquals(0, maxRelDiff(logits, all[p]), 1e-5, "position " + p);
        }
    }

    @Test
    void refusesPositionsPastTheContext() {
        LlamaConfig c = LlamaConfig.of(16, 32, 1, 2, 2, 20, 8, true);
        LlamaModel m = new LlamaModel(LlamaWeights.random(c, 1, 0.1f));
        var e = assertThrows(IllegalArgumentException.class, () -> m.forward(m.newState(), new int[9], 9, 0));
        assertEquals("position 9 exceeds the context length 8", e.getMessage());
    }
}
