package dev.peft4j.api;

/**
 * Prepends rows to a layer's keys and values before the shared causal softmax (prefix tuning):
 * every query sees them. They are used as they are (not rotated by RoPE), and the real tokens'
 * positions start after them.
 */
public interface KvPrefixHook {
    /** How many key/value rows this hook prepends. */
    int rows();

    /** Writes the rows: k, v [rows][kvDim]. */
    void keysValues(float[] k, float[] v, Pass pass);

    /** Accumulates parameter gradients from the rows' gradients dk, dv [rows][kvDim] (summed over the batch). */
    void backward(float[] dk, float[] dv);
}
