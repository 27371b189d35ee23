package dev.peft4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.peft4j.api.io.DType;
import dev.peft4j.models.LlamaConfig;
import dev.peft4j.models.LlamaWeights;
import dev.peft4j.models.io.CheckpointFormat;
import dev.peft4j.models.io.Checkpoints;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** GGUF through the command line: convert into it, generate and fine-tune from it alone, merge back into it. */
class GgufCliTest {
    /** A byte-level BPE tokenizer.json: the 256 bytes in GPT-2's byte map, a few merges, BOS and EOS. */
    static String byteLevelTokenizer() throws Exception {
        ObjectMapper m = new ObjectMapper();
        ObjectNode root = m.createObjectNode();
        ObjectNode model = root.putObject("model").put("type", "BPE");
        ObjectNode vocab = model.putObject("vocab");
        char[] map = new char[256];
        int n = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
            map[b] = printable ? (char) b : (char) (256 + n++);
            vocab.put(String.valueOf(map[b]), b);
        }
        String space = String.valueOf(map[' ']);
        String[][] merges = {{"S", "a"}, {"Sa", "y"}, {space, "3"}, {"t", "h"}};
        int id = 256;
        var ms = model.putArray("merges");
        for (String[] mg : merges) {
            vocab.put(mg[0] + mg[1], id++);
            ms.add(mg[0] + " " + mg[1]);
        }
        var added = root.putArray("added_tokens");
        added.addObject().put("id", id).put("content", "<|begin_of_text|>").put("special", true);
        added.addObject().put("id", id + 1).put("content", "<|end_of_text|>").put("special", true);
        root.putObject("pre_tokenizer").put("type", "ByteLevel").put("add_prefix_space", false).put("use_regex", true);
        root.putObject("decoder").put("type", "ByteLevel");
        return m.writeValueAsString(root);
    }

    @Test
    void convertToGgufThenFinetuneGenerateAndMergeFromTheFileAlone(@TempDir Path dir) throws Exception {
        Path hf = dir.resolve("hf");
        Checkpoints.save(LlamaWeights.random(LlamaConfig.of(32, 64, 2, 4, 2, 262, 256, false), 3, 0.1f), hf, CheckpointFormat.HF, DType.F32, 0);
        Files.writeString(hf.resolve("tokenizer.json"), byteLevelTokenizer());
        Path gguf = dir.resolve("base.gguf");
        CliTest.Run c = CliTest.run("convert", "--model", hf.toString(), "--out", gguf.toString(), "--dtype", "q8_0", "--json");
        assertEquals(0, c.code(), c.err());
        assertEquals("q8_0", c.json().get("dtype").asText());
        CliTest.assertUserError(CliTest.run("convert", "--model", hf.toString(), "--out", dir.resolve("x.gguf").toString(), "--dtype", "q4_k"),
                "--dtype: 'q4_k' is not a GGUF output type");

        JsonNode g = CliTest.run("generate", "--model", gguf.toString(), "--prompt", "Say 3.", "--temperature", "0", "--max-new-tokens", "6", "--json").json();
        assertEquals(6, g.get("new_tokens").asInt(), g.toString());

        StringBuilder json = new StringBuilder("[");
        for (int i = 0; i < 8; i++) json.append(String.format("{\"instruction\":\"Say %d.\",\"input\":\"\",\"output\":\"%d\"},", i, i));
        Path data = dir.resolve("data.json");
        Files.writeString(data, json.substring(0, json.length() - 1) + "]");
        Path run = dir.resolve("run");
        CliTest.Run f = CliTest.run("finetune", "--model", gguf.toString(), "--data", data.toString(), "--val-size", "2", "--method", "lora",
                "--lora-targets", "all-linear", "--steps", "2", "--micro-batch-size", "2", "--batch-size", "2", "--lr", "5e-2", "--out", run.toString(), "--json");
        assertEquals(0, f.code(), f.err());
        Path merged = dir.resolve("merged.gguf");
        CliTest.Run m = CliTest.run("merge", "--model", gguf.toString(), "--adapter", run.resolve("adapter").toString(), "--out", merged.toString());
        assertEquals(0, m.code(), m.err());
        JsonNode a = CliTest.run("generate", "--model", gguf.toString(), "--adapter", run.resolve("adapter").toString(), "--merge", "--prompt", "Say 3.",
                "--temperature", "0", "--max-new-tokens", "8", "--json").json();
        JsonNode b = CliTest.run("generate", "--model", merged.toString(), "--prompt", "Say 3.", "--temperature", "0", "--max-new-tokens", "8", "--json").json();
        assertEquals(a.get("ids"), b.get("ids"), "merged GGUF (f32) = adapter merged on load");
        assertTrue(Files.size(merged) > Files.size(gguf), "f32 merge is larger than the q8_0 base");
        Path kept = dir.resolve("merged-keep.gguf");
        CliTest.Run k = CliTest.run("merge", "--model", gguf.toString(), "--adapter", run.resolve("adapter").toString(), "--out", kept.toString(), "--dtype", "keep");
        assertEquals(0, k.code(), k.err());
        JsonNode kk = CliTest.run("generate", "--model", kept.toString(), "--prompt", "Say 3.", "--temperature", "0", "--max-new-tokens", "8", "--json").json();
        assertEquals(a.get("ids"), kk.get("ids"), "merged GGUF (keep: merged linears f32, the rest q8_0 as stored)");
        assertTrue(Files.size(kept) < Files.size(merged), "keep leaves the unmerged tensors in q8_0");
    }
}
