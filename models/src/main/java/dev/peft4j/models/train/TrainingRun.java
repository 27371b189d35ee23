package dev.peft4j.models.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.peft4j.api.Parameter;
import dev.peft4j.api.UserException;
import dev.peft4j.api.io.AtomicFiles;
import dev.peft4j.api.io.DType;
import dev.peft4j.api.io.Safetensors;
import dev.peft4j.kernels.DeviceStep;
import dev.peft4j.models.peft.PeftModel;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * A training run: micro-batches with gradient accumulation, AdamW with warmup and cosine decay,
 * validation every N steps, and checkpoints every N steps that resume bit for bit.
 *
 * <p>A checkpoint is a directory {@code checkpoint/} in the output directory holding every
 * trainable parameter ({@code params.safetensors}), the optimizer's moments
 * ({@code optimizer.safetensors}) and {@code state.json} (step, data position, the trainer's
 * dropout counter). It is written beside the previous one and swapped in by renames, so a failed
 * write (a full disk) leaves the previous checkpoint whole.
 *
 * <p>The steps may run on a device instead ({@link #onDevice}): forward, backward, the gradient norm and AdamW
 * happen there, validation too (a forward pass), and the host's parameters and moments are brought up to date
 * for each checkpoint and at the end (the last step always writes one).
 */
public final class TrainingRun {
    /**
     * @param steps          optimizer steps in all
     * @param accumulation   micro-batches per optimizer step
     * @param lr             peak learning rate
     * @param minLr          learning rate at the end of the cosine decay
     * @param warmupSteps    linear warmup
     * @param weightDecay    AdamW's decoupled decay
     * @param maxGradNorm    clip the global gradient norm (0: never)
     * @param evalEvery      validate every this many steps (0: only at the end)
     * @param saveEvery      checkpoint every this many steps (0: only at the end)
     */
    public record Options(int steps, int accumulation, double lr, double minLr, int warmupSteps, double weightDecay,
                          float beta1, float beta2, double maxGradNorm, int evalEvery, int saveEvery) {
        public Options {
            if (steps <= 0) throw new UserException("--steps must be positive, got " + steps);
            if (accumulation <= 0) throw new UserException("--batch-size must be a positive multiple of --micro-batch-size");
            if (!(lr > 0)) throw new UserException("--lr must be positive, got " + lr);
            if (warmupSteps < 0) throw new UserException("--warmup-steps must be >= 0, got " + warmupSteps);
            if (!(maxGradNorm >= 0)) throw new UserException("--max-grad-norm must be >= 0, got " + maxGradNorm);
        }

        public LrSchedule schedule() {
            return new LrSchedule(lr, warmupSteps, steps, minLr);
        }
    }

    /** One optimizer step's numbers. */
    public record StepInfo(int step, int steps, double loss, double lr, double gradNorm, long tokens, double stepSeconds,
                           double tokensPerSecond, double etaSeconds) {}

    /** One validation's numbers. */
    public record EvalInfo(int step, double loss, long tokens) {
        public double perplexity() {
            return Math.exp(loss);
        }
    }

    /** Hears about the run's progress (the CLI prints it). */
    public interface Listener {
        default void step(StepInfo info) {}
        default void eval(EvalInfo info) {}
        default void checkpoint(int step, Path dir) {}
    }

    private static final ObjectMapper JSON = new ObjectMapper();
    private final PeftModel model;
    private final java.util.function.Supplier<LlamaTrainer> newTrainer;
    private LlamaTrainer trainer;   // made on first use: a run whose steps are on a device never allocates one
    private long microSteps = -1;   // the trainer's count of training passes while there is no trainer (-1: the trainer's own)
    private final AdamWOptimizer optimizer;
    private final BatchSource train;
    private final List<Batch> validation;
    private final Options options;
    private final Path outDir;
    private final Listener listener;
    private final List<Parameter> params;
    private int step;
    private volatile boolean stopRequested;
    private DeviceStep device; // null: steps run on the CPU
    private GradientReducer reducer; // null: one process
    private long commNanos, computeNanos;

    public TrainingRun(PeftModel model, LlamaTrainer trainer, BatchSource train, List<Batch> validation, Options options, Path outDir,
                       Listener listener) {
        this(model, () -> trainer, train, validation, options, outDir, listener);
    }

    /**
     * As above with the CPU trainer made when first needed ({@code model.trainer(...)}): a run whose steps go to a
     * device ({@link #onDevice} before {@link #run}) then allocates none of the CPU trainer's buffers.
     */
    public TrainingRun(PeftModel model, java.util.function.Supplier<LlamaTrainer> trainer, BatchSource train, List<Batch> validation,
                       Options options, Path outDir, Listener listener) {
        this.model = model;
        this.newTrainer = trainer;
        this.train = train;
        this.validation = validation;
        this.options = options;
        this.outDir = outDir;
        this.listener = listener == null ? new Listener() {} : listener;
        this.params = model.trainableParameters();
        if (params.isEmpty()) throw new UserException("nothing to train: no method added trainable parameters");
        this.optimizer = new AdamWOptimizer(params, options.beta1(), options.beta2(), 1e-8f, (float) options.weightDecay(), options.maxGradNorm());
    }

    public int step() {
        return step;
    }

    /** The CPU trainer, made on first use and carrying on the count of training passes (dropout's seeds). */
    private LlamaTrainer trainer() {
        if (trainer == null) {
            trainer = newTrainer.get();
            if (microSteps >= 0) trainer.setMicroSteps(microSteps);
        }
        return trainer;
    }

    /** Whether the CPU trainer has been made (a run on a device makes none). */
    public boolean hasCpuTrainer() {
        return trainer != null;
    }

    /**
     * Runs the steps on {@code device} from now on, starting from the parameters and optimizer moments as they are
     * (after {@link #resume}, if resuming). The device step must hold exactly this run's trainable parameters, by
     * name and size; otherwise a UserException names the first that differs. The caller closes the step.
     */
    public void onDevice(DeviceStep device) {
        if (reducer != null) throw new UserException("data-parallel training runs its steps on the CPU; --device cannot be combined with it");
        optimizer.startOn(device);
        this.device = device;
    }

    /** Brings the parameters' values and the optimizer's moments back from the device (no-op on the CPU). */
    private void syncFromDevice() {
        if (device != null) optimizer.readFrom(device);
    }

    private int stopAfter = -1;

    /** Stops (with a checkpoint) once {@code step} is reached, as a Ctrl-C at that step would. */
    void listenerStopAfter(int step) {
        this.stopAfter = step;
    }

    /** Asks the run to stop after the current step, writing a checkpoint first (Ctrl-C). */
    public void requestStop() {
        stopRequested = true;
    }

    public Path checkpointDir() {
        return outDir.resolve("checkpoint");
    }

    /** Runs to the last step (or a stop request); returns the last validation. */
    public EvalInfo run() throws IOException {
        Files.createDirectories(outDir);
        LrSchedule schedule = options.schedule();
        long startNanos = System.nanoTime();
        int firstStep = step;
        EvalInfo lastEval = null;
        while (step < options.steps()) {
            long t0 = System.nanoTime(), commBefore = commNanos;
            double loss = 0;
            long tokens = 0;
            if (reducer == null) {
                for (int micro = 0; micro < options.accumulation(); micro++) {
                    Batch b = train.next();
                    if (device == null) {
                        loss += trainer().forwardBackward(b);
                    } else {
                        loss += device.forwardBackward(b.inputs(), b.targets(), b.weights(), micro == 0);
                        microSteps = Math.max(microSteps, 0) + 1;
                    }
                    tokens += (long) b.batchSize() * b.seqLen();
                }
            } else {
                // Data parallel: every rank reads every micro-batch (so the data position stays the one process's) and
                // computes micro-batches rank, rank + size, ...; each pass gets the dropout seed it has in one process.
                LlamaTrainer trainer = trainer();
                long firstMicro = trainer.microSteps(), f0 = System.nanoTime();
                for (int micro = 0; micro < options.accumulation(); micro++) {
                    Batch b = train.next();
                    if (micro % reducer.size() != reducer.rank()) continue;
                    trainer.setMicroSteps(firstMicro + micro);
                    loss += trainer.forwardBackward(b);
                    tokens += (long) b.batchSize() * b.seqLen();
                }
                trainer.setMicroSteps(firstMicro + options.accumulation());
                long c0 = System.nanoTime();
                computeNanos = c0 - f0;
                double[] sums = {loss, tokens};
                reducer.allReduce(params, sums);
                commNanos += System.nanoTime() - c0;
                loss = sums[0];
                tokens = Math.round(sums[1]);
            }
            loss /= options.accumulation();
            double lr = schedule.at(step);
            double norm = device == null ? optimizer.step(lr, options.accumulation()) : optimizer.step(device, lr, options.accumulation());
            step++;
            double seconds = (System.nanoTime() - t0) / 1e9;
            double elapsed = (System.nanoTime() - startNanos) / 1e9;
            double eta = elapsed / (step - firstStep) * (options.steps() - step);
            StepInfo info = new StepInfo(step, options.steps(), loss, lr, norm, tokens, seconds, tokens / seconds, eta);
            if (!writer()) continue;
            Map<String, Object> row = new java.util.HashMap<>(Map.of("type", "train", "step", step, "loss", loss, "lr", lr, "grad_norm", norm,
                    "tokens", tokens, "step_s", seconds, "tokens_per_s", tokens / seconds));
            if (reducer != null) {
                row.put("workers", reducer.size());
                row.put("allreduce_s", (commNanos - commBefore) / 1e9);
                row.put("compute_s", computeNanos / 1e9);
            }
            appendMetrics(row);
            listener.step(info);
            if (step == stopAfter) stopRequested = true;
            boolean last = step == options.steps();
            boolean evaluate = !validation.isEmpty() && (last || (options.evalEvery() > 0 && step % options.evalEvery() == 0));
            if (evaluate) {
                lastEval = validate();
                appendMetrics(Map.of("type", "val", "step", step, "loss", lastEval.loss(), "perplexity", lastEval.perplexity(), "tokens", lastEval.tokens()));
                listener.eval(lastEval);
            }
            if (last || stopRequested || (options.saveEvery() > 0 && step % options.saveEvery() == 0)) {
                saveCheckpoint();
                listener.checkpoint(step, checkpointDir());
            }
            if (stopRequested) break;
        }
        return lastEval;
    }

    /**
     * Trains data parallel from now on: this process is rank {@code reducer.rank()} of {@code reducer.size()}, each
     * running this same run (same model, methods, seed and data); the reducer sums the gradients once per optimizer
     * step. Rank 0 alone validates and writes metrics and checkpoints; the others only train (and take the same
     * steps). CPU steps only.
     */
    public void distributed(GradientReducer reducer) {
        if (device != null) throw new UserException("data-parallel training runs its steps on the CPU; --device cannot be combined with it");
        if (reducer.size() > options.accumulation()) {
            throw new UserException("--workers " + reducer.size() + " is more than the " + options.accumulation()
                    + " micro-batches of each step (--batch-size / --micro-batch-size): a worker would have nothing to do");
        }
        this.reducer = reducer;
    }

    /** Nanoseconds spent in the reducer so far (data parallel only). */
    public long communicationNanos() {
        return commNanos;
    }

    /** Whether this process writes metrics, checkpoints and results: always, except ranks other than 0 of a data-parallel run. */
    public boolean writer() {
        return reducer == null || reducer.rank() == 0;
    }

    /** Weighted mean loss over the validation batches (forward only). */
    public EvalInfo validate() {
        LlamaTrainer.MeanLoss m = device == null ? trainer().meanLoss(validation)
                : LlamaTrainer.meanLoss(validation, b -> device.loss(b.inputs(), b.targets(), b.weights()));
        return new EvalInfo(step, m.loss(), m.tokens());
    }

    private void appendMetrics(Map<String, Object> row) {
        try {
            Files.writeString(outDir.resolve("metrics.jsonl"), JSON.writeValueAsString(new java.util.TreeMap<>(row)) + "\n",
                    StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new UserException("cannot append to " + outDir.resolve("metrics.jsonl") + ": " + e.getMessage(), e);
        }
    }

    // ---------------------------------------------------------------------------------------
    // checkpoints
    // ---------------------------------------------------------------------------------------

    /**
     * Writes the checkpoint atomically: a new directory, then renames. If a write fails (a full disk) the
     * previous checkpoint stays whole, the partial new one is removed, and the exception names the file.
     */
    public void saveCheckpoint() throws IOException {
        syncFromDevice();
        Path tmp = outDir.resolve("checkpoint.tmp");
        try {
            writeCheckpoint(tmp);
        } catch (IOException e) {
            try {
                deleteTree(tmp);
            } catch (IOException | RuntimeException ignored) {
                // the write already failed; that error is the one to report
            }
            throw AtomicFiles.failure(tmp, e);
        }
    }

    private void writeCheckpoint(Path tmp) throws IOException {
        Path target = checkpointDir();
        Path old = outDir.resolve("checkpoint.old");
        deleteTree(tmp);
        Files.createDirectories(tmp);
        List<Safetensors.Tensor> values = new ArrayList<>(), moments = new ArrayList<>();
        float[][] m = optimizer.firstMoments(), v = optimizer.secondMoments();
        for (int i = 0; i < params.size(); i++) {
            Parameter p = params.get(i);
            values.add(new Safetensors.Tensor(p.name(), p.shape(), p.data()));
            moments.add(new Safetensors.Tensor("m." + p.name(), p.shape(), m[i]));
            moments.add(new Safetensors.Tensor("v." + p.name(), p.shape(), v[i]));
        }
        Safetensors.write(tmp.resolve("params.safetensors"), values, DType.F32, Map.of());
        Safetensors.write(tmp.resolve("optimizer.safetensors"), moments, DType.F32, Map.of());
        ObjectNode state = JSON.createObjectNode();
        state.put("step", step);
        state.put("optimizer_steps", optimizer.stepCount());
        state.put("trainer_micro_steps", trainer == null ? Math.max(microSteps, 0) : trainer.microSteps());
        state.set("data_position", JSON.valueToTree(train.position()));
        state.set("adapters", JSON.valueToTree(model.adapters().keySet()));
        AtomicFiles.write(tmp.resolve("state.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(state));
        deleteTree(old);
        if (Files.exists(target)) Files.move(target, old, StandardCopyOption.ATOMIC_MOVE);
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
        deleteTree(old);
    }

    /** The checkpoint to resume from: {@code checkpoint/}, or {@code checkpoint.old/} if a swap was cut short. */
    public static Path findCheckpoint(Path outDir) {
        for (String name : new String[]{"checkpoint", "checkpoint.old"}) {
            Path p = outDir.resolve(name);
            if (Files.isRegularFile(p.resolve("state.json"))) return p;
        }
        return null;
    }

    /** Restores parameters, optimizer moments, step and data position from a checkpoint. */
    public void resume(Path dir) {
        try (Safetensors values = Safetensors.open(dir.resolve("params.safetensors"));
             Safetensors moments = Safetensors.open(dir.resolve("optimizer.safetensors"))) {
            var state = JSON.readTree(Files.readString(dir.resolve("state.json")));
            float[][] m = optimizer.firstMoments(), v = optimizer.secondMoments();
            for (int i = 0; i < params.size(); i++) {
                Parameter p = params.get(i);
                if (!values.contains(p.name())) {
                    throw new UserException(dir + ": the checkpoint has no parameter " + p.name() + " (was it made with other methods?)");
                }
                if (values.entry(p.name()).elements() != p.size()) {
                    throw new UserException(dir + ": parameter " + p.name() + " has " + values.entry(p.name()).elements() + " values, this run needs " + p.size());
                }
                values.readFloats(p.name(), p.data());
                moments.readFloats("m." + p.name(), m[i]);
                moments.readFloats("v." + p.name(), v[i]);
            }
            step = state.get("step").asInt();
            optimizer.restoreStepCount(state.get("optimizer_steps").asInt());
            microSteps = state.get("trainer_micro_steps").asLong();
            if (trainer != null) trainer.setMicroSteps(microSteps);
            long[] pos = JSON.treeToValue(state.get("data_position"), long[].class);
            train.seek(pos);
        } catch (IOException e) {
            throw new UserException(dir + ": cannot read the checkpoint: " + e.getMessage(), e);
        }
        if (step >= options.steps()) {
            throw new UserException(dir + " is at step " + step + ", already at --steps " + options.steps() + ": nothing to resume");
        }
    }

    private static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) return;
        try (Stream<Path> s = Files.walk(p)) {
            for (Path x : s.sorted(Comparator.reverseOrder()).toList()) Files.delete(x);
        }
    }
}
