package dev.peft4j.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.api.io.DType;
import dev.peft4j.models.LlamaConfig;
import dev.peft4j.models.LlamaModel;
import dev.peft4j.models.LlamaWeights;
import dev.peft4j.models.io.CheckpointFormat;
import dev.peft4j.models.io.Checkpoints;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The command line end to end, in process: outputs, --json, and user errors without stack traces. */
class CliTest {
    record Run(int code, String out, String err) {
        JsonNode json() throws Exception {
            String[] lines = out.strip().split("\n");
            return new ObjectMapper().readTree(lines[lines.length - 1]);
        }
    }

    static Run run(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        int code = Main.run(args, new PrintWriter(out, true), new PrintWriter(err, true));
        return new Run(code, out.toString(), err.toString());
    }

    static void assertUserError(Run r, String message) {
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("peft4j: error: " + message), "stderr: " + r.err());
        assertFalse(r.err().contains("\tat "), "no stack trace for a user error: " + r.err());
    }

    @Test
    void generateOnTheEmbeddedModelPrintsJsonLast() throws Exception {
        Run r = run("generate", "--prompt", "Hi", "--max-new-tokens", "5", "--seed", "1", "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode j = r.json();
        assertEquals(5, j.get("new_tokens").asInt());
        assertEquals(5, j.get("ids").size());
        assertEquals(3, j.get("prompt_tokens").asInt(), "BOS + 2 bytes");
        assertTrue(j.has("text") && j.get("tokens_per_s").asDouble() >= 0 && j.get("peak_rss_bytes").asLong() != 0, j.toString());
        Run again = run("generate", "--prompt", "Hi", "--max-new-tokens", "5", "--seed", "1", "--json");
        assertEquals(j.get("ids"), again.json().get("ids"), "same seed, same tokens");
    }

    @Test
    void generateForPeoplePrintsTheStats() {
        Run r = run("generate", "--prompt", "Hello", "--max-new-tokens", "3", "--temperature", "0");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("Hello"), r.out());
        assertTrue(r.out().contains("tokens/s") && r.out().contains("peak memory"), r.out());
    }

    @Test
    void convertRoundTripsBetweenLayoutsAndTheModelsAgree(@TempDir Path dir) throws Exception {
        LlamaConfig c = LlamaConfig.of(16, 32, 2, 4, 2, 259, 32, false);
        Path bin = dir.resolve("m.bin");
        Checkpoints.save(LlamaWeights.random(c, 3, 0.2f), bin, CheckpointFormat.LLAMA2C, DType.F32, 0);
        Run conv = run("convert", "--model", bin.toString(), "--out", dir.resolve("hf").toString(), "--json");
        assertEquals(0, conv.code(), conv.err());
        assertEquals("hf", conv.json().get("format").asText());
        assertTrue(Files.exists(dir.resolve("hf/config.json")));
        Run back = run("convert", "--model", dir.resolve("hf").toString(), "--out", dir.resolve("back.bin").toString());
        assertEquals(0, back.code(), back.err());
        int[] tokens = {1, 70, 80, 90, 100};
        float[][] a = new LlamaModel(Checkpoints.load(bin)).forwardAll(tokens);
        float[][] b = new LlamaModel(Checkpoints.load(dir.resolve("hf"))).forwardAll(tokens);
        float[][] d = new LlamaModel(Checkpoints.load(dir.resolve("back.bin"))).forwardAll(tokens);
        for (int t = 0; t < tokens.length; t++) {
            assertArrayEquals(a[t], b[t], "llama2.c and HF layouts, position " + t);
            assertArrayEquals(a[t], d[t], "round trip, position " + t);
        }
        Run bf16 = run("convert", "--model", bin.toString(), "--out", dir.resolve("hf16").toString(), "--dtype", "bf16", "--max-shard-size", "20KB");
        assertEquals(0, bf16.code(), bf16.err());
        assertTrue(Files.exists(dir.resolve("hf16/model.safetensors.index.json")), "sharded");
    }

    @Test
    void userErrorsNameWhatIsWrong(@TempDir Path dir) throws Exception {
        assertUserError(run("generate", "--model", dir.resolve("missing.bin").toString()), "--model: " + dir.resolve("missing.bin") + " does not exist");
        Path truncated = dir.resolve("t.bin");
        Checkpoints.save(LlamaWeights.random(LlamaConfig.of(16, 32, 1, 2, 2, 20, 8, true), 1, 0.1f), truncated, CheckpointFormat.LLAMA2C, DType.F32, 0);
        byte[] bytes = Files.readAllBytes(truncated);
        Files.write(truncated, java.util.Arrays.copyOf(bytes, bytes.length - 10));
        Run r = run("eval", "--model", truncated.toString(), "--data", truncated.toString());
        assertEquals(2, r.code());
        assertTrue(r.err().contains(truncated.toString()), r.err());
        assertUserError(run("convert", "--model", truncated.toString(), "--out", dir.resolve("x").toString(), "--dtype", "f8"), "--dtype: unknown type 'f8'");
        assertUserError(run("bench", "train", "--method", "nope"), "unknown method 'nope' (available: full, llama-adapter, lora, prefix)");
        assertUserError(run("generate", "--temperature", "-1"), "--temperature must be >= 0");
        assertUserError(run("generate", "--merge"), "--merge needs --adapter");
    }

    @Test
    void pluginsListsEveryMethodWithItsParameters() throws Exception {
        Run r = run("plugins", "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode methods = r.json().get("methods");
        assertEquals(4, methods.size());
        assertEquals("full", methods.get(0).get("name").asText());
        assertEquals(r.json().get("model_params").asLong(), methods.get(0).get("trainable_params").asLong());
        assertEquals("LORA", methods.get(2).get("peft_type").asText());
        assertTrue(methods.get(2).get("trainable_params").asLong() > 0);
        assertEquals("--lora-r", methods.get(2).get("flags").get(0).asText(), "each method lists its own finetune flags");
        assertEquals(0, methods.get(0).get("flags").size(), "full fine-tuning has none");
    }

    @Test
    void evalReportsLossAndPerplexity(@TempDir Path dir) throws Exception {
        Path text = dir.resolve("t.txt");
        Files.writeString(text, "The quick brown fox jumps over the lazy dog. ".repeat(20));
        Run r = run("eval", "--data", text.toString(), "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode j = r.json();
        assertEquals(900, j.get("tokens").asInt(), "every byte after BOS is predicted once");
        assertEquals(Math.exp(j.get("loss").asDouble()), j.get("perplexity").asDouble(), 1e-6 * j.get("perplexity").asDouble());
    }

    @Test
    void tokenizeShowsIdsAndPiecesOfTheLlama2Tokenizer() throws Exception {
        Path tok = Path.of(System.getProperty("peft4j.shared", "../shared"), "data/llama2-tokenizer/tokenizer.model");
        Assumptions.assumeTrue(Files.exists(tok), "skipped: the Llama 2 tokenizer is not at " + tok + " (../shared/data beside the checkout)");
        Run r = run("tokenize", "--tokenizer", tok.toString(), "--text", "Hello world", "--bos", "--json");
        assertEquals(0, r.code(), r.err());
        assertEquals("[1,15043,3186]", r.json().get("ids").toString());
        assertEquals("▁Hello", r.json().get("pieces").get(1).asText());
    }
}
