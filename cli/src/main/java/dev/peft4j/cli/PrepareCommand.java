package dev.peft4j.cli;

import dev.peft4j.api.UserException;
import dev.peft4j.models.data.DatasetCache;
import dev.peft4j.models.data.PreparedDataset;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "prepare", mixinStandardHelpOptions = true,
        description = "Tokenize a dataset once into a compact cache (token ids + loss mask, train/validation split) for finetune --data.")
final class PrepareCommand implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin DataOptions dataOptions = new DataOptions();

    @Option(names = "--tokenizer", required = true, paramLabel = "PATH", description = "tokenizer.model, tokenizer.json, tokenizer.bin or 'byte'.")
    Path tokenizer;

    @Option(names = "--out", required = true, paramLabel = "FILE", description = "The cache file to write.")
    Path out;

    @Option(names = "--seed", defaultValue = "42", description = "Seed of the train/validation split (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--json", description = "Print one JSON object with the results as the last line.") boolean json;

    @Override
    public Integer call() {
        PrintWriter w = spec.commandLine().getOut();
        long t0 = System.nanoTime();
        PreparedDataset d = dataOptions.load(ModelOptions.tokenizer(tokenizer), seed);
        try {
            DatasetCache.write(out, d);
        } catch (IOException e) {
            throw new UserException("--out: cannot write " + out + ": " + e.getMessage(), e);
        }
        double s = (System.nanoTime() - t0) / 1e9;
        var sum = d.summary();
        if (json) {
            new Report().put("out", out.toString()).put("examples", sum.examples()).put("train_examples", sum.trainExamples())
                    .put("val_examples", sum.valExamples()).put("train_tokens", sum.trainTokens()).put("val_tokens", sum.valTokens())
                    .put("truncated", sum.truncated()).put("longest", sum.longest()).put("skipped_lines", sum.skipped().count())
                    .put("seconds", s).printJson(w);
        } else {
            w.println(sum.describe());
            w.printf("wrote %s in %.2f s%n", out, s);
        }
        return 0;
    }
}
