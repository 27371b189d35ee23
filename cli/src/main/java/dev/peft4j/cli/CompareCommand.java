package dev.peft4j.cli;

import dev.peft4j.api.UserException;
import dev.peft4j.models.LlamaConfig;
import dev.peft4j.models.io.Checkpoints;
import dev.peft4j.models.peft.PeftMethods;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Methods side by side on the same model, data and seed, as in Raschka's "Parameter-Efficient LLM
 * Finetuning With Low-Rank Adaptation" (lit-llama): each method (and {@code base}, the model untouched) runs
 * in a process of its own ({@link CompareWorker}), so that its peak memory is its own and a crash or an
 * out-of-memory stays its own row; then one table (trainable parameters, adapter size, peak memory, time
 * per step, tokens/s, losses, exact match, inference speed), the answers to held-out prompts, and
 * report.md, results.json and charts in {@code --out}.
 */
@Command(name = "compare", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Fine-tune several methods on the same model, data and seed and compare them side by side: a table, report.md, results.json and charts.",
                "With no --model and --data: the demo's base model (pre-trained on first use) and instruction dataset; about 5 minutes on 2 idle cores "
                        + "(estimated; 11 minutes measured from a cold start under a load average of 10-15), see the README's \"Comparing methods\"."})
final class CompareCommand implements Callable<Integer> {
    static final String BASE = "base";

    /**
     * A method's default learning rate and steps. The literature's rates for 7B models are LoRA 3e-4 (lit-llama
     * lora.py, Hu et al.), LLaMA-Adapter 9e-3 (lit-llama adapter.py, Zhang et al.: some 30x LoRA's), prefix tuning
     * 1e-2 (Hugging Face PEFT's prefix-tuning examples) and full fine-tuning 3e-5 (lit-llama full.py). On the
     * demo's 0.8M-parameter model and a budget of a few hundred steps each rate is about ten times higher, in the
     * same order (full lowest, then LoRA, then LLaMA-Adapter and prefix tuning, some 50x LoRA's), found by sweeps
     * on the default data (README, "Comparing methods"): LoRA at 5e-3 or 1e-2 collapses, at 2e-3 x 400 steps it
     * answers 82% of the held-out prompts exactly; prefix tuning and LLaMA-Adapter learn fastest at 1e-1 to 3e-1.
     */
    record Plan(String method, double lr, int steps) {}

    static final Map<String, Double> DEFAULT_LR = Map.of("full", 1e-3, "lora", 2e-3, "llama-adapter", 1e-1, "prefix", 1e-1);
    static final Map<String, Integer> DEFAULT_STEPS = Map.of("full", 200, "lora", 400, "llama-adapter", 300, "prefix", 300);
    static final double OTHER_LR = 3e-3;
    static final int OTHER_STEPS = 200;

    @Spec CommandSpec spec;

    @Option(names = "--model", paramLabel = "PATH", description = "Base model: GGUF, llama2.c .bin or Hugging Face directory (default: the demo's pre-trained model).") Path model;
    @Option(names = "--tokenizer", paramLabel = "PATH", description = "Tokenizer (default: inside or beside the model).") Path tokenizer;
    @Option(names = "--data", paramLabel = "FILE", description = "Instruction dataset, Alpaca .json or Dolly .jsonl (default: the demo's generated instructions).") Path data;
    @Option(names = "--methods", split = ",", paramLabel = "M", defaultValue = "base,lora,llama-adapter,prefix,full",
            description = {"Rows to compare, in order: base (the model untouched), full, lora, llama-adapter, prefix, or compositions such as "
                    + "lora+prefix (default: ${DEFAULT-VALUE})."}) List<String> methods;
    @Option(names = "--lr", paramLabel = "LR|M=LR[,M=LR...]",
            description = {"Peak learning rate: one for every method, or per method, e.g. lora=3e-4,llama-adapter=9e-3. Defaults: full 1e-3, lora 2e-3, "
                    + "llama-adapter 1e-1, prefix 1e-1; a composition takes the lowest of its parts'."}) String lr;
    @Option(names = "--steps", paramLabel = "N|M=N[,M=N...]",
            description = {"Optimizer steps: one count for every method, or per method, e.g. lora=300,prefix=500. Defaults: full 200, lora 400, "
                    + "llama-adapter 300, prefix 300; a composition takes the most of its parts'."}) String steps;
    @Option(names = "--micro-batch-size", defaultValue = "8", paramLabel = "N",
            description = "Sequences per forward/backward pass (default: ${DEFAULT-VALUE}).") int micro;
    @Option(names = "--batch-size", defaultValue = "8", paramLabel = "N",
            description = "Sequences per optimizer step, a multiple of --micro-batch-size (by gradient accumulation; default: ${DEFAULT-VALUE}).") int batch;
    @Option(names = "--val-size", defaultValue = "60", paramLabel = "N",
            description = "Examples held out (a deterministic split) for validation loss, exact match and the answers shown (default: ${DEFAULT-VALUE}).") int valSize;
    @Option(names = "--samples", defaultValue = "3", paramLabel = "N",
            description = "Held-out prompts whose answers are shown for each method (default: ${DEFAULT-VALUE}).") int samples;
    @Option(names = "--exact-match", defaultValue = "auto", paramLabel = "auto|yes|no",
            description = "Score greedy answers to every held-out prompt against the expected response; auto: when every response is at most 32 tokens (default: ${DEFAULT-VALUE}).") String exactMatch;
    @Option(names = "--seed", defaultValue = "42", paramLabel = "N",
            description = "Seed of the split, initialisation and data order; the same seed gives the same table, timings aside (default: ${DEFAULT-VALUE}).") long seed;
    @Option(names = "--lora-r", defaultValue = "16", paramLabel = "R", description = "LoRA rank, on every linear layer (default: ${DEFAULT-VALUE}).") int loraR;
    @Option(names = "--lora-alpha", defaultValue = "32", paramLabel = "A", description = "LoRA alpha (default: ${DEFAULT-VALUE}).") double loraAlpha;
    @Option(names = "--adapter-len", defaultValue = "10", paramLabel = "N", description = "LLaMA-Adapter prompt vectors per layer (default: ${DEFAULT-VALUE}).") int adapterLen;
    @Option(names = "--adapter-start-layer", paramLabel = "L",
            description = "LLaMA-Adapter's first adapted layer (default: 0 up to 8 layers, else the last 3/4 of them).") Integer adapterStartLayer;
    @Option(names = "--prefix-tokens", defaultValue = "30", paramLabel = "N", description = "Prefix tuning's virtual tokens (default: ${DEFAULT-VALUE}).") int prefixTokens;
    @Option(names = "--prefix-projection", paramLabel = "HIDDEN",
            description = "Prefix tuning through an MLP of this width (Li and Liang's reparameterisation; default: none, the prefix itself is trained).") Integer prefixProjection;
    @Option(names = "--heap", defaultValue = "2g", paramLabel = "SIZE",
            description = "Java heap limit of each method's process, as -Xmx takes it; a method that needs more gets a row saying so (default: ${DEFAULT-VALUE}).") String heap;
    @Option(names = "--out", defaultValue = "out/compare", paramLabel = "DIR",
            description = "Where report.md, results.json, the charts and each method's adapter and logs go (default: ${DEFAULT-VALUE}).") Path out;
    @Option(names = "--json", description = "Print one JSON object with the results (results.json's) as the last line; no progress.") boolean json;
    @Option(names = "--device", defaultValue = "cpu", paramLabel = "auto|cpu|tornado[:N]",
            description = "Where each method trains (finetune --device): auto puts each on TornadoVM device 0 when it has a device form "
                    + "and the runtime is there, else on the CPU (default: ${DEFAULT-VALUE}).") String device;

    private volatile boolean interrupted;
    private volatile Process current;

    @Override
    public Integer call() throws IOException, InterruptedException {
        System.setProperty("java.awt.headless", "true");
        PrintWriter w = spec.commandLine().getOut();
        long t0 = System.nanoTime();
        String loadBefore = loadAverage();
        List<Plan> plans = plans(methods, lr, steps, PeftMethods.discover(null)::get);
        if (micro <= 0) throw new UserException("--micro-batch-size must be positive, got " + micro);
        if (batch < micro || batch % micro != 0) throw new UserException("--batch-size " + batch + " must be a multiple of --micro-batch-size " + micro);
        if (valSize <= 0) throw new UserException("--val-size must be positive (compare scores held-out examples), got " + valSize);
        if (samples < 0) throw new UserException("--samples must be >= 0, got " + samples);
        if (!List.of("auto", "yes", "no").contains(exactMatch)) throw new UserException("--exact-match must be auto, yes or no, got '" + exactMatch + "'");
        if (!heap.matches("\\d+[kKmMgG]?")) throw new UserException("--heap: '" + heap + "' is not a size such as 512m or 2g");
        if (model == null || data == null) {
            Demo demo = new Demo(w, json);
            if (model == null) model = demo.baseModel();
            if (data == null) data = demo.instructionsFile();
        }
        if (!Files.exists(model)) throw new UserException("--model: " + model + " does not exist");
        if (!Files.exists(data)) throw new UserException("--data: " + data + " does not exist");
        LlamaConfig config = Checkpoints.readConfig(model);
        int startLayer = adapterStartLayer != null ? adapterStartLayer : config.nLayers() <= 8 ? 0 : config.nLayers() / 4;
        Files.createDirectories(out);
        CompareReport.warmUp();

        List<CompareResult.Row> rows = new ArrayList<>();
        CountDownLatch reported = new CountDownLatch(1);
        Thread hook = new Thread(() -> {
            interrupted = true;
            Process p = current;
            if (p != null) p.destroy();
            try {
                reported.await(60, TimeUnit.SECONDS); // let the main thread write the report of the finished methods
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "peft4j-compare-ctrl-c");
        Runtime.getRuntime().addShutdownHook(hook);
        List<String> notRun = new ArrayList<>();
        try {
            Eta eta = new Eta(plans);
            for (int i = 0; i < plans.size(); i++) {
                Plan plan = plans.get(i);
                if (interrupted) {
                    notRun.add(plan.method());
                    continue;
                }
                CompareResult.Row row = runWorker(w, plan, i, plans.size(), startLayer, eta);
                if (interrupted) {
                    notRun.add(plan.method());
                    continue;
                }
                rows.add(row);
                eta.finished(plan, row);
            }
            CompareReport.Setup setup = new CompareReport.Setup(model.toString(), data.toString(), seed, valSize, micro, batch, Machine.cpu(), loadBefore,
                    loadAverage(), (System.nanoTime() - t0) / 1e9, interrupted, notRun);
            CompareReport.write(out, setup, rows);
            if (json) {
                w.println(CompareResult.JSON.writeValueAsString(CompareReport.results(setup, rows)));
            } else {
                if (interrupted) w.printf("%ninterrupted: the methods that finished (not finished: %s)%n", String.join(", ", notRun));
                CompareReport.print(w, rows);
                w.printf("%nreport: %s (results.json and charts beside it); %.0f s; CPU %s; load average before %s, after %s%n",
                        out.resolve("report.md"), setup.wallSeconds(), setup.cpu(), loadBefore, setup.loadAfter());
            }
            w.flush();
        } finally {
            reported.countDown();
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException shuttingDown) {
                // Ctrl-C: the hook is running and waited for the report
            }
        }
        return interrupted ? 130 : 0;
    }

    // ---------------------------------------------------------------------------------------
    // per-method learning rates and steps
    // ---------------------------------------------------------------------------------------

    /**
     * Each compared method with its learning rate and steps: the defaults, then {@code --lr}/{@code --steps} (one value for
     * all, or method=value pairs). A method name that the registry does not know, a pair for a method that is not compared,
     * or a bad value is a UserException naming the flag.
     */
    static List<Plan> plans(List<String> methods, String lrFlag, String stepsFlag, Function<String, ?> registry) {
        if (methods == null || methods.isEmpty()) throw new UserException("--methods: name at least one method");
        List<String> names = new ArrayList<>();
        for (String m : methods) {
            String name = m.trim();
            if (name.isEmpty()) throw new UserException("--methods: an empty method name in " + String.join(",", methods));
            if (names.contains(name)) throw new UserException("--methods: " + name + " is listed twice");
            if (!name.equals(BASE)) {
                for (String part : name.split("\\+")) {
                    if (part.trim().equals(BASE)) throw new UserException("--methods: base (the model untouched) cannot be part of a composition: " + name);
                    try {
                        registry.apply(part.trim());
                    } catch (UserException e) {
                        throw new UserException("--methods: " + e.getMessage(), e);
                    }
                }
            }
            names.add(name);
        }
        Map<String, Double> lrs = perMethod("--lr", lrFlag, names, v -> {
            double x = Double.parseDouble(v);
            if (!(x > 0) || Double.isInfinite(x)) throw new NumberFormatException("must be a positive number");
            return x;
        });
        Map<String, Integer> stepCounts = perMethod("--steps", stepsFlag, names, v -> {
            int x = Integer.parseInt(v);
            if (x <= 0) throw new NumberFormatException("must be a positive whole number");
            return x;
        });
        List<Plan> plans = new ArrayList<>();
        for (String n : names) {
            if (n.equals(BASE)) {
                plans.add(new Plan(n, 0, 0));
                continue;
            }
            plans.add(new Plan(n, lrs.getOrDefault(n, defaultLr(n)), stepCounts.getOrDefault(n, defaultSteps(n))));
        }
        return plans;
    }

    /** A composition's default rate is the lowest of its parts' (the fastest-moving part sets the pace). */
    static double defaultLr(String method) {
        double lr = Double.POSITIVE_INFINITY;
        for (String part : method.split("\\+")) lr = Math.min(lr, DEFAULT_LR.getOrDefault(part.trim(), OTHER_LR));
        return lr;
    }

    static int defaultSteps(String method) {
        int s = 0;
        for (String part : method.split("\\+")) s = Math.max(s, DEFAULT_STEPS.getOrDefault(part.trim(), OTHER_STEPS));
        return s;
    }

    /** "v" (every trained method) or "m=v,m=v" (those methods), parsed; errors name the flag. */
    static <T> Map<String, T> perMethod(String flag, String value, List<String> methods, Function<String, T> parse) {
        Map<String, T> out = new LinkedHashMap<>();
        if (value == null) return out;
        List<String> trained = methods.stream().filter(m -> !m.equals(BASE)).toList();
        if (value.isBlank()) throw new UserException(flag + ": empty; give a value for all methods, or method=value pairs");
        if (!value.contains("=")) {
            T v = parseValue(flag, value.trim(), null, parse);
            for (String m : trained) out.put(m, v);
            return out;
        }
        for (String pair : value.split(",")) {
            int eq = pair.indexOf('=');
            if (eq < 0) throw new UserException(flag + ": '" + pair.trim() + "' is not method=value (in " + value + ")");
            String m = pair.substring(0, eq).trim(), v = pair.substring(eq + 1).trim();
            if (m.equals(BASE)) throw new UserException(flag + ": base is the model untouched; it does not train");
            if (!trained.contains(m)) {
                throw new UserException(flag + ": '" + m + "' is not one of the compared methods (" + String.join(", ", trained)
                        + "; --methods chooses them)");
            }
            if (out.containsKey(m)) throw new UserException(flag + ": " + m + " is given twice");
            out.put(m, parseValue(flag, v, m, parse));
        }
        return out;
    }

    private static <T> T parseValue(String flag, String v, String method, Function<String, T> parse) {
        try {
            return parse.apply(v);
        } catch (NumberFormatException e) {
            String why = e.getMessage() != null && e.getMessage().startsWith("must") ? e.getMessage() : "is not a number";
            throw new UserException(flag + ": '" + v + "'" + (method == null ? "" : " for " + method) + " " + why);
        }
    }

    // ---------------------------------------------------------------------------------------
    // workers
    // ---------------------------------------------------------------------------------------

    /** Runs one method's worker and returns its row: the worker's, or one saying why it failed. */
    private CompareResult.Row runWorker(PrintWriter w, Plan plan, int index, int count, int startLayer, Eta eta) throws IOException, InterruptedException {
        Path dir = out.resolve(plan.method().replace('+', '_'));
        CompareWorker.deleteTree(dir);
        Files.createDirectories(dir);
        Path result = dir.resolve("result.json"), specFile = dir.resolve("spec.json"), log = dir.resolve("worker.log");
        CompareWorker.Spec s = new CompareWorker.Spec(plan.method(), model.toString(), tokenizer == null ? null : tokenizer.toString(), data.toString(),
                valSize, seed, plan.steps(), plan.lr(), micro, batch, 5, samples, exactMatch, device, loraR, loraAlpha, startLayer, adapterLen, prefixTokens, prefixProjection,
                dir.toString(), result.toString());
        CompareWorker.JSON.writerWithDefaultPrettyPrinter().writeValue(specFile.toFile(), s);
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        if (device.equals("cpu")) {
            cmd.addAll(List.of("--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-XX:+UseParallelGC", "-XX:MaxNewSize=64m"));
            String threads = System.getProperty("peft4j.threads");
            if (threads != null) cmd.add("-Dpeft4j.threads=" + threads);
        } else {
            // this JVM's own flags: TornadoVM's, when it was started with them
            cmd.addAll(java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments().stream().filter(a -> !a.startsWith("-Xmx")).toList());
        }
        cmd.addAll(List.of("-Xmx" + heap, "-Djava.awt.headless=true"));
        String modulePath = System.getProperty("jdk.module.path"), classPath = System.getProperty("java.class.path", "");
        if (modulePath != null && !modulePath.isEmpty() && CompareWorker.class.getModule().isNamed()) { // started with -p ... -m dev.peft4j.cli/...
            cmd.addAll(List.of("-p", modulePath, "-m", CompareWorker.class.getModule().getName() + "/" + CompareWorker.class.getName(), specFile.toString()));
        } else {
            cmd.addAll(List.of("-cp", classPath, CompareWorker.class.getName(), specFile.toString()));
        }
        String label = String.format("[%d/%d %s]", index + 1, count, plan.method());
        if (!json) {
            w.printf("%s %s%n", label, plan.method().equals(BASE) ? "the base model, untouched"
                    : String.format("training %d steps at lr %.0e", plan.steps(), plan.lr()));
            w.flush();
        }
        long start = System.nanoTime();
        Process p = new ProcessBuilder(cmd).redirectError(log.toFile()).start();
        current = p;
        if (interrupted) p.destroy();
        boolean terminal = System.console() != null && System.console().isTerminal();
        int every = Math.max(1, plan.steps() / 10); // without a terminal: a line every 10% of the steps, or every 5 s
        long lastPrint = System.nanoTime();
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            for (String line; (line = r.readLine()) != null; ) {
                if (json) continue;
                if (line.startsWith("progress ")) {
                    String[] f = line.split(" ");
                    int step = Integer.parseInt(f[1]), total = Integer.parseInt(f[2]);
                    double loss = Double.parseDouble(f[3]), left = Double.parseDouble(f[4]);
                    double elapsed = (System.nanoTime() - start) / 1e9;
                    eta.progress(plan, step, elapsed);
                    String msg = String.format("%s step %d/%d  loss %.4f  ETA %s; all %s", label, step, total, loss, Progress.duration(left),
                            Progress.duration(eta.remaining(index, step, left)));
                    if (terminal) {
                        w.print("\r" + msg + "    ");
                        if (step == total) w.println();
                    } else if (step % every == 0 || step == total || System.nanoTime() - lastPrint > 5_000_000_000L) {
                        w.println(msg);
                        lastPrint = System.nanoTime();
                    }
                    w.flush();
                } else if (line.startsWith("phase ") && !line.equals("phase training")) {
                    if (terminal) w.print("\r");
                    w.printf("%s %s; all %s%n", label, line.substring(6), Progress.duration(eta.remaining(index, plan.steps(), 0)));
                    w.flush();
                }
            }
        } catch (IOException e) {
            // Ctrl-C: destroying the worker closes its stream under the reader
            if (!interrupted) throw e;
        }
        int code = p.waitFor();
        current = null;
        double seconds = (System.nanoTime() - start) / 1e9;
        if (code == 0 && Files.exists(result)) {
            CompareResult.Row row = CompareResult.JSON.readValue(result.toFile(), CompareResult.Row.class);
            if (!json && !row.ok()) w.printf("%s %s%n", label, row.error());
            return row;
        }
        String why = failure(code, log);
        if (!json && !interrupted) w.printf("%s failed: %s (log: %s)%n", label, why, log);
        return CompareResult.Row.failed(plan.method(), "failed", why, plan.method().equals(BASE) ? null : plan.lr(), plan.steps(),
                new CompareResult.Measured(-1, null, null, null, null, seconds));
    }

    /** Why a worker ended without a row: the error it printed, out of memory, or how it died. */
    static String failure(int code, Path log) throws IOException {
        List<String> err = Files.exists(log) ? Files.readAllLines(log) : List.of();
        for (String l : err) if (l.startsWith("peft4j: out of memory")) return l.substring("peft4j: ".length());
        for (String l : err) if (l.contains("java.lang.OutOfMemoryError")) return "out of memory: " + l.trim();
        for (String l : err) if (l.startsWith("peft4j: error: ")) return l.substring("peft4j: error: ".length());
        for (String l : err) if (l.startsWith("peft4j: internal error: ")) return "crashed: " + l.substring("peft4j: internal error: ".length());
        if (code > 128) return "the process was killed (signal " + (code - 128) + ")";
        String last = err.isEmpty() ? "no output" : err.get(err.size() - 1).trim();
        return "the process exited with status " + code + ": " + last;
    }

    /** The 1, 5 and 15 minute load averages, e.g. "1.35 0.62 0.24", or "unknown" off Linux. */
    static String loadAverage() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+");
            return f[0] + " " + f[1] + " " + f[2];
        } catch (IOException | RuntimeException e) {
            return "unknown";
        }
    }

    /**
     * The overall ETA: the current method's own ETA, then for each method to come its steps at the mean seconds per
     * step measured so far (full fine-tuning counted at twice that) and the mean time a method spent outside training.
     */
    static final class Eta {
        private final List<Plan> plans;
        private double stepSeconds = Double.NaN, overhead = 10;
        private int finished;
        private double sumStepSeconds, sumOverhead;
        private long sumSteps;

        Eta(List<Plan> plans) {
            this.plans = plans;
        }

        void progress(Plan plan, int step, double elapsed) {
            if (finished == 0 && step > 0) stepSeconds = elapsed / step / weight(plan);
        }

        void finished(Plan plan, CompareResult.Row row) {
            CompareResult.Measured m = row.measured();
            if (m == null) return;
            double train = m.stepS() == null ? 0 : m.stepS() * row.stepsDone();
            if (row.stepsDone() > 0) {
                sumStepSeconds += train / weight(plan);
                sumSteps += row.stepsDone();
                stepSeconds = sumStepSeconds / sumSteps;
            }
            finished++;
            sumOverhead += Math.max(0, m.seconds() - train);
            overhead = sumOverhead / finished;
        }

        private static double weight(Plan p) {
            return p.method().contains("full") ? 2 : 1;
        }

        double remaining(int index, int step, double currentLeft) {
            double s = currentLeft + overhead;
            double perStep = Double.isNaN(stepSeconds) ? 0.2 : stepSeconds;
            for (int i = index + 1; i < plans.size(); i++) s += plans.get(i).steps() * perStep * weight(plans.get(i)) + overhead;
            return s;
        }
    }

    /** The instruction and input of an Alpaca prompt, on one line (the whole prompt if it is not one). */
    static String question(String prompt) {
        String instruction = section(prompt, "### Instruction:\n"), input = section(prompt, "### Input:\n");
        if (instruction == null) return oneLine(prompt.strip());
        return input == null ? instruction : instruction + " " + input;
    }

    private static String section(String prompt, String header) {
        int a = prompt.indexOf(header);
        if (a < 0) return null;
        a += header.length();
        int b = prompt.indexOf("\n\n", a);
        return oneLine(prompt.substring(a, b < 0 ? prompt.length() : b));
    }

    private static String oneLine(String s) {
        return s.replace("\n", "\\n");
    }
}
