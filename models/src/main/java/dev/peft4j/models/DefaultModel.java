package dev.peft4j.models;

import dev.peft4j.models.tokenizer.ByteTokenizer;

/**
 * The embedded default model: needs no download. A small LLaMA (byte vocabulary, 256-token
 * context) with seeded random weights, so commands run out of the box; its text is noise until it
 * is trained.
 */
public final class DefaultModel {
    private DefaultModel() {}

    public static final long SEED = 20261128L;

    public static LlamaConfig config() {
        return LlamaConfig.of(128, 344, 4, 4, 2, ByteTokenizer.VOCAB_SIZE, 256, false);
    }

    public static LlamaWeights weights() {
        return LlamaWeights.random(config(), SEED, 0.05f);
    }
}
