package dev.peft4j.kernels;

/**
 * The forward ops in double precision, inputs and outputs alike, for finite differences: a step
 * of 1e-5 needs more than float's 7 digits to see the change. Same layouts as the kernels.
 */
final class DoubleOps {
    private DoubleOps() {}

    /** out [n][dim] = table [vocab][dim] rows at tokens [n]. */
    static double[] embedding(double[] table, int[] tokens, int n, int dim) {
        double[] out = new double[n * dim];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < dim; j++) out[i * dim + j] = table[tokens[i] * dim + j];
        return out;
    }

    static double[] rmsnorm(double[] x, double[] w, int n, int dim, double eps) {
        double[] out = new double[n * dim];
        for (int i = 0; i < n; i++) {
            double ss = 0;
            for (int j = 0; j < dim; j++) ss += x[i * dim + j] * x[i * dim + j];
            double r = 1 / Math.sqrt(ss / dim + eps);
            for (int j = 0; j < dim; j++) out[i * dim + j] = x[i * dim + j] * r * w[j];
        }
        return out;
    }

    static double[] rope(double[] x, int n, int heads, int hd, int[] positions, double[] invFreq) {
        double[] out = x.clone();
        int half = hd / 2;
        for (int i = 0; i < n; i++)
            for (int h = 0; h < heads; h++)
                for (int j = 0; j < half; j++) {
                    double a = positions[i] * invFreq[j];
                    int b = i * heads * hd + h * hd;
                    out[b + j] = x[b + j] * Math.cos(a) - x[b + j + half] * Math.sin(a);
                    out[b + j + half] = x[b + j] * Math.sin(a) + x[b + j + half] * Math.cos(a);
                }
        return out;
    }

    /** Causal GQA attention over B sequences: q [B][T][nHeads*hd], k, v [B][kvRows][nKv*hd], query t at position p0+t. */
    static double[] attention(double[] q, double[] k, double[] v, int B, int T, int p0, int kvRows, int nHeads, int nKv, int hd) {
        int qDim = nHeads * hd, kvDim = nKv * hd, group = nHeads / nKv;
        double[] out = new double[B * T * qDim];
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
                for (int h = 0; h < nHeads; h++) {
                    int qo = (b * T + t) * qDim + h * hd, kv = b * kvRows * kvDim + (h / group) * hd, len = p0 + t + 1;
                    double[] s = new double[len];
                    double max = Double.NEGATIVE_INFINITY, sum = 0;
                    for (int j = 0; j < len; j++) {
                        for (int c = 0; c < hd; c++) s[j] += q[qo + c] * k[kv + j * kvDim + c];
                        s[j] /= Math.sqrt(hd);
                        max = Math.max(max, s[j]);
                    }
                    for (int j = 0; j < len; j++) { s[j] = Math.exp(s[j] - max); sum += s[j]; }
                    for (int j = 0; j < len; j++)
                        for (int c = 0; c < hd; c++) out[qo + c] += s[j] / sum * v[kv + j * kvDim + c];
                }
        return out;
    }

    static double[] swiglu(double[] gate, double[] up) {
        double[] out = new double[gate.length];
        for (int i = 0; i < gate.length; i++) out[i] = gate[i] / (1 + Math.exp(-gate[i])) * up[i];
        return out;
    }

    /** scale · Σ_i weights[i] · (logsumexp(z_i) − z_i[targets[i]]) over logits [rows][vocab]. */
    static double crossEntropy(double[] logits, int[] targets, float[] weights, int rows, int vocab, double scale) {
        double total = 0;
        for (int i = 0; i < rows; i++) {
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (int j = 0; j < vocab; j++) max = Math.max(max, logits[i * vocab + j]);
            for (int j = 0; j < vocab; j++) sum += Math.exp(logits[i * vocab + j] - max);
            total += weights[i] * (max + Math.log(sum) - logits[i * vocab + targets[i]]);
        }
        return scale * total;
    }
}
