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
        forward(out, 0, x, 0, w, 0, rstd, 0, dim, eps, from, to);
    }

    /** {@link #forward(float[], float[], float[], float[], int, float, int, int)} with each buffer read from its offset. */
    public static void forward(float[] out, int outOff, float[] x, int xOff, float[] w, int wOff, float[] rstd, int rstdOff,
                               int dim, float eps, int from, int to) {
        for (@Parallel int i = from; i < to; i++) {
            int base = i * dim;
            float ss = 0f;
            for (int j = 0; j < dim; j++) ss += x[xOff + base + j] * x[xOff + base + j];
            float r = (float) (1.0 / Math.sqrt(ss / dim + eps));
            if (rstd != null) rstd[rstdOff + i] = r;
            for (int j = 0; j < dim; j++) out[outOff + base + j] = x[xOff + base + j] * r * w[wOff + j];
        }
    }

    /**
     * dx [n][dim] += d rmsnorm / dx; rows from..to. Needs x and the rstd saved by forward.
     * The weight gradient is separate ({@link #backwardWeight}) so that it can be skipped when w is frozen.
     */
    public static void backwardInput(float[] dx, float[] dOut, float[] x, float[] w, float[] rstd, int dim, int from, int to) {
        backwardInput(dx, dOut, x, 0, w, 0, rstd, 0, dim, from, to);
    }

    /** {@link #backwardInput(float[], float[], float[], float[], float[], int, int, int)} with x, w, rstd read from their offsets. */
    public static void backwardInput(float[] dx, float[] dOut, float[] x, int xOff, float[] w, int wOff, float[] rstd,
                                     int rstdOff, int dim, int from, int to) {
        for (@Parallel int i = from; i < to; i++) {
            int base = i * dim;
            float r = rstd[rstdOff + i];
            float dot = 0f;
            for (int j = 0; j < dim; j++) dot += dOut[base + j] * w[wOff + j] * x[xOff + base + j];
            float c = r * r * r * dot / dim;
            for (int j = 0; j < dim; j++) dx[base + j] += dOut[base + j] * w[wOff + j] * r - x[xOff + base + j] * c;
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
