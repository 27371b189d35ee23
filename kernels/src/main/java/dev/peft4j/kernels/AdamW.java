package dev.peft4j.kernels;

/**
 * One AdamW step (Loshchilov and Hutter, "Decoupled Weight Decay Regularization"), as
 * torch.optim.AdamW does it:
 *
 * <pre>
 *   w ← w − lr·λ·w                                  (decoupled weight decay)
 *   m ← β1·m + (1−β1)·g;   v ← β2·v + (1−β2)·g²
 *   w ← w − lr · (m / (1−β1^t)) / (sqrt(v / (1−β2^t)) + ε)
 * </pre>
 * {@code gradScale} multiplies g first (gradient clipping and accumulation averaging).
 */
public final class AdamW {
    private AdamW() {}

    /** Updates w, m, v at indices from..to; bc1 = 1−β1^t, bc2 = 1−β2^t. */
    public static void step(float[] w, float[] g, float[] m, float[] v, float gradScale, float lr, float beta1, float beta2,
                            float eps, float weightDecay, float bc1, float bc2, int from, int to) {
        float invSqrtBc2 = (float) (1.0 / Math.sqrt(bc2));
        float stepSize = lr / bc1;
        for (@Parallel int i = from; i < to; i++) {
            float grad = g[i] * gradScale;
            float mi = beta1 * m[i] + (1f - beta1) * grad;
            float vi = beta2 * v[i] + (1f - beta2) * grad * grad;
            m[i] = mi;
            v[i] = vi;
            float wi = w[i] * (1f - lr * weightDecay);
            w[i] = wi - stepSize * mi / ((float) Math.sqrt(vi) * invSqrtBc2 + eps);
        }
    }

    /** Σ g² over from..to, in double (for the global gradient norm). */
    public static double sumOfSquares(float[] g, int from, int to) {
        double s = 0;
        for (int i = from; i < to; i++) s += (double) g[i] * g[i];
        return s;
    }
}
