package dev.peft4j.models.data;

import java.util.Arrays;
import org.eclipse.collections.impl.list.mutable.primitive.IntArrayList;

/**
 * Tokenized examples, stored compactly: all ids end to end in one array, with offsets and each
 * example's masked prompt length. Immutable. A plain-text stream is a set of one example with no
 * masked prefix.
 *
 * <p>Loss weights follow from the prompt length: the token at position {@code t} of example
 * {@code i} is a training target with weight 1 when {@code t >= promptLength(i)}, else 0 (position
 * 0 is never a target).
 */
public final class ExampleSet {
    private final int[] tokens;        // [tokenCount]  every example's ids, end to end
    private final int[] offsets;       // [size + 1]    example i is tokens[offsets[i], offsets[i+1])
    private final int[] promptLengths; // [size]        leading tokens of each example with weight 0

    private ExampleSet(int[] tokens, int[] offsets, int[] promptLengths) {
        this.tokens = tokens;
        this.offsets = offsets;
        this.promptLengths = promptLengths;
    }

    /** The empty set. */
    public static ExampleSet empty() {
        return new ExampleSet(new int[0], new int[1], new int[0]);
    }

    /** One stream of tokens, every position a target (plain language modelling). */
    public static ExampleSet stream(int[] tokens) {
        return new ExampleSet(tokens.clone(), new int[] {0, tokens.length}, new int[1]);
    }

    /** Builds a set from per-example lengths; checks that they add up. */
    static ExampleSet of(int[] tokens, int[] lengths, int[] promptLengths) {
        int[] offsets = new int[lengths.length + 1];
        for (int i = 0; i < lengths.length; i++) {
            if (lengths[i] < 0 || promptLengths[i] < 0 || promptLengths[i] > lengths[i]) {
                throw new IllegalArgumentException("example " + i + ": length " + lengths[i] + ", prompt length " + promptLengths[i]);
            }
            long end = (long) offsets[i] + lengths[i];
            if (end > tokens.length) throw new IllegalArgumentException("lengths add up to more than " + tokens.length + " tokens");
            offsets[i + 1] = (int) end;
        }
        if (offsets[lengths.length] != tokens.length) {
            throw new IllegalArgumentException("lengths add up to " + offsets[lengths.length] + ", not " + tokens.length + " tokens");
        }
        return new ExampleSet(tokens, offsets, promptLengths);
    }

    public int size() {
        return promptLengths.length;
    }

    public boolean isEmpty() {
        return size() == 0;
    }

    /** Token count of example {@code i}. */
    public int length(int i) {
        return offsets[i + 1] - offsets[i];
    }

    /** Leading tokens of example {@code i} with loss weight 0. */
    public int promptLength(int i) {
        return promptLengths[i];
    }

    /** A copy of the ids of example {@code i}. */
    public int[] tokens(int i) {
        return Arrays.copyOfRange(tokens, offsets[i], offsets[i + 1]);
    }

    /** Total tokens over all examples. */
    public long tokenCount() {
        return tokens.length;
    }

    /** The longest example's token count (0 when empty). */
    public int longest() {
        int m = 0;
        for (int i = 0; i < size(); i++) m = Math.max(m, length(i));
        return m;
    }

    /** Examples whose every target has weight 0 (the response was cut away, or nothing follows BOS). */
    public int withoutTargets() {
        int n = 0;
        for (int i = 0; i < size(); i++) if (Math.max(promptLengths[i], 1) >= length(i)) n++;
        return n;
    }

    /** The examples at {@code indices}, in that order. */
    public ExampleSet select(int[] indices) {
        Builder b = new Builder();
        for (int i : indices) b.add(tokens, offsets[i], length(i), promptLengths[i]);
        return b.build();
    }

    /** All ids end to end ([tokenCount]); shared, not copied: do not modify. */
    int[] allTokens() {
        return tokens;
    }

    /** Offset of example {@code i} in {@link #allTokens()}. */
    int offset(int i) {
        return offsets[i];
    }

    /** Collects examples one at a time. */
    public static final class Builder {
        private final IntArrayList tokens = new IntArrayList();
        private final IntArrayList lengths = new IntArrayList();
        private final IntArrayList promptLengths = new IntArrayList();

        public Builder() {}

        public Builder add(TokenizedExample e) {
            return add(e.tokens(), 0, e.tokens().length, e.promptLength());
        }

        Builder add(int[] ids, int from, int length, int promptLength) {
            if (tokens.size() + (long) length > Integer.MAX_VALUE - 8) {
                throw new IllegalStateException("more than 2^31 tokens in one example set");
            }
            for (int i = from; i < from + length; i++) tokens.add(ids[i]);
            lengths.add(length);
            promptLengths.add(promptLength);
            return this;
        }

        public int size() {
            return lengths.size();
        }

        public ExampleSet build() {
            return of(tokens.toArray(), lengths.toArray(), promptLengths.toArray());
        }
    }
}
