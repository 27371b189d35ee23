package dev.peft4j.cli;

import dev.peft4j.api.PeftConfig;
import dev.peft4j.api.PeftMethod;
import dev.peft4j.models.peft.PeftMethods;
import dev.peft4j.models.peft.PeftModel;
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
        description = "Training speed and memory: optimizer steps on random weights of the stories15M shape and random tokens.")
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
            description = "Where steps run: cpu; tornado[:N] (TornadoVM device N, --method lora only; needs the TornadoVM build and runtime); "
                    + "auto (tornado when available, else cpu) (default: ${DEFAULT-VALUE}).")
    String device;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        LlamaConfig c = BenchCommand.stories15M();
        if (seq > c.maxSeqLen()) c = c.withMaxSeqLen(seq);
        java.util.Optional<TornadoDevice> tornado = TornadoDevice.choose(device, json ? null : out);
        if (tornado.isPresent()) return onTornado(out, c, tornado.get());
        LlamaWeights w = LlamaWeights.random(c, 1, 0.02f);
        PeftModel peft = new PeftModel(w, 1);
        PeftMethods methods = PeftMethods.discover(null);
        for (String name : method.split("\\+")) installDefault(peft, methods.get(name.trim()));
        LlamaTrainer trainer = peft.trainer(batch, seq, recompute);
        AdamWOptimizer opt = new AdamWOptimizer(peft.trainableParameters(), 0.9f, 0.95f, 1e-8f, 0.1f, 1.0);
        long trainable = peft.trainableParameters().stream().mapToLong(p -> p.size()).sum();
        boolean baseTrains = !trainer.parameters().isEmpty();
        SplittableRandom r = new SplittableRandom(7);
        int n = batch * seq;
        int[] tokens = new int[n + 1];
        for (int i = 0; i < tokens.length; i++) tokens[i] = r.nextInt(c.vocabSize());
        Batch b = Batch.unmasked(batch, seq, java.util.Arrays.copyOf(tokens, n), java.util.Arrays.copyOfRange(tokens, 1, n + 1));
        double flops = trainFlops(c, batch, seq, baseTrains);
        if (!json) {
            out.printf("bench train: method %s, stories15M shape, batch %d x %d, %d threads, %,d trainable parameters%s%n",
                    method, batch, seq, Threads.threads(), trainable, recompute ? ", recompute" : "");
        }
        double[] secs = new double[steps];
        double loss = 0;
        for (int s = -warmup; s < steps; s++) {
            long t0 = System.nanoTime();
            loss = trainer.forwardBackward(b);
            opt.step(1e-4, 1);
            double sec = (System.nanoTime() - t0) / 1e9;
            if (s >= 0) secs[s] = sec;
            if (!json) {
                out.printf("  %s %d: %.3f s, %.0f tokens/s, %.1f GFLOP/s, loss %.4f%n", s < 0 ? "warm-up" : "step", s < 0 ? s + warmup + 1 : s + 1,
                        sec, n / sec, flops / sec / 1e9, loss);
            }
        }
        double med = BenchCommand.median(secs);
        long peak = Report.peakRssBytes();
        long adapterBytes = adapterBytes(peft);
        if (json) {
            new Report().put("bench", "train").put("method", method).put("batch", batch).put("seq", seq).put("threads", Threads.threads())
                    .put("trainable_params", trainable).put("step_s", med).put("tokens_per_s", n / med)
                    .put("gflops_per_s", flops / med / 1e9).put("steps", secs).put("loss", loss)
                    .put("activation_bytes", trainer.activationBytes()).put("adapter_bytes", adapterBytes).put("peak_rss_bytes", peak).printJson(out);
        } else {
            out.printf("median: %.3f s a step, %.0f tokens/s, %.1f GFLOP/s; peak memory %s (activations %s); adapter on disk %s%n",
                    med, n / med, flops / med / 1e9, Report.mib(peak), Report.mib(trainer.activationBytes()),
                    adapterBytes < 0 ? "n/a (full model)" : String.format("%.1f KB", adapterBytes / 1000.0));
        }
        return 0;
    }

    /**
     * LoRA steps (r 8, alpha 16 on q and v, as LoRA's default config) through the TornadoVM backend's
     * LoraStep on random weights of the same shape; AdamW at 1e-4 without weight decay.
     */
    private int onTornado(PrintWriter out, LlamaConfig c, TornadoDevice d) {
        if (!method.equals("lora")) {
            throw new dev.peft4j.api.UserException("--device " + device + " runs --method lora only (got '" + method + "')");
        }
        int rank = 8, n = batch * seq;
        int[] shape = {c.dim(), c.nLayers(), c.nHeads(), c.nKvHeads(), c.hiddenDim(), c.vocabSize(), batch, seq, rank};
        SplittableRandom r = new SplittableRandom(7);
        int[] tokens = new int[n], targets = new int[n];
        for (int i = 0; i < n; i++) {
            tokens[i] = r.nextInt(c.vocabSize());
            targets[i] = r.nextInt(c.vocabSize());
        }
        long trainable = (long) c.nLayers() * rank * (2L * c.dim() + c.dim() + c.kvDim());
        double flops = trainFlops(c, batch, seq, false);
        if (!json) {
            out.printf("bench train: method lora, stories15M shape, batch %d x %d, TornadoVM device %s, %,d trainable parameters%n",
                    batch, seq, d.describe(), trainable);
        }
        double[] secs = new double[steps];
        double loss = 0;
        long t0 = System.nanoTime();
        try (var step = d.openLora(shape, 2f * rank, 1e-4f, 1)) {
            double setup = (System.nanoTime() - t0) / 1e9;
            if (!json) out.printf("  setup (graphs built, weights on the device): %.1f s%n", setup);
            for (int s = -warmup; s < steps; s++) {
                long t1 = System.nanoTime();
                loss = step.applyAsDouble(tokens, targets);
                double sec = (System.nanoTime() - t1) / 1e9;
                if (s >= 0) secs[s] = sec;
                if (!json) {
                    out.printf("  %s %d: %.3f s, %.0f tokens/s, %.1f GFLOP/s, loss %.4f%n", s < 0 ? "warm-up" : "step",
                            s < 0 ? s + warmup + 1 : s + 1, sec, n / sec, flops / sec / 1e9, loss);
                }
            }
        } catch (RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
        double med = BenchCommand.median(secs);
        if (json) {
            new Report().put("bench", "train").put("method", method).put("device", d.describe()).put("batch", batch).put("seq", seq)
                    .put("trainable_params", trainable).put("step_s", med).put("tokens_per_s", n / med)
                    .put("gflops_per_s", flops / med / 1e9).put("steps", secs).put("loss", loss)
                    .put("peak_rss_bytes", Report.peakRssBytes()).printJson(out);
        } else {
            out.printf("median: %.3f s a step, %.0f tokens/s, %.1f GFLOP/s; peak memory %s%n", med, n / med, flops / med / 1e9,
                    Report.mib(Report.peakRssBytes()));
        }
        return 0;
    }

    /** Bytes of the saved adapter files (HF PEFT layout), or -1 for full fine-tuning. */
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
