package dev.peft4j.cli;

import dev.peft4j.api.UserException;
import dev.peft4j.models.data.DatasetCache;
import dev.peft4j.models.data.DatasetFormat;
import dev.peft4j.models.data.Datasets;
import dev.peft4j.models.data.PrepareOptions;
import dev.peft4j.models.data.PreparedDataset;
import dev.peft4j.models.tokenizer.Tokenizer;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** {@code --data} and how it is tokenized: a dataset file (Alpaca, Dolly, text; compressed or archived) or a prepared cache. */
final class DataOptions {
    @Option(names = "--data", paramLabel = "FILE", description = "Alpaca .json, Dolly .jsonl or .txt (also .gz/.xz/.bz2/.zst, in .tar/.zip: a.tar!b.json), or a cache from 'prepare'.")
    String data;

    @Option(names = "--format", paramLabel = "alpaca|dolly|text", description = "Dataset format (default: from the file name).")
    String format;

    @Option(names = "--max-seq-length", defaultValue = "256", description = "Truncate examples to this many tokens (default: ${DEFAULT-VALUE}).")
    int maxSeqLength;

    @Option(names = "--val-size", defaultValue = "2000", description = "Validation examples, split off deterministically (default: ${DEFAULT-VALUE}).")
    int valSize;

    @Option(names = "--val-fraction", defaultValue = "0.1", description = "Plain text: the fraction of tokens kept for validation (default: ${DEFAULT-VALUE}).")
    double valFraction;

    @Option(names = "--no-mask-prompt", description = "Train on the prompt tokens too.")
    boolean noMaskPrompt;

    @Option(names = "--skip-bad-lines", description = "Skip (and count) dataset lines that are not valid, instead of stopping.")
    boolean skipBadLines;

    PrepareOptions prepareOptions(long seed) {
        if (maxSeqLength < 2) throw new UserException("--max-seq-length must be at least 2, got " + maxSeqLength);
        if (valSize < 0) throw new UserException("--val-size must be >= 0, got " + valSize);
        if (!(valFraction >= 0 && valFraction < 1)) throw new UserException("--val-fraction must be in [0, 1), got " + valFraction);
        return PrepareOptions.defaults().withMaxSeqLength(maxSeqLength).withValSize(valSize).withValFraction(valFraction).withSeed(seed)
                .withMaskPrompt(!noMaskPrompt).withSkipBadLines(skipBadLines);
    }

    /** Reads a cache as it is, or tokenizes a dataset. */
    PreparedDataset load(Tokenizer tokenizer, long seed) {
        if (data == null) throw new UserException("--data is required");
        Path p = Path.of(data);
        if (isCache(p)) {
            PreparedDataset d = DatasetCache.read(p);
            if (d.vocabSize() > tokenizer.vocabSize()) {
                throw new UserException("--data: " + p + " was prepared with a vocabulary of " + d.vocabSize() + " tokens, this tokenizer has " + tokenizer.vocabSize());
            }
            return d;
        }
        return Datasets.prepare(data, format == null ? null : DatasetFormat.parse(format), tokenizer, prepareOptions(seed));
    }

    static boolean isCache(Path p) {
        if (!Files.isRegularFile(p)) return false;
        try (InputStream in = Files.newInputStream(p)) {
            return new String(in.readNBytes(8), java.nio.charset.StandardCharsets.US_ASCII).equals("PEFT4JDS");
        } catch (IOException e) {
            return false;
        }
    }
}
