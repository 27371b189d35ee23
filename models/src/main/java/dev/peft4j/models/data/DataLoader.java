package dev.peft4j.models.data;

import dev.peft4j.models.train.Batch;

/**
 * Serves training batches from prepared tokens, in an order fixed by a seed, endlessly (epoch
 * after epoch). Its {@link Position} is all the state there is: save it with a checkpoint,
 * {@link #restore} it on resume, and the batches that follow are the same, bit for bit.
 *
 * <p>{@link ExampleLoader} serves instruction examples, {@link WindowLoader} windows of a text stream.
 */
public sealed interface DataLoader permits ExampleLoader, WindowLoader {
    /** The next micro-batch. */
    Batch next();

    /** Rows per batch. */
    int batchSize();

    /** Batches in one pass over the data (the last may run on into the next epoch). */
    long batchesPerEpoch();

    /** Where the loader stands: the next {@link #next()} serves from here. */
    Position position();

    /** Continues from {@code position} (taken from a loader over the same data). */
    void restore(Position position);

    /**
     * A loader's place: the epoch, the index within the epoch of the next item (example or
     * window; batch for random windows), and the seed that fixes every epoch's order.
     */
    record Position(int epoch, long nextIndex, long seed) {
        public Position {
            if (epoch < 0 || nextIndex < 0) throw new IllegalArgumentException("position " + epoch + "/" + nextIndex);
        }
    }
}
