package dev.peft4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.api.UserException;
import dev.peft4j.api.io.AtomicFiles;
import dev.peft4j.api.io.DType;
import dev.peft4j.kernels.DeviceStep;
import dev.peft4j.models.LlamaModel;
import dev.peft4j.models.data.ExampleLoader;
import dev.peft4j.models.data.ExampleSet;
import dev.peft4j.models.data.PreparedDataset;
import dev.peft4j.models.generate.Generator;
import dev.peft4j.models.generate.Sampling;
import dev.peft4j.models.io.CheckpointFormat;
import dev.peft4j.models.io.Checkpoints;
import dev.peft4j.models.peft.AdapterFiles;
import dev.peft4j.models.peft.PeftMethods;
import dev.peft4j.models.peft.PeftModel;
import dev.peft4j.models.tokenizer.Tokenizer;
import dev.peft4j.models.train.Batch;
import dev.peft4j.models.train.LlamaTrainer;
import dev.peft4j.models.train.TrainingRun;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * One row of {@code compare}: trains one method (or none, for {@code base}) in a JVM of its own, so that
 * its peak memory is its own, then measures it. The parent ({@link CompareCommand}) starts it as
 * {@code java -cp ... dev.peft4j.cli.CompareWorker spec.json}; it prints its progress on stdout, one line
 * per event ({@code progress STEP STEPS LOSS ETA_S} or {@code phase TEXT}), and writes its
 * {@link CompareResult.Row} to the spec's {@code result} file. A UserException exits 2 with
 * "peft4j: error: ..." on stderr, an OutOfMemoryError exits 3 with "peft4j: out of memory".
 */
public final class CompareWorker {
    private CompareWorker() {}

    /** What the parent asks of one worker. */
    record Spec(String method, String model, String tokenizer, String data, int valSize, long seed, int steps, double lr,
                int microBatchSize, int batchSize, int evalPoints, int samples, String exactMatch, String device,
                int loraR, double loraAlpha, int adapterStartLayer, int adapterLen, int prefixTokens, Integer prefixProjection, String outDir,
                String result) {
        Spec withSeed(long s) {
            return new Spec(method, model, tokenizer, data, valSize, s, steps, lr, microBatchSize, batchSize, evalPoints, samples, exactMatch, device,
                    loraR, loraAlpha, adapterStartLayer, adapterLen, prefixTokens, prefixProjection, outDir, result);
        }
    }

    /** The method diverged: the loss is no longer finite or has grown far past where it started. */
    static final class Diverged extends RuntimeException {
        final int step;

        Diverged(int step, String message) {
            super(message);
            this.step = step;
        }
    }

    static final ObjectMapper JSON = new ObjectMapper();

    public static void main(String[] args) {
        System.setProperty("java.awt.headless", "true");
        if (args.length != 1) {
            System.err.println("usage: CompareWorker spec.json (started by peft4j compare)");
            System.exit(2);
        }
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        int code;
        try {
            Spec spec = JSON.readValue(Path.of(args[0]).toFile(), Spec.class);
            CompareResult.Row row = run(spec, out);
            AtomicFiles.write(Path.of(spec.result()), CompareResult.JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(row));
            code = 0;
        } catch (OutOfMemoryError e) {
            System.err.println("peft4j: out of memory (Java heap limit " + Runtime.getRuntime().maxMemory() / (1024 * 1024) + " MiB): " + e.getMessage());
            code = 3;
        } catch (UserException e) {
            System.err.println("peft4j: error: " + e.getMessage());
            code = 2;
        } catch (Throwable e) {
            System.err.println("peft4j: internal error: " + e);
            e.printStackTrace(System.err);
            code = 1;
        }
        System.out.flush();
        System.exit(code);
    }

    /** Trains and measures one method; the row it returns is the one results.json shows. */
    static CompareResult.Row run(Spec s, PrintStream out) throws IOException {
        long t0 = System.nanoTime();
        boolean base = s.method().equals(CompareCommand.BASE);
        ModelOptions mo = new ModelOptions();
        mo.model = Path.of(s.model());
        mo.tokenizer = s.tokenizer() == null ? null : Path.of(s.tokenizer());
        phase(out, "loading " + s.model());
        ModelOptions.Loaded loaded = mo.load();
        Tokenizer tok = loaded.tokenizer();
        int context = loaded.weights().config.maxSeqLen();
        DataOptions dopt = new DataOptions();
        dopt.data = s.data();
        dopt.valSize = s.valSize();
        dopt.maxSeqLength = context + 1;
        PreparedDataset d = dopt.load(tok, s.seed());
        if (d.isText()) throw new UserException("--data: compare needs an instruction dataset (Alpaca or Dolly), got plain text " + s.data());
        if (d.val().isEmpty()) throw new UserException("--val-size: compare needs held-out examples, got " + s.valSize());
        if (d.train().isEmpty()) throw new UserException("--data: no training examples left after holding out " + s.valSize());
        long modelParams = loaded.weights().config.parameterCount();

        PeftMethods registry = PeftMethods.discover(null);
        PeftModel peft = new PeftModel(loaded.weights(), s.seed());
        if (!base) options(s).install(peft, registry);
        int micro = s.microBatchSize(), seqLen = FinetuneCommand.exampleSeqLen(d);
        if (seqLen > context) {
            throw new UserException("--data: the longest example has " + (seqLen + 1) + " tokens but the model's context is " + context);
        }
        List<Batch> val = ExampleLoader.evaluationBatches(d.val(), micro, seqLen);
        LlamaTrainer trainer = peft.trainer(micro, seqLen, false);
        phase(out, "validation before training");
        List<double[]> valCurve = new ArrayList<>();
        double val0 = trainer.meanLoss(val).loss();
        valCurve.add(new double[]{0, val0});
        long trainable = peft.trainableParameters().stream().mapToLong(p -> p.size()).sum();

        List<Double> trainCurve = new ArrayList<>();
        List<Double> stepSeconds = new ArrayList<>();
        long[] tokens = {0};
        String status = "ok", error = null;
        int stepsDone = 0;
        String device = "cpu";
        Path dir = Path.of(s.outDir());
        if (!base) {
            if (s.batchSize() < micro || s.batchSize() % micro != 0) {
                throw new UserException("--batch-size " + s.batchSize() + " must be a multiple of --micro-batch-size " + micro);
            }
            int accumulation = s.batchSize() / micro;
            int evalEvery = Math.max(1, (s.steps() + s.evalPoints() - 1) / Math.max(1, s.evalPoints()));
            TrainingRun.Options opts = new TrainingRun.Options(s.steps(), accumulation, s.lr(), s.lr() / 10, Math.max(1, s.steps() / 10), 0.0,
                    0.9f, 0.95f, 1.0, evalEvery, 0);
            var source = new ExampleLoader(d.train(), micro, seqLen, true, s.seed()).asBatchSource();
            Path trainDir = dir.resolve("train");
            double[] first = {Double.NaN};
            TrainingRun.Listener listener = new TrainingRun.Listener() {
                @Override
                public void step(TrainingRun.StepInfo i) {
                    trainCurve.add(i.loss());
                    stepSeconds.add(i.stepSeconds());
                    tokens[0] += i.tokens();
                    if (i.step() == 1) first[0] = i.loss();
                    out.printf("progress %d %d %.6f %.3f%n", i.step(), i.steps(), i.loss(), i.etaSeconds());
                    if (!Double.isFinite(i.loss())) throw new Diverged(i.step(), "loss " + i.loss() + " at step " + i.step());
                    if (i.step() > 1 && i.loss() > 3 * first[0] + 1) {
                        throw new Diverged(i.step(), String.format("loss %.4g at step %d, up from %.4g at step 1", i.loss(), i.step(), first[0]));
                    }
                }

                @Override
                public void eval(TrainingRun.EvalInfo e) {
                    valCurve.add(new double[]{e.step(), e.loss()});
                    if (!Double.isFinite(e.loss())) throw new Diverged(e.step(), "validation loss " + e.loss() + " at step " + e.step());
                }
            };
            TrainingRun run = new TrainingRun(peft, trainer, source, val, opts, trainDir, listener);
            java.util.Optional<TornadoDevice> chosen = DeviceTraining.choose(s.device(), peft, null);
            DeviceStep onDevice = chosen.isEmpty() ? null : DeviceTraining.open(chosen.get(), peft, micro, seqLen);
            if (onDevice != null) {
                device = onDevice.device();
                run.onDevice(onDevice);
            }
            phase(out, "training");
            try {
                run.run();
            } catch (Diverged e) {
                status = "diverged";
                error = "diverged: " + e.getMessage();
            } finally {
                if (onDevice != null) onDevice.close();
            }
            stepsDone = trainCurve.size();
            deleteTree(trainDir.resolve("checkpoint"));
        }

        CompareResult.Row.Builder row = new CompareResult.Row.Builder(s.method(), status, error);
        row.lr = base ? null : s.lr();
        row.steps = base ? 0 : s.steps();
        row.stepsDone = stepsDone;
        row.trainableParams = trainable;
        row.modelParams = modelParams;
        row.trainCurve = trainCurve.stream().mapToDouble(Double::doubleValue).toArray();
        row.valCurve = valCurve;
        row.device = device;
        if (!status.equals("ok")) {
            row.measured = new CompareResult.Measured(Report.peakRssBytes(), median(stepSeconds), tokensPerSecond(tokens[0], stepSeconds), null, null,
                    (System.nanoTime() - t0) / 1e9);
            return row.build();
        }
        row.trainLoss = trainCurve.isEmpty() ? null : mean(trainCurve.subList(Math.max(0, trainCurve.size() - 10), trainCurve.size()));
        double valLoss = valCurve.get(valCurve.size() - 1)[1];
        row.valLoss = valLoss;
        row.valPerplexity = Math.exp(valLoss);

        // the adapter (or, for full fine-tuning, the whole model) on disk
        if (!base) {
            phase(out, "saving");
            boolean full = peft.adapters().values().stream().anyMatch(i -> i.method().exclusive());
            if (full) {
                Checkpoints.save(peft.base(), dir.resolve("model"), CheckpointFormat.HF, DType.F32, 0);
                row.adapterBytes = treeBytes(dir.resolve("model"));
                row.adapterIsModel = true;
            } else {
                AdapterFiles.saveAll(peft, dir.resolve("adapter"), registry, s.model());
                row.adapterBytes = treeBytes(dir.resolve("adapter"));
            }
        } else {
            row.adapterBytes = 0L;
        }

        // greedy answers to the held-out prompts, and exact match where the answers are short
        phase(out, "answering the held-out prompts");
        LlamaModel inference = peft.inferenceModel();
        boolean exact = switch (s.exactMatch()) {
            case "yes" -> true;
            case "no" -> false;
            default -> shortAnswers(d.val(), tok);
        };
        Answers a = answer(inference, tok, d.val(), exact ? d.val().size() : Math.min(s.samples(), d.val().size()), context);
        if (exact) {
            row.exactCorrect = a.correct;
            row.exactTotal = a.total;
            row.exactMatch = a.total == 0 ? null : (double) a.correct / a.total;
        }
        row.answers = a.list.subList(0, Math.min(s.samples(), a.list.size()));

        phase(out, "measuring inference speed");
        double infer = decodeSpeed(inference, d.val(), context);
        Double merged = null;
        if (!base && !peft.adapters().isEmpty() && peft.adapters().values().stream().allMatch(i -> i.adapter().canMerge())) {
            for (PeftModel.Installed i : peft.adapters().values()) i.adapter().merge();
            merged = decodeSpeed(peft.inferenceModel(), d.val(), context);
        }
        row.measured = new CompareResult.Measured(Report.peakRssBytes(), median(stepSeconds), tokensPerSecond(tokens[0], stepSeconds), infer, merged,
                (System.nanoTime() - t0) / 1e9);
        phase(out, "done");
        return row.build();
    }

    /** compare's recipe for each method, as config fields (adapter_config.json names); a method not named here keeps its defaults. */
    private static MethodOptions options(Spec s) {
        MethodOptions m = new MethodOptions();
        m.method = s.method();
        for (String part : s.method().split("\\+")) {
            switch (part.trim()) {
                case "lora" -> m.set("lora", "r", s.loraR()).set("lora", "lora_alpha", s.loraAlpha()).set("lora", "target_modules", "all-linear");
                case "llama-adapter" -> m.set("llama-adapter", "adapter_start_layer", s.adapterStartLayer()).set("llama-adapter", "adapter_len", s.adapterLen());
                case "prefix" -> {
                    m.set("prefix", "num_virtual_tokens", s.prefixTokens());
                    if (s.prefixProjection() != null) m.set("prefix", "prefix_projection", true).set("prefix", "encoder_hidden_size", s.prefixProjection());
                }
                default -> { }
            }
        }
        return m;
    }

    private static final long STARTED = System.nanoTime();

    /** Tells the parent what the worker does now; the log (stderr) gets the time since the worker started. */
    private static void phase(PrintStream out, String what) {
        out.println("phase " + what);
        System.err.printf("%.1f s: %s%n", (System.nanoTime() - STARTED) / 1e9, what);
    }

    /** Whether the held-out responses are short enough to be exact answers (at most 32 tokens each). */
    static boolean shortAnswers(ExampleSet val, Tokenizer tok) {
        for (int i = 0; i < val.size(); i++) if (expected(val, i, tok).length > 32) return false;
        return true;
    }

    /** The response tokens of a held-out example, without its end-of-sequence token. */
    private static int[] expected(ExampleSet val, int i, Tokenizer tok) {
        int[] t = val.tokens(i);
        int end = t.length;
        if (end > val.promptLength(i) && t[end - 1] == tok.eos()) end--;
        return Arrays.copyOfRange(t, val.promptLength(i), end);
    }

    record Answers(List<CompareResult.Answer> list, int correct, int total) {}

    /** Greedy answers to the first {@code n} held-out prompts, each compared exactly with its response. */
    static Answers answer(LlamaModel model, Tokenizer tok, ExampleSet val, int n, int context) {
        Generator g = new Generator(model);
        List<CompareResult.Answer> list = new ArrayList<>();
        int correct = 0;
        for (int i = 0; i < n; i++) {
            int[] t = val.tokens(i);
            int pl = val.promptLength(i);
            int[] prompt = Arrays.copyOf(t, pl);
            int[] want = expected(val, i, tok);
            int max = Math.max(1, Math.min(want.length + 8, context - pl));
            int[] got = g.generate(prompt, max, Sampling.greedy(), tok.eos(), null).generatedIds();
            if (got.length > 0 && got[got.length - 1] == tok.eos()) got = Arrays.copyOf(got, got.length - 1);
            boolean right = Arrays.equals(got, want);
            if (right) correct++;
            list.add(new CompareResult.Answer(CompareCommand.question(tok.decode(prompt)), tok.decode(got), tok.decode(want), right));
        }
        return new Answers(list, correct, n);
    }

    /**
     * Greedy decoding speed: tokens per second of the decode phase (prefill excluded), the median of 3 runs of up to
     * 128 new tokens after the first 8 tokens of a held-out prompt, the end-of-sequence token ignored, after a warm-up run.
     */
    static double decodeSpeed(LlamaModel model, ExampleSet val, int context) {
        Generator g = new Generator(model);
        int[] prompt = Arrays.copyOf(val.tokens(0), Math.min(8, val.promptLength(0)));
        int n = Math.max(1, Math.min(128, context - prompt.length - 1));
        double[] r = new double[5];
        // a tiny model decodes 128 tokens in tens of ms: warm up for a second, so the JIT has compiled the decode
        // path before the timed runs (else the first-measured model reads slower than the same path measured later)
        long until = System.nanoTime() + 1_000_000_000L;
        for (int k = 0; k < 50 && System.nanoTime() < until; k++) g.generate(prompt, n, Sampling.greedy(), -1, null);
        for (int k = 0; k < r.length; k++) r[k] = g.generate(prompt, n, Sampling.greedy(), -1, null).decodeTokensPerSecond();
        return BenchCommand.median(r);
    }

    private static Double median(List<Double> xs) {
        if (xs.isEmpty()) return null;
        return BenchCommand.median(xs.stream().mapToDouble(Double::doubleValue).toArray());
    }

    private static Double tokensPerSecond(long tokens, List<Double> seconds) {
        double s = seconds.stream().mapToDouble(Double::doubleValue).sum();
        return s == 0 ? null : tokens / s;
    }

    private static double mean(List<Double> xs) {
        return xs.stream().mapToDouble(Double::doubleValue).average().orElse(Double.NaN);
    }

    static long treeBytes(Path dir) throws IOException {
        try (var files = Files.walk(dir)) {
            return files.filter(Files::isRegularFile).mapToLong(f -> f.toFile().length()).sum();
        }
    }

    static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) return;
        try (var files = Files.walk(p)) {
            for (Path f : files.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(f);
        }
    }
}
