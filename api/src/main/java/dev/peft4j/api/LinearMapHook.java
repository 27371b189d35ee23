package dev.peft4j.api;

/**
 * Maps a linear layer's input before the base matmul reads it, or its output after the base matmul and the
 * site's {@link LinearHook}s have written it: a function of rows, {@code in [n][width] -> out [n][width]}, with
 * {@code width} the site's input or output width. IA³ scales k_proj's output and down_proj's input this way;
 * the additive {@link LinearHook} cannot (it would need the base weight and a second matmul).
 *
 * <pre>
 *   input maps:   x' = mapₖ(…map₁(x))        y = x'·Wᵀ + Σ hooks(x')
 *   output maps:  y  = mapₖ(…map₁(x'·Wᵀ + Σ hooks(x')))
 * </pre>
 *
 * Maps at one site run in registration order. Backward runs them in reverse: each adds its share of
 * {@code dIn} and accumulates its own parameters' gradients; {@code in} is the map's input in the latest forward
 * (kept by the model, so a map need keep nothing).
 */
public interface LinearMapHook {
    /** out = map(in), both [n][width]; out is not in. */
    void forward(float[] in, float[] out, int n, Pass pass);

    /** dIn += (d map / d in)ᵀ·dOut; parameter gradients += .... */
    void backward(float[] in, float[] dOut, float[] dIn, int n);
}
