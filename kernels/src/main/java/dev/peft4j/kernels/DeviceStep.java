package dev.peft4j.kernels;

import java.util.List;

/**
 * A training step that runs on an accelerator (the TornadoVM backend), seen through JDK types only,
 * so that code built without that backend can drive one found at run time.
 *
 * <p>The step keeps its own device copies of the frozen weights and of the trainable tensors, their
 * gradients and AdamW moments. The host names the trainable tensors as the model's parameters are
 * named (Hugging Face PEFT's names) and sees them only through {@link #write} and {@link #read}.
 *
 * <p>Use: {@link #write} every tensor's starting values and moments before the first
 * {@link #forwardBackward}; per optimizer step, one {@link #forwardBackward} per micro-batch (the
 * first clears the gradients, the others add to them), {@link #gradSumOfSquares} when the global
 * norm is wanted, then one {@link #update}; {@link #loss} for validation between steps; {@link #read} when the
 * host needs the values (checkpoints, the end).
 */
public interface DeviceStep extends AutoCloseable {
    /** The trainable tensors' names, in the step's order. */
    List<String> tensors();

    /** Floats in a tensor; IllegalArgumentException for a name the step does not have. */
    int size(String tensor);

    /** Sets a tensor's values and AdamW moments (each {@link #size} floats); only before the first step. */
    void write(String tensor, float[] values, float[] m, float[] v);

    /** Copies a tensor's current values and AdamW moments into the given arrays. */
    void read(String tensor, float[] values, float[] m, float[] v);

    /**
     * Forward and backward of one micro-batch of {@code batch × seq} tokens (next-token targets, loss
     * weights: 0 masks a position); the gradients are of the batch's weighted mean loss, cleared first
     * when {@code firstOfStep}, added to the earlier micro-batches' otherwise. Returns that mean loss.
     */
    double forwardBackward(int[] tokens, int[] targets, float[] weights, boolean firstOfStep);

    /**
     * The weighted mean loss of a micro-batch, forward only (validation); it clears the gradients, so call it
     * between optimizer steps, not within one.
     */
    double loss(int[] tokens, int[] targets, float[] weights);

    /** Σ g² over every trainable tensor's accumulated gradient (for the global norm). */
    double gradSumOfSquares();

    /**
     * AdamW on every trainable tensor (torch semantics, decoupled decay) with the gradients times
     * {@code gradScale} (accumulation, clipping) at rate lr; {@code step} counts from 1 (bias correction).
     */
    void update(float gradScale, float lr, float beta1, float beta2, float eps, float weightDecay, int step);

    /** Bytes of the buffers the step keeps on its device. */
    long deviceMemoryBytes();

    /** Where it runs, e.g. "OpenCL / Portable Computing Language / pthread-...". */
    String device();

    @Override
    void close();
}
