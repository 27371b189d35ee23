package dev.peft4j.spark;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.api.Parameter;
import dev.peft4j.api.io.DType;
import dev.peft4j.cli.Main;
import dev.peft4j.kernels.quant.GgmlType;
import dev.peft4j.models.LlamaConfig;
import dev.peft4j.models.LlamaWeights;
import dev.peft4j.models.io.CheckpointFormat;
import dev.peft4j.models.io.Checkpoints;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * The README's "Scaling out with Spark" figures (a benchmark, not a test): {@code finetune} on random weights of a
 * shape, as one process and as {@code --spark local[N]} with N = 2, 3, reading each step's compute and all-reduce time
 * from rank 0's metrics.jsonl; then the ring alone (threads over loopback) on the same gradient sizes; then the
 * projection for 16 machines.
 *
 * <pre>
 * java @cli/spark/jvm.args --add-modules jdk.incubator.vector -cp ... dev.peft4j.spark.ScalingBench DIR SHAPE METHOD STEPS MICRO SEQ ACCUM [N...]
 * </pre>
 */
public final class ScalingBench {
    public static void main(String[] a) throws Exception {
        Path dir = Path.of(a[0]);
        String shape = a[1], method = a[2];
        int steps = Integer.parseInt(a[3]), micro = Integer.parseInt(a[4]), seq = Integer.parseInt(a[5]), accum = Integer.parseInt(a[6]);
        List<Integer> ns = new ArrayList<>();
        for (int i = 7; i < a.length; i++) ns.add(Integer.parseInt(a[i]));
        LlamaConfig c = switch (shape) {
            case "stories15M" -> LlamaConfig.of(288, 768, 6, 6, 6, 32000, 256, true);
            case "tinyllama" -> LlamaConfig.of(2048, 5632, 22, 32, 4, 32000, 2048, false);
            default -> throw new IllegalArgumentException(shape);
        };
        // stories15M: Hugging Face safetensors in float32; TinyLlama: a BF16 GGUF (memory-mapped and kept in BF16, so
        // the tasks of one machine share its 2.2 GB instead of each holding 4.4 GB of float32)
        boolean tiny = shape.equals("tinyllama");
        Path modelDir = dir.resolve(shape), model = tiny ? modelDir.resolve("model.gguf") : modelDir;
        if (!Files.exists(tiny ? model : model.resolve("config.json"))) {
            Files.createDirectories(modelDir);
            GgmlType t = tiny ? GgmlType.BF16 : GgmlType.F32;
            Checkpoints.save(LlamaWeights.random(c, 1, 0.02f, t), model, tiny ? CheckpointFormat.GGUF : CheckpointFormat.HF, tiny ? DType.BF16 : DType.F32, 0);
            Files.copy(Path.of(System.getProperty("peft4j.shared", "/work/shared"), "data/llama2-tokenizer/tokenizer.model"), modelDir.resolve("tokenizer.model"),
                    java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
        Path data = dir.resolve("text.txt");
        if (!Files.exists(data)) {
            StringBuilder sb = new StringBuilder();
            String[] words = "the a small model learns to tell stories about cats dogs trees rivers ships stars and long quiet days".split(" ");
            java.util.SplittableRandom r = new java.util.SplittableRandom(3);
            for (int i = 0; i < 200_000; i++) sb.append(words[r.nextInt(words.length)]).append(i % 17 == 16 ? ".\n" : " ");
            Files.writeString(data, sb);
        }
        ObjectMapper json = new ObjectMapper();
        String cpu = cpu();
        System.out.printf(Locale.ROOT, "%s %s: micro-batch %d x %d, %d micro-batches a step, %d steps (first not counted); %s, %d cores%n",
                shape, method, micro, seq, accum, steps, cpu, Runtime.getRuntime().availableProcessors());
        long floats = -1;
        for (int n : ns) {
            Path out = dir.resolve("run-" + shape + "-" + method + "-" + n);
            deleteTree(out);
            List<String> args = new ArrayList<>(List.of("finetune", "--model", model.toString(), "--data", data.toString(), "--format", "text",
                    "--method", method, "--steps", String.valueOf(steps), "--micro-batch-size", String.valueOf(micro),
                    "--batch-size", String.valueOf(micro * accum), "--max-seq-length", String.valueOf(seq), "--eval-every", "0",
                    "--save-every", "0", "--val-fraction", "0.01", "--lr", "1e-4", "--out", out.toString(), "--json"));
            if (shape.equals("tinyllama")) args.addAll(List.of("--val-size", "0"));
            if (n > 1) args.addAll(List.of("--spark", "local[" + n + "]", "--workers", String.valueOf(n)));
            StringWriter o = new StringWriter(), e = new StringWriter();
            long t0 = System.nanoTime();
            int code = Main.run(args.toArray(String[]::new), new PrintWriter(o, true), new PrintWriter(e, true));
            double wall = (System.nanoTime() - t0) / 1e9;
            if (code != 0) throw new IllegalStateException("exit " + code + ": " + e + o);
            JsonNode report = json.readTree(o.toString().strip().substring(o.toString().strip().lastIndexOf('\n') + 1));
            floats = report.get("trainable_params").asLong();
            List<JsonNode> rows = new ArrayList<>();
            for (String line : Files.readAllLines(out.resolve("metrics.jsonl"))) {
                JsonNode j = json.readTree(line);
                if (j.get("type").asText().equals("train") && j.get("step").asInt() > 1) rows.add(j);
            }
            double step = median(rows, "step_s");
            String line;
            if (n == 1) {
                line = String.format(Locale.ROOT, "| %s | %s | 1 (one process) | %.3f | %.3f | — | 0 | %.0f |", shape, method, step, step,
                        (double) micro * seq * accum / step);
            } else {
                double compute = median(rows, "compute_s"), comm = median(rows, "allreduce_s");
                long bytes = RingAllReduce.bytesSentPerCall(floats, n, 0, 2);
                line = String.format(Locale.ROOT, "| %s | %s | %d (local[%d]) | %.3f | %.3f | %.4f | %,d | %.0f |", shape, method, n, n, step, compute, comm,
                        bytes, (double) micro * seq * accum / step);
            }
            System.out.println(line + String.format(Locale.ROOT, "   (wall %.1f s, peak RSS %.2f GB, trainable %,d)", wall,
                    report.get("peak_rss_bytes").asLong() / 1e9, floats));
        }
        // the ring alone, on this gradient size: threads over loopback, no compute between calls
        for (int n : new int[]{2, 3}) {
            double[] secs = ringAlone(n, floats, 5);
            System.out.printf(Locale.ROOT, "ring alone, %d ranks over loopback, %,d floats: median %.4f s a call, %,d bytes sent by each rank (%.2f GB/s)%n",
                    n, floats, secs[0], RingAllReduce.bytesSentPerCall(floats, n, 0, 2), RingAllReduce.bytesSentPerCall(floats, n, 0, 2) / secs[0] / 1e9);
        }
        // 16 machines: each computes one micro-batch share; the ring moves 2(N-1)/N of the gradient bytes per machine
        for (double gbit : new double[]{10, 100}) {
            long bytes = RingAllReduce.bytesSentPerCall(floats, 16, 0, 2);
            double comm = bytes * 8 / (gbit * 1e9);
            System.out.printf(Locale.ROOT, "projection, 16 machines at %.0f Gbit/s: %,d bytes a step each, %.4f s on the wire (+ 30 x latency)%n", gbit, bytes, comm);
        }
    }

    static double[] ringAlone(int n, long floats, int calls) throws Exception {
        List<Object> byRank = RingAllReduceTest.onRing(n, 60_000, ring -> {
            List<Parameter> ps = new ArrayList<>();
            for (long left = floats, i = 0; left > 0; i++) {
                int len = (int) Math.min(left, 1 << 26);
                ps.add(new Parameter("p" + i, new int[]{len}, new float[len]));
                left -= len;
            }
            double[] t = new double[calls];
            ring.allReduce(ps, new double[2]); // warm-up
            for (int k = 0; k < calls; k++) {
                long t0 = System.nanoTime();
                ring.allReduce(ps, new double[2]);
                t[k] = (System.nanoTime() - t0) / 1e9;
            }
            return t;
        });
        double[] t0 = (double[]) byRank.get(0);
        Arrays.sort(t0);
        return new double[]{t0[calls / 2]};
    }

    static double median(List<JsonNode> rows, String field) {
        double[] xs = rows.stream().mapToDouble(j -> j.get(field).asDouble()).sorted().toArray();
        if (xs.length == 0) return Double.NaN;
        return xs.length % 2 == 1 ? xs[xs.length / 2] : (xs[xs.length / 2 - 1] + xs[xs.length / 2]) / 2;
    }

    static String cpu() throws java.io.IOException {
        for (String l : Files.readAllLines(Path.of("/proc/cpuinfo"))) if (l.startsWith("model name")) return l.substring(l.indexOf(':') + 1).trim();
        return "?";
    }

    static void deleteTree(Path p) throws java.io.IOException {
        if (!Files.exists(p)) return;
        try (var s = Files.walk(p)) {
            for (Path x : s.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(x);
        }
    }
}
