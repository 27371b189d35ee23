package dev.peft4j.cli;

import dev.peft4j.api.PeftConfig;
import dev.peft4j.api.PeftMethod;
import dev.peft4j.models.peft.PeftMethods;
import dev.peft4j.models.peft.PeftModel;
import dev.peft4j.kernels.DeviceStep;
import dev.peft4j.kernels.Threads;
import dev.peft4j.models.LlamaConfig;
import dev.peft4j.models.LlamaWeights;
import dev.peft4j.models.train.AdamWOptimizer;
import dev.peft4j.models.train.Batch;
import dev.peft4j.models.train.LlamaTrainer;
import java.io.PrintWriter;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "train", mixinStandardHelpOptions = true,
        description = "Training speed and memory: optimizer steps on random weights of a model shape (stories15M or TinyLlama-1.1B) and random tokens, on the CPU or a TornadoVM device.")
final class BenchTrain implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Option(names = "--method", defaultValue = "full", description = "Method, or methods joined by + (lora+prefix), each with its default config (default: ${DEFAULT-VALUE}).")
    String method;

    @Option(names = "--batch", defaultValue = "8", description = "Sequences per step (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--seq", defaultValue = "256", description = "Tokens per sequence (default: ${DEFAULT-VALUE}).")
    int seq;

    @Option(names = "--steps", defaultValue = "5", description = "Measured steps (default: ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = "--warmup", defaultValue = "1", description = "Unmeasured steps first (default: ${DEFAULT-VALUE}).")
    int warmup;

    @Option(names = "--recompute", description = "Recompute activations in backward (less memory, ~1.3x compute).")
    boolean recompute;

    @Option(names = "--json", description = "Print one JSON object with the results as the last line.")
    boolean json;

    @Option(names = "--device", defaultValue = "cpu", paramLabel = "auto|cpu|tornado[:N]",
            description = "Where steps run: cpu; tornado[:N] (TornadoVM device N, methods with a device form: lora, prefix, llama-adapter; "
                    + "needs the TornadoVM build and runtime); auto (tornado when it can, else cpu) (default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--shape", defaultValue = "stories15M", paramLabel = BenchCommand.SHAPES, description = BenchCommand.SHAPE_HELP + " (default: ${DEFAULT-VALUE}).")
    String shape;

    @Option(names = "--ceiling-size", defaultValue = "2048", paramLabel = "N",
            description = "After the steps, measure the machine's sgemm ceiling as an N x N x N matmul (0: skip) (default: ${DEFAULT-VALUE}).")
    int ceilingSize;

    @Option(names = "--peer-python", paramLabel = "PYTHON", defaultValue = "${env:PEFT4J_PEER_PYTHON}",
            description = "A python with PyTorch: the ceiling is also measured with its torch.mm on the same threads (default: $PEFT4J_PEER_PYTHON).")
    String peerPython;

    @Option(names = "--base-dtype", defaultValue = "f32", paramLabel = "f32|bf16|f16|q8_0|q4_0", description = BenchCommand.BASE_DTYPE_HELP)
    String baseDtype;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        LlamaConfig c = BenchCommand.shape(shape);
        if (seq > c.maxSeqLen()) c = c.withMaxSeqLen(seq);
        LlamaWeights w = BenchCommand.randomWeights(c, baseDtype);
        PeftModel peft = new PeftModel(w, 1);
        PeftMethods methods = PeftMethods.discover(null);
        for (String name : method.split("\\+")) installDefault(peft, methods.get(name.trim()));
        java.util.Optional<TornadoDevice> tornado = DeviceTraining.choose(device, peft, json ? null : out);
        AdamWOptimizer opt = new AdamWOptimizer(peft.trainableParameters(), 0.9f, 0.95f, 1e-8f, 0.1f, 1.0);
        long trainable = peft.trainableParameters().stream().mapToLong(p -> p.size()).sum();
        SplittableRandom r = new SplittableRandom(7);
        int n = batch * seq;
        int[] tokens = new int[n + 1];
        for (int i = 0; i < tokens.length; i++) tokens[i] = r.nextInt(c.vocabSize());
        Batch b = Batch.unmasked(batch, seq, java.util.Arrays.copyOf(tokens, n), java.util.Arrays.copyOfRange(tokens, 1, n + 1));
        long t0 = System.nanoTime();
        DeviceStep onDevice = tornado.isPresent() ? DeviceTraining.open(tornado.get(), peft, batch, seq) : null;
        try {
            LlamaTrainer trainer = onDevice == null ? peft.trainer(batch, seq, recompute) : null;
            boolean baseTrains = trainer != null && !trainer.parameters().isEmpty();
            double flops = trainFlops(c, batch, seq, baseTrains);
            String where = onDevice == null ? Threads.threads() + " threads" : "TornadoVM device " + onDevice.device();
            if (!json) {
                out.printf("bench train: method %s, %s shape, base %s (%s), batch %d x %d, %s, %,d trainable parameters%s%n",
                        method, shape, w.storedTypes(), Report.mib(w.bytes()), batch, seq, where, trainable, recompute ? ", recompute" : "");
            }
            if (onDevice != null) opt.startOn(onDevice);
            double[] secs = new double[steps];
            double loss = 0;
            for (int s = -warmup; s < steps; s++) {
                long t1 = System.nanoTime();
                if (onDevice == null) {
                    loss = trainer.forwardBackward(b);
                    opt.step(1e-4, 1);
                } else {
                    loss = onDevice.forwardBackward(b.inputs(), b.targets(), b.weights(), true);
                    opt.step(onDevice, 1e-4, 1);
                }
                double sec = (System.nanoTime() - t1) / 1e9;
                if (s >= 0) secs[s] = sec;
                if (!json) {
                    out.printf("  %s %d: %.3f s, %.0f tokens/s, %.1f GFLOP/s, loss %.4f%s%n", s < 0 ? "warm-up" : "step", s < 0 ? s + warmup + 1 : s + 1,
                            sec, n / sec, flops / sec / 1e9, loss,
                            onDevice != null && s == -warmup ? String.format(" (with setup: %.1f s since the device was chosen)", (System.nanoTime() - t0) / 1e9) : "");
                }
            }
            double med = BenchCommand.median(secs);
            long peak = Report.peakRssBytes(); // before the ceiling's matrices
            String cpu = Machine.cpu();
            double ceiling = ceilingSize > 0 && onDevice == null ? Machine.sgemmGflops(ceilingSize) : Double.NaN;
            double peerCeiling = ceilingSize > 0 && onDevice == null && peerPython != null && !peerPython.isBlank()
                    ? Machine.peerSgemmGflops(peerPython, ceilingSize, Threads.threads()) : Double.NaN;
            double gflops = flops / med / 1e9;
            long adapterBytes = adapterBytes(peft);
            long deviceBytes = onDevice == null ? 0 : onDevice.deviceMemoryBytes();
            if (json) {
                Report report = new Report().put("bench", "train").put("method", method).put("shape", shape).put("base_dtype", w.storedTypes().toString()).put("base_bytes", w.bytes()).put("batch", batch).put("seq", seq)
                        .put("device", onDevice == null ? "cpu" : onDevice.device()).put("threads", Threads.threads())
                        .put("trainable_params", trainable).put("step_s", med).put("tokens_per_s", n / med)
                        .put("gflops_per_s", flops / med / 1e9).put("steps", secs).put("loss", loss)
                        .put("adapter_bytes", adapterBytes).put("peak_rss_bytes", peak).put("cpu", cpu);
                if (!Double.isNaN(ceiling)) report.put("sgemm_size", ceilingSize).put("sgemm_gflops_per_s", ceiling).put("ceiling_fraction", gflops / ceiling);
                if (!Double.isNaN(peerCeiling)) report.put("peer_sgemm_gflops_per_s", peerCeiling).put("peer_ceiling_fraction", gflops / peerCeiling);
                if (trainer != null) report.put("activation_bytes", trainer.activationBytes());
                if (onDevice != null) report.put("device_memory_bytes", deviceBytes);
                report.printJson(out);
            } else {
                out.printf("median: %.3f s a step, %.0f tokens/s, %.1f GFLOP/s; peak memory %s (%s); adapter on disk %s%n",
                        med, n / med, flops / med / 1e9, Report.mib(peak),
                        trainer != null ? "activations " + Report.mib(trainer.activationBytes()) : "device " + Report.mib(deviceBytes),
                        adapterBytes < 0 ? "n/a (full model)" : String.format("%.1f KB", adapterBytes / 1000.0));
                out.printf("cpu: %s%n", cpu);
                if (!Double.isNaN(ceiling)) {
                    out.printf("sgemm %d^3 ceiling: %.1f GFLOP/s through peft4j's kernel%s; this step: %.1f GFLOP/s = %.0f%% of it%s%n",
                            ceilingSize, ceiling, Double.isNaN(peerCeiling) ? "" : String.format(", %.1f through torch.mm", peerCeiling),
                            gflops, 100 * gflops / ceiling, Double.isNaN(peerCeiling) ? "" : String.format(" (%.0f%% of torch.mm's)", 100 * gflops / peerCeiling));
                }
            }
            return 0;
        } finally {
            if (onDevice != null) onDevice.close();
        }
    }

    private static long adapterBytes(PeftModel peft) {
        if (peft.adapters().values().stream().anyMatch(i -> i.method().exclusive())) return -1;
        try {
            java.nio.file.Path dir = java.nio.file.Files.createTempDirectory("peft4j-bench-adapter");
            try {
                dev.peft4j.models.peft.AdapterFiles.saveAll(peft, dir, PeftMethods.discover(null), "bench");
                try (var files = java.nio.file.Files.walk(dir)) {
                    return files.filter(java.nio.file.Files::isRegularFile).mapToLong(f -> f.toFile().length()).sum();
                }
            } finally {
                try (var files = java.nio.file.Files.walk(dir)) {
                    for (var f : files.sorted(java.util.Comparator.reverseOrder()).toList()) java.nio.file.Files.deleteIfExists(f);
                }
            }
        } catch (java.io.IOException e) {
            return -1;
        }
    }

    private static <C extends PeftConfig> void installDefault(PeftModel peft, PeftMethod<C> m) {
        peft.install(m, m.defaultConfig());
    }

    /**
     * FLOPs of one training step: the matmuls' forward (2 per multiply-add), the input-gradient
     * pass (same again) and, when the base is trained, the weight-gradient pass (same again); plus
     * causal attention (QKᵀ and PV over half the square, three times).
     */
    static double trainFlops(LlamaConfig c, int batch, int seq, boolean weightGrads) {
        double n = (double) batch * seq;
        double perLayer = (double) c.dim() * c.dim() * 2 + 2.0 * c.dim() * c.kvDim() + 3.0 * c.dim() * c.hiddenDim();
        double linear = 2 * n * (c.nLayers() * perLayer + (double) c.vocabSize() * c.dim());
        double attention = c.nLayers() * 2.0 * 2 * batch * (seq * (seq + 1) / 2.0) * c.dim();
        return linear * (weightGrads ? 3 : 2) + attention * 3;
    }
}
