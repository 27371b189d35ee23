package dev.peft4j.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The CPU backend's form of {@link Attention}: the same rows, layouts and results (summation order
 * aside), computed a tile of queries at a time so that the products are matrix products on the
 * packed kernel of {@link MatmulCpu} instead of one dot product per score.
 *
 * <p>A tile is up to {@link #QT} consecutive queries of one sequence and head, starting at a
 * multiple of QT; it sees keys {@code 0 .. p0 + tileEnd}, so its products cover the causal
 * triangle with at most a QT×QT corner of masked work:
 * <pre>
 *   forward:    S = Q_tile · K[0..keys)ᵀ      P = softmax(S / sqrt(hd)) per row (0 past the row's last key)
 *               out_tile = P · V[0..keys)
 *   backward:   dP = dOut_tile · Vᵀ           dS = P ⊙ (dP − rowsum(P ⊙ dP)) / sqrt(hd)
 *               dq_tile += dS · K             dk += dSᵀ · Q_tile      dv += Pᵀ · dOut_tile
 * </pre>
 * Tiles are fixed by position, not by how rows are split over threads, so every sum runs in the
 * same order for any split. Unlike {@link Attention}, {@code dScores} holds dS already divided by
 * sqrt(hd), and the probabilities (and dS) of a tile's keys past a row's last key are written as 0.
 */
public final class AttentionCpu {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    /** Queries per tile: enough rows for the register tile, few enough that the masked corner stays small. */
    static final int QT = 64;

    private AttentionCpu() {}

    /** As {@link Attention#forward}: rows r = (b*nHeads + h)*T + t in from..to. */
    public static void forward(float[] out, float[] q, float[] k, float[] v, float[] att,
                               int nHeads, int nKv, int hd, int T, int p0, int kvRows, int attStride,
                               int from, int to) {
        int qDim = nHeads * hd, kvDim = nKv * hd, group = nHeads / nKv;
        float scale = (float) (1.0 / Math.sqrt(hd));
        for (int r = from; r < to; ) {
            int t = r % T, bh = r / T, h = bh % nHeads, b = bh / nHeads;
            int tileEnd = Math.min(T, (t / QT + 1) * QT), m = Math.min(to, r + tileEnd - t) - r, keys = p0 + tileEnd;
            int qo = (b * T + t) * qDim + h * hd, kvBase = b * kvRows * kvDim + (h / group) * hd, ao = r * attStride;
            // S [m][keys] = Q [m][hd] · K [keys][hd]ᵀ, into the tile's rows of att
            MatmulCpu.gemm(att, ao, attStride, false, q, qo, qDim, 1, k, kvBase, 1, kvDim, m, keys, hd);
            for (int i = 0; i < m; i++) softmaxRow(att, ao + i * attStride, p0 + t + i + 1, keys, scale);
            // out [m][hd] = P [m][keys] · V [keys][hd]
            MatmulCpu.gemm(out, qo, qDim, false, att, ao, attStride, 1, v, kvBase, kvDim, 1, m, hd, keys);
            r += m;
        }
    }

    /** As {@link Attention#backwardQuery}, except that dScores receives dS / sqrt(hd) (what {@link #backwardKeyValue} reads). */
    public static void backwardQuery(float[] dq, float[] dScores, float[] dOut, float[] k, float[] v, float[] att,
                                     int nHeads, int nKv, int hd, int T, int p0, int kvRows, int attStride,
                                     int from, int to) {
        int qDim = nHeads * hd, kvDim = nKv * hd, group = nHeads / nKv;
        float scale = (float) (1.0 / Math.sqrt(hd));
        for (int r = from; r < to; ) {
            int t = r % T, bh = r / T, h = bh % nHeads, b = bh / nHeads;
            int tileEnd = Math.min(T, (t / QT + 1) * QT), m = Math.min(to, r + tileEnd - t) - r, keys = p0 + tileEnd;
            int qo = (b * T + t) * qDim + h * hd, kvBase = b * kvRows * kvDim + (h / group) * hd, ao = r * attStride;
            // dP [m][keys] = dOut [m][hd] · V [keys][hd]ᵀ
            MatmulCpu.gemm(dScores, ao, attStride, false, dOut, qo, qDim, 1, v, kvBase, 1, kvDim, m, keys, hd);
            for (int i = 0; i < m; i++) scoreGradientRow(dScores, att, ao + i * attStride, p0 + t + i + 1, keys, scale);
            // dq [m][hd] += dS [m][keys] · K [keys][hd]
            MatmulCpu.gemm(dq, qo, qDim, true, dScores, ao, attStride, 1, k, kvBase, kvDim, 1, m, hd, keys);
            r += m;
        }
    }

    /** As {@link Attention#backwardKeyValue} (rows r = b*nKv + kvHead), reading the dScores {@link #backwardQuery} wrote. */
    public static void backwardKeyValue(float[] dk, float[] dv, float[] dScores, float[] dOut, float[] q, float[] att,
                                        int nHeads, int nKv, int hd, int T, int p0, int kvRows, int attStride,
                                        int from, int to) {
        int qDim = nHeads * hd, kvDim = nKv * hd, group = nHeads / nKv;
        for (int r = from; r < to; r++) {
            int kvh = r % nKv, b = r / nKv;
            int kvBase = b * kvRows * kvDim + kvh * hd;
            for (int g = 0; g < group; g++) {
                int h = kvh * group + g;
                for (int t0 = 0; t0 < T; t0 += QT) {
                    int m = Math.min(QT, T - t0), keys = p0 + t0 + m;
                    int qo = (b * T + t0) * qDim + h * hd, ao = ((b * nHeads + h) * T + t0) * attStride;
                    // dk [keys][hd] += dSᵀ [keys][m] · Q [m][hd];  dv [keys][hd] += Pᵀ [keys][m] · dOut [m][hd]
                    MatmulCpu.gemm(dk, kvBase, kvDim, true, dScores, ao, 1, attStride, q, qo, qDim, 1, keys, hd, m);
                    MatmulCpu.gemm(dv, kvBase, kvDim, true, att, ao, 1, attStride, dOut, qo, qDim, 1, keys, hd, m);
                }
            }
        }
    }

    /** row [0, len) of scores becomes softmax(scale · row); [len, keys) becomes 0. The sum in a fixed order. */
    private static void softmaxRow(float[] a, int o, int len, int keys, float scale) {
        int bound = S.loopBound(len);
        FloatVector sv = FloatVector.broadcast(S, scale), mv = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
        for (int j = 0; j < bound; j += L) {
            FloatVector s = FloatVector.fromArray(S, a, o + j).mul(sv);
            s.intoArray(a, o + j);
            mv = mv.max(s);
        }
        float max = mv.reduceLanes(VectorOperators.MAX);
        for (int j = bound; j < len; j++) {
            a[o + j] *= scale;
            max = Math.max(max, a[o + j]);
        }
        FloatVector maxV = FloatVector.broadcast(S, max), sum = FloatVector.zero(S);
        for (int j = 0; j < len; j += L) {
            VectorMask<Float> m = S.indexInRange(j, len);
            FloatVector e = VectorMath.exp(FloatVector.fromArray(S, a, o + j, m).sub(maxV)).blend(0f, m.not());
            sum = sum.add(e);
            e.intoArray(a, o + j, m);
        }
        FloatVector inv = FloatVector.broadcast(S, 1f / MatmulCpu.sum(sum));
        for (int j = 0; j < len; j += L) {
            VectorMask<Float> m = S.indexInRange(j, len);
            FloatVector.fromArray(S, a, o + j, m).mul(inv).intoArray(a, o + j, m);
        }
        java.util.Arrays.fill(a, o + len, o + keys, 0f);
    }

    /** ds [0, len) = p ⊙ (dp − Σ p ⊙ dp) · scale over the row, in place of dp; [len, keys) becomes 0. */
    private static void scoreGradientRow(float[] ds, float[] p, int o, int len, int keys, float scale) {
        FloatVector acc = FloatVector.zero(S);
        for (int j = 0; j < len; j += L) {
            VectorMask<Float> m = S.indexInRange(j, len);
            acc = FloatVector.fromArray(S, ds, o + j, m).fma(FloatVector.fromArray(S, p, o + j, m), acc);
        }
        FloatVector dot = FloatVector.broadcast(S, MatmulCpu.sum(acc)), sv = FloatVector.broadcast(S, scale);
        for (int j = 0; j < len; j += L) {
            VectorMask<Float> m = S.indexInRange(j, len);
            FloatVector.fromArray(S, ds, o + j, m).sub(dot).mul(FloatVector.fromArray(S, p, o + j, m)).mul(sv).intoArray(ds, o + j, m);
        }
        java.util.Arrays.fill(ds, o + len, o + keys, 0f);
    }
}
