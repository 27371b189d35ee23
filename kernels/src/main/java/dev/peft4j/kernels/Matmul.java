package dev.peft4j.kernels;

/**
 * The linear layer {@code y = x·wᵀ} and its backward, in kernel style: static methods over flat
 * arrays, independent loops marked {@link Parallel}, float accumulators. These are the forms a
 * TornadoVM task graph compiles; on the CPU, {@link MatmulCpu} is the fast path.
 *
 * <p>Layouts (row-major, each buffer addressed from its offset): {@code x [n][in]},
 * {@code w [out][in]} (as {@code nn.Linear} stores it), {@code y [n][out]}.
 */
public final class Matmul {
    private Matmul() {}

    /** y = x·wᵀ, overwriting y. y[n][out], x[n][in], w[out][in]. */
    public static void forward(float[] y, int yOff, float[] x, int xOff, float[] w, int wOff,
                               int n, int in, int out) {
        for (@Parallel int i = 0; i < n; i++) {
            for (@Parallel int o = 0; o < out; o++) {
                float s = 0f;
                for (int k = 0; k < in; k++) s += x[xOff + i * in + k] * w[wOff + o * in + k];
                y[yOff + i * out + o] = s;
            }
        }
    }

    /** dx += dy·w. dx[n][in], dy[n][out], w[out][in]. */
    public static void backwardInput(float[] dx, int dxOff, float[] dy, int dyOff, float[] w, int wOff,
                                     int n, int in, int out) {
        for (@Parallel int i = 0; i < n; i++) {
            for (@Parallel int k = 0; k < in; k++) {
                float s = 0f;
                for (int o = 0; o < out; o++) s += dy[dyOff + i * out + o] * w[wOff + o * in + k];
                dx[dxOff + i * in + k] += s;
            }
        }
    }

    /** dw += dyᵀ·x. dw[out][in], dy[n][out], x[n][in]. */
    public static void backwardWeight(float[] dw, int dwOff, float[] dy, int dyOff, float[] x, int xOff,
                                      int n, int in, int out) {
        for (@Parallel int o = 0; o < out; o++) {
            for (@Parallel int k = 0; k < in; k++) {
                float s = 0f;
                for (int i = 0; i < n; i++) s += dy[dyOff + i * out + o] * x[xOff + i * in + k];
                dw[dwOff + o * in + k] += s;
            }
        }
    }
}
