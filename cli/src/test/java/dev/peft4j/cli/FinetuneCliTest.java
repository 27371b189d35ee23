package dev.peft4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.peft4j.api.io.DType;
import dev.peft4j.models.LlamaConfig;
import dev.peft4j.models.LlamaWeights;
import dev.peft4j.models.io.CheckpointFormat;
import dev.peft4j.models.io.Checkpoints;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** finetune, prepare, eval, merge and generate with adapters, through the command line. */
class FinetuneCliTest {
    @Test
    void fineTuneResumeEvaluateMergeAndGenerate(@TempDir Path dir) throws Exception {
        Path model = dir.resolve("base");
        Checkpoints.save(LlamaWeights.random(LlamaConfig.of(32, 64, 2, 4, 2, 259, 256, false), 3, 0.1f), model, CheckpointFormat.HF, DType.F32, 0);
        Files.writeString(model.resolve(ModelOptions.BYTE_MARKER), "");
        StringBuilder json = new StringBuilder("[");
        for (int i = 0; i < 12; i++) json.append(String.format("{\"instruction\":\"Say %d.\",\"input\":\"\",\"output\":\"%d\"},", i, i));
        Path data = dir.resolve("data.json");
        Files.writeString(data, json.substring(0, json.length() - 1) + "]");
        Path out = dir.resolve("run");

        CliTest.Run prep = CliTest.run("prepare", "--data", data.toString(), "--tokenizer", "byte", "--val-size", "2", "--out", dir.resolve("cache.bin").toString(), "--json");
        assertEquals(0, prep.code(), prep.err());
        assertEquals(10, prep.json().get("train_examples").asInt());

        String[] train = {"finetune", "--model", model.toString(), "--data", dir.resolve("cache.bin").toString(), "--method", "lora+prefix",
                "--lora-r", "4", "--prefix-tokens", "2", "--micro-batch-size", "2", "--batch-size", "4", "--steps", "4", "--save-every", "2",
                "--eval-every", "2", "--lr", "1e-2", "--out", out.toString(), "--json"};
        CliTest.Run r = CliTest.run(train);
        assertEquals(0, r.code(), r.err());
        JsonNode j = r.json();
        assertEquals(4, j.get("steps").asInt());
        assertTrue(j.get("val_loss").asDouble() > 0, j.toString());
        assertTrue(Files.exists(out.resolve("adapter/lora/adapter_config.json")) && Files.exists(out.resolve("adapter/prefix/adapter_model.safetensors")));
        assertEquals(4 + 2, Files.readAllLines(out.resolve("metrics.jsonl")).size(), "4 steps and 2 validations");

        CliTest.assertUserError(CliTest.run(train), "--out " + out + " already holds a checkpoint: pass --resume to continue it, or choose another --out");
        String[] more = train.clone();
        more[java.util.Arrays.asList(more).indexOf("--steps") + 1] = "6";
        String[] resume = java.util.Arrays.copyOf(more, more.length + 1);
        resume[resume.length - 1] = "--resume";
        CliTest.Run resumed = CliTest.run(resume);
        assertEquals(0, resumed.code(), resumed.err());
        assertEquals(6, resumed.json().get("steps").asInt());

        CliTest.Run eval = CliTest.run("eval", "--model", model.toString(), "--adapter", out.resolve("adapter").toString(), "--data", data.toString(), "--json");
        assertEquals(0, eval.code(), eval.err());
        assertEquals(12, eval.json().get("examples").asInt());

        // LoRA alone: merged into a checkpoint, it generates what the adapter does beside the base
        Path loraOnly = dir.resolve("lora-only");
        CliTest.Run l = CliTest.run("finetune", "--model", model.toString(), "--data", data.toString(), "--val-size", "2", "--method", "lora",
                "--lora-targets", "all-linear", "--steps", "3", "--micro-batch-size", "2", "--batch-size", "2", "--lr", "5e-2", "--out", loraOnly.toString(), "--json");
        assertEquals(0, l.code(), l.err());
        Path merged = dir.resolve("merged");
        CliTest.Run m = CliTest.run("merge", "--model", model.toString(), "--adapter", loraOnly.resolve("adapter").toString(), "--out", merged.toString());
        assertEquals(0, m.code(), m.err());
        Files.writeString(merged.resolve(ModelOptions.BYTE_MARKER), "");
        JsonNode a = CliTest.run("generate", "--model", model.toString(), "--adapter", loraOnly.resolve("adapter").toString(), "--prompt", "Say 3.",
                "--temperature", "0", "--max-new-tokens", "8", "--json").json();
        JsonNode b = CliTest.run("generate", "--model", merged.toString(), "--prompt", "Say 3.", "--temperature", "0", "--max-new-tokens", "8", "--json").json();
        JsonNode c = CliTest.run("generate", "--model", model.toString(), "--adapter", loraOnly.resolve("adapter").toString(), "--merge", "--prompt", "Say 3.",
                "--temperature", "0", "--max-new-tokens", "8", "--json").json();
        assertEquals(a.get("ids"), b.get("ids"), "merged checkpoint = adapter beside the base");
        assertEquals(a.get("ids"), c.get("ids"), "--merge = unmerged");
    }

    @Test
    void badDataStopsBeforeTrainingWithFileAndLine(@TempDir Path dir) throws Exception {
        Path data = dir.resolve("bad.jsonl");
        Files.writeString(data, "{\"instruction\":\"a\",\"context\":\"\",\"response\":\"b\"}\n{\"instruction\":\"a\"\n");
        CliTest.assertUserError(CliTest.run("finetune", "--model", "x", "--data", data.toString()), "--model: x does not exist");
        CliTest.Run r = CliTest.run("prepare", "--data", data.toString(), "--tokenizer", "byte", "--out", dir.resolve("c.bin").toString());
        assertEquals(2, r.code());
        assertTrue(r.err().contains(data + " line 2"), r.err());
        CliTest.Run skip = CliTest.run("prepare", "--data", data.toString(), "--tokenizer", "byte", "--skip-bad-lines", "--val-size", "0",
                "--out", dir.resolve("c.bin").toString(), "--json");
        assertEquals(0, skip.code(), skip.err());
        assertEquals(1, skip.json().get("skipped_lines").asInt());
    }

    @Test
    void dataWhoseResponsesAreAllTruncatedAwayIsRefused(@TempDir Path dir) throws Exception {
        Path model = dir.resolve("base");
        Checkpoints.save(LlamaWeights.random(LlamaConfig.of(16, 32, 1, 2, 1, 259, 256, false), 3, 0.1f), model, CheckpointFormat.HF, DType.F32, 0);
        Files.writeString(model.resolve(ModelOptions.BYTE_MARKER), "");
        Path data = dir.resolve("data.json");
        Files.writeString(data, "[{\"instruction\":\"Say one.\",\"input\":\"\",\"output\":\"1\"},"
                + "{\"instruction\":\"Say two.\",\"input\":\"\",\"output\":\"2\"}]");
        CliTest.assertUserError(CliTest.run("finetune", "--model", model.toString(), "--data", data.toString(), "--val-size", "0",
                "--max-seq-length", "40", "--steps", "1", "--out", dir.resolve("out").toString()),
                "--data: every example lost its whole response to truncation at 40 tokens: nothing to learn from");
    }
}
