package dev.peft4j.kernels;

/**
 * Rotary position embedding, "rotate half" pairing (Hugging Face layout): within each head of
 * width {@code hd}, the pair {@code (j, j + hd/2)} is rotated by angle {@code pos · invFreq[j]}.
 *
 * <pre>
 *   [x_j', x_{j+h}'] = [x_j cos − x_{j+h} sin,  x_j sin + x_{j+h} cos]
 *   backward: the same rotation by −angle (a rotation's transpose is its inverse)
 * </pre>
 *
 * Tables are precomputed: {@code cos[pos][hd/2]}, {@code sin[pos][hd/2]} (see {@link #tables}).
 * Row {@code i} of x has position {@code pos0 + i % period}: period = sequence length for a batch of
 * sequences laid end to end, or n for one run of tokens.
 */
public final class Rope {
    private Rope() {}

    /** Fills cos/sin [maxSeq][hd/2] from inverse frequencies [hd/2]. */
    public static void tables(float[] cos, float[] sin, double[] invFreq, int maxSeq) {
        int half = invFreq.length;
        for (int p = 0; p < maxSeq; p++)
            for (int j = 0; j < half; j++) {
                double a = p * invFreq[j];
                cos[p * half + j] = (float) Math.cos(a);
                sin[p * half + j] = (float) Math.sin(a);
            }
    }

    /** Rotates x [n][heads*hd] in place, rows from..to. */
    public static void forward(float[] x, float[] cos, float[] sin, int heads, int hd, int pos0, int period, int from, int to) {
        rotate(x, 0, cos, sin, heads, hd, pos0, period, 1f, from, to);
    }

    /** {@link #forward(float[], float[], float[], int, int, int, int, int, int)} on x from its offset. */
    public static void forward(float[] x, int xOff, float[] cos, float[] sin, int heads, int hd, int pos0, int period,
                               int from, int to) {
        rotate(x, xOff, cos, sin, heads, hd, pos0, period, 1f, from, to);
    }

    /** Rotates the gradient dx [n][heads*hd] in place by the opposite angle, rows from..to. */
    public static void backward(float[] dx, float[] cos, float[] sin, int heads, int hd, int pos0, int period, int from, int to) {
        rotate(dx, 0, cos, sin, heads, hd, pos0, period, -1f, from, to);
    }

    private static void rotate(float[] x, int xOff, float[] cos, float[] sin, int heads, int hd, int pos0, int period, float sign,
                               int from, int to) {
        int half = hd / 2, width = heads * hd;
        for (@Parallel int i = from; i < to; i++) {
            int t = (pos0 + i % period) * half;
            for (int h = 0; h < heads; h++) {
                int base = xOff + i * width + h * hd;
                for (int j = 0; j < half; j++) {
                    float c = cos[t + j], s = sign * sin[t + j];
                    float x0 = x[base + j], x1 = x[base + j + half];
                    x[base + j] = x0 * c - x1 * s;
                    x[base + j + half] = x0 * s + x1 * c;
                }
            }
        }
    }
}
