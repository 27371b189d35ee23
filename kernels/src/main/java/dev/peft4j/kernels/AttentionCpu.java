package dev.peft4j.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The CPU backend's form of {@link Attention}: the same rows, layouts and results (summation order
 * aside), with the head-dimension loops on the Vector API. {@link Attention} stays the plain form
 * TornadoVM compiles; both are tested against the same reference.
 */
public final class AttentionCpu {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();

    private AttentionCpu() {}

    /** As {@link Attention#forward}. */
    public static void forward(float[] out, float[] q, float[] k, float[] v, float[] att,
                               int nHeads, int nKv, int hd, int T, int p0, int kvRows, int attStride,
                               int from, int to) {
        int qDim = nHeads * hd, kvDim = nKv * hd, group = nHeads / nKv;
        float scale = (float) (1.0 / Math.sqrt(hd));
        for (int r = from; r < to; r++) {
            int t = r % T, bh = r / T, h = bh % nHeads, b = bh / nHeads;
            int qo = (b * T + t) * qDim + h * hd;
            int kvBase = b * kvRows * kvDim + (h / group) * hd;
            int ao = r * attStride;
            int len = p0 + t + 1;
            float max = Float.NEGATIVE_INFINITY;
            for (int j = 0; j < len; j++) {
                float s = dot(q, qo, k, kvBase + j * kvDim, hd) * scale;
                att[ao + j] = s;
                max = Math.max(max, s);
            }
            float sum = 0f;
            for (int j = 0; j < len; j++) {
                float e = (float) Math.exp(att[ao + j] - max);
                att[ao + j] = e;
                sum += e;
            }
            float inv = 1f / sum;
            java.util.Arrays.fill(out, qo, qo + hd, 0f);
            for (int j = 0; j < len; j++) {
                float p = att[ao + j] * inv;
                att[ao + j] = p;
                axpy(p, v, kvBase + j * kvDim, out, qo, hd);
            }
        }
    }

    /** As {@link Attention#backwardQuery}. */
    public static void backwardQuery(float[] dq, float[] dScores, float[] dOut, float[] k, float[] v, float[] att,
                                     int nHeads, int nKv, int hd, int T, int p0, int kvRows, int attStride,
                                     int from, int to) {
        int qDim = nHeads * hd, kvDim = nKv * hd, group = nHeads / nKv;
        float scale = (float) (1.0 / Math.sqrt(hd));
        for (int r = from; r < to; r++) {
            int t = r % T, bh = r / T, h = bh % nHeads, b = bh / nHeads;
            int qo = (b * T + t) * qDim + h * hd;
            int kvBase = b * kvRows * kvDim + (h / group) * hd;
            int ao = r * attStride;
            int len = p0 + t + 1;
            float dot = 0f;
            for (int j = 0; j < len; j++) {
                float dp = dot(dOut, qo, v, kvBase + j * kvDim, hd);
                dScores[ao + j] = dp;
                dot += dp * att[ao + j];
            }
            for (int j = 0; j < len; j++) {
                float ds = att[ao + j] * (dScores[ao + j] - dot);
                dScores[ao + j] = ds;
                axpy(ds * scale, k, kvBase + j * kvDim, dq, qo, hd);
            }
        }
    }

    /** As {@link Attention#backwardKeyValue}. */
    public static void backwardKeyValue(float[] dk, float[] dv, float[] dScores, float[] dOut, float[] q, float[] att,
                                        int nHeads, int nKv, int hd, int T, int p0, int kvRows, int attStride,
                                        int from, int to) {
        int qDim = nHeads * hd, kvDim = nKv * hd, group = nHeads / nKv;
        float scale = (float) (1.0 / Math.sqrt(hd));
        for (int r = from; r < to; r++) {
            int kvh = r % nKv, b = r / nKv;
            int kvBase = b * kvRows * kvDim + kvh * hd;
            for (int g = 0; g < group; g++) {
                int h = kvh * group + g;
                for (int t = 0; t < T; t++) {
                    int qo = (b * T + t) * qDim + h * hd;
                    int ao = ((b * nHeads + h) * T + t) * attStride;
                    int len = p0 + t + 1;
                    for (int j = 0; j < len; j++) {
                        int o = kvBase + j * kvDim;
                        axpy(dScores[ao + j] * scale, q, qo, dk, o, hd);
                        axpy(att[ao + j], dOut, qo, dv, o, hd);
                    }
                }
            }
        }
    }

    /** a[ao..ao+n) · b[bo..bo+n), lanes summed in a fixed order. */
    static float dot(float[] a, int ao, float[] b, int bo, int n) {
        int bound = S.loopBound(n), c = 0;
        float s = 0f;
        if (bound > 0) {
            FloatVector acc = FloatVector.fromArray(S, a, ao).mul(FloatVector.fromArray(S, b, bo));
            for (c = L; c < bound; c += L) acc = FloatVector.fromArray(S, a, ao + c).fma(FloatVector.fromArray(S, b, bo + c), acc);
            s = MatmulCpu.sum(acc);
        }
        for (; c < n; c++) s += a[ao + c] * b[bo + c];
        return s;
    }

    /** y[yo..yo+n) += alpha · x[xo..xo+n). */
    static void axpy(float alpha, float[] x, int xo, float[] y, int yo, int n) {
        int bound = S.loopBound(n), c = 0;
        if (bound > 0) {
            FloatVector av = FloatVector.broadcast(S, alpha);
            for (; c < bound; c += L) {
                FloatVector.fromArray(S, x, xo + c).fma(av, FloatVector.fromArray(S, y, yo + c)).intoArray(y, yo + c);
            }
        }
        for (; c < n; c++) y[yo + c] += alpha * x[xo + c];
    }
}
