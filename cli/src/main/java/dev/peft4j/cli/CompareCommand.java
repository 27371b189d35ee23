package dev.peft4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.api.UserException;
import dev.peft4j.models.LlamaWeights;
import dev.peft4j.models.data.PreparedDataset;
import dev.peft4j.models.generate.Generator;
import dev.peft4j.models.generate.Sampling;
import dev.peft4j.models.io.Checkpoints;
import dev.peft4j.models.peft.AdapterFiles;
import dev.peft4j.models.peft.PeftMethods;
import dev.peft4j.models.peft.PeftModel;
import dev.peft4j.models.tokenizer.Tokenizer;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Methods side by side on the same model and data, as in Raschka's "Parameter-Efficient LLM
 * Finetuning With Low-Rank Adaptation": each method is fine-tuned in a process of its own (so peak
 * memory is its own), then trainable parameters, adapter size, peak memory, time per step,
 * tokens/s, validation loss and greedy outputs on held-out prompts are printed in one table.
 */
@Command(name = "compare", mixinStandardHelpOptions = true,
        description = {"Fine-tune several methods on the same model and data and compare them side by side.",
                "With no --model and --data: the demo's base model and instruction dataset."})
final class CompareCommand implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Option(names = "--model", paramLabel = "PATH", description = "Base model (default: the demo's pre-trained model).") Path model;
    @Option(names = "--tokenizer", paramLabel = "PATH", description = "Tokenizer (default: beside the model).") Path tokenizer;
    @Option(names = "--data", paramLabel = "FILE", description = "Instruction dataset (default: the demo's).") Path data;
    @Option(names = "--methods", split = ",", defaultValue = "lora,prefix,llama-adapter,lora+prefix+llama-adapter,full",
            description = "Methods (or compositions with +) to compare (default: ${DEFAULT-VALUE}).") List<String> methods;
    @Option(names = "--steps", defaultValue = "150", description = "Optimizer steps per method (default: ${DEFAULT-VALUE}).") int steps;
    @Option(names = "--micro-batch-size", defaultValue = "8") int micro;
    @Option(names = "--batch-size", defaultValue = "8") int batch;
    @Option(names = "--lr", defaultValue = "3e-3", description = "Learning rate of the parameter-efficient methods (default: ${DEFAULT-VALUE}).") double lr;
    @Option(names = "--full-lr", defaultValue = "3e-4", description = "Learning rate of full fine-tuning (default: ${DEFAULT-VALUE}).") double fullLr;
    @Option(names = "--val-size", defaultValue = "60") int valSize;
    @Option(names = "--samples", defaultValue = "3", description = "Held-out prompts to answer with each method (default: ${DEFAULT-VALUE}).") int samples;
    @Option(names = "--seed", defaultValue = "42") long seed;
    @Option(names = "--out", defaultValue = "out/compare", paramLabel = "DIR") Path out;
    @Option(names = "--json", description = "Print one JSON object with the results as the last line.") boolean json;
    @Option(names = "--device", defaultValue = "cpu", paramLabel = "auto|cpu|tornado[:N]",
            description = "Where each method trains (finetune --device): auto puts each on TornadoVM device 0 when it has a device form "
                    + "and the runtime is there, else on the CPU (default: ${DEFAULT-VALUE}).") String device;

    private int layers;
    private PeftMethods registry;

    /** Whether the composition trains the whole model (an exclusive method: full fine-tuning), so has no adapter and takes --full-lr. */
    private boolean wholeModel(String composition) {
        for (String part : composition.split("\\+")) if (registry.get(part.trim()).exclusive()) return true;
        return false;
    }

    @Override
    public Integer call() throws IOException, InterruptedException {
        PrintWriter w = spec.commandLine().getOut();
        if (model == null || data == null) {
            Demo demo = new Demo(w, json);
            if (model == null) model = demo.baseModel();
            if (data == null) data = demo.instructionsFile();
        }
        ModelOptions mo = new ModelOptions();
        mo.model = model;
        mo.tokenizer = tokenizer;
        ModelOptions.Loaded base = mo.load();
        DataOptions dopt = new DataOptions();
        dopt.data = data.toString();
        dopt.valSize = valSize;
        dopt.maxSeqLength = base.weights().config.maxSeqLen() + 1;
        PreparedDataset d = dopt.load(base.tokenizer(), seed);
        layers = base.weights().config.nLayers();
        registry = PeftMethods.discover(null);
        for (String m : methods) for (String part : m.split("\\+")) registry.get(part.trim());
        Files.createDirectories(out);

        List<Map<String, Object>> rows = new ArrayList<>();
        for (String m : methods) {
            if (!json) w.printf("training %s ...%n", m);
            w.flush();
            Path dir = out.resolve(m.replace('+', '_'));
            deleteTree(dir);
            JsonNode r = finetuneInChildProcess(m, dir);
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("method", m);
            row.put("trainable_params", r.get("trainable_params").asLong());
            boolean full = wholeModel(m);
            row.put("adapter_bytes", full ? -1 : treeBytes(dir.resolve("adapter")));
            row.put("peak_rss_bytes", r.get("peak_rss_bytes").asLong());
            row.put("step_s", r.get("step_s").asDouble());
            row.put("tokens_per_s", r.get("tokens_per_s").asDouble());
            row.put("val_loss", r.path("val_loss").asDouble(Double.NaN));
            row.put("device", r.path("device").asText("cpu"));
            row.put("samples", answers(base, d, dir, full));
            rows.add(row);
        }
        if (json) {
            new Report().put("model", model.toString()).put("data", data.toString()).put("steps", steps).put("methods", rows).printJson(w);
        } else {
            print(w, rows);
        }
        return 0;
    }

    /** One method's finetune run in a JVM of its own, so its peak memory is its own; returns its --json result. */
    private JsonNode finetuneInChildProcess(String method, Path dir) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        if (device.equals("cpu")) {
            cmd.addAll(List.of("--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-XX:+UseParallelGC", "-XX:MaxNewSize=64m"));
        } else {
            // this JVM's own flags: TornadoVM's, when it was started with them
            cmd.addAll(java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments());
        }
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Main.class.getName(),
                "finetune", "--device", device, "--model", model.toString(), "--data", data.toString(), "--method", method, "--steps", String.valueOf(steps),
                "--micro-batch-size", String.valueOf(micro), "--batch-size", String.valueOf(batch),
                "--lr", String.valueOf(wholeModel(method) ? fullLr : lr), "--min-lr", "0", "--warmup-steps", String.valueOf(Math.max(1, steps / 10)),
                "--weight-decay", "0", "--val-size", String.valueOf(valSize), "--seed", String.valueOf(seed),
                "--eval-every", "0", "--save-every", "0", "--out", dir.toString(), "--json"));
        if (tokenizer != null) cmd.addAll(List.of("--tokenizer", tokenizer.toString()));
        if (method.contains("lora")) cmd.addAll(List.of("--lora-r", "16", "--lora-alpha", "32", "--lora-targets", "all-linear"));
        if (method.contains("llama-adapter")) cmd.addAll(List.of("--adapter-start-layer", String.valueOf(Math.max(0, Math.min(2, layers - 2)))));
        Files.createDirectories(dir);
        Path log = dir.resolve("stderr.log");
        Process p = new ProcessBuilder(cmd).redirectError(log.toFile()).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        int code = p.waitFor();
        String last = output.strip().isEmpty() ? "" : output.strip().substring(output.strip().lastIndexOf('\n') + 1);
        if (code != 0 || !last.startsWith("{")) {
            List<String> err = Files.readAllLines(log);
            String why = err.stream().filter(l -> l.startsWith("peft4j: error:")).findFirst().orElse(err.isEmpty() ? last : err.get(err.size() - 1));
            throw new UserException("compare: fine-tuning with " + method + " failed (exit " + code + "): " + why + " (log: " + log + ")");
        }
        return new ObjectMapper().readTree(last);
    }

    /** Greedy answers to the first held-out prompts, next to the expected responses. */
    private List<String> answers(ModelOptions.Loaded base, PreparedDataset d, Path dir, boolean full) {
        PeftModel peft;
        if (full) {
            peft = new PeftModel(Checkpoints.load(dir.resolve("model")), 0);
        } else {
            peft = new PeftModel(base.weights(), 0);
            AdapterFiles.load(peft, dir.resolve("adapter"), PeftMethods.discover(null));
        }
        Tokenizer tok = base.tokenizer();
        Generator g = new Generator(peft.inferenceModel());
        List<String> out = new ArrayList<>();
        for (int i = 0; i < Math.min(samples, d.val().size()); i++) {
            int[] t = d.val().tokens(i);
            int pl = d.val().promptLength(i);
            int[] prompt = Arrays.copyOf(t, pl);
            String want = tok.decode(Arrays.copyOfRange(t, pl, t.length));
            String got = tok.decode(g.generate(prompt, Math.max(8, t.length - pl + 4), Sampling.greedy(), tok.eos(), null).generatedIds());
            out.add(question(tok.decode(prompt)) + " -> " + oneLine(got) + (got.equals(want) ? "  (right)" : "  (expected " + oneLine(want) + ")"));
        }
        return out;
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

    private void print(PrintWriter w, List<Map<String, Object>> rows) {
        boolean devices = !device.equals("cpu");
        w.printf("%n%-28s %12s %10s %10s %9s %9s %9s%s%n", "method", "trainable", "adapter", "peak mem", "s/step", "tok/s", "val loss",
                devices ? "  device" : "");
        for (Map<String, Object> r : rows) {
            long adapter = (long) r.get("adapter_bytes");
            w.printf("%-28s %,12d %10s %10s %9.3f %,9.0f %9.4f%s%n", r.get("method"), (long) r.get("trainable_params"),
                    adapter < 0 ? "(model)" : String.format("%.1f KB", adapter / 1000.0), Report.mib((long) r.get("peak_rss_bytes")),
                    (double) r.get("step_s"), (double) r.get("tokens_per_s"), (double) r.get("val_loss"), devices ? "  " + r.get("device") : "");
        }
        w.println();
        w.println("held-out prompts, greedy answers:");
        for (Map<String, Object> r : rows) {
            w.printf("  %s%n", r.get("method"));
            @SuppressWarnings("unchecked") List<String> s = (List<String>) r.get("samples");
            for (String line : s) w.printf("    %s%n", line);
        }
        w.flush();
    }

    private static long treeBytes(Path dir) throws IOException {
        try (var files = Files.walk(dir)) {
            return files.filter(Files::isRegularFile).mapToLong(f -> f.toFile().length()).sum();
        }
    }

    private static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) return;
        try (var files = Files.walk(p)) {
            for (Path f : files.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(f);
        }
    }
}
