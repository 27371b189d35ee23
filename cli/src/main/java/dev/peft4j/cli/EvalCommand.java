package dev.peft4j.cli;

import dev.peft4j.api.UserException;
import dev.peft4j.models.data.DatasetFormat;
import dev.peft4j.models.data.Datasets;
import dev.peft4j.models.data.ExampleLoader;
import dev.peft4j.models.data.PrepareOptions;
import dev.peft4j.models.data.PreparedDataset;
import dev.peft4j.models.train.LlamaTrainer;
import dev.peft4j.models.train.TextEvaluator;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "eval", mixinStandardHelpOptions = true,
        description = {"Loss and perplexity of a model (with adapters, if given) on data:",
                "plain text (BOS, then the text, in windows of the context length), or an instruction dataset (Alpaca .json, Dolly .jsonl:",
                "every example, loss on the response tokens)."})
final class EvalCommand implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin ModelOptions modelOptions = new ModelOptions();

    @Option(names = "--data", required = true, paramLabel = "FILE", description = "A .txt file, an Alpaca .json or Dolly .jsonl dataset (compressed too).")
    Path data;

    @Option(names = "--format", paramLabel = "alpaca|dolly|text", description = "Dataset format (default: from the file name).")
    String format;

    @Option(names = "--seq-len", paramLabel = "N", description = "Window length (default: the model's context length).")
    Integer seqLen;

    @Option(names = "--batch", defaultValue = "4", description = "Windows per forward pass (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--json", description = "Print one JSON object with the results as the last line.")
    boolean json;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        ModelOptions.Loaded loaded = modelOptions.load();
        int ctx = loaded.weights().config.maxSeqLen();
        int window = seqLen == null ? ctx : seqLen;
        if (window < 1 || window > ctx) throw new UserException("--seq-len must be between 1 and the model's context length " + ctx + ", got " + window);
        if (batch < 1) throw new UserException("--batch must be at least 1, got " + batch);
        DatasetFormat fmt = format != null ? DatasetFormat.parse(format) : DatasetFormat.detect(data.getFileName().toString());
        if (fmt != null && fmt != DatasetFormat.TEXT) return evalInstructions(out, loaded, fmt, ctx);
        String text;
        try {
            text = Files.readString(data, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UserException("--data: cannot read " + data + ": " + e.getMessage(), e);
        }
        int[] ids = loaded.tokenizer().encode(text, true, false);
        if (ids.length < 2) throw new UserException("--data: " + data + " has no text to evaluate");
        TextEvaluator.Result r = TextEvaluator.evaluate(loaded.weights(), loaded.peft().hooks(), ids, window, batch);
        if (json) {
            new Report().put("model", loaded.name()).put("data", data.toString()).put("tokens", r.tokens()).put("loss", r.loss())
                    .put("perplexity", r.perplexity()).put("seconds", r.seconds()).put("tokens_per_s", r.tokens() / r.seconds())
                    .put("peak_rss_bytes", Report.peakRssBytes()).printJson(out);
        } else {
            out.printf("%s on %s: %,d tokens, loss %.4f, perplexity %.3f (%.1f s, %.0f tokens/s, peak memory %s)%n",
                    loaded.name(), data, r.tokens(), r.loss(), r.perplexity(), r.seconds(), r.tokens() / r.seconds(), Report.mib(Report.peakRssBytes()));
        }
        return 0;
    }

    /** Masked loss over every example of an instruction dataset (nothing held out). */
    private int evalInstructions(PrintWriter out, ModelOptions.Loaded loaded, DatasetFormat fmt, int ctx) {
        PrepareOptions opts = PrepareOptions.defaults().withMaxSeqLength(ctx + 1).withValSize(0);
        PreparedDataset d = Datasets.prepare(data.toString(), fmt, loaded.tokenizer(), opts);
        int seqLen = FinetuneCommand.exampleSeqLen(d);
        long t0 = System.nanoTime();
        LlamaTrainer.MeanLoss m = loaded.peft().trainer(batch, seqLen, true).meanLoss(ExampleLoader.evaluationBatches(d.train(), batch, seqLen));
        double seconds = (System.nanoTime() - t0) / 1e9, loss = m.loss();
        long w = m.tokens();
        if (json) {
            new Report().put("model", loaded.name()).put("data", data.toString()).put("examples", d.summary().examples()).put("tokens", w)
                    .put("loss", loss).put("perplexity", Math.exp(loss)).put("seconds", seconds).put("peak_rss_bytes", Report.peakRssBytes()).printJson(out);
        } else {
            out.printf("%s on %s: %,d examples, %,d response tokens, loss %.4f, perplexity %.3f (%.1f s)%n", loaded.name(), data,
                    d.summary().examples(), w, loss, Math.exp(loss), seconds);
        }
        return 0;
    }
}
