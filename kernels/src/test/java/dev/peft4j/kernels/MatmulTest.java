package dev.peft4j.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.peft4j.kernels.reference.Reference;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** {@link Matmul} and {@link MatmulCpu} against {@link Reference} on odd shapes and offsets. */
class MatmulTest {
    private static final int[] ROWS = {1, 2, 3, 7, 33};
    private static final int[] DIMS = {1, 3, 15, 16, 17, 33, 100, 288, 769};
    /** Shapes that cross the CPU kernel's cache blocks (KC 256, MC 96, NC 512) in every op. */
    /** Shapes across cache blocks; the last two have sums long enough (k >= 4096) that the packed GEMM splits them along k. */
    private static final int[][] BIG = {{300, 300, 530}, {600, 17, 33}, {97, 520, 7}, {20, 37, 4500}, {4200, 13, 21}};
    private static final float SENTINEL = 12345f;
    private static final int PAD = 5;

    enum Impl {
        PLAIN, CPU;

        void forward(float[] y, int yo, float[] x, int xo, float[] w, int wo, int n, int in, int out) {
            if (this == PLAIN) Matmul.forward(y, yo, x, xo, w, wo, n, in, out);
            else MatmulCpu.forward(y, yo, x, xo, w, wo, n, in, out);
        }

        void backwardInput(float[] dx, int dxo, float[] dy, int dyo, float[] w, int wo, int n, int in, int out) {
            if (this == PLAIN) Matmul.backwardInput(dx, dxo, dy, dyo, w, wo, n, in, out);
            else MatmulCpu.backwardInput(dx, dxo, dy, dyo, w, wo, n, in, out);
        }

        void backwardWeight(float[] dw, int dwo, float[] dy, int dyo, float[] x, int xo, int n, int in, int out) {
            if (this == PLAIN) Matmul.backwardWeight(dw, dwo, dy, dyo, x, xo, n, in, out);
            else MatmulCpu.backwardWeight(dw, dwo, dy, dyo, x, xo, n, in, out);
        }
    }

    private enum Op { FORWARD, BACKWARD_INPUT, BACKWARD_WEIGHT }

    @ParameterizedTest
    @EnumSource(Impl.class)
    void forwardMatchesReference(Impl impl) {
        forEachShape(impl, Op.FORWARD);
    }

    @ParameterizedTest
    @EnumSource(Impl.class)
    void backwardInputMatchesReference(Impl impl) {
        forEachShape(impl, Op.BACKWARD_INPUT);
    }

    @ParameterizedTest
    @EnumSource(Impl.class)
    void backwardWeightMatchesReference(Impl impl) {
        forEachShape(impl, Op.BACKWARD_WEIGHT);
    }

    @ParameterizedTest
    @EnumSource(Impl.class)
    void shapesAcrossCacheBlocks(Impl impl) {
        for (Op op : Op.values()) {
            double worst = 0;
            for (int[] s : BIG) worst = Math.max(worst, check(impl, op, s[0], s[1], s[2], 3 * s[0] + s[1]));
            System.out.printf("%s %s across blocks: worst error/tolerance %.3f%n", impl, op, worst);
        }
    }

    @Test
    void backwardAccumulatesAcrossCalls() {
        int n = 9, in = 40, out = 21;
        SplittableRandom rnd = new SplittableRandom(7);
        float[] x = random(rnd, n * in), w = random(rnd, out * in), dy = random(rnd, n * out);
        float[] dxOnce = new float[n * in], dwOnce = new float[out * in];
        MatmulCpu.backwardInput(dxOnce, 0, dy, 0, w, 0, n, in, out);
        MatmulCpu.backwardWeight(dwOnce, 0, dy, 0, x, 0, n, in, out);
        float[] dxTwice = new float[n * in], dwTwice = new float[out * in];
        for (int rep = 0; rep < 2; rep++) {
            MatmulCpu.backwardInput(dxTwice, 0, dy, 0, w, 0, n, in, out);
            MatmulCpu.backwardWeight(dwTwice, 0, dy, 0, x, 0, n, in, out);
        }
        for (int i = 0; i < dxOnce.length; i++) assertEquals(2 * dxOnce[i], dxTwice[i], 1e-5f * (1 + Math.abs(dxOnce[i])));
        for (int i = 0; i < dwOnce.length; i++) assertEquals(2 * dwOnce[i], dwTwice[i], 1e-5f * (1 + Math.abs(dwOnce[i])));
    }

    @Test
    void forwardWithNoInputsWritesZeros() {
        float[] y = {SENTINEL, 1f, 2f, 3f, SENTINEL};
        MatmulCpu.forward(y, 1, new float[0], 0, new float[0], 0, 1, 0, 3);
        assertEquals("[12345.0, 0.0, 0.0, 0.0, 12345.0]", Arrays.toString(y));
    }

    private static void forEachShape(Impl impl, Op op) {
        double worst = 0;
        int cases = 0;
        for (int n : ROWS)
            for (int in : DIMS)
                for (int out : DIMS) {
                    worst = Math.max(worst, check(impl, op, n, in, out, 31L * n + 7L * in + out));
                    cases++;
                }
        System.out.printf("%s %s: %d shapes, worst error/tolerance %.3f%n", impl, op, cases, worst);
    }

    /**
     * Runs one op on random data placed at odd offsets in larger arrays, compares with the
     * reference, checks the padding is untouched, and returns the worst error / tolerance.
     */
    private static double check(Impl impl, Op op, int n, int in, int out, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] x = random(rnd, n * in), w = random(rnd, out * in), dy = random(rnd, n * out);
        int xo = 3, wo = 7, dyo = 2;
        float[] xBuf = embed(x, xo), wBuf = embed(w, wo), dyBuf = embed(dy, dyo);
        float[] expected, start;
        int k; // length of the sum behind each element
        switch (op) {
            case FORWARD -> {
                expected = new float[n * out];
                Reference.matmul(expected, x, w, n, in, out);
                start = new float[n * out];
                Arrays.fill(start, Float.NaN); // forward must overwrite, not add
                k = in;
            }
            case BACKWARD_INPUT -> {
                start = random(rnd, n * in);
                expected = start.clone();
                Reference.matmulBackwardInput(expected, dy, w, n, in, out);
                k = out;
            }
            default -> {
                start = random(rnd, out * in);
                expected = start.clone();
                Reference.matmulBackwardWeight(expected, dy, x, n, in, out);
                k = n;
            }
        }
        int ro = 4;
        float[] result = embed(start, ro);
        switch (op) {
            case FORWARD -> impl.forward(result, ro, xBuf, xo, wBuf, wo, n, in, out);
            case BACKWARD_INPUT -> impl.backwardInput(result, ro, dyBuf, dyo, wBuf, wo, n, in, out);
            case BACKWARD_WEIGHT -> impl.backwardWeight(result, ro, dyBuf, dyo, xBuf, xo, n, in, out);
        }
        String shape = impl + " " + op + " n=" + n + " in=" + in + " out=" + out;
        for (int i = 0; i < ro; i++) assertEquals(SENTINEL, result[i], shape + ": wrote before the output");
        for (int i = ro + expected.length; i < result.length; i++)
            assertEquals(SENTINEL, result[i], shape + ": wrote past the output");
        double scale = 1;
        for (float e : expected) scale = Math.max(scale, Math.abs(e));
        double tol = 1e-5 * Math.sqrt(k) * scale, worst = 0;
        for (int i = 0; i < expected.length; i++) {
            double err = Math.abs(result[ro + i] - expected[i]);
            if (!(err <= tol))
                fail(shape + ": element " + i + " is " + result[ro + i] + ", expected " + expected[i] + " (tolerance " + tol + ")");
            worst = Math.max(worst, err / tol);
        }
        assertTrue(worst <= 1);
        return worst;
    }

    private static float[] random(SplittableRandom rnd, int len) {
        float[] a = new float[len];
        for (int i = 0; i < len; i++) a[i] = (float) (rnd.nextDouble() * 2 - 1);
        return a;
    }

    /** Copies a into a larger array at offset off, surrounded by sentinels. */
    private static float[] embed(float[] a, int off) {
        float[] buf = new float[off + a.length + PAD];
        Arrays.fill(buf, SENTINEL);
        System.arraycopy(a, 0, buf, off, a.length);
        return buf;
    }
}
