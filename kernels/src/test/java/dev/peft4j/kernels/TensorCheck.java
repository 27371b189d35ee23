package dev.peft4j.kernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Locale;
import java.util.SplittableRandom;
import java.util.function.DoubleSupplier;

/**
 * Test helpers for the kernel tests: random tensors, central finite differences in double, and a
 * comparison that prints its evidence in the style of llm.c's {@code check_tensor} (first values,
 * max abs diff, tolerance) before asserting.
 */
final class TensorCheck {
    private TensorCheck() {}

    /** n values uniform in [-scale, scale). */
    static float[] random(SplittableRandom r, int n, double scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) ((r.nextDouble() * 2 - 1) * scale);
        return a;
    }

    static double[] toDouble(float[] a) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) d[i] = a[i];
        return d;
    }

    static double maxAbs(double[] a) {
        double m = 0;
        for (double x : a) m = Math.max(m, Math.abs(x));
        return m;
    }

    /** Σ dOut ⊙ out: the scalar whose gradient with respect to out is dOut. */
    static double dot(double[] out, float[] dOut) {
        double s = 0;
        for (int i = 0; i < out.length; i++) s += out[i] * dOut[i];
        return s;
    }

    /**
     * Central differences (f(x+h) − f(x−h)) / 2h of the scalar loss with respect to every element of
     * x, perturbed in place (the loss must read x).
     */
    static double[] finiteDifferences(double[] x, DoubleSupplier loss, double h) {
        double[] g = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            double saved = x[i];
            x[i] = saved + h;
            double plus = loss.getAsDouble();
            x[i] = saved - h;
            double minus = loss.getAsDouble();
            x[i] = saved;
            g[i] = (plus - minus) / (2 * h);
        }
        return g;
    }

    static void check(String name, float[] actual, float[] expected, double relTol) {
        check(name, toDouble(actual), toDouble(expected), relTol);
    }

    static void check(String name, float[] actual, double[] expected, double relTol) {
        check(name, toDouble(actual), expected, relTol);
    }

    /**
     * Asserts max |actual − expected| <= relTol · max |expected| (relative to the largest expected
     * value, so that tiny entries are not held to a relative bound they cannot meet), and prints the
     * evidence. Both must be finite.
     */
    static void check(String name, double[] actual, double[] expected, double relTol) {
        assertTrue(actual.length == expected.length, name + ": lengths " + actual.length + " vs " + expected.length);
        double diff = 0;
        boolean finite = true;
        for (int i = 0; i < actual.length; i++) {
            finite &= Double.isFinite(actual[i]) && Double.isFinite(expected[i]);
            diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
        }
        double scale = maxAbs(expected), tol = relTol * scale;
        boolean ok = finite && diff <= tol && scale > 0;
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "%-34s n=%-4d max|ref|=%.3e max diff=%.3e tol=%.3e %s%n",
                name, actual.length, scale, diff, tol, ok ? "OK" : "NOT OK"));
        for (int i = 0; i < Math.min(4, actual.length); i++)
            sb.append(String.format(Locale.ROOT, "    [%d] ref %+.9f  got %+.9f%n", i, expected[i], actual[i]));
        System.out.print(sb);
        assertTrue(finite, name + ": non-finite values");
        assertTrue(scale > 0, name + ": the reference is all zeros, nothing was checked");
        assertTrue(diff <= tol, name + ": max diff " + diff + " > tol " + tol);
    }

    /** Runs a kernel over the pieces of a range, on fresh buffers, and returns the buffers it wrote. */
    @FunctionalInterface
    interface SplitRun {
        float[][] run(int[][] pieces);
    }

    /**
     * Runs {@code run} with the range 0..n whole, then cut into 2 and 3 contiguous pieces (as the
     * CPU backend splits rows over threads), asserts every cut gives bit-identical buffers, and
     * returns those of the whole range.
     */
    static float[][] sameForEverySplit(String name, int n, SplitRun run) {
        int[][][] cuts = {
            {{0, n}},
            {{0, n / 2}, {n / 2, n}},
            {{0, n / 3}, {n / 3, 2 * n / 3}, {2 * n / 3, n}},
        };
        float[][] whole = run.run(cuts[0]);
        for (int c = 1; c < cuts.length; c++) {
            float[][] got = run.run(cuts[c]);
            for (int b = 0; b < whole.length; b++)
                assertArrayEquals(whole[b], got[b], name + ": buffer " + b + " differs when 0.." + n + " is cut in " + (c + 1));
        }
        System.out.printf(Locale.ROOT, "%-34s identical for 0..%d whole and cut in 2 and 3%n", name, n);
        return whole;
    }
}
