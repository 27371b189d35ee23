package dev.peft4j.models.io;

import dev.peft4j.api.UserException;
import dev.peft4j.api.io.DType;
import dev.peft4j.models.LlamaConfig;
import dev.peft4j.models.LlamaWeights;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;

/**
 * Loads and saves full model checkpoints in any supported format, found from the path:
 * <ul>
 *   <li>a directory, or a {@code config.json} / {@code *.safetensors} / index file inside one:
 *       Hugging Face ({@link HfCheckpoint});</li>
 *   <li>a file starting with "GGUF": llama.cpp's GGUF ({@link GgufCheckpoint});</li>
 *   <li>a file starting with a plausible 7 x int32 header: llama2.c ({@link Llama2cCheckpoint}).</li>
 * </ul>
 * Anything else is a {@link UserException} saying what was expected.
 */
public final class Checkpoints {
    private static final String EXPECTED = "expected a Hugging Face model directory (config.json with model.safetensors or "
            + "model.safetensors.index.json and its shards) a GGUF file (llama.cpp) or a llama2.c .bin file (legacy version 0: 7 x int32 header, then float32 weights)";

    private Checkpoints() {}

    /** The format of the checkpoint at {@code path}, judged from its name and first bytes. */
    public static CheckpointFormat detect(Path path) {
        if (Files.isDirectory(path)) return CheckpointFormat.HF;
        if (!Files.exists(path)) throw new UserException("checkpoint not found: " + path);
        String name = path.getFileName().toString();
        if (name.endsWith(".safetensors") || name.endsWith(".json")) return CheckpointFormat.HF;
        byte[] head = firstBytes(path, 4);
        String magic = new String(head, StandardCharsets.ISO_8859_1);
        if (magic.equals("GGUF")) return CheckpointFormat.GGUF;
        Llama2cCheckpoint.Header h = Llama2cCheckpoint.readHeader(path);
        if (h != null && h.dim() == Llama2cCheckpoint.VERSIONED_MAGIC) return CheckpointFormat.LLAMA2C; // its reader explains
        if (h != null && h.plausible()) return CheckpointFormat.LLAMA2C;
        throw new UserException(path + ": unrecognised checkpoint; " + EXPECTED);
    }

    /** Loads the checkpoint at {@code path} into peft4j's canonical layout. */
    public static LlamaWeights load(Path path) {
        return load(path, 0);
    }

    /** Loads the checkpoint at {@code path}, replacing its context length by {@code maxSeqLen} when that is positive. */
    public static LlamaWeights load(Path path, int maxSeqLen) {
        return switch (detect(path)) {
            case HF -> HfCheckpoint.read(hfDir(path), maxSeqLen);
            case LLAMA2C -> Llama2cCheckpoint.read(path, maxSeqLen);
            case GGUF -> GgufCheckpoint.read(path, maxSeqLen);
        };
    }

    /** Reads only the model config of the checkpoint at {@code path} (no tensors). */
    public static LlamaConfig readConfig(Path path) {
        return switch (detect(path)) {
            case HF -> HfCheckpoint.readConfig(hfDir(path));
            case LLAMA2C -> Llama2cCheckpoint.readConfig(path);
            case GGUF -> GgufCheckpoint.readConfig(path);
        };
    }

    /**
     * Saves {@code w} to {@code path} (a file for llama2.c, a directory for Hugging Face). The
     * llama2.c format is always float32, so {@code dtype} must be F32 there; {@code maxShardBytes}
     * (HF only) splits the weights into shards when positive. GGUF written here has no tokenizer: use
     * {@link GgufCheckpoint#write} to include one (and for Q8_0/Q4_0).
     */
    public static void save(LlamaWeights w, Path path, CheckpointFormat format, DType dtype, long maxShardBytes) throws IOException {
        switch (format) {
            case HF -> HfCheckpoint.write(w, path, dtype, maxShardBytes);
            case LLAMA2C -> {
                if (dtype != DType.F32) throw new UserException("cannot save " + path + " as llama2.c in " + dtype + ": the format is float32 only");
                Llama2cCheckpoint.write(w, path);
            }
            case GGUF -> GgufCheckpoint.write(w, null, path, switch (dtype) {
                case F32 -> dev.peft4j.kernels.quant.GgmlType.F32;
                case F16 -> dev.peft4j.kernels.quant.GgmlType.F16;
                case BF16 -> dev.peft4j.kernels.quant.GgmlType.BF16;
            });
        }
    }

    /** The checkpoint directory for a path that is the directory or a file inside it. */
    private static Path hfDir(Path path) {
        return Files.isDirectory(path) ? path : path.toAbsolutePath().getParent();
    }

    private static byte[] firstBytes(Path path, int n) {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.allocate(n);
            while (b.hasRemaining() && ch.read(b) > 0) { /* fill */ }
            return Arrays.copyOf(b.array(), b.position());
        } catch (IOException e) {
            throw new UserException("cannot read checkpoint " + path + ": " + e.getMessage(), e);
        }
    }
}
