package dev.peft4j.kernels;

/**
 * RMSNorm: {@code y = x / sqrt(mean(x²) + eps) * w}, row by row.
 *
 * <pre>
 *   r    = 1 / sqrt(mean_j x_j² + eps)          (saved per row for backward)
 *   y_j  = x_j · r · w_j
 *   dx_j = r · (g_j − x_j · r² · mean_k(g_k · x_k)),   g_j = dy_j · w_j
 *   dw_j = Σ_rows dy_j · x_j · r
 * </pre>
 */
public final class RmsNorm {
    private RmsNorm() {}

    /**
     * out [n][dim] = rmsnorm(x [n][dim]) * w [dim]; rstd [n] receives 1/rms per row when not null.
     * Rows from..to only (the CPU backend splits rows over threads).
     */
    public static void forward(float[] out, float[] x, float[] w, float[] rstd, int dim, float eps, int from, int to) {
        for (@Parallel int i = from; i < to; i++) {
            int base = i * dim;
            float ss = 0f;
            for (int j = 0; j < dim; j++) ss += x[base + j] * x[base + j];
            float r = (float) (1.0 / Math.sqrt(ss / dim + eps));
            if (rstd != null) rstd[i] = r;
            for (int j = 0; j < dim; j++) out[base + j] = x[base + j] * r * w[j];
        }
    }

    /**
     * dx [n][dim] += d rmsnorm / dx; rows from..to. Needs x and the rstd saved by forward.
     * The weight gradient is separate ({@link #backwardWeight}) so that it can be skipped when w is frozen.
     */
    public static void backwardInput(float[] dx, float[] dOut, float[] x, float[] w, float[] rstd, int dim, int from, int to) {
        for (@Parallel int i = from; i < to; i++) {
            int base = i * dim;
            float r = rstd[i];
            float dot = 0f;
            for (int j = 0; j < dim; j++) dot += dOut[base + j] * w[j] * x[base + j];
            float c = r * r * r * dot / dim;
            for (int j = 0; j < dim; j++) dx[base + j] += dOut[base + j] * w[j] * r - x[base + j] * c;
        }
    }

    /** dw [dim] += Σ_i dOut[i] · x[i] · rstd[i] over rows 0..n (columns from..to, so threads own columns). */
    public static void backwardWeight(float[] dw, float[] dOut, float[] x, float[] rstd, int n, int dim, int from, int to) {
        for (@Parallel int j = from; j < to; j++) {
            float s = 0f;
            for (int i = 0; i < n; i++) s += dOut[i * dim + j] * x[i * dim + j] * rstd[i];
            dw[j] += s;
        }
    }
}
