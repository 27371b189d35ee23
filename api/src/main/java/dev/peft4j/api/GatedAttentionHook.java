package dev.peft4j.api;

/**
 * A separate attention over the hook's own prompt, gated and added to the layer's attention output
 * before the output projection (LLaMA-Adapter). Shapes: q, out [n][nHeads*headDim] where q holds
 * the layer's rotated queries.
 */
public interface GatedAttentionHook {
    /** out += gate ⊙ attention(q, own keys, own values). */
    void forward(float[] q, float[] out, int n, Pass pass);

    /** dq += ...; parameter gradients += .... q is the input of the latest forward. */
    void backward(float[] q, float[] dOut, float[] dq, int n);
}
