package dev.peft4j.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * The CPU backend's form of {@link RmsNorm} on the Vector API, plus two fused forms: the residual add
 * that feeds a norm ({@link #addForward}: one pass writes the sum, its square sum and the normed row),
 * and the normed row again from the saved rstd ({@link #apply}: the forward's exact values, so a
 * trainer can recompute a linear's input instead of keeping it). Row sums run in a fixed order (lanes,
 * then {@link MatmulCpu#sum}), so results do not depend on the JIT or the split. {@link RmsNorm} stays
 * the plain form TornadoVM compiles.
 */
public final class RmsNormCpu {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();

    private RmsNormCpu() {}

    /** As {@link RmsNorm#forward(float[], float[], float[], float[], int, float, int, int)}. */
    public static void forward(float[] out, float[] x, float[] w, float[] rstd, int dim, float eps, int from, int to) {
        for (int i = from; i < to; i++) {
            int base = i * dim;
            float r = rstd(sumOfSquares(x, base, dim), dim, eps);
            if (rstd != null) rstd[i] = r;
            scaleRow(out, x, w, base, dim, r);
        }
    }

    /** sum [n][dim] = x + delta, then out = rmsnorm(sum)·w with rstd as {@link #forward}: one pass over the rows. */
    public static void addForward(float[] sum, float[] x, float[] delta, float[] out, float[] w, float[] rstd, int dim, float eps,
                                  int from, int to) {
        for (int i = from; i < to; i++) {
            int base = i * dim;
            FloatVector acc = FloatVector.zero(S);
            for (int j = 0; j < dim; j += L) {
                VectorMask<Float> m = S.indexInRange(j, dim);
                FloatVector s = FloatVector.fromArray(S, x, base + j, m).add(FloatVector.fromArray(S, delta, base + j, m));
                s.intoArray(sum, base + j, m);
                acc = s.fma(s, acc);
            }
            float r = rstd(MatmulCpu.sum(acc), dim, eps);
            if (rstd != null) rstd[i] = r;
            scaleRow(out, sum, w, base, dim, r);
        }
    }

    /** out = x·rstd·w per row, from a saved rstd: bit for bit what {@link #forward} wrote. */
    public static void apply(float[] out, float[] x, float[] w, float[] rstd, int dim, int from, int to) {
        for (int i = from; i < to; i++) scaleRow(out, x, w, i * dim, dim, rstd[i]);
    }

    /** As {@link RmsNorm#backwardInput(float[], float[], float[], float[], float[], int, int, int)}. */
    public static void backwardInput(float[] dx, float[] dOut, float[] x, float[] w, float[] rstd, int dim, int from, int to) {
        for (int i = from; i < to; i++) {
            int base = i * dim;
            float r = rstd[i];
            FloatVector acc = FloatVector.zero(S);
            for (int j = 0; j < dim; j += L) {
                VectorMask<Float> m = S.indexInRange(j, dim);
                acc = FloatVector.fromArray(S, dOut, base + j, m).mul(FloatVector.fromArray(S, w, j, m))
                        .fma(FloatVector.fromArray(S, x, base + j, m), acc);
            }
            float c = r * r * r * MatmulCpu.sum(acc) / dim;
            FloatVector rv = FloatVector.broadcast(S, r), cv = FloatVector.broadcast(S, -c);
            for (int j = 0; j < dim; j += L) {
                VectorMask<Float> m = S.indexInRange(j, dim);
                FloatVector g = FloatVector.fromArray(S, dOut, base + j, m).mul(FloatVector.fromArray(S, w, j, m)).mul(rv);
                g.add(FloatVector.fromArray(S, x, base + j, m).fma(cv, FloatVector.fromArray(S, dx, base + j, m)))
                        .intoArray(dx, base + j, m);
            }
        }
    }

    /** As {@link RmsNorm#backwardWeight}: dw [dim] += Σ_i dOut[i]·x[i]·rstd[i], columns from..to, each summed over rows in order. */
    public static void backwardWeight(float[] dw, float[] dOut, float[] x, float[] rstd, int n, int dim, int from, int to) {
        for (int j = from; j < to; j += L) {
            VectorMask<Float> m = S.indexInRange(j, to);
            FloatVector acc = FloatVector.zero(S);
            for (int i = 0; i < n; i++) {
                acc = FloatVector.fromArray(S, dOut, i * dim + j, m).mul(FloatVector.fromArray(S, x, i * dim + j, m))
                        .fma(FloatVector.broadcast(S, rstd[i]), acc);
            }
            acc.add(FloatVector.fromArray(S, dw, j, m)).intoArray(dw, j, m);
        }
    }

    private static float sumOfSquares(float[] x, int base, int dim) {
        FloatVector acc = FloatVector.zero(S);
        for (int j = 0; j < dim; j += L) {
            VectorMask<Float> m = S.indexInRange(j, dim);
            FloatVector v = FloatVector.fromArray(S, x, base + j, m);
            acc = v.fma(v, acc);
        }
        return MatmulCpu.sum(acc);
    }

    private static float rstd(float sumOfSquares, int dim, float eps) {
        return (float) (1.0 / Math.sqrt(sumOfSquares / dim + eps));
    }

    /** out[base..base+dim) = (x·r)·w. */
    private static void scaleRow(float[] out, float[] x, float[] w, int base, int dim, float r) {
        FloatVector rv = FloatVector.broadcast(S, r);
        for (int j = 0; j < dim; j += L) {
            VectorMask<Float> m = S.indexInRange(j, dim);
            FloatVector.fromArray(S, x, base + j, m).mul(rv).mul(FloatVector.fromArray(S, w, j, m)).intoArray(out, base + j, m);
        }
    }
}
