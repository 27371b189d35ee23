package dev.peft4j.kernels;

import static dev.peft4j.kernels.TensorCheck.check;
import static dev.peft4j.kernels.TensorCheck.finiteDifferences;
import static dev.peft4j.kernels.TensorCheck.random;
import static dev.peft4j.kernels.TensorCheck.sameForEverySplit;
import static dev.peft4j.kernels.TensorCheck.toDouble;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.peft4j.kernels.reference.ReferenceBackward;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Softmax cross-entropy with per-token weights; the kernel overwrites each row of logits with its gradient. */
class CrossEntropyTest {
    static final int ROWS = 6, VOCAB = 11;
    static final int[] TARGETS = {3, 0, 10, 7, 7, 1};
    static final float[] WEIGHTS = {1f, 0f, 0.5f, 1f, 0f, 2f}; // rows 1 and 4 are masked (prompt tokens)
    static final float SCALE = 1f / 4.5f;                       // 1 / Σ weights: the mean over unmasked tokens

    final float[] logits = random(new SplittableRandom(9), ROWS * VOCAB, 3.0); // [ROWS][VOCAB]

    float[][] kernel(float[] z, float scale, int[][] pieces) {
        float[] g = z.clone(), losses = new float[ROWS];
        for (int[] p : pieces) CrossEntropy.forwardBackward(g, TARGETS, WEIGHTS, 0, losses, VOCAB, scale, p[0], p[1]);
        return new float[][] {g, losses};
    }

    @Test
    void lossesAndGradientMatchReference() {
        float[][] got = sameForEverySplit("cross-entropy", ROWS, pieces -> kernel(logits, SCALE, pieces));
        float[] dLogits = new float[ROWS * VOCAB], losses = new float[ROWS];
        ReferenceBackward.crossEntropy(dLogits, losses, logits, TARGETS, WEIGHTS, ROWS, VOCAB, SCALE);
        check("cross-entropy losses vs ref", got[1], losses, 1e-6);
        check("cross-entropy dlogits vs ref", got[0], dLogits, 1e-6);
    }

    @Test
    void chunksOfRowsWithRowOffsetEqualOnePass() {
        float[][] whole = kernel(logits, SCALE, new int[][] {{0, ROWS}});
        for (int chunk : new int[] {1, 2, 4}) {
            float[] g = new float[ROWS * VOCAB], losses = new float[ROWS];
            for (int c = 0; c < ROWS; c += chunk) {
                int rows = Math.min(chunk, ROWS - c);
                float[] z = Arrays.copyOfRange(logits, c * VOCAB, (c + rows) * VOCAB), l = new float[rows];
                CrossEntropy.forwardBackward(z, TARGETS, WEIGHTS, c, l, VOCAB, SCALE, 0, rows);
                System.arraycopy(z, 0, g, c * VOCAB, z.length);
                System.arraycopy(l, 0, losses, c, rows);
            }
            assertArrayEquals(whole[0], g, "gradient, chunks of " + chunk);
            assertArrayEquals(whole[1], losses, "losses, chunks of " + chunk);
        }
    }

    @Test
    void gradientMatchesFiniteDifferences() {
        double[] z = toDouble(logits);
        double[] fd = finiteDifferences(z, () -> DoubleOps.crossEntropy(z, TARGETS, WEIGHTS, ROWS, VOCAB, SCALE), 1e-5);
        float[] ref = new float[ROWS * VOCAB], losses = new float[ROWS];
        double loss = ReferenceBackward.crossEntropy(ref, losses, logits, TARGETS, WEIGHTS, ROWS, VOCAB, SCALE);
        assertEquals(DoubleOps.crossEntropy(z, TARGETS, WEIGHTS, ROWS, VOCAB, SCALE), loss, 1e-12);
        check("cross-entropy ref dlogits vs FD(double)", ref, fd, 1e-6);
        check("cross-entropy kernel dlogits vs FD(double)", kernel(logits, SCALE, new int[][] {{0, ROWS}})[0], fd, 1e-4);
    }

    @Test
    void maskedRowsGetZeroGradient() {
        float[] g = kernel(logits, SCALE, new int[][] {{0, ROWS}})[0];
        for (int row : new int[] {1, 4})
            for (int j = 0; j < VOCAB; j++) assertEquals(0f, g[row * VOCAB + j], "row " + row + " column " + j);
        double rowSum = 0; // an unmasked row's gradient sums to zero (softmax − onehot)
        for (int j = 0; j < VOCAB; j++) rowSum += g[2 * VOCAB + j];
        assertEquals(0, rowSum, 1e-6);
        System.out.printf("cross-entropy masked rows 1 and 4: gradient exactly 0; row 2 sums to %.2e%n", rowSum);
    }

    @Test
    void scaleZeroLeavesLogitsAndStillReturnsLosses() {
        float[][] evalOnly = kernel(logits, 0f, new int[][] {{0, ROWS}});
        float[][] train = kernel(logits, SCALE, new int[][] {{0, ROWS}});
        assertArrayEquals(logits, evalOnly[0], "logits must be untouched when scale is 0");
        assertArrayEquals(train[1], evalOnly[1], "losses with scale 0");
        for (float l : evalOnly[1]) assertTrue(l > 0, "loss " + l);
    }

    @Test
    void largeLogitsStayFinite() {
        SplittableRandom r = new SplittableRandom(10);
        float[] z = new float[ROWS * VOCAB];
        for (int i = 0; i < z.length; i++) z[i] = r.nextBoolean() ? 100f : -100f;
        for (int i = 0; i < ROWS; i++) z[i * VOCAB + TARGETS[i]] = i % 2 == 0 ? -100f : 100f; // some targets hopeless
        float[][] got = kernel(z, SCALE, new int[][] {{0, ROWS}});
        float[] dLogits = new float[ROWS * VOCAB], losses = new float[ROWS];
        ReferenceBackward.crossEntropy(dLogits, losses, z, TARGETS, WEIGHTS, ROWS, VOCAB, SCALE);
        // the kernel forms exp(z − logsumexp) with logsumexp ≈ 101 held in float (ulp 7.6e-6), so the
        // probabilities carry a few 1e-6 relative error at this magnitude: 1e-5, not 1e-6
        check("cross-entropy losses at ±100 vs ref", got[1], losses, 1e-6);
        check("cross-entropy dlogits at ±100 vs ref", got[0], dLogits, 1e-5);
        int top = 0; // row 0: target at −100, so loss = 100 + log(#logits at +100) − (−100)
        for (int j = 0; j < VOCAB; j++) if (z[j] == 100f) top++;
        assertEquals(200 + Math.log(top), got[1][0], 1e-4);
    }
}
