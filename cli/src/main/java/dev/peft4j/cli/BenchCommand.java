package dev.peft4j.cli;

import dev.peft4j.kernels.Threads;
import dev.peft4j.models.LlamaConfig;
import dev.peft4j.models.LlamaModel;
import dev.peft4j.models.LlamaWeights;
import dev.peft4j.models.generate.Generator;
import dev.peft4j.models.generate.Sampling;
import dev.peft4j.models.io.Checkpoints;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "bench", mixinStandardHelpOptions = true, description = "Benchmarks (medians of several runs).",
        subcommands = {BenchCommand.Generate.class, BenchTrain.class})
final class BenchCommand implements Runnable {
    @Spec CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    /** The llama2.c stories15M shape: dim 288, 6 layers, 6 heads, hidden 768, vocab 32000, context 256, tied. */
    static LlamaConfig stories15M() {
        return LlamaConfig.of(288, 768, 6, 6, 6, 32000, 256, true);
    }

    static final String SHAPES = "stories15M|tinyllama|llama2-7b";
    static final String SHAPE_HELP = "Model shape: stories15M (dim 288, 6 layers, 6 heads, vocab 32000, tied), tinyllama (TinyLlama-1.1B: dim 2048, "
            + "22 layers, 32 heads, 4 kv heads, hidden 5632, vocab 32000) or llama2-7b (dim 4096, 32 layers, 32 heads, hidden 11008, vocab 32000)";
    static final String BASE_DTYPE_HELP = "The random base's weights: f32, bf16, f16, q8_0 or q4_0, generated straight in that type (default: ${DEFAULT-VALUE}).";

    /** A benchmark shape by name. */
    static LlamaConfig shape(String name) {
        return switch (name.toLowerCase(java.util.Locale.ROOT)) {
            case "stories15m" -> stories15M();
            case "tinyllama" -> LlamaConfig.of(2048, 5632, 22, 32, 4, 32000, 2048, false);
            case "llama2-7b" -> LlamaConfig.of(4096, 11008, 32, 32, 32, 32000, 4096, false);
            default -> throw new dev.peft4j.api.UserException("--shape: unknown shape '" + name + "' (expected stories15M, tinyllama or llama2-7b)");
        };
    }

    /** Random weights of shape c in the type --base-dtype names (keep means f32 here). */
    static LlamaWeights randomWeights(LlamaConfig c, String baseDtype) {
        dev.peft4j.kernels.quant.GgmlType t = ModelOptions.baseType(baseDtype);
        return LlamaWeights.random(c, 1, 0.02f, t == null ? dev.peft4j.kernels.quant.GgmlType.F32 : t);
    }

    static double median(double[] xs) {
        double[] s = xs.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    @Command(name = "generate", mixinStandardHelpOptions = true,
            description = "Batch-1 greedy decoding speed, on a model or on random weights of a model shape.")
    static final class Generate implements Callable<Integer> {
        @Spec CommandSpec spec;

        @Option(names = "--model", paramLabel = "PATH", description = "A checkpoint (default: random weights, stories15M shape).")
        Path model;

        @Option(names = "--shape", defaultValue = "stories15M", paramLabel = SHAPES, description = SHAPE_HELP + " (default: ${DEFAULT-VALUE}).")
        String shape;

        @Option(names = "--base-dtype", defaultValue = "f32", paramLabel = "keep|f32|bf16|f16|q8_0|q4_0",
                description = "The base's weights: random ones generated in this type, or --model's converted to it (keep: as stored) (default: ${DEFAULT-VALUE}).")
        String baseDtype;

        @Option(names = "--tokens", defaultValue = "255", description = "Tokens to decode per run, after a BOS (default: ${DEFAULT-VALUE}).")
        int tokens;

        @Option(names = "--runs", defaultValue = "5", description = "Measured runs (default: ${DEFAULT-VALUE}).")
        int runs;

        @Option(names = "--warmup", defaultValue = "2", description = "Unmeasured runs first (default: ${DEFAULT-VALUE}).")
        int warmup;

        @Option(names = "--json", description = "Print one JSON object with the results as the last line.")
        boolean json;

        @Override
        public Integer call() {
            PrintWriter out = spec.commandLine().getOut();
            LlamaWeights w;
            if (model == null) {
                LlamaConfig c = shape(shape);
                w = randomWeights(c.withMaxSeqLen(Math.min(c.maxSeqLen(), tokens + 1)), baseDtype); // a KV cache for the decoded tokens only
            } else {
                w = Checkpoints.load(model);
                dev.peft4j.kernels.quant.GgmlType t = ModelOptions.baseType(baseDtype);
                if (t != null) w.convertBase(t);
            }
            LlamaModel m = new LlamaModel(w);
            int n = Math.min(tokens, w.config.maxSeqLen() - 1);
            Generator g = new Generator(m);
            double[] tps = new double[runs];
            if (!json) {
                out.printf("bench generate: %s, %d threads, %d tokens per run, %d warm-up + %d runs%n",
                        (model == null ? "random weights, " + shape + " shape" : model) + ", base " + w.storedTypes() + " (" + Report.mib(w.bytes()) + ")",
                        Threads.threads(), n, warmup, runs);
            }
            for (int r = -warmup; r < runs; r++) {
                long t0 = System.nanoTime();
                // Greedy, no EOS: always n tokens, the first from the one-token prefill.
                Generator.Result res = g.generate(new int[]{1}, n, Sampling.greedy(), -1, null);
                double s = (System.nanoTime() - t0) / 1e9;
                double rate = res.generatedIds().length / s;
                if (r >= 0) tps[r] = rate;
                if (!json) out.printf("  %s %d: %.1f tokens/s (%.3f s)%n", r < 0 ? "warm-up" : "run", r < 0 ? r + warmup + 1 : r + 1, rate, s);
            }
            double med = median(tps);
            long peak = Report.peakRssBytes();
            if (json) {
                new Report().put("bench", "generate").put("model", model == null ? "random-" + shape : model.toString())
                        .put("base_dtype", w.storedTypes().toString()).put("base_bytes", w.bytes())
                        .put("threads", Threads.threads()).put("tokens", n).put("runs", tps).put("tokens_per_s", med)
                        .put("peak_rss_bytes", peak).put("cpu", Machine.cpu()).printJson(out);
            } else {
                out.printf("median: %.1f tokens/s, peak memory %s%ncpu: %s%n", med, Report.mib(peak), Machine.cpu());
            }
            return 0;
        }
    }
}
