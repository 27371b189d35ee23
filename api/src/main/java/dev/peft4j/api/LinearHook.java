package dev.peft4j.api;

/**
 * Adds to a linear layer's output. The base computes {@code y = x·Wᵀ}; each hook at the site then
 * adds its delta. In backward the base adds its share of dx (and dW only when W is trainable);
 * each hook adds its own share of dx and accumulates its own parameters' gradients.
 *
 * <p>Shapes: {@code x [n][in]}, {@code y [n][out]}. A hook may keep what it needs from the latest
 * training forward (it is called again with the same input before its backward when activations
 * are recomputed).
 */
public interface LinearHook {
    /** y += delta(x). */
    void forward(float[] x, float[] y, int n, Pass pass);

    /** dx += (d delta / dx)ᵀ·dy; parameter gradients += .... {@code x} is the input of the latest forward. */
    void backward(float[] x, float[] dy, float[] dx, int n);
}
