package dev.peft4j.models.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.peft4j.api.UserException;
import dev.peft4j.api.io.DType;
import dev.peft4j.api.io.Safetensors;
import dev.peft4j.models.LlamaConfig;
import dev.peft4j.models.LlamaWeights;
import dev.peft4j.models.RopeScaling;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static dev.peft4j.models.io.Llama2cCheckpointTest.TIED;
import static dev.peft4j.models.io.Llama2cCheckpointTest.UNTIED_GQA;
import static dev.peft4j.models.io.Llama2cCheckpointTest.assertMessage;
import static dev.peft4j.models.io.Llama2cCheckpointTest.assertSameWeights;
import static org.junit.jupiter.api.Assertions.*;

class HfCheckpointTest {
    @TempDir
    Path dir;
    static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void roundTripsExactlyInF32() throws IOException {
        for (LlamaConfig c : List.of(TIED, UNTIED_GQA)) {
            LlamaWeights w = LlamaWeights.random(c, 5, 0.3f);
            Path out = dir.resolve("m" + c.tiedEmbeddings());
            HfCheckpoint.write(w, out, DType.F32, 0);
            assertTrue(Files.exists(out.resolve("model.safetensors")) && !Files.exists(out.resolve(HfCheckpoint.INDEX)));
            LlamaWeights back = HfCheckpoint.read(out);
            assertSameWeights(w, back);
            assertEquals(c.tiedEmbeddings(), back.classifier.toF32() == back.tokenEmbedding.toF32());
            try (Safetensors st = Safetensors.open(out.resolve("model.safetensors"))) {
                assertEquals(c.tiedEmbeddings(), !st.contains("lm_head.weight"));
                assertEquals("pt", st.metadata().get("format"));
            }
        }
    }

    @Test
    void roundTripsWithinRoundingIn16Bit() throws IOException {
        LlamaWeights w = LlamaWeights.random(UNTIED_GQA, 6, 0.3f);
        for (DType dt : List.of(DType.BF16, DType.F16)) {
            Path out = dir.resolve(dt.name());
            HfCheckpoint.write(w, out, dt, 0);
            assertEquals(dt == DType.BF16 ? "bfloat16" : "float16", JSON.readTree(out.resolve("config.json").toFile()).get("torch_dtype").asText());
            LlamaWeights back = HfCheckpoint.read(out);
            assertEquals(w.config, back.config);
            for (int t = 0; t < w.tensors().size(); t++) {
                LlamaWeights.Tensor stored = back.tensors().get(t);
                if (stored.shape().length == 2) assertEquals(dt.name(), stored.weight().type().name(), stored.name() + " is kept as stored");
                float[] a = w.tensors().get(t).data(), b = stored.weight().toF32();
                for (int i = 0; i < a.length; i++) {
                    float expected = dt == DType.BF16 ? DType.bf16ToFloat(DType.floatToBf16(a[i])) : Float.float16ToFloat(Float.floatToFloat16(a[i]));
                    assertEquals(expected, b[i], 0f);
                    assertEquals(a[i], b[i], Math.abs(a[i]) * (dt == DType.BF16 ? 0x1p-8 : 0x1p-11) + 1e-7);
                }
            }
        }
    }

    @Test
    void shardsWithAnIndexAndReadsThemBack() throws IOException {
        LlamaWeights w = LlamaWeights.random(UNTIED_GQA, 8, 0.3f);
        long shard = 4L * 24 * 16 * 2; // two MLP matrices per shard
        HfCheckpoint.write(w, dir, DType.F32, shard);
        assertFalse(Files.exists(dir.resolve("model.safetensors")));
        JsonNode index = JSON.readTree(dir.resolve(HfCheckpoint.INDEX).toFile());
        long total = w.tensors().stream().mapToLong(t -> 4 * t.size()).sum();
        assertEquals(total, index.get("metadata").get("total_size").asLong());
        List<Path> shards;
        try (Stream<Path> s = Files.list(dir)) {
            shards = s.filter(p -> p.getFileName().toString().matches("model-\\d{5}-of-\\d{5}\\.safetensors")).sorted().toList();
        }
        assertTrue(shards.size() > 3, "shards: " + shards.size());
        String last = String.format("model-%05d-of-%05d.safetensors", shards.size(), shards.size());
        assertEquals(last, shards.getLast().getFileName().toString());
        for (Path p : shards) {
            try (Safetensors st = Safetensors.open(p)) {
                long bytes = st.entries().stream().mapToLong(e -> e.end() - e.begin()).sum();
                assertTrue(bytes <= shard || st.names().size() == 1, p + " holds " + bytes);
                for (String n : st.names()) assertEquals(p.getFileName().toString(), index.get("weight_map").get(n).asText());
            }
        }
        assertEquals(w.tensors().size(), index.get("weight_map").size());
        assertSameWeights(w, HfCheckpoint.read(dir));

        // Saving unsharded into the same directory removes the old index and shards.
        HfCheckpoint.write(w, dir, DType.F32, 0);
        try (Stream<Path> s = Files.list(dir)) {
            assertEquals(List.of("config.json", "model.safetensors"), s.map(p -> p.getFileName().toString()).sorted().toList());
        }
        assertSameWeights(w, HfCheckpoint.read(dir));
    }

    /** Both layouts hold the same model: .bin and HF written from one set of weights read back equal, tensor for tensor. */
    @Test
    void llama2cAndHfLayoutsAgree() throws IOException {
        for (LlamaConfig c : List.of(TIED, UNTIED_GQA)) {
            LlamaWeights w = LlamaWeights.random(c, 9, 1f);
            Path bin = dir.resolve("m" + c.tiedEmbeddings() + ".bin"), hf = dir.resolve("hf" + c.tiedEmbeddings());
            Llama2cCheckpoint.write(w, bin);
            HfCheckpoint.write(w, hf, DType.F32, 0);
            LlamaWeights fromBin = Llama2cCheckpoint.read(bin), fromHf = HfCheckpoint.read(hf);
            assertSameWeights(fromBin, fromHf);
            // and converting one into the other reproduces the other's files
            Path hf2 = dir.resolve("hf2" + c.tiedEmbeddings()), bin2 = dir.resolve("m2" + c.tiedEmbeddings() + ".bin");
            HfCheckpoint.write(fromBin, hf2, DType.F32, 0);
            Llama2cCheckpoint.write(fromHf, bin2);
            assertArrayEquals(Files.readAllBytes(hf.resolve("model.safetensors")), Files.readAllBytes(hf2.resolve("model.safetensors")));
            assertArrayEquals(Files.readAllBytes(bin), Files.readAllBytes(bin2));
        }
    }

    @Test
    void readsAndWritesConfigFields() throws IOException {
        LlamaConfig c = new LlamaConfig(16, 24, 2, 4, 2, 11, 64, 1e-5f, 500000f, new RopeScaling(8f, 1f, 4f, 32), false);
        HfCheckpoint.write(LlamaWeights.random(c, 1, 1f), dir, DType.BF16, 0);
        assertEquals(c, HfCheckpoint.readConfig(dir));
        JsonNode j = JSON.readTree(dir.resolve("config.json").toFile());
        assertEquals("llama", j.get("model_type").asText());
        assertEquals("LlamaForCausalLM", j.get("architectures").get(0).asText());
        assertEquals("llama3", j.get("rope_scaling").get("rope_type").asText());
        assertEquals(4, j.get("head_dim").asInt());

        // A minimal config in Hugging Face's style: defaults for kv heads, theta, tying; old "type" key for scaling.
        writeConfig("""
                {"hidden_size": 16, "intermediate_size": 24, "num_hidden_layers": 2, "num_attention_heads": 4,
                 "vocab_size": 11, "max_position_embeddings": 64, "rms_norm_eps": 1e-06, "bos_token_id": 1, "eos_token_id": [2, 3],
                 "rope_scaling": {"type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                  "original_max_position_embeddings": 32}, "torch_dtype": "float16"}""");
        assertEquals(new LlamaConfig(16, 24, 2, 4, 4, 11, 64, 1e-6f, 10000f, new RopeScaling(8f, 1f, 4f, 32), false),
                HfCheckpoint.readConfig(dir));
    }

    private void writeConfig(String json) throws IOException {
        Files.writeString(dir.resolve("config.json"), json);
    }

    private ObjectNode config(LlamaConfig c) throws IOException {
        return (ObjectNode) JSON.readTree(HfCheckpoint.configJson(c, DType.F32).toString());
    }

    @Test
    void rejectsBadConfigs() throws IOException {
        Path file = dir.resolve("config.json");
        ObjectNode good = config(UNTIED_GQA);
        record Case(String what, java.util.function.Consumer<ObjectNode> edit, String... message) {}
        List<Case> cases = new ArrayList<>(List.of(
                new Case("missing", o -> o.remove("hidden_size"), "missing field \"hidden_size\""),
                new Case("missing vocab", o -> o.remove("vocab_size"), "missing field \"vocab_size\""),
                new Case("not an int", o -> o.put("num_hidden_layers", "two"), "\"num_hidden_layers\"", "positive integer"),
                new Case("negative", o -> o.put("intermediate_size", -3), "\"intermediate_size\"", "-3"),
                new Case("eps", o -> o.put("rms_norm_eps", 0), "\"rms_norm_eps\""),
                new Case("head_dim", o -> o.put("head_dim", 8), "head_dim 8", "16 / 4"),
                new Case("kv heads", o -> o.put("num_key_value_heads", 3), "multiple of n_kv_heads 3"),
                new Case("model_type", o -> o.put("model_type", "mistral"), "model_type", "mistral"),
                new Case("scaling", o -> o.putObject("rope_scaling").put("rope_type", "yarn").put("factor", 4), "rope_scaling", "yarn"),
                new Case("scaling field", o -> o.putObject("rope_scaling").put("rope_type", "llama3").put("factor", 4),
                        "missing field \"low_freq_factor\""),
                new Case("tie", o -> o.put("tie_word_embeddings", "yes"), "\"tie_word_embeddings\""),
                new Case("act", o -> o.put("hidden_act", "gelu"), "hidden_act", "gelu")));
        for (Case k : cases) {
            ObjectNode o = good.deepCopy();
            k.edit().accept(o);
            writeConfig(o.toString());
            UserException e = assertThrows(UserException.class, () -> HfCheckpoint.readConfig(dir), k.what());
            assertMessage(e, file.toString());
            assertMessage(e, k.message());
        }
        writeConfig("{\"hidden_size\": 16,");
        assertMessage(assertThrows(UserException.class, () -> HfCheckpoint.readConfig(dir)), file.toString(), "not valid JSON");
        Files.delete(file);
        assertMessage(assertThrows(UserException.class, () -> HfCheckpoint.readConfig(dir)), file.toString(), "not found");
    }

    /** Writes a checkpoint whose tensors are {@code w}'s, edited, with {@code w}'s config. */
    private void writeTensors(LlamaWeights w, List<Safetensors.Tensor> tensors) throws IOException {
        HfCheckpoint.write(w, dir, DType.F32, 0);
        Safetensors.write(dir.resolve("model.safetensors"), tensors, DType.F32, null);
    }

    private static List<Safetensors.Tensor> asSt(LlamaWeights w) {
        return new ArrayList<>(w.tensors().stream().map(t -> new Safetensors.Tensor(t.name(), t.shape(), t.data())).toList());
    }

    @Test
    void rejectsMissingExtraAndMisshapenTensors() throws IOException {
        LlamaWeights w = LlamaWeights.random(UNTIED_GQA, 2, 1f);
        Path st = dir.resolve("model.safetensors");

        List<Safetensors.Tensor> ts = asSt(w);
        ts.removeIf(t -> t.name().equals("model.layers.1.mlp.up_proj.weight"));
        writeTensors(w, ts);
        assertMessage(assertThrows(UserException.class, () -> HfCheckpoint.read(dir)), dir.toString(),
                "missing tensor 'model.layers.1.mlp.up_proj.weight'");

        ts = asSt(w);
        ts.removeIf(t -> t.name().equals("lm_head.weight"));
        writeTensors(w, ts);
        assertMessage(assertThrows(UserException.class, () -> HfCheckpoint.read(dir)), "missing tensor 'lm_head.weight'", "tie_word_embeddings=false");

        ts = asSt(w);
        ts.replaceAll(t -> t.name().equals("model.layers.0.self_attn.k_proj.weight")
                ? new Safetensors.Tensor(t.name(), new int[]{16, 8}, t.data()) : t);
        writeTensors(w, ts);
        assertMessage(assertThrows(UserException.class, () -> HfCheckpoint.read(dir)), st.toString(),
                "'model.layers.0.self_attn.k_proj.weight'", "[16, 8]", "config.json implies [8, 16]");

        ts = asSt(w);
        ts.add(new Safetensors.Tensor("model.layers.0.self_attn.q_proj.bias", new int[]{16}, new float[16]));
        ts.add(new Safetensors.Tensor("model.layers.0.self_attn.rotary_emb.inv_freq", new int[]{2}, new float[2]));
        writeTensors(w, ts);
        assertMessage(assertThrows(UserException.class, () -> HfCheckpoint.read(dir)), dir.toString(),
                "1 unexpected tensor(s)", "model.layers.0.self_attn.q_proj.bias");

        ts.removeIf(t -> t.name().endsWith(".bias"));
        writeTensors(w, ts);
        assertSameWeights(w, HfCheckpoint.read(dir)); // rotary_emb.inv_freq is ignored
    }

    @Test
    void layoutMatchesLlamaWeightsTensors() {
        for (LlamaConfig c : List.of(TIED, UNTIED_GQA)) {
            List<LlamaWeights.Tensor> real = new LlamaWeights(c).tensors(), layout = HfCheckpoint.layout(c);
            assertEquals(real.size(), layout.size());
            for (int i = 0; i < real.size(); i++) {
                assertEquals(real.get(i).name(), layout.get(i).name());
                assertArrayEquals(real.get(i).shape(), layout.get(i).shape(), real.get(i).name());
            }
        }
    }

    /** A config.json for a far larger model than the files (80 layers, 70B parameters) fails with a message, before allocating. */
    @Test
    void wrongConfigFailsBeforeAllocating() throws IOException {
        HfCheckpoint.write(LlamaWeights.random(TIED, 4, 1f), dir, DType.F32, 0);
        Files.writeString(dir.resolve("config.json"), HfCheckpoint.configJson(
                LlamaConfig.of(8192, 28672, 80, 64, 8, 128256, 8192, false), DType.F32).toString());
        assertMessage(assertThrows(UserException.class, () -> HfCheckpoint.read(dir)), "missing tensor 'model.layers.2.self_attn.q_proj.weight'");
        Files.writeString(dir.resolve("config.json"), HfCheckpoint.configJson(
                LlamaConfig.of(8192, 28672, 2, 64, 8, 128256, 8192, true), DType.F32).toString());
        assertMessage(assertThrows(UserException.class, () -> HfCheckpoint.read(dir)), "model.embed_tokens.weight", "[11, 16]",
                "[128256, 8192]");
    }

    @Test
    void tiedModelsMayStoreAnEqualHead() throws IOException {
        LlamaWeights w = LlamaWeights.random(TIED, 4, 1f);
        List<Safetensors.Tensor> ts = asSt(w);
        ts.add(new Safetensors.Tensor("lm_head.weight", new int[]{11, 16}, w.tokenEmbedding.toF32().clone()));
        writeTensors(w, ts);
        assertSameWeights(w, HfCheckpoint.read(dir));

        float[] other = w.tokenEmbedding.toF32().clone();
        other[100] += 1;
        ts.set(ts.size() - 1, new Safetensors.Tensor("lm_head.weight", new int[]{11, 16}, other));
        writeTensors(w, ts);
        assertMessage(assertThrows(UserException.class, () -> HfCheckpoint.read(dir)), "lm_head.weight differs", "element 100",
                "tie_word_embeddings=true");
    }

    @Test
    void checksTheIndexAgainstTheShards() throws IOException {
        LlamaWeights w = LlamaWeights.random(TIED, 4, 1f);
        HfCheckpoint.write(w, dir, DType.F32, 4L * 16 * 24 * 3);
        Path index = dir.resolve(HfCheckpoint.INDEX);
        ObjectNode j = (ObjectNode) JSON.readTree(index.toFile());
        ((ObjectNode) j.get("weight_map")).put("model.norm.weight", "model-00001-of-00009.safetensors");
        Files.writeString(index, j.toString());
        assertMessage(assertThrows(UserException.class, () -> HfCheckpoint.read(dir)), index.toString(), "'model.norm.weight'",
                "model-00001-of-00009.safetensors");
        Path shard = dir.resolve(j.get("weight_map").get("model.embed_tokens.weight").asText()); // holds no final norm
        assertTrue(Files.exists(shard));
        ((ObjectNode) j.get("weight_map")).put("model.norm.weight", shard.getFileName().toString());
        Files.writeString(index, j.toString());
        assertMessage(assertThrows(UserException.class, () -> HfCheckpoint.read(dir)), index.toString(), "does not contain it");
    }

    @Test
    void reportsMissingModelFiles() throws IOException {
        HfCheckpoint.write(LlamaWeights.random(TIED, 4, 1f), dir, DType.F32, 0);
        Files.delete(dir.resolve("model.safetensors"));
        assertMessage(assertThrows(UserException.class, () -> HfCheckpoint.read(dir)), dir.toString(), "no model.safetensors");
        Files.writeString(dir.resolve("model.safetensors"), "garbage!garbage!");
        assertMessage(assertThrows(UserException.class, () -> HfCheckpoint.read(dir)), dir.resolve("model.safetensors").toString());
    }
}
