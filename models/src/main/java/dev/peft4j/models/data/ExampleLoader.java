package dev.peft4j.models.data;

import dev.peft4j.api.UserException;
import dev.peft4j.models.train.Batch;
import java.util.ArrayList;
import java.util.List;

/**
 * Micro-batches of instruction examples. Each epoch visits every example once, in a seeded
 * shuffle of its own (or in order, unshuffled); a batch that reaches the end of an epoch is
 * filled from the start of the next, so every batch has {@code batchSize} examples.
 *
 * <p>Row {@code b} holds an example of {@code n} tokens as inputs {@code tokens[0..n-2]}, targets
 * {@code tokens[1..n-1]}, and weight 1 on each target at or after the example's prompt length (0
 * on the prompt). Rows are padded with id 0 and weight 0 to the batch's length: the longest
 * example's {@code n-1}, or the fixed {@code seqLen} when one is given (the trainer's T).
 */
public final class ExampleLoader implements DataLoader {
    private final ExampleSet set;
    private final int batchSize, seqLen;
    private final boolean shuffle;
    private long seed;
    private int epoch;
    private long next;
    private int[] order; // [set.size()] this epoch's order

    /**
     * @param seqLen  fixed sequence length T of every batch, or 0 to pad each batch to its longest example
     * @param shuffle shuffle every epoch with {@code seed}, or keep the set's order
     */
    public ExampleLoader(ExampleSet set, int batchSize, int seqLen, boolean shuffle, long seed) {
        if (set.isEmpty()) throw new UserException("no examples to train on");
        if (batchSize < 1) throw new IllegalArgumentException("batch size must be >= 1, got " + batchSize);
        if (seqLen < 0) throw new IllegalArgumentException("seqLen must be >= 0, got " + seqLen);
        checkFits(set, seqLen);
        this.set = set;
        this.batchSize = batchSize;
        this.seqLen = seqLen;
        this.shuffle = shuffle;
        restore(new Position(0, 0, seed));
    }

    @Override
    public Batch next() {
        int[] rows = new int[batchSize];
        for (int b = 0; b < batchSize; b++) {
            rows[b] = order[(int) next++];
            if (next == set.size()) { // the epoch is done: the position names the next one
                epoch++;
                next = 0;
                order = order(epoch);
            }
        }
        return batch(set, rows, seqLen);
    }

    @Override
    public int batchSize() {
        return batchSize;
    }

    @Override
    public long batchesPerEpoch() {
        return (set.size() + batchSize - 1) / batchSize;
    }

    @Override
    public Position position() {
        return new Position(epoch, next, seed);
    }

    @Override
    public void restore(Position p) {
        if (p.nextIndex() >= set.size()) {
            throw new IllegalArgumentException("position " + p.nextIndex() + " is past the " + set.size() + " examples of this loader");
        }
        seed = p.seed();
        epoch = p.epoch();
        next = p.nextIndex();
        order = order(epoch);
    }

    /**
     * Every example once, in order, for evaluation: batches of {@code batchSize} rows, the last
     * padded with empty rows (weight 0). {@code seqLen} as in the constructor.
     */
    public static List<Batch> evaluationBatches(ExampleSet set, int batchSize, int seqLen) {
        checkFits(set, seqLen);
        List<Batch> out = new ArrayList<>();
        for (int i = 0; i < set.size(); i += batchSize) {
            int[] rows = new int[batchSize];
            for (int b = 0; b < batchSize; b++) rows[b] = i + b < set.size() ? i + b : -1;
            out.add(batch(set, rows, seqLen));
        }
        return out;
    }

    private int[] order(int e) {
        if (!shuffle) {
            int[] o = new int[set.size()];
            for (int i = 0; i < o.length; i++) o[i] = i;
            return o;
        }
        return Shuffle.permutation(set.size(), Shuffle.mix(seed, e));
    }

    private static void checkFits(ExampleSet set, int seqLen) {
        int longest = set.longest();
        if (seqLen > 0 && longest - 1 > seqLen) {
            throw new UserException("examples of up to " + longest + " tokens do not fit sequence length " + seqLen
                    + " (an example of n tokens needs n - 1); prepare the dataset with maxSeqLength <= " + (seqLen + 1));
        }
    }

    /** The batch of examples {@code rows} (-1: an empty row). */
    private static Batch batch(ExampleSet set, int[] rows, int seqLen) {
        int T = seqLen;
        if (T == 0) {
            for (int r : rows) if (r >= 0) T = Math.max(T, set.length(r) - 1);
            T = Math.max(T, 1);
        }
        int B = rows.length;
        int[] inputs = new int[B * T], targets = new int[B * T]; // [B][T], 0-padded
        float[] weights = new float[B * T];                        // [B][T], 0 on prompt and padding
        int[] ids = set.allTokens();
        for (int b = 0; b < B; b++) {
            int r = rows[b];
            if (r < 0) continue;
            int off = set.offset(r), n = set.length(r) - 1, prompt = set.promptLength(r);
            if (n <= 0) continue;
            System.arraycopy(ids, off, inputs, b * T, n);
            System.arraycopy(ids, off + 1, targets, b * T, n);
            for (int t = 0; t < n; t++) weights[b * T + t] = t + 1 >= prompt ? 1f : 0f;
        }
        return new Batch(B, T, inputs, targets, weights);
    }
}
