package dev.peft4j.cli;

import dev.peft4j.api.UserException;
import dev.peft4j.api.io.DType;
import dev.peft4j.models.io.CheckpointFormat;
import dev.peft4j.models.io.Checkpoints;
import dev.peft4j.models.io.GgufCheckpoint;
import dev.peft4j.kernels.quant.GgmlType;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "merge", mixinStandardHelpOptions = true,
        description = "Merge LoRA adapters into the base weights and write a full checkpoint (Hugging Face, GGUF or llama2.c).")
final class MergeCommand implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin ModelOptions modelOptions = new ModelOptions();

    @Option(names = "--out", required = true, paramLabel = "PATH",
            description = "A directory (Hugging Face), a .gguf file (llama.cpp; the tokenizer goes inside) or a .bin file (llama2.c).")
    Path out;

    @Option(names = "--dtype", defaultValue = "f32",
            description = "f32, f16 or bf16 for Hugging Face output; also q8_0, q4_0 or keep (each weight as held: merged ones f32, the rest as stored) for GGUF (default: ${DEFAULT-VALUE}).")
    String dtype;

    @Option(names = "--json", description = "Print one JSON object with the results as the last line.") boolean json;

    @Override
    public Integer call() {
        PrintWriter w = spec.commandLine().getOut();
        if (modelOptions.adapters.isEmpty()) throw new UserException("--adapter is required");
        modelOptions.merge = true;
        if (ConvertCommand.isGguf(out)) {
            GgmlType type = ConvertCommand.ggufType(dtype);
            ModelOptions.Loaded loaded = modelOptions.load(true);
            try {
                GgufCheckpoint.write(loaded.weights(), loaded.tokenizer(), out, type);
            } catch (IOException e) {
                throw new UserException("--out: cannot write " + out + ": " + e.getMessage(), e);
            }
            return done(w, loaded);
        }
        ModelOptions.Loaded loaded = modelOptions.load(false);
        DType dt = DType.parse(dtype);
        if (dt == null) throw new UserException("--dtype: unknown type '" + dtype + "' (use f32, f16 or bf16)");
        CheckpointFormat fmt = out.toString().endsWith(".bin") ? CheckpointFormat.LLAMA2C : CheckpointFormat.HF;
        if (fmt == CheckpointFormat.LLAMA2C && dt != DType.F32) throw new UserException("--dtype " + dtype + ": llama2.c's .bin stores float32 only");
        try {
            Checkpoints.save(loaded.weights(), out, fmt, dt, 0);
        } catch (IOException e) {
            throw new UserException("--out: cannot write " + out + ": " + e.getMessage(), e);
        }
        return done(w, loaded);
    }

    private int done(PrintWriter w, ModelOptions.Loaded loaded) {
        if (json) new Report().put("out", out.toString()).put("adapters", loaded.peft().adapters().keySet()).printJson(w);
        else w.printf("merged %s into %s: wrote %s%n", String.join(", ", loaded.peft().adapters().keySet()), loaded.name(), out);
        return 0;
    }
}
