package dev.peft4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.peft4j.api.UserException;
import dev.peft4j.api.io.DType;
import dev.peft4j.models.LlamaConfig;
import dev.peft4j.models.LlamaWeights;
import dev.peft4j.models.io.CheckpointFormat;
import dev.peft4j.models.io.Checkpoints;
import dev.peft4j.models.peft.PeftMethods;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class CompareCliTest {
    private static final PeftMethods REGISTRY = PeftMethods.discover(null);

    /** A tiny random model (byte vocabulary) and ten instructions with one-token answers. */
    static Path[] tinySetup(Path dir) throws Exception {
        Path model = dir.resolve("base");
        Checkpoints.save(LlamaWeights.random(LlamaConfig.of(32, 64, 2, 4, 2, 259, 256, false), 3, 0.1f), model, CheckpointFormat.HF, DType.F32, 0);
        Files.writeString(model.resolve(ModelOptions.BYTE_MARKER), "");
        StringBuilder json = new StringBuilder("[");
        for (int i = 0; i < 10; i++) json.append(String.format("{\"instruction\":\"Say %d.\",\"input\":\"now\",\"output\":\"%d\"},", i, i));
        Path data = dir.resolve("data.json");
        Files.writeString(data, json.substring(0, json.length() - 1) + "]");
        return new Path[]{model, data};
    }

    // ---------------------------------------------------------------------------------------
    // per-method learning rates and steps
    // ---------------------------------------------------------------------------------------

    @Test
    void eachMethodHasItsOwnDefaultsAndFlagsOverrideThemPerMethod() {
        List<CompareCommand.Plan> p = CompareCommand.plans(List.of("base", "lora", "llama-adapter", "prefix", "full", "lora+prefix"), null, null, REGISTRY::get);
        assertEquals(new CompareCommand.Plan("base", 0, 0), p.get(0));
        double lora = p.get(1).lr(), adapter = p.get(2).lr(), prefix = p.get(3).lr(), full = p.get(4).lr();
        assertTrue(adapter >= 3 * lora, "LLaMA-Adapter trains at a much higher rate than LoRA: " + p);
        assertTrue(full < lora && prefix > lora, p.toString());
        assertEquals(Math.min(lora, prefix), p.get(5).lr(), "a composition takes the lowest rate of its parts");
        assertEquals(Math.max(p.get(1).steps(), p.get(3).steps()), p.get(5).steps(), "and the most steps");

        List<CompareCommand.Plan> q = CompareCommand.plans(List.of("base", "lora", "llama-adapter", "full"), "lora=3e-4, llama-adapter=9e-3", "full=7", REGISTRY::get);
        assertEquals(3e-4, q.get(1).lr());
        assertEquals(9e-3, q.get(2).lr());
        assertEquals(full, q.get(3).lr(), "not named: the default");
        assertEquals(7, q.get(3).steps());
        assertEquals(p.get(1).steps(), q.get(1).steps());

        List<CompareCommand.Plan> all = CompareCommand.plans(List.of("base", "lora", "prefix"), "1e-3", "5", REGISTRY::get);
        for (CompareCommand.Plan x : all.subList(1, 3)) assertEquals(new CompareCommand.Plan(x.method(), 1e-3, 5), x, "one value: every trained method");
        assertEquals(0, all.get(0).steps(), "base trains nothing");
    }

    @Test
    void badPerMethodFlagsAreErrorsThatNameTheFlag() {
        List<String> m = List.of("base", "lora", "llama-adapter");
        assertMessage("--lr: 'lorra' is not one of the compared methods (lora, llama-adapter; --methods chooses them)", () -> CompareCommand.plans(m, "lorra=3e-4", null, REGISTRY::get));
        assertMessage("--lr: 'prefix' is not one of the compared methods (lora, llama-adapter; --methods chooses them)", () -> CompareCommand.plans(m, "prefix=1e-2", null, REGISTRY::get));
        assertMessage("--steps: 'ful' is not one of the compared methods (lora, llama-adapter; --methods chooses them)", () -> CompareCommand.plans(m, null, "ful=3", REGISTRY::get));
        assertMessage("--lr: 'abc' for lora is not a number", () -> CompareCommand.plans(m, "lora=abc", null, REGISTRY::get));
        assertMessage("--lr: '-1' for lora must be a positive number", () -> CompareCommand.plans(m, "lora=-1", null, REGISTRY::get));
        assertMessage("--steps: '0' must be a positive whole number", () -> CompareCommand.plans(m, null, "0", REGISTRY::get));
        assertMessage("--steps: '2.5' for lora is not a number", () -> CompareCommand.plans(m, null, "lora=2.5", REGISTRY::get));
        assertMessage("--lr: base is the model untouched; it does not train", () -> CompareCommand.plans(m, "base=1e-3", null, REGISTRY::get));
        assertMessage("--lr: lora is given twice", () -> CompareCommand.plans(m, "lora=1e-3,lora=2e-3", null, REGISTRY::get));
        assertMessage("--lr: 'lora' is not method=value (in lora=1e-3,lora)", () -> CompareCommand.plans(m, "lora=1e-3,lora", null, REGISTRY::get));
        UserException e = assertThrows(UserException.class, () -> CompareCommand.plans(List.of("lora", "dora"), null, null, REGISTRY::get));
        assertTrue(e.getMessage().startsWith("--methods: ") && e.getMessage().contains("dora"), e.getMessage());
        assertMessage("--methods: lora is listed twice", () -> CompareCommand.plans(List.of("lora", "lora"), null, null, REGISTRY::get));

        // through the command line: exit 2 and the message, before any model is loaded or trained
        CliTest.Run r = CliTest.run("compare", "--methods", "base,lora", "--lr", "lorra=3e-4");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("peft4j: error: --lr: 'lorra' is not one of the compared methods"), r.err());
    }

    private static void assertMessage(String expected, org.junit.jupiter.api.function.Executable e) {
        assertEquals(expected, assertThrows(UserException.class, e).getMessage());
    }

    @Test
    void everyOptionIsDescribedInHelp() {
        CommandLine cli = new CommandLine(new CompareCommand());
        for (CommandLine.Model.OptionSpec o : cli.getCommandSpec().options()) {
            assertTrue(o.description().length > 0 && !String.join(" ", o.description()).isBlank(), o.longestName() + " has no description");
        }
        String help = cli.getUsageMessage();
        for (String flag : new String[]{"--batch-size", "--micro-batch-size", "--out", "--seed", "--val-size", "--lr", "--steps"}) {
            assertTrue(help.contains(flag), flag);
        }
    }

    // ---------------------------------------------------------------------------------------
    // the table, results.json, report.md and the charts
    // ---------------------------------------------------------------------------------------

    private static CompareResult.Row row(String method, long trainable, double valLoss, Double merged) {
        CompareResult.Row.Builder b = new CompareResult.Row.Builder(method, "ok", null);
        b.lr = method.equals("base") ? null : 1e-3;
        b.steps = method.equals("base") ? 0 : 4;
        b.stepsDone = b.steps;
        b.trainableParams = trainable;
        b.modelParams = 1000;
        b.adapterBytes = method.equals("base") ? 0L : trainable * 4 + 300;
        b.adapterIsModel = method.equals("full");
        b.trainLoss = method.equals("base") ? null : valLoss - 0.1;
        b.valLoss = valLoss;
        b.valPerplexity = Math.exp(valLoss);
        b.exactMatch = 0.5;
        b.exactCorrect = 1;
        b.exactTotal = 2;
        b.device = "cpu";
        b.answers = List.of(new CompareResult.Answer("Say 1. now", "1", "1", true), new CompareResult.Answer("Say 2. now", "3", "2", false));
        double[] curve = new double[b.steps];
        for (int i = 0; i < curve.length; i++) curve[i] = 3 - i * 0.5;
        b.trainCurve = curve;
        b.valCurve = method.equals("base") ? List.of(new double[]{0, 3}) : List.of(new double[]{0, 3}, new double[]{2, 2.5}, new double[]{4, valLoss});
        b.measured = new CompareResult.Measured(300L << 20, method.equals("base") ? null : 0.1, method.equals("base") ? null : 9000.0, 1500.0, merged, 3.0);
        return b.build();
    }

    @Test
    void writesTheTableResultsReportAndChartsWithAFailureRow(@TempDir Path dir) throws Exception {
        List<CompareResult.Row> rows = List.of(row("base", 0, 3.0, null), row("lora", 120, 1.25, 1900.0), row("full", 1000, 0.75, null),
                CompareResult.Row.failed("prefix", "failed", "out of memory (Java heap limit 8 MiB)", 1e-2, 4,
                        new CompareResult.Measured(-1, null, null, null, null, 1.0)));
        CompareReport.Setup setup = new CompareReport.Setup("m", "d.json", 42, 2, 2, 2, "Some CPU, 2 cores", "1.00 1.00 1.00", "2.00 1.00 1.00", 12.5, false, List.of());
        CompareReport.write(dir, setup, rows);

        JsonNode j = new ObjectMapper().readTree(dir.resolve("results.json").toFile());
        assertEquals(4, j.get("methods").size());
        assertEquals("Some CPU, 2 cores", j.get("machine").get("cpu").asText());
        JsonNode lora = j.get("methods").get(1), failed = j.get("methods").get(3);
        assertEquals(120, lora.get("trainable_params").asLong());
        assertEquals(1900.0, lora.get("measured").get("merged_infer_tokens_per_s").asDouble());
        assertEquals(3, lora.get("val_curve").size());
        assertEquals("failed", failed.get("status").asText());
        assertEquals("out of memory (Java heap limit 8 MiB)", failed.get("error").asText());
        CompareResult.Row back = CompareResult.JSON.treeToValue(lora, CompareResult.Row.class);
        assertEquals(rows.get(1).valLoss(), back.valLoss());
        assertEquals(rows.get(1).measured(), back.measured());

        StringWriter sw = new StringWriter();
        CompareReport.print(new PrintWriter(sw), rows);
        String table = sw.toString();
        String[] lines = table.split("\n");
        assertTrue(lines[1].startsWith("method") && lines[1].contains("trainable (% of model)") && lines[1].contains("exact match")
                && lines[1].contains("infer tok/s"), table);
        assertTrue(table.contains("120 (12.0%)") && table.contains("1,000 (100.0%)") && table.contains("0 (0%)"), table);
        assertTrue(table.contains("1,500 / 1,900 merged"), table);
        assertTrue(table.contains("50% (1/2)") && table.contains("1.2500") && table.contains("3.49"), "val loss and perplexity e^1.25: " + table);
        assertTrue(table.contains("4.3 KB (model)"), "full fine-tuning's file is the model: " + table);
        assertTrue(table.contains("prefix         FAILED: out of memory (Java heap limit 8 MiB)") || table.matches("(?s).*prefix +FAILED: out of memory.*"), table);
        assertTrue(table.contains("Say 2. now -> 3  (expected 2)") && table.contains("Say 1. now -> 1  (right)"), table);

        String md = Files.readString(dir.resolve("report.md"));
        assertTrue(md.contains("| method | trainable (% of model) |"), md);
        assertTrue(md.contains("| prefix | FAILED: out of memory (Java heap limit 8 MiB) |"), md);
        assertTrue(md.contains("Some CPU, 2 cores") && md.contains("1.00 1.00 1.00"), "the CPU and the load: " + md);
        for (String png : CompareReport.CHARTS) {
            assertTrue(md.contains("](" + png + ")"), png + " embedded");
            BufferedImage img = ImageIO.read(dir.resolve(png).toFile());
            assertNotNull(img, png);
            assertEquals(900, img.getWidth());
            assertTrue(colours(img) > 20, png + " has a drawing on it, not one colour");
        }
    }

    @Test
    void aDeviceColumnOnlyWhenAMethodTrainedOffTheCpu() {
        List<CompareResult.Row> cpu = List.of(row("base", 0, 3.0, null), row("lora", 120, 1.25, 1900.0));
        assertEquals(CompareReport.COLUMNS.length, CompareReport.cells(cpu).get(1).length);
        CompareResult.Row l = cpu.get(1);
        CompareResult.Row onDevice = new CompareResult.Row(l.method(), l.status(), l.error(), l.lr(), l.steps(), l.stepsDone(), l.trainableParams(),
                l.modelParams(), l.adapterBytes(), l.adapterIsModel(), l.trainLoss(), l.valLoss(), l.valPerplexity(), l.exactMatch(), l.exactCorrect(),
                l.exactTotal(), "tornado:0 (some GPU)", l.answers(), l.trainCurve(), l.valCurve(), l.measured());
        List<String[]> cells = CompareReport.cells(List.of(cpu.get(0), onDevice));
        assertEquals("device", CompareReport.columns(List.of(cpu.get(0), onDevice))[CompareReport.COLUMNS.length]);
        assertEquals("cpu", cells.get(0)[CompareReport.COLUMNS.length]);
        assertEquals("tornado:0 (some GPU)", cells.get(1)[CompareReport.COLUMNS.length]);
    }

    private static int colours(BufferedImage img) {
        java.util.Set<Integer> c = new java.util.HashSet<>();
        for (int y = 0; y < img.getHeight(); y += 3) for (int x = 0; x < img.getWidth(); x += 3) c.add(img.getRGB(x, y));
        return c.size();
    }

    // ---------------------------------------------------------------------------------------
    // workers: determinism and divergence (in this JVM), the command (in worker processes)
    // ---------------------------------------------------------------------------------------

    private static CompareWorker.Spec spec(Path[] setup, Path out, String method, double lr, int steps) {
        return new CompareWorker.Spec(method, setup[0].toString(), null, setup[1].toString(), 2, 42, steps, lr, 2, 4, 2, 2, "auto", "cpu", 4, 8, 0, 3, 3, null,
                out.toString(), out.resolve("result.json").toString());
    }

    private static CompareResult.Row work(CompareWorker.Spec s) throws Exception {
        return CompareWorker.run(s, new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
    }

    @Test
    void theSameSeedGivesTheSameRowsTimingsAside(@TempDir Path dir) throws Exception {
        Path[] setup = tinySetup(dir);
        for (String method : new String[]{"base", "lora", "prefix+llama-adapter", "full"}) {
            CompareResult.Row a = work(spec(setup, dir.resolve("a-" + method.replace('+', '_')), method, 1e-2, 3));
            CompareResult.Row b = work(spec(setup, dir.resolve("b-" + method.replace('+', '_')), method, 1e-2, 3));
            assertEquals("ok", a.status(), a.error());
            assertEquals(withoutMeasured(a), withoutMeasured(b), method);
            assertEquals(method.equals("base") ? 0 : 3, a.trainCurve().length);
            assertEquals(method.equals("base") ? 1 : 3, a.valCurve().size(), "step 0, then every ceil(3 / 2) steps and the last");
            assertNotNull(a.exactMatch(), "one-token answers: exact match is scored");
            assertEquals(2, (int) a.exactTotal());
            assertEquals(method.equals("lora"), a.measured().mergedInferTokensPerS() != null, "only LoRA merges");
            assertTrue(a.measured().inferTokensPerS() > 0 && a.measured().peakRssBytes() > 0, a.measured().toString());
        }
        CompareResult.Row other = work(spec(setup, dir.resolve("c"), "lora", 1e-2, 3).withSeed(7));
        assertFalse(other.trainCurve()[2] == work(spec(setup, dir.resolve("d"), "lora", 1e-2, 3)).trainCurve()[2], "another seed, another run");
    }

    private static JsonNode withoutMeasured(CompareResult.Row r) {
        ObjectNode n = CompareResult.JSON.valueToTree(r);
        n.remove("measured");
        return n;
    }

    @Test
    void aDivergingMethodGetsARowSayingSo(@TempDir Path dir) throws Exception {
        Path[] setup = tinySetup(dir);
        CompareResult.Row r = work(spec(setup, dir.resolve("x"), "lora", 1e30, 6)); // weights past float range: inf, then NaN
        assertEquals("diverged", r.status());
        assertTrue(r.error().startsWith("diverged: loss "), r.error());
        assertTrue(r.stepsDone() < 6, "stopped at the step it diverged: " + r.stepsDone());
        assertNull(r.valLoss());
    }

    @Test
    void comparesEveryMethodInItsOwnProcessWithAFailingOneAmongThem(@TempDir Path dir) throws Exception {
        Path[] setup = tinySetup(dir);
        Path out = dir.resolve("cmp");
        CliTest.Run r = CliTest.run("compare", "--model", setup[0].toString(), "--data", setup[1].toString(), "--methods", "base,lora,prefix+llama-adapter,full",
                "--steps", "3", "--lr", "full=1e30", "--micro-batch-size", "2", "--batch-size", "2", "--val-size", "2", "--samples", "1",
                "--out", out.toString(), "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode methods = r.json().get("methods");
        assertEquals(4, methods.size());
        JsonNode base = methods.get(0), lora = methods.get(1), combo = methods.get(2), full = methods.get(3);
        assertEquals("base", base.get("method").asText());
        assertEquals(0, base.get("trainable_params").asLong());
        assertTrue(base.get("val_loss").asDouble() > 0 && base.get("measured").get("infer_tokens_per_s").asDouble() > 0, base.toString());
        // rank 16 on all seven linears of 2 layers: r * (in + out) each
        long perLayer = 16L * ((32 + 32) + (32 + 16) + (32 + 16) + (32 + 32) + (32 + 64) + (32 + 64) + (64 + 32));
        assertEquals(2 * perLayer, lora.get("trainable_params").asLong());
        assertEquals(LlamaConfig.of(32, 64, 2, 4, 2, 259, 256, false).parameterCount(), lora.get("model_params").asLong());
        assertTrue(lora.get("adapter_bytes").asLong() > lora.get("trainable_params").asLong() * 4, "the adapter file holds the float32 weights");
        assertTrue(lora.get("measured").get("merged_infer_tokens_per_s").asDouble() > 0);
        assertTrue(combo.get("trainable_params").asLong() > 0 && combo.get("measured").get("merged_infer_tokens_per_s").isNull(), combo.toString());
        for (JsonNode m : List.of(base, lora, combo)) {
            assertEquals("ok", m.get("status").asText(), m.toString());
            assertEquals(1, m.get("answers").size());
            assertTrue(m.get("answers").get(0).get("prompt").asText().startsWith("Say "), m.toString());
            assertTrue(m.get("measured").get("peak_rss_bytes").asLong() > 0);
        }
        assertEquals("diverged", full.get("status").asText(), "lr 1e30: " + full);
        for (String f : new String[]{"results.json", "report.md"}) assertTrue(Files.isRegularFile(out.resolve(f)), f);
        for (String png : CompareReport.CHARTS) assertTrue(Files.size(out.resolve(png)) > 1000, png);
        assertTrue(Files.isRegularFile(out.resolve("lora/adapter/adapter_config.json")));
    }

    @Test
    void aWorkerThatRunsOutOfMemoryIsARowAndTheOthersStillRun(@TempDir Path dir) throws Exception {
        Path[] setup = tinySetup(dir);
        Path out = dir.resolve("cmp");
        // a 4 MiB heap cannot hold the run (model, data, activations): every worker fails with a row saying so, the report is still written
        CliTest.Run r = CliTest.run("compare", "--model", setup[0].toString(), "--data", setup[1].toString(), "--methods", "base,lora",
                "--steps", "1", "--micro-batch-size", "2", "--batch-size", "2", "--val-size", "2", "--heap", "4m", "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().matches("(?s).*base +FAILED: .*lora +FAILED: .*"), r.out());
        JsonNode j = new ObjectMapper().readTree(out.resolve("results.json").toFile());
        for (JsonNode m : j.get("methods")) {
            assertEquals("failed", m.get("status").asText());
            assertTrue(m.get("error").asText().contains("out of memory") || m.get("error").asText().contains("heap"), m.toString());
        }
    }

    @Test
    void ctrlCEndsWithAReportOfTheFinishedMethods(@TempDir Path dir) throws Exception {
        Path[] setup = tinySetup(dir);
        Path out = dir.resolve("cmp");
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "-cp", System.getProperty("java.class.path"), Main.class.getName(),
                "compare", "--model", setup[0].toString(), "--data", setup[1].toString(), "--methods", "base,lora,full",
                "--steps", "lora=100000", "--micro-batch-size", "2", "--batch-size", "2", "--val-size", "2", "--out", out.toString()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        StringBuilder seen = new StringBuilder();
        try (var r = new java.io.BufferedReader(new java.io.InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            for (String line; (line = r.readLine()) != null; ) {
                seen.append(line).append('\n');
                if (line.startsWith("[2/3 lora] step ")) {
                    new ProcessBuilder("kill", "-INT", String.valueOf(p.pid())).start().waitFor();
                    break;
                }
            }
            seen.append(new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
        }
        assertTrue(p.waitFor(60, java.util.concurrent.TimeUnit.SECONDS), seen.toString());
        assertTrue(seen.toString().contains("interrupted: the methods that finished (not finished: lora, full)"), seen.toString());
        JsonNode j = new ObjectMapper().readTree(out.resolve("results.json").toFile());
        assertTrue(j.get("interrupted").asBoolean());
        assertEquals(1, j.get("methods").size());
        assertEquals("base", j.get("methods").get(0).get("method").asText());
        assertEquals(List.of("lora", "full"), List.of(new ObjectMapper().treeToValue(j.get("not_run"), String[].class)));
        assertTrue(Files.readString(out.resolve("report.md")).contains("**Interrupted**"));
        assertTrue(p.descendants().findAny().isEmpty(), "no worker left behind");
    }

    @Test
    void seedsAndSpecsRoundTrip() throws Exception {
        CompareWorker.Spec s = spec(new Path[]{Path.of("m"), Path.of("d")}, Path.of("o"), "lora", 1e-3, 2);
        assertEquals(s, CompareWorker.JSON.readValue(CompareWorker.JSON.writeValueAsString(s), CompareWorker.Spec.class));
        assertEquals(Map.of(), CompareCommand.perMethod("--lr", null, List.of("lora"), Double::parseDouble));
    }
}
