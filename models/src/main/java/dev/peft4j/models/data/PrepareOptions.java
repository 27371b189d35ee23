package dev.peft4j.models.data;

/**
 * How {@link Datasets#prepare} turns a dataset into tokens. The defaults follow lit-llama's
 * {@code prepare_alpaca.py} (256 tokens, 2000 validation examples, seed 42), except that the
 * prompt is masked from the loss by default.
 *
 * @param maxSeqLength most tokens per example (BOS and EOS included); longer ones are cut and counted
 * @param valSize      validation examples of an instruction dataset (0 for none)
 * @param valFraction  fraction of a plain text's tokens, at its end, kept for validation
 * @param seed         seed of the train/validation shuffle of an instruction dataset
 * @param maskPrompt   whether BOS and prompt tokens get loss weight 0
 * @param skipBadLines skip (and count) bad records instead of failing on the first
 */
public record PrepareOptions(int maxSeqLength, int valSize, double valFraction, long seed, boolean maskPrompt, boolean skipBadLines) {
    public PrepareOptions {
        if (maxSeqLength < 2) throw new IllegalArgumentException("maxSeqLength must be at least 2, got " + maxSeqLength);
        if (valSize < 0) throw new IllegalArgumentException("valSize must be >= 0, got " + valSize);
        if (!(valFraction >= 0 && valFraction < 1)) throw new IllegalArgumentException("valFraction must be in [0, 1), got " + valFraction);
    }

    /** 256 tokens, 2000 validation examples, 10% validation text, seed 42, prompt masked, strict. */
    public static PrepareOptions defaults() {
        return new PrepareOptions(256, 2000, 0.1, 42, true, false);
    }

    public PrepareOptions withMaxSeqLength(int v) {
        return new PrepareOptions(v, valSize, valFraction, seed, maskPrompt, skipBadLines);
    }

    public PrepareOptions withValSize(int v) {
        return new PrepareOptions(maxSeqLength, v, valFraction, seed, maskPrompt, skipBadLines);
    }

    public PrepareOptions withValFraction(double v) {
        return new PrepareOptions(maxSeqLength, valSize, v, seed, maskPrompt, skipBadLines);
    }

    public PrepareOptions withSeed(long v) {
        return new PrepareOptions(maxSeqLength, valSize, valFraction, v, maskPrompt, skipBadLines);
    }

    public PrepareOptions withMaskPrompt(boolean v) {
        return new PrepareOptions(maxSeqLength, valSize, valFraction, seed, v, skipBadLines);
    }

    public PrepareOptions withSkipBadLines(boolean v) {
        return new PrepareOptions(maxSeqLength, valSize, valFraction, seed, maskPrompt, v);
    }
}
