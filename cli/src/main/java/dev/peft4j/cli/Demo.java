package dev.peft4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.models.LlamaConfig;
import dev.peft4j.models.LlamaModel;
import dev.peft4j.models.data.AlpacaTemplate;
import dev.peft4j.models.data.DatasetFormat;
import dev.peft4j.models.data.Datasets;
import dev.peft4j.models.data.PrepareOptions;
import dev.peft4j.models.data.PreparedDataset;
import dev.peft4j.models.generate.Generator;
import dev.peft4j.models.generate.Sampling;
import dev.peft4j.models.io.Checkpoints;
import dev.peft4j.models.peft.PeftMethods;
import dev.peft4j.models.peft.PeftModel;
import dev.peft4j.models.tokenizer.ByteTokenizer;
import dev.peft4j.models.tokenizer.Tokenizer;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The main job on an embedded default, with no download: pre-train (or reuse) a small LLaMA on
 * generated text, then fine-tune it with LoRA on a generated instruction dataset with exact answers,
 * and report validation loss and exact-match accuracy before and after, with a few generations.
 */
final class Demo {
    /** Made-up words from syllables: many distinct inputs, all seen in pre-training text. */
    static final String[] WORDS = words(240, 3);

    static String[] words(int count, long seed) {
        String[] syllables = {"ba", "ko", "mi", "tu", "ra", "le", "so", "ni", "da", "pe", "fu", "go", "zi", "ha", "wo", "ye", "lu", "ti", "ma", "ve"};
        SplittableRandom r = new SplittableRandom(seed);
        java.util.LinkedHashSet<String> out = new java.util.LinkedHashSet<>();
        while (out.size() < count) {
            StringBuilder w = new StringBuilder();
            int n = 2 + r.nextInt(2);
            for (int i = 0; i < n; i++) w.append(syllables[r.nextInt(syllables.length)]);
            out.add(w.toString());
        }
        return out.toArray(String[]::new);
    }

    private static final String[] VERBS = {"sees", "likes", "finds", "holds", "draws", "paints", "keeps", "wants", "moves", "opens"};
    private static final String[] STARTS = {"the", "a", "my", "your", "one", "every", "this", "that"};

    /** The instruction tasks: each has an exact answer computed from the word. */
    enum Task {
        REPEAT("Repeat the word."), SPELL("Spell the word."), CAPITALIZE("Write the word with a capital letter.");

        final String instruction;

        Task(String instruction) {
            this.instruction = instruction;
        }

        String answer(String w) {
            return switch (this) {
                case REPEAT -> w;
                case SPELL -> String.join("-", w.split(""));
                case CAPITALIZE -> cap(w);
            };
        }
    }

    private final PrintWriter out;
    private final boolean json;
    private final Path dir = Path.of("out", "demo");

    Demo(PrintWriter out, boolean json) {
        this.out = out;
        this.json = json;
    }

    /** Generated English-like text: sentences over the word list, and words spelled out. */
    static String corpus(long seed, int sentences) {
        SplittableRandom r = new SplittableRandom(seed);
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < sentences; i++) {
            String a = WORDS[r.nextInt(WORDS.length)], b = WORDS[r.nextInt(WORDS.length)];
            switch (r.nextInt(4)) {
                case 0 -> sb.append(cap(STARTS[r.nextInt(STARTS.length)])).append(' ').append(a).append(' ')
                        .append(VERBS[r.nextInt(VERBS.length)]).append(' ').append(STARTS[r.nextInt(STARTS.length)]).append(' ').append(b).append(". ");
                case 1 -> sb.append("The word ").append(a).append(" is spelled ").append(String.join("-", a.split(""))).append(". ");
                case 2 -> sb.append(cap(a)).append(" and ").append(b).append(" and ").append(a).append(". ");
                default -> sb.append("I said ").append(a).append(", you said ").append(a).append(". ");
            }
            if (r.nextInt(6) == 0) sb.append('\n');
        }
        return sb.toString();
    }

    private static String cap(String s) {
        return Character.toUpperCase(s.charAt(0)) + s.substring(1);
    }

    /** The instruction examples: every task on every word, in a seeded order. */
    static List<Map<String, String>> instructions(long seed) {
        List<Map<String, String>> rows = new ArrayList<>();
        for (Task t : Task.values()) {
            for (String w : WORDS) {
                Map<String, String> m = new LinkedHashMap<>();
                m.put("instruction", t.instruction);
                m.put("input", w);
                m.put("output", t.answer(w));
                rows.add(m);
            }
        }
        SplittableRandom r = new SplittableRandom(seed);
        for (int i = rows.size() - 1; i > 0; i--) {
            int j = r.nextInt(i + 1);
            var tmp = rows.get(i);
            rows.set(i, rows.get(j));
            rows.set(j, tmp);
        }
        return rows;
    }

    /** Writes the generated instruction dataset (Alpaca JSON) and returns its path. */
    Path instructionsFile() throws IOException {
        Files.createDirectories(dir);
        Path data = dir.resolve("instructions.json");
        new ObjectMapper().writerWithDefaultPrettyPrinter().writeValue(data.toFile(), instructions(11));
        return data;
    }

    /** The pre-trained base model: reused when it is there, else pre-trained on generated text (1-2 minutes). */
    Path baseModel() throws IOException {
        Files.createDirectories(dir);
        Tokenizer tok = new ByteTokenizer();
        Path text = dir.resolve("corpus.txt");
        Files.writeString(text, corpus(7, 16_000));
        Path baseDir = dir.resolve("base");
        Path model = baseDir.resolve("model");
        LlamaConfig config = LlamaConfig.of(128, 344, 4, 4, 2, tok.vocabSize(), 256, false);
        if (Files.exists(model.resolve("config.json")) && Checkpoints.readConfig(model).equals(config)) {
            say("reusing the pre-trained base model in " + model);
            return model;
        }
        say("pre-training the base model (" + String.format("%,d", config.parameterCount()) + " parameters) on " + text);
        deleteCheckpoint(baseDir);
        PretrainCommand pre = new PretrainCommand();
        pre.tokenizer = Path.of("byte");
        pre.dataOptions = new DataOptions();
        pre.dataOptions.data = text.toString();
        pre.dataOptions.maxSeqLength = 128;
        pre.dataOptions.valFraction = 0.05;
        pre.train = flags(baseDir, 600, 16, 16, 2e-3, 40, 200);
        PreparedDataset d = Datasets.prepare(text.toString(), DatasetFormat.TEXT, tok, pre.dataOptions.prepareOptions(1));
        pre.pretrain(out, config, d, baseDir, json);
        return model;
    }

    int run() throws IOException {
        long t0 = System.nanoTime();
        Files.createDirectories(dir);
        Tokenizer tok = new ByteTokenizer();
        say("peft4j demo: pre-train a small LLaMA on generated text, then fine-tune it with LoRA on generated instructions.");
        Path data = instructionsFile();
        List<Map<String, String>> rows = instructions(11);
        Path model = baseModel();
        var weights = Checkpoints.load(model);

        // 2. the instruction data: 2/3 for training, 1/3 held out
        int valSize = 60;
        PrepareOptions prep = PrepareOptions.defaults().withMaxSeqLength(256).withValSize(valSize).withSeed(3);
        PreparedDataset inst = Datasets.prepare(data.toString(), DatasetFormat.ALPACA, tok, prep);
        List<Map<String, String>> held = heldOut(rows, inst, tok);
        say(inst.summary().describe());

        // 3. before
        PeftMethods methods = PeftMethods.discover(null);
        PeftModel peft = new PeftModel(weights, 5);
        Score before = score(peft.inferenceModel(), tok, held);
        FinetuneCommand ft = new FinetuneCommand();
        ft.train = flags(dir.resolve("lora"), 300, 8, 8, 3e-3, 20, 100);
        ft.dataOptions = new DataOptions();
        ft.dataOptions.maxSeqLength = 256;
        MethodOptions mo = new MethodOptions();
        mo.method = "lora"; // the demo's recipe: LoRA r 16, alpha 32 on every linear
        mo.set("lora", "r", 16).set("lora", "lora_alpha", 32.0).set("lora", "target_modules", "all-linear");
        mo.install(peft, methods);
        deleteCheckpoint(dir.resolve("lora"));
        double valBefore = ft.validationLoss(peft, inst, weights.config.maxSeqLen());
        say(String.format("before fine-tuning: validation loss %.4f, exact match %d/%d (%.0f%%)", valBefore, before.correct, before.total, before.percent()));

        // 4. fine-tune with LoRA
        FinetuneCommand.Result r = ft.train(out, peft, inst, weights.config.maxSeqLen(), dir.resolve("lora"), json);
        FinetuneCommand.saveResult(peft, methods, dir.resolve("lora"), model.toString());
        Score after = score(peft.inferenceModel(), tok, held);
        double valAfter = r.lastEval() == null ? Double.NaN : r.lastEval().loss();
        say(String.format("after fine-tuning:  validation loss %.4f, exact match %d/%d (%.0f%%)", valAfter, after.correct, after.total, after.percent()));
        for (Task t : Task.values()) say(String.format("  %-10s %d/%d", t.name().toLowerCase(Locale.ROOT), after.byTask.getOrDefault(t, 0), after.perTask.getOrDefault(t, 0)));
        say("samples (held-out words):");
        for (int i = 0; i < Math.min(6, after.samples.size()); i++) say("  " + after.samples.get(i));
        double seconds = (System.nanoTime() - t0) / 1e9;
        say(String.format("adapter saved in %s; %.0f s in all", dir.resolve("lora/adapter"), seconds));
        if (json) {
            new Report().put("val_loss_before", valBefore).put("val_loss_after", valAfter).put("exact_match_before", before.percent() / 100)
                    .put("exact_match_after", after.percent() / 100).put("held_out", after.total).put("samples", after.samples)
                    .put("seconds", seconds).put("peak_rss_bytes", Report.peakRssBytes()).printJson(out);
        }
        return 0;
    }

    private void say(String line) {
        if (!json) {
            out.println(line);
            out.flush();
        }
    }

    private static TrainFlags flags(Path out, int steps, int micro, int batch, double lr, int warmup, int evalEvery) {
        TrainFlags f = new TrainFlags();
        f.out = out;
        f.steps = steps;
        f.microBatchSize = micro;
        f.batchSize = batch;
        f.lr = lr;
        f.minLr = lr / 10;
        f.warmupSteps = warmup;
        f.weightDecay = 0.0;
        f.maxGradNorm = 1.0;
        f.seed = 42;
        f.evalEvery = evalEvery;
        f.saveEvery = 0;
        return f;
    }

    private static void deleteCheckpoint(Path d) throws IOException {
        for (String name : new String[]{"checkpoint", "checkpoint.old", "checkpoint.tmp"}) {
            Path p = d.resolve(name);
            if (Files.exists(p)) {
                try (var s = Files.walk(p)) {
                    for (Path x : s.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(x);
                }
            }
        }
        Files.deleteIfExists(d.resolve("metrics.jsonl"));
    }

    /** The rows whose tokens landed in the validation split. */
    private static List<Map<String, String>> heldOut(List<Map<String, String>> rows, PreparedDataset inst, Tokenizer tok) {
        java.util.Set<String> val = new java.util.HashSet<>();
        for (int i = 0; i < inst.val().size(); i++) val.add(java.util.Arrays.toString(inst.val().tokens(i)));
        List<Map<String, String>> out = new ArrayList<>();
        for (Map<String, String> row : rows) {
            var te = dev.peft4j.models.data.TokenizedExample.encode(tok, new dev.peft4j.models.data.Example(row.get("instruction"), row.get("input"), row.get("output")), true, 256);
            if (val.contains(java.util.Arrays.toString(te.tokens()))) out.add(row);
        }
        return out;
    }

    record Score(int correct, int total, Map<Task, Integer> byTask, Map<Task, Integer> perTask, List<String> samples) {
        double percent() {
            return total == 0 ? 0 : 100.0 * correct / total;
        }
    }

    /** Greedy answers to the held-out instructions, compared exactly with the expected output. */
    static Score score(LlamaModel model, Tokenizer tok, List<Map<String, String>> rows) {
        Generator g = new Generator(model);
        int correct = 0;
        Map<Task, Integer> byTask = new java.util.EnumMap<>(Task.class), perTask = new java.util.EnumMap<>(Task.class);
        List<String> samples = new ArrayList<>();
        for (Map<String, String> row : rows) {
            String prompt = AlpacaTemplate.prompt(row.get("instruction"), row.get("input"));
            Generator.Result r = g.generate(tok.encode(prompt, true, false), 16, Sampling.greedy(), tok.eos(), null);
            String answer = tok.decode(r.generatedIds());
            Task t = java.util.Arrays.stream(Task.values()).filter(x -> x.instruction.equals(row.get("instruction"))).findFirst().orElseThrow();
            perTask.merge(t, 1, Integer::sum);
            boolean ok = answer.equals(row.get("output"));
            if (ok) {
                correct++;
                byTask.merge(t, 1, Integer::sum);
            }
            if (samples.size() < 9) samples.add(String.format("%s %s -> %s %s", row.get("instruction"), row.get("input"), answer.replace("\n", "\\n"), ok ? "(right)" : "(expected " + row.get("output") + ")"));
        }
        return new Score(correct, rows.size(), byTask, perTask, samples);
    }
}
