package dev.peft4j.models.data;

import dev.peft4j.api.UserException;
import dev.peft4j.models.train.Batch;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Micro-batches of windows of a token stream, for plain language modelling: each row is
 * {@code seqLen + 1} consecutive tokens, inputs the first {@code seqLen} and targets the last,
 * every position weighted 1. The stream is the set's tokens end to end.
 *
 * <ul>
 *   <li>random: each row starts at a seeded random offset (as lit-llama/nanoGPT's
 *       {@code get_batch}); batch {@code k}'s offsets depend only on the seed and {@code k}, and
 *       an "epoch" is the number of batches that together hold about as many tokens as the stream;
 *   <li>sequential: the non-overlapping windows starting at {@code 0, seqLen, 2 seqLen, ...} in
 *       order, epoch after epoch (a batch at an epoch's end continues into the next).
 * </ul>
 */
public final class WindowLoader implements DataLoader {
    private final int[] stream;  // [N] the tokens
    private final int batchSize, seqLen;
    private final boolean random;
    private final long windows;  // sequential: windows per epoch
    private final long perEpoch; // batches per epoch
    private long seed;
    private int epoch;
    private long next;

    public WindowLoader(ExampleSet set, int batchSize, int seqLen, boolean random, long seed) {
        if (batchSize < 1 || seqLen < 1) throw new IllegalArgumentException("batch " + batchSize + " x " + seqLen);
        this.stream = set.allTokens();
        if (stream.length < seqLen + 1) {
            throw new UserException("a text of " + stream.length + " tokens is too short for windows of " + (seqLen + 1) + " tokens (seqLen "
                    + seqLen + " + 1)");
        }
        this.batchSize = batchSize;
        this.seqLen = seqLen;
        this.random = random;
        this.windows = (stream.length - 1) / seqLen;
        this.perEpoch = random ? Math.max(1, (stream.length - 1) / ((long) seqLen * batchSize)) : (windows + batchSize - 1) / batchSize;
        restore(new DataLoader.Position(0, 0, seed));
    }

    @Override
    public Batch next() {
        int T = seqLen, B = batchSize;
        int[] inputs = new int[B * T], targets = new int[B * T]; // [B][T]
        if (random) {
            Random r = new Random(Shuffle.mix(seed, epoch * perEpoch + next));
            for (int b = 0; b < B; b++) copyWindow(r.nextInt(stream.length - T), inputs, targets, b);
            if (++next == perEpoch) {
                epoch++;
                next = 0;
            }
        } else {
            for (int b = 0; b < B; b++) {
                copyWindow((int) (next++ * T), inputs, targets, b);
                if (next == windows) {
                    epoch++;
                    next = 0;
                }
            }
        }
        return Batch.unmasked(B, T, inputs, targets);
    }

    private void copyWindow(int start, int[] inputs, int[] targets, int row) {
        System.arraycopy(stream, start, inputs, row * seqLen, seqLen);
        System.arraycopy(stream, start + 1, targets, row * seqLen, seqLen);
    }

    @Override
    public int batchSize() {
        return batchSize;
    }

    @Override
    public long batchesPerEpoch() {
        return perEpoch;
    }

    @Override
    public Position position() {
        return new Position(epoch, next, seed);
    }

    @Override
    public void restore(Position p) {
        long limit = random ? perEpoch : windows;
        if (p.nextIndex() >= limit) throw new IllegalArgumentException("position " + p.nextIndex() + " is past the " + limit + " of this loader");
        seed = p.seed();
        epoch = p.epoch();
        next = p.nextIndex();
    }

    /**
     * Every non-overlapping window once, in order, for evaluation; the last batch is padded with
     * empty rows (weight 0). A stream shorter than one window gives one short row, padded.
     */
    public static List<Batch> evaluationBatches(ExampleSet set, int batchSize, int seqLen) {
        int[] s = set.allTokens();
        int T = seqLen;
        long windows = Math.max(1, (s.length - 1) / T);
        List<Batch> out = new ArrayList<>();
        for (long w0 = 0; w0 < windows && s.length > 1; w0 += batchSize) {
            int[] inputs = new int[batchSize * T], targets = new int[batchSize * T]; // [B][T]
            float[] weights = new float[batchSize * T];
            for (int b = 0; b < batchSize && w0 + b < windows; b++) {
                int start = (int) ((w0 + b) * T), n = Math.min(T, s.length - 1 - start);
                System.arraycopy(s, start, inputs, b * T, n);
                System.arraycopy(s, start + 1, targets, b * T, n);
                java.util.Arrays.fill(weights, b * T, b * T + n, 1f);
            }
            out.add(new Batch(batchSize, T, inputs, targets, weights));
        }
        return out;
    }
}
