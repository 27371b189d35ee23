package dev.peft4j.models.tokenizer;

import java.nio.charset.StandardCharsets;

/**
 * The embedded tokenizer: one token per UTF-8 byte. Ids 0, 1, 2 are UNK, BOS, EOS (as in
 * LLaMA's vocabularies); byte {@code b} is id {@code 3 + b}, like SentencePiece's
 * {@code <0xXX>} byte-fallback pieces. Needs no file, encodes any text exactly.
 */
public final class ByteTokenizer implements Tokenizer {
    public static final int UNK = 0, BOS = 1, EOS = 2, OFFSET = 3, VOCAB_SIZE = 259;

    @Override
    public int[] encode(String text, boolean bos, boolean eos) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        int[] ids = new int[bytes.length + (bos ? 1 : 0) + (eos ? 1 : 0)];
        int n = 0;
        if (bos) ids[n++] = BOS;
        for (byte b : bytes) ids[n++] = OFFSET + (b & 0xff);
        if (eos) ids[n++] = EOS;
        return ids;
    }


    @Override
    public StreamDecoder streamDecoder() {
        return new StreamDecoder() {
            private final Utf8Bytes utf8 = new Utf8Bytes();

            @Override
            public String accept(int id) {
                if (id < OFFSET || id >= VOCAB_SIZE) return "";
                StringBuilder out = new StringBuilder(1);
                utf8.accept(id - OFFSET, out);
                return out.toString();
            }

            @Override
            public String flush() {
                StringBuilder out = new StringBuilder();
                utf8.flush(out);
                return out.toString();
            }
        };
    }

    @Override
    public String piece(int id) {
        return switch (id) {
            case UNK -> "<unk>";
            case BOS -> "<s>";
            case EOS -> "</s>";
            default -> String.format("<0x%02X>", id - OFFSET);
        };
    }

    @Override
    public int vocabSize() {
        return VOCAB_SIZE;
    }

    @Override
    public int bos() {
        return BOS;
    }

    @Override
    public int eos() {
        return EOS;
    }
}
