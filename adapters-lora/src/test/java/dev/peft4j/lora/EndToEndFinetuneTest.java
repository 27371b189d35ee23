package dev.peft4j.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.peft4j.models.LlamaConfig;
import dev.peft4j.models.LlamaWeights;
import dev.peft4j.models.data.AlpacaTemplate;
import dev.peft4j.models.data.DatasetFormat;
import dev.peft4j.models.data.Datasets;
import dev.peft4j.models.data.ExampleLoader;
import dev.peft4j.models.data.PrepareOptions;
import dev.peft4j.models.data.PreparedDataset;
import dev.peft4j.models.generate.Generator;
import dev.peft4j.models.generate.Sampling;
import dev.peft4j.models.peft.PeftModel;
import dev.peft4j.models.tokenizer.ByteTokenizer;
import dev.peft4j.models.train.Batch;
import dev.peft4j.models.train.TrainingRun;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The whole pipeline on a tiny model: an Alpaca-format dataset on disk, prepared (template, prompt
 * mask, split), LoRA training through {@link TrainingRun}, then greedy generation on held-out
 * prompts gives the trained responses.
 */
class EndToEndFinetuneTest {
    @Test
    void fineTuningLowersValidationLossAndTeachesTheResponse(@TempDir Path dir) throws Exception {
        String[] days = {"sunny", "bright", "warm", "clear", "golden", "busy", "early", "noisy", "open", "light", "long", "hot"};
        String[] nights = {"dark", "starry", "cold", "quiet", "deep", "late", "calm", "black", "still", "misty", "short", "cool"};
        StringBuilder json = new StringBuilder("[");
        for (int i = 0; i < days.length; i++) {
            json.append(String.format("{\"instruction\":\"Day or night?\",\"input\":\"a %s day\",\"output\":\"sun\"},", days[i]));
            json.append(String.format("{\"instruction\":\"Day or night?\",\"input\":\"a %s night\",\"output\":\"moon\"},", nights[i]));
        }
        json.setLength(json.length() - 1);
        Path file = dir.resolve("task.json");
        Files.writeString(file, json.append("]").toString());
        ByteTokenizer tok = new ByteTokenizer();
        PreparedDataset d = Datasets.prepare(file.toString(), DatasetFormat.ALPACA, tok, PrepareOptions.defaults().withValSize(6).withSeed(1));
        assertEquals(18, d.train().size());
        int seqLen = Math.max(d.train().longest(), d.val().longest()) - 1;

        LlamaConfig c = LlamaConfig.of(32, 64, 2, 4, 2, tok.vocabSize(), 256, false);
        PeftModel m = new PeftModel(LlamaWeights.random(c, 3, 0.1f), 7);
        m.install(new LoraMethod(), LoraConfig.of(8, 16, List.of("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head")));
        List<Batch> val = ExampleLoader.evaluationBatches(d.val(), 6, seqLen);
        var opts = new TrainingRun.Options(160, 1, 2e-2, 1e-3, 5, 0.0, 0.9f, 0.95f, 1.0, 0, 0);
        TrainingRun run = new TrainingRun(m, m.trainer(6, seqLen, false), new ExampleLoader(d.train(), 6, seqLen, true, 5).asBatchSource(),
                val, opts, dir.resolve("out"), null);
        double before = run.validate().loss();
        double after = run.run().loss();
        System.out.printf("end to end: validation loss %.4f -> %.4f%n", before, after);
        assertTrue(after < before / 4, "validation loss falls by a clear margin: " + before + " -> " + after);

        Generator g = new Generator(m.inferenceModel());
        List<String> wrong = new ArrayList<>();
        String[][] held = {{"a sunny day", "sun"}, {"a dark night", "moon"}, {"a warm day", "sun"}, {"a calm night", "moon"}};
        for (String[] h : held) {
            int[] prompt = tok.encode(AlpacaTemplate.prompt("Day or night?", h[0]), true, false);
            String answer = tok.decode(g.generate(prompt, 8, Sampling.greedy(), tok.eos(), null).generatedIds());
            if (!answer.equals(h[1])) wrong.add(h[0] + " -> " + answer);
        }
        assertTrue(wrong.isEmpty(), "greedy generation gives the trained responses; wrong: " + wrong);
    }
}
