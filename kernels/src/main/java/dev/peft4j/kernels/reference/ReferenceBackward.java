package dev.peft4j.kernels.reference;

/**
 * Plain reference backward passes: the simplest loops, double accumulators, no parallelism,
 * and nothing saved from a forward pass (each method recomputes what it needs in double). They
 * are the oracles for the backward kernels in {@code dev.peft4j.kernels}, and are themselves
 * checked against finite differences. Layouts match {@link Reference}.
 *
 * <p>Gradients are added into their buffers, as the backward kernels do; {@link #rope} rotates
 * its buffer in place, as its kernel does.
 */
public final class ReferenceBackward {
    private ReferenceBackward() {}

    /** dTable [vocab][dim] += dOut [n][dim] scattered by tokens [n] (a token seen twice gets both rows). */
    public static void embedding(float[] dTable, float[] dOut, int[] tokens, int n, int dim) {
        double[] acc = new double[dTable.length]; // [vocab][dim]
        for (int i = 0; i < dTable.length; i++) acc[i] = dTable[i];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < dim; j++) acc[tokens[i] * dim + j] += dOut[i * dim + j];
        for (int i = 0; i < dTable.length; i++) dTable[i] = (float) acc[i];
    }

    /**
     * Backward of {@link Reference#rmsnorm} {@code y_j = x_j · r · w_j}, {@code r = 1/sqrt(mean(x²) + eps)}:
     * dx [n][dim] += Jᵀ·dOut with the full Jacobian {@code ∂y_j/∂x_k = w_j (r δ_jk − x_j x_k r³ / dim)},
     * and dw [dim] += Σ_rows dOut_j · x_j · r (skipped when dw is null).
     */
    public static void rmsnorm(float[] dx, float[] dw, float[] dOut, float[] x, float[] w, int n, int dim, float eps) {
        double[] dwAcc = new double[dim];
        for (int i = 0; i < n; i++) {
            int base = i * dim;
            double ss = 0;
            for (int j = 0; j < dim; j++) ss += (double) x[base + j] * x[base + j];
            double r = 1.0 / Math.sqrt(ss / dim + eps);
            for (int k = 0; k < dim; k++) {
                double s = 0;
                for (int j = 0; j < dim; j++) {
                    double jac = w[j] * ((j == k ? r : 0.0) - (double) x[base + j] * x[base + k] * r * r * r / dim);
                    s += dOut[base + j] * jac;
                }
                dx[base + k] = (float) (dx[base + k] + s);
            }
            for (int j = 0; j < dim; j++) dwAcc[j] += (double) dOut[base + j] * x[base + j] * r;
        }
        if (dw != null) for (int j = 0; j < dim; j++) dw[j] = (float) (dw[j] + dwAcc[j]);
    }

    /**
     * Backward of {@link Reference#rope}: each pair's rotation R(a) is orthogonal, so the gradient is
     * rotated in place by its transpose, {@code [dx_j, dx_{j+h}] = [c·dy_j + s·dy_{j+h}, −s·dy_j + c·dy_{j+h}]}.
     */
    public static void rope(float[] dx, int n, int heads, int headDim, int[] positions, double[] invFreq) {
        int half = headDim / 2;
        for (int i = 0; i < n; i++)
            for (int h = 0; h < heads; h++)
                for (int j = 0; j < half; j++) {
                    double a = positions[i] * invFreq[j], c = Math.cos(a), s = Math.sin(a);
                    int base = i * heads * headDim + h * headDim;
                    double d0 = dx[base + j], d1 = dx[base + j + half];
                    dx[base + j] = (float) (c * d0 + s * d1);
                    dx[base + j + half] = (float) (-s * d0 + c * d1);
                }
    }

    /**
     * Backward of {@link Reference#attention} for one sequence: q, dOut [nq][nHeads*hd] at positions
     * p0 .. p0+nq−1; k, v [S][nKv*hd] (rows past p0+nq−1 get no gradient). dq, dk, dv (shaped like
     * q, k, v) += the gradients. By the chain rule through {@code out_t = Σ_j p_tj v_j},
     * {@code p_t = softmax(s_t)} (Jacobian {@code p_i(δ_ij − p_j)}) and {@code s_tj = q_t·k_j/sqrt(hd)}.
     */
    public static void attention(float[] dq, float[] dk, float[] dv, float[] dOut, float[] q, float[] k, float[] v,
                                 int nq, int p0, int nHeads, int nKvHeads, int headDim) {
        int qDim = nHeads * headDim, kvDim = nKvHeads * headDim, group = nHeads / nKvHeads;
        double scale = 1.0 / Math.sqrt(headDim);
        double[] dkAcc = new double[dk.length], dvAcc = new double[dv.length]; // [S][nKv*hd]
        for (int t = 0; t < nq; t++)
            for (int h = 0; h < nHeads; h++) {
                int kvh = h / group, len = p0 + t + 1;
                int qo = t * qDim + h * headDim;
                double[] p = new double[len];
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < len; j++) {
                    double d = 0;
                    for (int c = 0; c < headDim; c++) d += (double) q[qo + c] * k[j * kvDim + kvh * headDim + c];
                    p[j] = d * scale;
                    max = Math.max(max, p[j]);
                }
                double sum = 0;
                for (int j = 0; j < len; j++) { p[j] = Math.exp(p[j] - max); sum += p[j]; }
                for (int j = 0; j < len; j++) p[j] /= sum;

                double[] dp = new double[len]; // d loss / d p_tj = dOut_t · v_j
                for (int j = 0; j < len; j++) {
                    int vo = j * kvDim + kvh * headDim;
                    for (int c = 0; c < headDim; c++) {
                        dp[j] += (double) dOut[qo + c] * v[vo + c];
                        dvAcc[vo + c] += p[j] * dOut[qo + c];
                    }
                }
                for (int j = 0; j < len; j++) {
                    double ds = 0; // d loss / d s_tj = Σ_i dp_i · p_i (δ_ij − p_j)
                    for (int i = 0; i < len; i++) ds += dp[i] * p[i] * ((i == j ? 1.0 : 0.0) - p[j]);
                    int ko = j * kvDim + kvh * headDim;
                    for (int c = 0; c < headDim; c++) {
                        dq[qo + c] = (float) (dq[qo + c] + ds * scale * k[ko + c]);
                        dkAcc[ko + c] += ds * scale * q[qo + c];
                    }
                }
            }
        for (int i = 0; i < dk.length; i++) dk[i] = (float) (dk[i] + dkAcc[i]);
        for (int i = 0; i < dv.length; i++) dv[i] = (float) (dv[i] + dvAcc[i]);
    }

    /**
     * Backward of {@link Reference#swiglu} {@code out = silu(g) · u}, {@code silu(g) = g σ(g)}:
     * dGate += dOut · u · (σ + g σ (1 − σ)), dUp += dOut · silu(g).
     */
    public static void swiglu(float[] dGate, float[] dUp, float[] dOut, float[] gate, float[] up, int n) {
        for (int i = 0; i < n; i++) {
            double g = gate[i], sig = 1.0 / (1.0 + Math.exp(-g));
            dGate[i] = (float) (dGate[i] + dOut[i] * up[i] * (sig + g * sig * (1 - sig)));
            dUp[i] = (float) (dUp[i] + dOut[i] * g * sig);
        }
    }

    /**
     * Softmax cross-entropy over logits [rows][vocab] with targets [rows] and per-token weights [rows]:
     * losses [rows] receive each row's unweighted loss {@code logsumexp(z) − z[target]};
     * dLogits [rows][vocab] += the gradient of {@code L = scale · Σ_i weight_i · loss_i}, which is returned.
     */
    public static double crossEntropy(float[] dLogits, float[] losses, float[] logits, int[] targets, float[] weights,
                                      int rows, int vocab, double scale) {
        double total = 0;
        for (int i = 0; i < rows; i++) {
            int base = i * vocab;
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < vocab; j++) max = Math.max(max, logits[base + j]);
            double sum = 0;
            for (int j = 0; j < vocab; j++) sum += Math.exp(logits[base + j] - max);
            double logSum = max + Math.log(sum);
            double loss = logSum - logits[base + targets[i]];
            losses[i] = (float) loss;
            double g = weights[i] * scale;
            total += g * loss;
            for (int j = 0; j < vocab; j++) {
                double d = (Math.exp(logits[base + j] - logSum) - (j == targets[i] ? 1.0 : 0.0)) * g;
                dLogits[base + j] = (float) (dLogits[base + j] + d);
            }
        }
        return total;
    }

    /**
     * One AdamW step number t (1-based) in double, as torch.optim.AdamW does it, on w, m, v [n] with
     * gradient {@code g · gradScale}:
     * <pre>
     *   w ← w − lr·λ·w;   m ← β1 m + (1−β1) g;   v ← β2 v + (1−β2) g²
     *   w ← w − lr · (m / (1−β1^t)) / (sqrt(v / (1−β2^t)) + ε)
     * </pre>
     */
    public static void adamW(double[] w, double[] m, double[] v, float[] g, int t, double gradScale, double lr,
                             double beta1, double beta2, double eps, double weightDecay) {
        double bc1 = 1 - Math.pow(beta1, t), bc2 = 1 - Math.pow(beta2, t);
        for (int i = 0; i < w.length; i++) {
            double grad = g[i] * gradScale;
            w[i] -= lr * weightDecay * w[i];
            m[i] = beta1 * m[i] + (1 - beta1) * grad;
            v[i] = beta2 * v[i] + (1 - beta2) * grad * grad;
            w[i] -= lr * (m[i] / bc1) / (Math.sqrt(v[i] / bc2) + eps);
        }
    }
}
