package dev.peft4j.kernels;

/** Residual add: {@code x += delta}. Its backward passes the gradient through unchanged to both. */
public final class Residual {
    private Residual() {}

    /** x[i] += delta[i] for i in from..to. Also the backward: dDelta += dX is the same add. */
    public static void forward(float[] x, float[] delta, int from, int to) {
        for (@Parallel int i = from; i < to; i++) x[i] += delta[i];
    }
}
