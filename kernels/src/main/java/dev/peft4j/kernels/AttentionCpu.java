package dev.peft4j.kernels;

import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The CPU backend's form of {@link Attention}, tiled over the sequence as flash attention is (Dao et
 * al. 2022, FlashAttention-2 2023): no {@code [T][T]} matrix of probabilities per head is kept. A tile
 * of up to {@link #QT} queries of one sequence and head meets the keys in blocks of {@link #KT}; each
 * block's scores live in a small per-thread buffer, and the softmax is taken online:
 * <pre>
 *   forward, per key block j:  S = Q_tile · K_jᵀ / sqrt(hd)        (rows masked past their last key)
 *                              m' = max(m, rowmax S)   α = exp(m − m')   P = exp(S − m')
 *                              l = α·l + rowsum P      O = α·O + P · V_j
 *            at the end:       out = O / l             lse = m + log l   (saved for backward)
 *   backward, per tile:        D = rowsum(dOut ⊙ out)
 *            per key block j:  P = exp(S − lse)   dP = dOut_tile · V_jᵀ   dS = P ⊙ (dP − D) / sqrt(hd)
 *                              dv_j += Pᵀ · dOut_tile   dk_j += dSᵀ · Q_tile   dq_tile += dS · K_j
 * </pre>
 * The products run on {@link MatmulCpu}'s packed kernel. Tiles and blocks are fixed by position (a
 * tile starts at a multiple of QT and sees keys {@code 0 .. p0 + tileEnd}), not by how rows are split
 * over threads, so every sum runs in the same order for any split. The backward's unit is a key/value
 * head of one sequence ({@code b*nKv + kvHead}): it owns that head's dk, dv rows and the dq columns of
 * the query heads that read it, so nothing is written by two threads.
 *
 * <p>What backward reads: q, k, v, the forward's {@code out} (only the attention's own output: a
 * gated hook's additions must not be in it) and {@code lse [B][nHeads][T]}.
 */
public final class AttentionCpu {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    /** Queries per tile: enough rows for the register tile, few enough that the masked corner stays small. */
    static final int QT = 64;
    /** Keys per block: the block's scores ([QT][KT] floats, 32 KB) stay in the core's cache. */
    static final int KT = 128;

    /** Per-thread buffers: [QT][KT] scores (then probabilities), [QT][KT] score gradients, [QT][hd] output accumulator, 3 x [QT] row stats. */
    private static final class Scratch {
        final float[] s = new float[QT * KT], ds = new float[QT * KT], m = new float[QT], l = new float[QT], d = new float[QT];
        float[] acc = new float[0];
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    private AttentionCpu() {}

    /**
     * As {@link Attention#forward} for rows r = (b*nHeads + h)*T + t in from..to, without the
     * probabilities: {@code lse [B*nHeads*T]} receives each row's log-sum-exp of its scaled scores (the
     * backward's only saved statistic), or nothing when null (inference).
     */
    public static void forward(float[] out, float[] lse, float[] q, float[] k, float[] v,
                               int nHeads, int nKv, int hd, int T, int p0, int kvRows, int from, int to) {
        int qDim = nHeads * hd, kvDim = nKv * hd, group = nHeads / nKv;
        float scale = (float) (1.0 / Math.sqrt(hd));
        Scratch sc = SCRATCH.get();
        if (sc.acc.length < QT * hd) sc.acc = new float[QT * hd];
        float[] s = sc.s, acc = sc.acc, mx = sc.m, sum = sc.l;
        for (int r = from; r < to; ) {
            int t = r % T, bh = r / T, h = bh % nHeads, b = bh / nHeads;
            int tileEnd = Math.min(T, (t / QT + 1) * QT), m = Math.min(to, r + tileEnd - t) - r, keys = p0 + tileEnd;
            int qo = (b * T + t) * qDim + h * hd, kvBase = b * kvRows * kvDim + (h / group) * hd;
            Arrays.fill(mx, 0, m, Float.NEGATIVE_INFINITY);
            Arrays.fill(sum, 0, m, 0f);
            Arrays.fill(acc, 0, m * hd, 0f);
            for (int j0 = 0; j0 < keys; j0 += KT) {
                int kb = Math.min(KT, keys - j0), ko = kvBase + j0 * kvDim;
                // S [m][kb] = Q [m][hd] · K_j [kb][hd]ᵀ
                MatmulCpu.gemm(s, 0, KT, false, q, qo, qDim, 1, k, ko, 1, kvDim, m, kb, hd);
                for (int i = 0; i < m; i++) {
                    int len = Math.min(kb, p0 + t + i + 1 - j0); // this row's keys in the block
                    if (len <= 0) {
                        Arrays.fill(s, i * KT, i * KT + kb, 0f);
                        continue;
                    }
                    float mNew = Math.max(mx[i], scaledMax(s, i * KT, len, scale));
                    float alpha = mx[i] == Float.NEGATIVE_INFINITY ? 0f : (float) StrictMath.exp(mx[i] - mNew);
                    sum[i] = sum[i] * alpha + expRow(s, i * KT, len, kb, mNew);
                    mx[i] = mNew;
                    if (alpha != 1f) scaleRow(acc, i * hd, hd, alpha);
                }
                // O [m][hd] += P [m][kb] · V_j [kb][hd]
                MatmulCpu.gemm(acc, 0, hd, true, s, 0, KT, 1, v, ko, kvDim, 1, m, hd, kb);
            }
            for (int i = 0; i < m; i++) {
                float inv = 1f / sum[i];
                int o = qo + i * qDim;
                for (int c = 0; c < hd; c++) out[o + c] = acc[i * hd + c] * inv;
                if (lse != null) lse[r + i] = mx[i] + (float) StrictMath.log(sum[i]);
            }
            r += m;
        }
    }

    /**
     * Backward of {@link #forward} for units r = b*nKv + kvHead in from..to (B*nKv in all): dq, dk, dv
     * [the layouts of q, k, v] accumulate ({@code +=}) the gradients of {@code dOut}. {@code out} and
     * {@code lse} are the forward's.
     */
    public static void backward(float[] dq, float[] dk, float[] dv, float[] dOut, float[] q, float[] k, float[] v,
                                float[] out, float[] lse, int nHeads, int nKv, int hd, int T, int p0, int kvRows,
                                int from, int to) {
        int qDim = nHeads * hd, kvDim = nKv * hd, group = nHeads / nKv;
        float scale = (float) (1.0 / Math.sqrt(hd));
        Scratch sc = SCRATCH.get();
        float[] s = sc.s, ds = sc.ds, dd = sc.d;
        for (int r = from; r < to; r++) {
            int kvh = r % nKv, b = r / nKv;
            int kvBase = b * kvRows * kvDim + kvh * hd;
            for (int g = 0; g < group; g++) {
                int h = kvh * group + g;
                for (int t0 = 0; t0 < T; t0 += QT) {
                    int m = Math.min(QT, T - t0), keys = p0 + t0 + m;
                    int qo = (b * T + t0) * qDim + h * hd, lo = (b * nHeads + h) * T + t0;
                    for (int i = 0; i < m; i++) dd[i] = dot(dOut, out, qo + i * qDim, hd);
                    for (int j0 = 0; j0 < keys; j0 += KT) {
                        int kb = Math.min(KT, keys - j0), ko = kvBase + j0 * kvDim;
                        // S [m][kb] = Q · K_jᵀ;  dP [m][kb] = dOut · V_jᵀ
                        MatmulCpu.gemm(s, 0, KT, false, q, qo, qDim, 1, k, ko, 1, kvDim, m, kb, hd);
                        MatmulCpu.gemm(ds, 0, KT, false, dOut, qo, qDim, 1, v, ko, 1, kvDim, m, kb, hd);
                        for (int i = 0; i < m; i++) {
                            int len = Math.max(0, Math.min(kb, p0 + t0 + i + 1 - j0));
                            probabilitiesAndGradient(s, ds, i * KT, len, kb, scale, lse[lo + i], dd[i]);
                        }
                        // dv_j [kb][hd] += Pᵀ · dOut;  dk_j += dSᵀ · Q;  dq [m][hd] += dS · K_j
                        MatmulCpu.gemm(dv, ko, kvDim, true, s, 0, 1, KT, dOut, qo, qDim, 1, kb, hd, m);
                        MatmulCpu.gemm(dk, ko, kvDim, true, ds, 0, 1, KT, q, qo, qDim, 1, kb, hd, m);
                        MatmulCpu.gemm(dq, qo, qDim, true, ds, 0, KT, 1, k, ko, kvDim, 1, m, hd, kb);
                    }
                }
            }
        }
    }

    /** max over row [o, o+len) of scale · s (the row scaled in place). */
    private static float scaledMax(float[] a, int o, int len, float scale) {
        FloatVector sv = FloatVector.broadcast(S, scale), mv = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
        int bound = S.loopBound(len), j = 0;
        for (; j < bound; j += L) {
            FloatVector x = FloatVector.fromArray(S, a, o + j).mul(sv);
            x.intoArray(a, o + j);
            mv = mv.max(x);
        }
        float max = mv.reduceLanes(VectorOperators.MAX); // exact in any order
        for (; j < len; j++) {
            a[o + j] *= scale;
            max = Math.max(max, a[o + j]);
        }
        return max;
    }

    /** row [o, o+len) becomes exp(row − max), [len, kb) becomes 0; returns the row's sum (a fixed order). */
    private static float expRow(float[] a, int o, int len, int kb, float max) {
        FloatVector maxV = FloatVector.broadcast(S, max), acc = FloatVector.zero(S);
        for (int j = 0; j < len; j += L) {
            VectorMask<Float> msk = S.indexInRange(j, len);
            FloatVector e = VectorMath.exp(FloatVector.fromArray(S, a, o + j, msk).sub(maxV)).blend(0f, msk.not());
            acc = acc.add(e);
            e.intoArray(a, o + j, msk);
        }
        Arrays.fill(a, o + len, o + kb, 0f);
        return MatmulCpu.sum(acc);
    }

    private static void scaleRow(float[] a, int o, int len, float f) {
        FloatVector fv = FloatVector.broadcast(S, f);
        for (int j = 0; j < len; j += L) {
            VectorMask<Float> msk = S.indexInRange(j, len);
            FloatVector.fromArray(S, a, o + j, msk).mul(fv).intoArray(a, o + j, msk);
        }
    }

    /**
     * In one row: s becomes P = exp(scale·s − lse) and ds (holding dP) becomes P ⊙ (dP − D) · scale, over
     * [0, len); both 0 over [len, kb).
     */
    private static void probabilitiesAndGradient(float[] s, float[] ds, int o, int len, int kb, float scale, float lse, float d) {
        FloatVector sv = FloatVector.broadcast(S, scale), lv = FloatVector.broadcast(S, lse), dv = FloatVector.broadcast(S, d);
        for (int j = 0; j < len; j += L) {
            VectorMask<Float> msk = S.indexInRange(j, len);
            FloatVector p = VectorMath.exp(FloatVector.fromArray(S, s, o + j, msk).fma(sv, lv.neg())).blend(0f, msk.not());
            p.intoArray(s, o + j, msk);
            FloatVector.fromArray(S, ds, o + j, msk).sub(dv).mul(p).mul(sv).intoArray(ds, o + j, msk);
        }
        Arrays.fill(s, o + len, o + kb, 0f);
        Arrays.fill(ds, o + len, o + kb, 0f);
    }

    /** Σ_c a[o+c]·b[o+c], c in [0, n), in a fixed order. */
    private static float dot(float[] a, float[] b, int o, int n) {
        FloatVector acc = FloatVector.zero(S);
        for (int j = 0; j < n; j += L) {
            VectorMask<Float> msk = S.indexInRange(j, n);
            acc = FloatVector.fromArray(S, a, o + j, msk).fma(FloatVector.fromArray(S, b, o + j, msk), acc);
        }
        return MatmulCpu.sum(acc);
    }
}
