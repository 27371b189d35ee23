package dev.peft4j.kernels;

/**
 * Causal multi-head attention with grouped-query heads (GQA), over a key/value buffer that may
 * start with rows before the queries' own (a KV cache during generation, or prefix rows).
 *
 * <p>Layouts, for B sequences of T queries each:
 * <pre>
 *   q, out  [B][T][nHeads*hd]        query t of a sequence is at position p0 + t
 *   k, v    [B][kvRows][nKv*hd]      key j at position j; query t sees keys 0 .. p0+t
 *   att     [B][nHeads][T][attStride] softmax probabilities (saved for backward), attStride >= p0+T
 * </pre>
 * Head h reads key/value head {@code h / (nHeads/nKv)}.
 *
 * <pre>
 *   s_tj = q_t·k_j / sqrt(hd)  (j <= p0+t),   p_t = softmax(s_t),   out_t = Σ_j p_tj v_j
 *   dv_j += Σ_t p_tj dout_t          dp_tj = dout_t·v_j
 *   ds_tj = p_tj (dp_tj − Σ_j' p_tj' dp_tj')
 *   dq_t += Σ_j ds_tj k_j / sqrt(hd)   dk_j += Σ_t ds_tj q_t / sqrt(hd)
 * </pre>
 */
public final class Attention {
    private Attention() {}

    /** Forward for rows r = (b*nHeads + h)*T + t in from..to (total B*nHeads*T rows). */
    public static void forward(float[] out, float[] q, float[] k, float[] v, float[] att,
                               int nHeads, int nKv, int hd, int T, int p0, int kvRows, int attStride,
                               int from, int to) {
        forward(out, 0, q, 0, k, 0, v, 0, att, 0, nHeads, nKv, hd, T, p0, kvRows, attStride, from, to);
    }

    /** {@link #forward(float[], float[], float[], float[], float[], int, int, int, int, int, int, int, int, int)} with each buffer from its offset. */
    public static void forward(float[] out, int outOff, float[] q, int qOff, float[] k, int kOff, float[] v, int vOff,
                               float[] att, int attOff, int nHeads, int nKv, int hd, int T, int p0, int kvRows,
                               int attStride, int from, int to) {
        int qDim = nHeads * hd, kvDim = nKv * hd, group = nHeads / nKv;
        float scale = (float) (1.0 / Math.sqrt(hd));
        for (@Parallel int r = from; r < to; r++) {
            int t = r % T, bh = r / T, h = bh % nHeads, b = bh / nHeads;
            int qo = (b * T + t) * qDim + h * hd;
            int kvBase = b * kvRows * kvDim + (h / group) * hd;
            int ao = attOff + r * attStride;
            int len = p0 + t + 1;
            float max = Float.NEGATIVE_INFINITY;
            for (int j = 0; j < len; j++) {
                int ko = kvBase + j * kvDim;
                float s = 0f;
                for (int c = 0; c < hd; c++) s += q[qOff + qo + c] * k[kOff + ko + c];
                s *= scale;
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
            for (int c = 0; c < hd; c++) out[outOff + qo + c] = 0f;
            for (int j = 0; j < len; j++) {
                float p = att[ao + j] * inv;
                att[ao + j] = p;
                int vo = kvBase + j * kvDim;
                for (int c = 0; c < hd; c++) out[outOff + qo + c] += p * v[vOff + vo + c];
            }
        }
    }

    /**
     * Backward, first pass, rows r = (b*nHeads + h)*T + t in from..to: dScores [same shape as att]
     * receives ds, and dq += ds·k / sqrt(hd).
     */
    public static void backwardQuery(float[] dq, float[] dScores, float[] dOut, float[] k, float[] v, float[] att,
                                     int nHeads, int nKv, int hd, int T, int p0, int kvRows, int attStride,
                                     int from, int to) {
        backwardQuery(dq, dScores, dOut, k, 0, v, 0, att, 0, nHeads, nKv, hd, T, p0, kvRows, attStride, from, to);
    }

    /** {@link #backwardQuery(float[], float[], float[], float[], float[], float[], int, int, int, int, int, int, int, int, int)} with k, v, att read from their offsets. */
    public static void backwardQuery(float[] dq, float[] dScores, float[] dOut, float[] k, int kOff, float[] v, int vOff,
                                     float[] att, int attOff, int nHeads, int nKv, int hd, int T, int p0, int kvRows,
                                     int attStride, int from, int to) {
        int qDim = nHeads * hd, kvDim = nKv * hd, group = nHeads / nKv;
        float scale = (float) (1.0 / Math.sqrt(hd));
        for (@Parallel int r = from; r < to; r++) {
            int t = r % T, bh = r / T, h = bh % nHeads, b = bh / nHeads;
            int qo = (b * T + t) * qDim + h * hd;
            int kvBase = b * kvRows * kvDim + (h / group) * hd;
            int ao = r * attStride;
            int len = p0 + t + 1;
            float dot = 0f;
            for (int j = 0; j < len; j++) {
                int vo = kvBase + j * kvDim;
                float dp = 0f;
                for (int c = 0; c < hd; c++) dp += dOut[qo + c] * v[vOff + vo + c];
                dScores[ao + j] = dp;
                dot += dp * att[attOff + ao + j];
            }
            for (int j = 0; j < len; j++) {
                float ds = att[attOff + ao + j] * (dScores[ao + j] - dot);
                dScores[ao + j] = ds;
                int ko = kvBase + j * kvDim;
                float w = ds * scale;
                for (int c = 0; c < hd; c++) dq[qo + c] += w * k[kOff + ko + c];
            }
        }
    }

    /**
     * Backward, second pass, rows r = b*nKv + kvHead in from..to (total B*nKv): dk += ds·q / sqrt(hd),
     * dv += p·dOut, summed over the query heads that share the key/value head. Needs the first pass.
     */
    public static void backwardKeyValue(float[] dk, float[] dv, float[] dScores, float[] dOut, float[] q, float[] att,
                                        int nHeads, int nKv, int hd, int T, int p0, int kvRows, int attStride,
                                        int from, int to) {
        backwardKeyValue(dk, dv, dScores, dOut, q, 0, att, 0, nHeads, nKv, hd, T, p0, kvRows, attStride, from, to);
    }

    /** {@link #backwardKeyValue(float[], float[], float[], float[], float[], float[], int, int, int, int, int, int, int, int, int)} with q and att read from their offsets. */
    public static void backwardKeyValue(float[] dk, float[] dv, float[] dScores, float[] dOut, float[] q, int qOff,
                                        float[] att, int attOff, int nHeads, int nKv, int hd, int T, int p0, int kvRows,
                                        int attStride, int from, int to) {
        int qDim = nHeads * hd, kvDim = nKv * hd, group = nHeads / nKv;
        float scale = (float) (1.0 / Math.sqrt(hd));
        for (@Parallel int r = from; r < to; r++) {
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
                        float ds = dScores[ao + j] * scale, p = att[attOff + ao + j];
                        for (int c = 0; c < hd; c++) {
                            dk[o + c] += ds * q[qOff + qo + c];
                            dv[o + c] += p * dOut[qo + c];
                        }
                    }
                }
            }
        }
    }
}
