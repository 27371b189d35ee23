package dev.peft4j.kernels;

/** Numerically stable softmax in place over a contiguous run of a buffer. */
public final class Softmax {
    private Softmax() {}

    /** x[off, off+len) = softmax(x[off, off+len)). */
    public static void forward(float[] x, int off, int len) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < len; i++) max = Math.max(max, x[off + i]);
        float sum = 0f;
        for (int i = 0; i < len; i++) {
            float e = (float) Math.exp(x[off + i] - max);
            x[off + i] = e;
            sum += e;
        }
        float inv = 1f / sum;
        for (int i = 0; i < len; i++) x[off + i] *= inv;
    }
}
