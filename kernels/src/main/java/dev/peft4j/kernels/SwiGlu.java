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
        forward(out, 0, gate, 0, up, 0, from, to);
    }

    /** out[outOff + i] = silu(gate[gateOff + i]) * up[upOff + i] for i in from..to. */
    public static void forward(float[] out, int outOff, float[] gate, int gateOff, float[] up, int upOff, int from, int to) {
        for (@Parallel int i = from; i < to; i++) {
            float g = gate[gateOff + i];
            out[outOff + i] = g / (1f + (float) Math.exp(-g)) * up[upOff + i];
        }
    }

    /** dGate[i] += ..., dUp[i] += ... for i in from..to (inputs gate, up as saved by forward). */
    public static void backward(float[] dGate, float[] dUp, float[] dOut, float[] gate, float[] up, int from, int to) {
        backward(dGate, dUp, dOut, gate, 0, up, 0, from, to);
    }

    /** {@link #backward(float[], float[], float[], float[], float[], int, int)} with gate and up read from their offsets. */
    public static void backward(float[] dGate, float[] dUp, float[] dOut, float[] gate, int gateOff, float[] up, int upOff,
                                int from, int to) {
        for (@Parallel int i = from; i < to; i++) {
            float g = gate[gateOff + i];
            float sig = 1f / (1f + (float) Math.exp(-g));
            float silu = g * sig;
            dGate[i] += dOut[i] * up[upOff + i] * sig * (1f + g * (1f - sig));
            dUp[i] += dOut[i] * silu;
        }
    }
}
