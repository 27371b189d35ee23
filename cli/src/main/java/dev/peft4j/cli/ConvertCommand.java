package dev.peft4j.cli;

import dev.peft4j.api.UserException;
import dev.peft4j.api.io.DType;
import dev.peft4j.models.LlamaWeights;
import dev.peft4j.models.io.CheckpointFormat;
import dev.peft4j.models.io.Checkpoints;
import dev.peft4j.models.io.GgufCheckpoint;
import dev.peft4j.models.tokenizer.Tokenizer;
import dev.peft4j.kernels.quant.GgmlType;
import dev.peft4j.kernels.quant.Quantize;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "convert", mixinStandardHelpOptions = true,
        description = "Convert a checkpoint between llama2.c's .bin, the Hugging Face layout (config.json + safetensors) and GGUF.")
final class ConvertCommand implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "PATH", description = "The checkpoint to read (any layout).")
    Path model;

    @Option(names = "--out", required = true, paramLabel = "PATH",
            description = "Where to write: a .bin file, a .gguf file, or a directory for Hugging Face.")
    Path outPath;

    @Option(names = "--format", paramLabel = "hf|gguf|llama2c",
            description = "Output layout (default: llama2c when --out ends in .bin, gguf when it ends in .gguf, else hf).")
    String format;

    @Option(names = "--dtype", paramLabel = "f32|f16|bf16|q8_0|q4_0", defaultValue = "f32",
            description = "Tensor type: f32, f16 or bf16 for Hugging Face; also q8_0, q4_0 or keep (each weight as held, stored blocks copied) for GGUF (norms stay f32); "
                    + "llama2.c is always f32 (default: ${DEFAULT-VALUE}).")
    String dtype;

    @Option(names = "--tokenizer", paramLabel = "PATH",
            description = "The tokenizer a GGUF output stores (default: the one inside a GGUF model, else the one beside the model).")
    Path tokenizer;

    @Option(names = "--max-shard-size", paramLabel = "SIZE", defaultValue = "5GB",
            description = "Largest safetensors shard of a Hugging Face output, e.g. 500MB, 2GB (default: ${DEFAULT-VALUE}).")
    String maxShardSize;

    @Option(names = "--json", description = "Print one JSON object with the results as the last line.") boolean json;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        CheckpointFormat fmt = parseFormat();
        if (fmt == CheckpointFormat.GGUF) return toGguf(out);
        DType dt = DType.parse(dtype);
        if (dt == null) throw new UserException("--dtype: unknown type '" + dtype + "' (use f32, f16 or bf16)");
        if (fmt == CheckpointFormat.LLAMA2C && dt != DType.F32) {
            throw new UserException("--dtype " + dtype + ": llama2.c's .bin stores float32 only");
        }
        long shard = parseSize(maxShardSize);
        long t0 = System.nanoTime();
        LlamaWeights w = Checkpoints.load(model);
        try {
            Checkpoints.save(w, outPath, fmt, dt, shard);
        } catch (java.io.IOException e) {
            throw new UserException("--out: cannot write " + outPath + ": " + e.getMessage(), e);
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        if (json) {
            new Report().put("model", model.toString()).put("out", outPath.toString()).put("format", fmt.name().toLowerCase(Locale.ROOT))
                    .put("dtype", dt.name().toLowerCase(Locale.ROOT)).put("parameters", w.config.parameterCount())
                    .put("seconds", seconds).put("peak_rss_bytes", Report.peakRssBytes()).printJson(out);
        } else {
            out.printf("wrote %s (%s, %s, %,d parameters) in %.2f s%n", outPath, fmt.name().toLowerCase(Locale.ROOT),
                    dt.name().toLowerCase(Locale.ROOT), w.config.parameterCount(), seconds);
        }
        return 0;
    }

    private int toGguf(PrintWriter out) {
        GgmlType type = ggufType(dtype);
        long t0 = System.nanoTime();
        Path tokPath = tokenizer != null ? tokenizer : ModelOptions.findTokenizerBeside(model);
        if (tokPath == null) {
            throw new UserException("a GGUF file stores its tokenizer, and none was found inside or beside " + model + ": pass --tokenizer PATH");
        }
        Tokenizer tok = ModelOptions.tokenizer(tokPath);
        LlamaWeights w = Checkpoints.load(model);
        try {
            GgufCheckpoint.write(w, tok, outPath, type);
        } catch (java.io.IOException e) {
            throw new UserException("--out: cannot write " + outPath + ": " + e.getMessage(), e);
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        String t = type == null ? "keep" : type.name().toLowerCase(Locale.ROOT);
        if (json) {
            new Report().put("model", model.toString()).put("out", outPath.toString()).put("format", "gguf").put("dtype", t)
                    .put("parameters", w.config.parameterCount()).put("seconds", seconds).put("peak_rss_bytes", Report.peakRssBytes()).printJson(out);
        } else {
            out.printf("wrote %s (gguf, %s, %,d parameters, tokenizer from %s) in %.2f s%n", outPath, t, w.config.parameterCount(), tokPath, seconds);
        }
        return 0;
    }

    static boolean isGguf(Path out) {
        return out.toString().toLowerCase(Locale.ROOT).endsWith(".gguf");
    }

    /** A GGUF output type from --dtype. */
    static GgmlType ggufType(String dtype) {
        if (dtype.equalsIgnoreCase("keep")) return null;
        GgmlType t = GgmlType.ofName(dtype.toLowerCase(Locale.ROOT).replace("float32", "f32").replace("float16", "f16").replace("bfloat16", "bf16"));
        if (t == null || !Quantize.supports(t)) throw new UserException("--dtype: '" + dtype + "' is not a GGUF output type (use f32, f16, bf16, q8_0, q4_0 or keep)");
        return t;
    }

    private CheckpointFormat parseFormat() {
        if (format == null) {
            return outPath.toString().endsWith(".bin") ? CheckpointFormat.LLAMA2C : isGguf(outPath) ? CheckpointFormat.GGUF : CheckpointFormat.HF;
        }
        return switch (format.toLowerCase(Locale.ROOT)) {
            case "gguf" -> CheckpointFormat.GGUF;
            case "hf", "huggingface", "safetensors" -> CheckpointFormat.HF;
            case "llama2c", "llama2.c", "bin" -> CheckpointFormat.LLAMA2C;
            default -> throw new UserException("--format: unknown layout '" + format + "' (use hf, gguf or llama2c)");
        };
    }

    static long parseSize(String s) {
        var m = java.util.regex.Pattern.compile("(?i)\\s*(\\d+(?:\\.\\d+)?)\\s*(b|kb|mb|gb|kib|mib|gib)?\\s*").matcher(s);
        if (!m.matches()) throw new UserException("--max-shard-size: cannot read '" + s + "' (e.g. 500MB, 2GB)");
        double v = Double.parseDouble(m.group(1));
        String unit = m.group(2) == null ? "b" : m.group(2).toLowerCase(Locale.ROOT);
        long mult = switch (unit) {
            case "kb" -> 1000L; case "mb" -> 1000_000L; case "gb" -> 1000_000_000L;
            case "kib" -> 1L << 10; case "mib" -> 1L << 20; case "gib" -> 1L << 30;
            default -> 1L;
        };
        long bytes = (long) (v * mult);
        if (bytes <= 0) throw new UserException("--max-shard-size must be positive, got '" + s + "'");
        return bytes;
    }
}
