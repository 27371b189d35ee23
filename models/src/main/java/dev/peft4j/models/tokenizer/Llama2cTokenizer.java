package dev.peft4j.models.tokenizer;

import dev.peft4j.api.UserException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * llama2.c's {@code tokenizer.bin}: the vocabulary of a SentencePiece BPE model in a flat file
 * ({@code int32 max_token_length}, then per token {@code float32 score, int32 length, bytes}, little-endian).
 * The file has no piece types, so they follow llama2.c's export: id 0 is the unknown piece, ids 1 and 2 are
 * BOS and EOS (stored as {@code "\n<s>\n"}, {@code "\n</s>\n"}), {@code <0xXX>} pieces are byte fallback, and a
 * space in a piece stands for ▁. Restored that way it encodes and decodes exactly as the matching
 * {@code .model}; {@link #piece(int)} gives pieces in the {@code .model}'s form ({@code "▁the"}, {@code "<s>"}).
 */
public final class Llama2cTokenizer extends SentencePieceTokenizer {

    private Llama2cTokenizer(SentencePieceModel model, String name) {
        super(model, name);
    }

    /** Loads a llama2.c {@code tokenizer.bin}. */
    public static Llama2cTokenizer load(Path file) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new UserException(file + ": cannot read the tokenizer (" + e.getMessage() + ")", e);
        }
        return new Llama2cTokenizer(parse(bytes, file.toString()), file.toString());
    }

    private static SentencePieceModel parse(byte[] bytes, String name) {
        ByteBuffer in = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        if (in.remaining() < 4) throw new UserException(name + ": not a llama2.c tokenizer.bin (shorter than its 4-byte header)");
        int maxTokenLength = in.getInt();
        if (maxTokenLength <= 0 || maxTokenLength > 1 << 16) {
            throw new UserException(name + ": not a llama2.c tokenizer.bin (max_token_length " + maxTokenLength + ")");
        }
        List<String> pieces = new ArrayList<>();
        List<Float> scores = new ArrayList<>();
        while (in.hasRemaining()) {
            if (in.remaining() < 8) throw new UserException(name + ": truncated at token " + pieces.size());
            float score = in.getFloat();
            int len = in.getInt();
            if (len < 0 || len > in.remaining()) {
                throw new UserException(name + ": token " + pieces.size() + " has length " + len + ", past the end of the file");
            }
            pieces.add(new String(bytes, in.position(), len, StandardCharsets.UTF_8));
            in.position(in.position() + len);
            scores.add(score);
        }
        if (pieces.size() < 3) throw new UserException(name + ": only " + pieces.size() + " tokens; ids 0, 1, 2 must be unk, bos, eos");
        int n = pieces.size();
        String[] p = new String[n];
        float[] s = new float[n];
        byte[] types = new byte[n];
        int bytePieces = 0;
        for (int id = 0; id < n; id++) {
            String piece = pieces.get(id);
            s[id] = scores.get(id);
            if (id == 0) {
                types[id] = SentencePieceModel.UNKNOWN;
            } else if (id <= 2) {
                types[id] = SentencePieceModel.CONTROL;
                piece = piece.strip();
            } else if (byteOf(piece) >= 0) {
                types[id] = SentencePieceModel.BYTE;
                bytePieces++;
            } else {
                types[id] = SentencePieceModel.NORMAL;
                piece = piece.replace(' ', '\u2581');
            }
            p[id] = piece;
        }
        return new SentencePieceModel(p, s, types, SentencePieceModel.BPE, bytePieces == 256, false,
                p[0], p[1], p[2], " \u2047 ", "identity", new byte[0], true, false, true);
    }
}
