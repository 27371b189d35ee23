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

    @Option(names = "--spark", paramLabel = "MASTER",
            description = {"Train data parallel on Apache Spark: local[N], spark://HOST:PORT, yarn, k8s://... (needs the peft4j-spark artifact: "
                    + "./peft4j with PEFT4J_SPARK=1, or spark-submit of peft4j-spark-submit.jar). Every task loads the model and data from the "
                    + "same paths (which every executor must read) and --out must be shared storage for --resume and relaunches."})
    String spark;

    @Option(names = "--workers", paramLabel = "N", defaultValue = "0",
            description = "Spark tasks, one rank each (default: N of local[N], else required); rank r computes micro-batches r, r+N, ... of each step.")
    int workers;

    /** Set when this command runs as one rank of a data-parallel run (see scaleout.Worker). */
    dev.peft4j.models.train.GradientReducer reducer;
    /** A relaunched rank: continues from the checkpoint in --out if one was written. */
    boolean relaunch;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        if (spark != null && reducer == null) return scaleOut(out);
        if (spark == null && workers != 0) throw new UserException("--workers needs --spark MASTER");
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
        if (r.run.step() == train.steps && r.run.writer()) saveResult(peft, methods, outDir, loaded.name());
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
        if (existing != null && reducer != null && relaunch) train.resume = true; // a relaunched rank continues the checkpoint
        if (existing != null && !train.resume) {
            throw new UserException("--out " + outDir + " already holds a checkpoint: pass --resume to continue it, or choose another --out");
        }
        if (existing == null && train.resume) throw new UserException("--resume: no checkpoint in " + outDir);
        dev.peft4j.models.data.DataLoader loader = data.isText()
                ? new WindowLoader(data.train(), micro, seqLen, !train.noShuffle, train.seed)
                : new ExampleLoader(data.train(), micro, seqLen, !train.noShuffle, train.seed);
        if (reducer != null && reducer.size() > loader.batchesPerEpoch()) {
            throw new UserException("--workers " + reducer.size() + " is more than the " + loader.batchesPerEpoch() + " micro-batches of --data "
                    + dataOptions.data + " (at --micro-batch-size " + micro + "): a worker would have nothing to train on");
        }
        BatchSource source = loader.asBatchSource();
        List<Batch> val = data.val().isEmpty() ? List.of() : data.isText()
                ? WindowLoader.evaluationBatches(data.val(), micro, seqLen)
                : ExampleLoader.evaluationBatches(data.val(), micro, seqLen);
        Progress progress = new Progress(out, quiet);
        boolean recompute = train.recompute;
        TrainingRun run = new TrainingRun(peft, () -> peft.trainer(micro, seqLen, recompute), source, val, train.options(), outDir, progress);
        if (existing != null) {
            run.resume(existing);
            if (!quiet) out.printf("resumed from %s at step %d%n", existing, run.step());
        }
        long trainable = peft.trainableParameters().stream().mapToLong(p -> p.size()).sum();
        if (reducer != null) {
            if (!"cpu".equals(device)) throw new UserException("--spark runs the steps on the CPU: --device " + device + " cannot be combined with it");
            run.distributed(reducer);
        }
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
            if (reducer != null) out.printf("data parallel: %d workers, rank %d%n", reducer.size(), reducer.rank());
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
        if (reducer != null) report.put("workers", reducer.size()).put("allreduce_s", run.communicationNanos() / 1e9);
        return new Result(run, last, report);
    }

    /**
     * {@code --spark MASTER}: hands this command's arguments, less --spark and --workers, to the ScaleOut on the class
     * path (the peft4j-spark artifact), which runs them on the workers.
     */
    private int scaleOut(PrintWriter out) throws Exception {
        if (modelOptions.model == null || dataOptions.data == null) throw new UserException("--spark needs --model and --data");
        if (!"cpu".equals(device)) throw new UserException("--spark runs the steps on the CPU: --device " + device + " cannot be combined with it");
        if (initAdapter != null && !java.nio.file.Files.isDirectory(initAdapter)) throw new UserException("--init-adapter: " + initAdapter + " is not a directory");
        java.util.List<dev.peft4j.cli.scaleout.ScaleOut> found = java.util.ServiceLoader.load(dev.peft4j.cli.scaleout.ScaleOut.class).stream()
                .map(java.util.ServiceLoader.Provider::get).filter(s -> s.name().equals("spark")).toList();
        if (found.isEmpty()) {
            throw new UserException("--spark: Spark support is not on the class path: run ./peft4j with PEFT4J_SPARK=1 (it builds cli/spark), or "
                    + "spark-submit cli/spark/target/peft4j-spark-submit.jar");
        }
        int accumulation = train.accumulation();
        int n = workers;
        if (n == 0) {
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("local\\[(\\d+)(,\\d+)?]").matcher(spark.trim());
            if (!m.matches()) throw new UserException("--workers N is required with --spark " + spark);
            n = Integer.parseInt(m.group(1));
        }
        if (n < 1) throw new UserException("--workers must be at least 1, got " + n);
        if (n > accumulation) {
            throw new UserException("--workers " + n + " is more than the " + accumulation
                    + " micro-batches of each step (--batch-size " + train.batchSize + " / --micro-batch-size " + train.microBatchSize + "): a worker would have nothing to do");
        }
        java.util.List<String> args = workerArgs(spec.commandLine().getParseResult().originalArgs());
        return found.getFirst().finetune(spark, n, args, out, spec.commandLine().getErr());
    }

    /** The finetune arguments without the command's name, --spark and --workers. */
    static java.util.List<String> workerArgs(java.util.List<String> original) {
        java.util.List<String> args = new java.util.ArrayList<>(original);
        int cmd = args.indexOf("finetune");
        if (cmd >= 0) args.subList(0, cmd + 1).clear();
        java.util.List<String> kept = new java.util.ArrayList<>();
        for (int i = 0; i < args.size(); i++) {
            String a = args.get(i);
            if (a.equals("--spark") || a.equals("--workers")) i++;
            else if (!a.startsWith("--spark=") && !a.startsWith("--workers=")) kept.add(a);
        }
        return kept;
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
