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

    static double median(double[] xs) {
        double[] s = xs.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    @Command(name = "generate", mixinStandardHelpOptions = true,
            description = "Batch-1 greedy decoding speed, on a model or on random weights of the stories15M shape.")
    static final class Generate implements Callable<Integer> {
        @Spec CommandSpec spec;

        @Option(names = "--model", paramLabel = "PATH", description = "A checkpoint (default: random weights, stories15M shape).")
        Path model;

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
            LlamaWeights w = model == null ? LlamaWeights.random(stories15M(), 1, 0.02f) : Checkpoints.load(model);
            LlamaModel m = new LlamaModel(w);
            int n = Math.min(tokens, w.config.maxSeqLen() - 1);
            Generator g = new Generator(m);
            double[] tps = new double[runs];
            if (!json) {
                out.printf("bench generate: %s, %d threads, %d tokens per run, %d warm-up + %d runs%n",
                        model == null ? "random weights, stories15M shape" : model, Threads.threads(), n, warmup, runs);
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
                new Report().put("bench", "generate").put("model", model == null ? "random-stories15M" : model.toString())
                        .put("threads", Threads.threads()).put("tokens", n).put("runs", tps).put("tokens_per_s", med)
                        .put("peak_rss_bytes", peak).put("cpu", Machine.cpu()).printJson(out);
            } else {
                out.printf("median: %.1f tokens/s, peak memory %s%ncpu: %s%n", med, Report.mib(peak), Machine.cpu());
            }
            return 0;
        }
    }
}
