package dev.peft4j.kernels;

/**
 * SwiGLU's gating: {@code out = silu(gate) · up}, with {@code silu(g) = g · σ(g)}.
 *
 * <pre>
 *   d gate = dOut · up · σ(g) · (1 + g · (1 − σ(g)))
 *   d up   = dOut · silu(g)
 * </pre>
 */
public final class SwiGlu {
    private SwiGlu() {}

    /** out[i] = silu(gate[i]) * up[i] for i in from..to. */
    public static void forward(float[] out, float[] gate, float[] up, int from, int to) {
        for (@Parallel int i = from; i < to; i++) {
            float g = gate[i];
            out[i] = g / (1f + (float) Math.exp(-g)) * up[i];
        }
    }

    /** dGate[i] += ..., dUp[i] += ... for i in from..to (inputs gate, up as saved by forward). */
    public static void backward(float[] dGate, float[] dUp, float[] dOut, float[] gate, float[] up, int from, int to) {
        for (@Parallel int i = from; i < to; i++) {
            float g = gate[i];
            float sig = 1f / (1f + (float) Math.exp(-g));
            float silu = g * sig;
            dGate[i] += dOut[i] * up[i] * sig * (1f + g * (1f - sig));
            dUp[i] += dOut[i] * silu;
        }
    }
}
