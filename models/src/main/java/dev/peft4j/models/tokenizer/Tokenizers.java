package dev.peft4j.models.tokenizer;

import dev.peft4j.api.UserException;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;

/** Opens a tokenizer file of any supported format, chosen by file name and, failing that, by content. */
public final class Tokenizers {
    private Tokenizers() { }

    /**
     * Loads {@code path}: a SentencePiece {@code .model}, a Hugging Face {@code tokenizer.json}, a llama2.c
     * {@code tokenizer.bin}, the tokenizer stored in a GGUF model file, or a directory holding one of them (looked for in that order).
     *
     * @throws UserException naming the file when it is missing, unreadable, of an unknown format or corrupt
     */
    public static Tokenizer load(Path path) {
        if (Files.isDirectory(path)) {
            for (String name : new String[]{"tokenizer.model", "tokenizer.json", "tokenizer.bin"}) {
                Path candidate = path.resolve(name);
                if (Files.isRegularFile(candidate)) return load(candidate);
            }
            throw new UserException(path + ": no tokenizer.model, tokenizer.json or tokenizer.bin in this directory");
        }
        if (!Files.isRegularFile(path)) throw new UserException(path + ": no such tokenizer file");
        String name = path.getFileName().toString().toLowerCase(java.util.Locale.ROOT);
        if (name.endsWith(".model")) return SentencePieceTokenizer.load(path);
        if (name.endsWith(".json")) return HfTokenizer.load(path);
        if (name.endsWith(".bin")) return Llama2cTokenizer.load(path);
        if (name.endsWith(".gguf") || dev.peft4j.models.io.GgufFile.isGguf(path)) return dev.peft4j.models.io.GgufCheckpoint.readTokenizer(path);
        byte[] head = head(path);
        if (head.length > 0 && head[0] == 0x0A) return SentencePieceTokenizer.load(path); // ModelProto field 1, length-delimited
        if (head.length >= 4 && head[1] == 0 && head[2] == 0 && head[3] == 0 && head[0] > 0) {
            return Llama2cTokenizer.load(path); // a small little-endian max_token_length
        }
        String start = new String(head, java.nio.charset.StandardCharsets.ISO_8859_1).strip();
        if (start.startsWith("{")) return HfTokenizer.load(path);
        throw new UserException(path + ": unknown tokenizer format (expected a SentencePiece .model, "
                + "a tokenizer.json or a llama2.c tokenizer.bin)");
    }

    /** The first bytes of the file. */
    private static byte[] head(Path path) {
        try (InputStream in = Files.newInputStream(path)) {
            return in.readNBytes(64);
        } catch (IOException e) {
            throw new UserException(path + ": cannot read the tokenizer (" + e.getMessage() + ")", e);
        }
    }
}
