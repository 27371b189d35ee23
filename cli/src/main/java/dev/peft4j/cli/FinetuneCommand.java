package dev.peft4j.cli;

import dev.peft4j.api.UserException;
import dev.peft4j.api.io.DType;
import dev.peft4j.kernels.DeviceStep;
import dev.peft4j.models.data.ExampleLoader;
import dev.peft4j.models.data.PreparedDataset;
import dev.peft4j.models.data.WindowLoader;
import dev.peft4j.models.io.CheckpointFormat;
import dev.peft4j.models.io.Checkpoints;
import dev.peft4j.models.peft.AdapterFiles;
import dev.peft4j.models.peft.PeftMethods;
import dev.peft4j.models.peft.PeftModel;
import dev.peft4j.models.train.Batch;
import dev.peft4j.models.train.BatchSource;
import dev.peft4j.models.train.LlamaTrainer;
import dev.peft4j.models.train.TrainingRun;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "finetune", mixinStandardHelpOptions = true,
        description = {"Fine-tune a model with PEFT methods (any composition) on an instruction dataset or text.",
                "With no arguments: a demo that needs no download (pre-trains a small model, then fine-tunes it with LoRA)."})
final class FinetuneCommand implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin ModelOptions modelOptions = new ModelOptions();
    @Mixin DataOptions dataOptions = new DataOptions();
    @Mixin MethodOptions methodOptions = new MethodOptions();
    @Mixin TrainFlags train = new TrainFlags();

    @Option(names = "--init-adapter", paramLabel = "DIR", description = "Start from these saved adapter weights (and their configs) instead of a fresh init.")
    Path initAdapter;

    @Option(names = "--json", description = "Print one JSON object with the results as the last line.")
    boolean json;

    @Option(names = "--device", defaultValue = "cpu", paramLabel = "auto|cpu|tornado[:N]",
            description = {"Where the training steps and validation run: cpu (default); tornado[:N], TornadoVM device N (LoRA on the linears of "
                    + "every layer and lm_head, prefix tuning, LLaMA-Adapter, any combination; needs the TornadoVM build and runtime); "
                    + "auto: tornado:0 when it can run this composition, else cpu."})
    String device = "cpu";

    @Override
    public Integer call() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        if (modelOptions.model == null && dataOptions.data == null) return new Demo(out, json).run();
        if (dataOptions.data == null) throw new UserException("--data is required (or give no arguments for the demo)");
        Path outDir = train.out != null ? train.out : Path.of("out", "finetune");
        ModelOptions.Loaded loaded = modelOptions.load();
        PreparedDataset data = dataOptions.load(loaded.tokenizer(), train.seed);
        if (!json) out.println(data.summary().describe());
        PeftMethods methods = modelOptions.methods();
        PeftModel peft = new PeftModel(loaded.weights(), train.seed);
        if (initAdapter != null) AdapterFiles.load(peft, initAdapter, methods);
        else methodOptions.install(peft, methods);
        Result r = train(out, peft, data, loaded.weights().config.maxSeqLen(), outDir, json);
        if (r.run.step() == train.steps) saveResult(peft, methods, outDir, loaded.name());
        if (json) {
            r.report.put("out", outDir.toString()).printJson(out);
        } else {
            out.printf("%s in %s%n", r.run.step() == train.steps ? "trained adapter" : "stopped; checkpoint", outDir);
        }
        return 0;
    }

    record Result(TrainingRun run, TrainingRun.EvalInfo lastEval, Report report) {}

    /** Runs the training (shared with pretrain and the demo); Ctrl-C writes a checkpoint first. */
    Result train(PrintWriter out, PeftModel peft, PreparedDataset data, int context, Path outDir, boolean quiet) throws IOException {
        int micro = train.microBatchSize, accumulation = train.accumulation();
        int seqLen = data.isText() ? Math.min(context, dataOptions.maxSeqLength) : exampleSeqLen(data);
        if (!data.isText() && seqLen > context) {
            throw new UserException("--data: the longest example has " + data.train().longest() + " tokens but the model's context is " + context
                    + " (prepare with --max-seq-length " + (context + 1) + " or less)");
        }
        if (data.train().isEmpty()) throw new UserException("--data: no training examples");
        if (!data.isText() && data.summary().withoutTargets() >= data.summary().examples()) {
            throw new UserException("--data: every example lost its whole response to truncation at " + data.summary().longest()
                    + " tokens: nothing to learn from (raise --max-seq-length, where the data is prepared, or shorten the prompts)");
        }
        Path existing = TrainingRun.findCheckpoint(outDir);
        if (existing != null && !train.resume) {
            throw new UserException("--out " + outDir + " already holds a checkpoint: pass --resume to continue it, or choose another --out");
        }
        if (existing == null && train.resume) throw new UserException("--resume: no checkpoint in " + outDir);
        BatchSource source = data.isText()
                ? new WindowLoader(data.train(), micro, seqLen, !train.noShuffle, train.seed).asBatchSource()
                : new ExampleLoader(data.train(), micro, seqLen, !train.noShuffle, train.seed).asBatchSource();
        List<Batch> val = data.val().isEmpty() ? List.of() : data.isText()
                ? WindowLoader.evaluationBatches(data.val(), micro, seqLen)
                : ExampleLoader.evaluationBatches(data.val(), micro, seqLen);
        LlamaTrainer trainer = peft.trainer(micro, seqLen, train.recompute);
        Progress progress = new Progress(out, quiet);
        TrainingRun run = new TrainingRun(peft, trainer, source, val, train.options(), outDir, progress);
        if (existing != null) {
            run.resume(existing);
            if (!quiet) out.printf("resumed from %s at step %d%n", existing, run.step());
        }
        long trainable = peft.trainableParameters().stream().mapToLong(p -> p.size()).sum();
        DeviceStep onDevice = openDevice(out, quiet, peft, micro, seqLen);
        if (onDevice != null) {
            try {
                run.onDevice(onDevice);
            } catch (RuntimeException e) {
                onDevice.close();
                throw e;
            }
        }
        if (!quiet) {
            out.printf("training %s: %,d trainable parameters, %d x %d tokens per micro-batch, %d micro-batches per step, %d steps%s%n",
                    String.join("+", peft.adapters().keySet()), trainable, micro, seqLen, accumulation, train.steps,
                    onDevice == null ? "" : ", on " + onDevice.device());
        }
        CountDownLatch finished = new CountDownLatch(1);
        Thread hook = new Thread(() -> {
            run.requestStop();
            try {
                finished.await(120, TimeUnit.SECONDS); // let the loop write its checkpoint
            } catch (InterruptedException ignored) {
                Thread.currentThread().interrupt();
            }
        }, "peft4j-ctrl-c");
        Runtime.getRuntime().addShutdownHook(hook);
        long t0 = System.nanoTime();
        TrainingRun.EvalInfo last;
        try {
            last = run.run();
        } finally {
            if (onDevice != null) onDevice.close();
            finished.countDown();
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException shuttingDown) {
                // Ctrl-C: the hook is running and waits for us
            }
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        Report report = new Report().put("steps", run.step()).put("trainable_params", trainable).put("seconds", seconds)
                .put("train_loss", progress.lastLoss()).put("step_s", progress.medianStepSeconds()).put("tokens_per_s", progress.tokensPerSecond())
                .put("peak_rss_bytes", Report.peakRssBytes()).put("device", onDevice == null ? "cpu" : onDevice.device());
        if (last != null) report.put("val_loss", last.loss()).put("val_perplexity", last.perplexity());
        return new Result(run, last, report);
    }

    /**
     * The device step --device asks for, or null for the CPU. {@code auto} takes TornadoVM device 0 when the runtime is
     * there and the composition has a device form, and says why not when it falls back; {@code tornado[:N]} fails then.
     */
    private DeviceStep openDevice(PrintWriter out, boolean quiet, PeftModel peft, int micro, int seqLen) {
        java.util.Optional<TornadoDevice> chosen = DeviceTraining.choose(device, peft, quiet ? null : out);
        if (chosen.isEmpty()) return null;
        if (!quiet) out.printf("device: %s, uploading the model%n", chosen.get().describe());
        return DeviceTraining.open(chosen.get(), peft, micro, seqLen);
    }

    /** Positions per row for instruction data: every example, train or validation, fits (inputs are one shorter). */
    static int exampleSeqLen(PreparedDataset data) {
        return Math.max(1, Math.max(data.train().longest(), data.val().isEmpty() ? 0 : data.val().longest()) - 1);
    }

    /** The validation loss of the model as it is (before training). */
    double validationLoss(PeftModel peft, PreparedDataset data, int context) {
        int seqLen = exampleSeqLen(data);
        List<Batch> val = ExampleLoader.evaluationBatches(data.val(), train.microBatchSize, seqLen);
        return peft.trainer(train.microBatchSize, seqLen, true).meanLoss(val).loss();
    }

    /** The trained adapters in Hugging Face PEFT's layout (or, for full fine-tuning, the whole model). */
    static void saveResult(PeftModel peft, PeftMethods methods, Path outDir, String baseName) throws IOException {
        boolean full = peft.adapters().values().stream().anyMatch(i -> i.method().exclusive());
        if (full) Checkpoints.save(peft.base(), outDir.resolve("model"), CheckpointFormat.HF, DType.F32, 0);
        else AdapterFiles.saveAll(peft, outDir.resolve("adapter"), methods, baseName);
    }
}
