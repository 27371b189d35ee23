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

    /** This loader as a training run's source of batches (positions as epoch, index, seed). */
    default dev.peft4j.models.train.BatchSource asBatchSource() {
        DataLoader self = this;
        return new dev.peft4j.models.train.BatchSource() {
            @Override public Batch next() { return self.next(); }
            @Override public long[] position() {
                Position p = self.position();
                return new long[]{p.epoch(), p.nextIndex(), p.seed()};
            }
            @Override public void seek(long[] p) {
                if (p.length != 3) throw new dev.peft4j.api.UserException("the checkpoint's data position " + java.util.Arrays.toString(p) + " is not a loader position");
                self.restore(new Position((int) p[0], p[1], p[2]));
            }
        };
    }

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
