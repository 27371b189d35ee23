package dev.peft4j.kernels;

/** Residual add: {@code x += delta}. Its backward passes the gradient through unchanged to both. */
public final class Residual {
    private Residual() {}

    /** x[i] += delta[i] for i in from..to. Also the backward: dDelta += dX is the same add. */
    public static void forward(float[] x, float[] delta, int from, int to) {
        forward(x, 0, delta, 0, from, to);
    }

    /** x[xOff + i] += delta[deltaOff + i] for i in from..to. */
    public static void forward(float[] x, int xOff, float[] delta, int deltaOff, int from, int to) {
        for (@Parallel int i = from; i < to; i++) x[xOff + i] += delta[deltaOff + i];
    }
}
