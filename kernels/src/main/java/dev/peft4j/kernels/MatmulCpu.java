package dev.peft4j.kernels;

/** TEMPORARY stand-in; replaced by the matmul branch's Vector API kernels. */
public final class MatmulCpu {
    private MatmulCpu() {}

    public static void forward(float[] y, int yOff, float[] x, int xOff, float[] w, int wOff, int n, int in, int out) {
        Threads.parallelFor(out, (lo, hi) -> {
            for (int i = 0; i < n; i++)
                for (int o = lo; o < hi; o++) {
                    float s = 0;
                    for (int k = 0; k < in; k++) s += x[xOff + i * in + k] * w[wOff + o * in + k];
                    y[yOff + i * out + o] = s;
                }
        });
    }

    public static void backwardInput(float[] dx, int dxOff, float[] dy, int dyOff, float[] w, int wOff, int n, int in, int out) {
        Threads.parallelFor(n, (lo, hi) -> {
            for (int i = lo; i < hi; i++)
                for (int o = 0; o < out; o++) {
                    float g = dy[dyOff + i * out + o];
                    for (int k = 0; k < in; k++) dx[dxOff + i * in + k] += g * w[wOff + o * in + k];
                }
        });
    }

    public static void backwardWeight(float[] dw, int dwOff, float[] dy, int dyOff, float[] x, int xOff, int n, int in, int out) {
        Threads.parallelFor(out, (lo, hi) -> {
            for (int o = lo; o < hi; o++)
                for (int i = 0; i < n; i++) {
                    float g = dy[dyOff + i * out + o];
                    for (int k = 0; k < in; k++) dw[dwOff + o * in + k] += g * x[xOff + i * in + k];
                }
        });
    }
}
