package dev.peft4j.models.train;

/**
 * Where a training run's micro-batches come from, in a deterministic order that can be resumed:
 * {@link #position()} after any call, given back to {@link #seek}, makes the same batches follow.
 */
public interface BatchSource {
    /** The next micro-batch. */
    Batch next();

    /** The position after the latest batch (epoch, index, shuffle seed, ...), opaque to the caller. */
    long[] position();

    /** Continues from a saved position. */
    void seek(long[] position);
}
