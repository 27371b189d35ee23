package dev.peft4j.models.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import org.junit.jupiter.api.Test;

class SamplerTest {
    private static final float[] LOGITS = {1.0f, 3.0f, 2.0f, -1.0f, 2.5f, 0.0f};

    private static int[] counts(Sampling s, int draws) {
        Sampler sampler = new Sampler(s);
        int[] c = new int[LOGITS.length];
        for (int i = 0; i < draws; i++) c[sampler.sample(LOGITS)]++;
        return c;
    }

    private static double[] softmax(double t) {
        double[] p = new double[LOGITS.length];
        double sum = 0;
        for (int i = 0; i < p.length; i++) sum += p[i] = Math.exp(LOGITS[i] / t);
        for (int i = 0; i < p.length; i++) p[i] /= sum;
        return p;
    }

    @Test
    void greedyTakesTheArgmaxAndTheFirstOfTies() {
        assertEquals(1, new Sampler(Sampling.greedy()).sample(LOGITS));
        assertEquals(2, Sampler.argmax(new float[]{0f, 1f, 5f, 5f}));
        assertEquals(1, new Sampler(new Sampling(1f, 1, 1f, 3)).sample(LOGITS), "top-k 1 is greedy");
    }

    @Test
    void temperatureSamplingFollowsTheSoftmax() {
        int draws = 40_000;
        for (double t : new double[]{0.7, 1.0, 1.5}) {
            int[] c = counts(new Sampling((float) t, 0, 1f, 123), draws);
            double[] p = softmax(t);
            for (int i = 0; i < p.length; i++) {
                double sd = Math.sqrt(p[i] * (1 - p[i]) / draws);
                assertEquals(p[i], c[i] / (double) draws, 5 * sd + 1e-4, "token " + i + " at temperature " + t);
            }
        }
    }

    @Test
    void topKKeepsOnlyTheKMostLikely() {
        int[] c = counts(new Sampling(1f, 2, 1f, 5), 5000);
        assertTrue(c[1] > 0 && c[4] > 0);
        assertEquals(5000, c[1] + c[4], Arrays.toString(c));
        // renormalised over the two: p(1)/p(4) = e^0.5
        assertEquals(Math.exp(0.5) / (1 + Math.exp(0.5)), c[1] / 5000.0, 0.03);
    }

    @Test
    void topPKeepsTheSmallestNucleus() {
        double[] p = softmax(1.0); // sorted: 1 (0.45), 4 (0.27), 2 (0.17), 0 ...
        double firstTwo = p[1] + p[4];
        int[] c = counts(new Sampling(1f, 0, (float) (firstTwo - 0.01), 9), 5000);
        assertEquals(5000, c[1] + c[4], "nucleus just below the first two tokens' mass: " + Arrays.toString(c));
        int[] c3 = counts(new Sampling(1f, 0, (float) (firstTwo + 0.01), 9), 5000);
        assertEquals(5000, c3[1] + c3[4] + c3[2], Arrays.toString(c3));
        assertTrue(c3[2] > 0);
    }

    @Test
    void sameSeedSameTokens() {
        assertArrayEquals(counts(new Sampling(0.9f, 4, 0.95f, 77), 500), counts(new Sampling(0.9f, 4, 0.95f, 77), 500));
    }

    @Test
    void refusesBadParameters() {
        assertThrows(IllegalArgumentException.class, () -> new Sampling(-1f, 0, 1f, 0));
        assertThrows(IllegalArgumentException.class, () -> new Sampling(1f, -2, 1f, 0));
        assertThrows(IllegalArgumentException.class, () -> new Sampling(1f, 0, 0f, 0));
        assertThrows(IllegalArgumentException.class, () -> new Sampling(1f, 0, 1.5f, 0));
    }
}
