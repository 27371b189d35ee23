package dev.peft4j.models.tokenizer;

/**
 * A tokenizer: text to token ids and back, as the reference library of its format does it.
 *
 * <p>Implementations: SentencePiece {@code .model} (BPE with byte fallback, LLaMA 1/2), llama2.c
 * {@code tokenizer.bin}, Hugging Face {@code tokenizer.json} (byte-level BPE, LLaMA 3). Load one
 * with {@link Tokenizers#load(java.nio.file.Path)}.
 */
public interface Tokenizer {
    /** Encodes {@code text}, with a leading BOS and/or trailing EOS id when asked. */
    int[] encode(String text, boolean bos, boolean eos);

    /** Decodes ids to text; special tokens (BOS, EOS, ...) are dropped. The same text as streaming them. */
    default String decode(int[] ids) {
        StreamDecoder d = streamDecoder();
        StringBuilder sb = new StringBuilder();
        for (int id : ids) sb.append(d.accept(id));
        return sb.append(d.flush()).toString();
    }

    /** A decoder for streaming: feed ids one at a time, get the text they complete. */
    StreamDecoder streamDecoder();

    /** The piece (vocabulary entry) of an id, as the tokenizer stores it. */
    String piece(int id);

    int vocabSize();

    /** The beginning-of-sequence id, or -1 if there is none. */
    int bos();

    /** The end-of-sequence id, or -1 if there is none. */
    int eos();

    /** Streaming decode: holds back incomplete UTF-8 bytes until a later id completes them. */
    interface StreamDecoder {
        /** Feeds one id; returns the text it completes (possibly empty). */
        String accept(int id);

        /** Returns whatever is still held back (invalid bytes become U+FFFD). */
        String flush();
    }
}
