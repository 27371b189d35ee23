package dev.peft4j.kernels.reference;

/**
 * Plain reference implementations of the forward kernels: the simplest loops, double
 * accumulators, no parallelism. Layouts match the kernels in {@code dev.peft4j.kernels}.
 */
public final class Reference {
    private Reference() {}

    /** out[i][:] = table[tokens[i]][:]. */
    public static void embedding(float[] out, float[] table, int[] tokens, int n, int dim) {
        for (int i = 0; i < n; i++)
            for (int j = 0; j < dim; j++) out[i * dim + j] = table[tokens[i] * dim + j];
    }

    /** out[i] = x[i] / sqrt(mean(x[i]²) + eps) * w. */
    public static void rmsnorm(float[] out, float[] x, float[] w, int n, int dim, float eps) {
        for (int i = 0; i < n; i++) {
            double ss = 0;
            for (int j = 0; j < dim; j++) ss += (double) x[i * dim + j] * x[i * dim + j];
            double r = 1.0 / Math.sqrt(ss / dim + eps);
            for (int j = 0; j < dim; j++) out[i * dim + j] = (float) (x[i * dim + j] * r * w[j]);
        }
    }

    /** y[i][o] = sum_k x[i][k] * w[o][k]. */
    public static void matmul(float[] y, float[] x, float[] w, int n, int in, int out) {
        for (int i = 0; i < n; i++)
            for (int o = 0; o < out; o++) {
                double s = 0;
                for (int k = 0; k < in; k++) s += (double) x[i * in + k] * w[o * in + k];
                y[i * out + o] = (float) s;
            }
    }

    /** dx[i][k] += sum_o dy[i][o] * w[o][k]: the input gradient of {@link #matmul}. */
    public static void matmulBackwardInput(float[] dx, float[] dy, float[] w, int n, int in, int out) {
        for (int i = 0; i < n; i++)
            for (int k = 0; k < in; k++) {
                double s = 0;
                for (int o = 0; o < out; o++) s += (double) dy[i * out + o] * w[o * in + k];
                dx[i * in + k] = (float) (dx[i * in + k] + s);
            }
    }

    /** dw[o][k] += sum_i dy[i][o] * x[i][k]: the weight gradient of {@link #matmul}. */
    public static void matmulBackwardWeight(float[] dw, float[] dy, float[] x, int n, int in, int out) {
        for (int o = 0; o < out; o++)
            for (int k = 0; k < in; k++) {
                double s = 0;
                for (int i = 0; i < n; i++) s += (double) dy[i * out + o] * x[i * in + k];
                dw[o * in + k] = (float) (dw[o * in + k] + s);
            }
    }

    /**
     * Rotate-half RoPE in place on x[n][heads*headDim] at the given positions: for each head the
     * pair (j, j + headDim/2) is rotated by pos * invFreq[j].
     */
    public static void rope(float[] x, int n, int heads, int headDim, int[] positions, double[] invFreq) {
        int half = headDim / 2;
        for (int i = 0; i < n; i++)
            for (int h = 0; h < heads; h++)
                for (int j = 0; j < half; j++) {
                    double a = positions[i] * invFreq[j];
                    int base = i * heads * headDim + h * headDim;
                    double x0 = x[base + j], x1 = x[base + j + half];
                    x[base + j] = (float) (x0 * Math.cos(a) - x1 * Math.sin(a));
                    x[base + j + half] = (float) (x0 * Math.sin(a) + x1 * Math.cos(a));
                }
    }

    /**
     * Causal attention with GQA for one sequence. q[t][nHeads*hd] for query positions p0..p0+nq-1;
     * k, v [S][nKv*hd] for key positions 0..S-1 (S >= p0+nq). out[t][nHeads*hd].
     */
    public static void attention(float[] out, float[] q, float[] k, float[] v, int nq, int p0,
                                 int nHeads, int nKvHeads, int headDim) {
        int qDim = nHeads * headDim, kvDim = nKvHeads * headDim, group = nHeads / nKvHeads;
        double scale = 1.0 / Math.sqrt(headDim);
        for (int t = 0; t < nq; t++)
            for (int h = 0; h < nHeads; h++) {
                int kvh = h / group, len = p0 + t + 1;
                double[] s = new double[len];
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < len; j++) {
                    double d = 0;
                    for (int c = 0; c < headDim; c++) d += (double) q[t * qDim + h * headDim + c] * k[j * kvDim + kvh * headDim + c];
                    s[j] = d * scale;
                    max = Math.max(max, s[j]);
                }
                double sum = 0;
                for (int j = 0; j < len; j++) { s[j] = Math.exp(s[j] - max); sum += s[j]; }
                for (int c = 0; c < headDim; c++) {
                    double o = 0;
                    for (int j = 0; j < len; j++) o += s[j] / sum * v[j * kvDim + kvh * headDim + c];
                    out[t * qDim + h * headDim + c] = (float) o;
                }
            }
    }

    /** out = silu(gate) * up, elementwise. */
    public static void swiglu(float[] out, float[] gate, float[] up, int n) {
        for (int i = 0; i < n; i++) {
            double g = gate[i];
            out[i] = (float) (g / (1 + Math.exp(-g)) * up[i]);
        }
    }

    /** Softmax in place over x[off, off+len). */
    public static void softmax(float[] x, int off, int len) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < len; i++) max = Math.max(max, x[off + i]);
        double sum = 0;
        for (int i = 0; i < len; i++) sum += Math.exp(x[off + i] - max);
        for (int i = 0; i < len; i++) x[off + i] = (float) (Math.exp(x[off + i] - max) / sum);
    }
}
