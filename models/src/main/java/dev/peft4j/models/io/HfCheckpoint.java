package dev.peft4j.models.io;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.peft4j.api.UserException;
import dev.peft4j.api.io.AtomicFiles;
import dev.peft4j.api.io.DType;
import dev.peft4j.api.io.Safetensors;
import dev.peft4j.models.LlamaConfig;
import dev.peft4j.kernels.WeightMatrix;
import dev.peft4j.kernels.quant.GgmlType;
import dev.peft4j.models.LlamaWeights;
import dev.peft4j.models.RopeScaling;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * A Hugging Face {@code LlamaForCausalLM} checkpoint: a directory with {@code config.json} and
 * either {@code model.safetensors} or shards {@code model-00001-of-0000N.safetensors} listed in
 * {@code model.safetensors.index.json}.
 *
 * <p>Tensor names are those of {@link LlamaWeights#tensors()}; q/k rows are already in
 * peft4j's ("rotate half") order, so no permutation is needed. F32, F16 and BF16 tensors are read
 * to float32 straight from the memory-mapped shards. Reading checks the checkpoint against its
 * config: every tensor present with the right shape, nothing unknown besides the
 * {@code rotary_emb.inv_freq} buffers older exports carry, and for tied models an
 * {@code lm_head.weight} either absent or equal to the embedding.
 *
 * <p>Writing replaces each file atomically, removes model files of an earlier checkpoint in the
 * same directory that the new one does not use, and writes {@code config.json} last, so a
 * directory with the new config always has the new weights. Other files (tokenizers) are kept.
 */
public final class HfCheckpoint {
    public static final String CONFIG = "config.json";
    public static final String SINGLE = "model.safetensors";
    public static final String INDEX = "model.safetensors.index.json";
    private static final Pattern SHARD = Pattern.compile("model-\\d{5}-of-\\d{5}\\.safetensors");
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private HfCheckpoint() {}

    // ---------------------------------------------------------------- config

    /** Reads and validates {@code config.json} of the checkpoint in {@code dir}. */
    public static LlamaConfig readConfig(Path dir) {
        Path file = dir.resolve(CONFIG);
        JsonNode root = readJson(file);
        if (!root.isObject()) throw new UserException(file + ": not a JSON object");
        Fields f = new Fields(file, root);
        String modelType = f.optionalText("model_type");
        if (modelType != null && !modelType.equals("llama")) {
            throw new UserException(file + ": model_type is \"" + modelType + "\", expected \"llama\"");
        }
        String act = f.optionalText("hidden_act");
        if (act != null && !act.equals("silu")) {
            throw new UserException(file + ": hidden_act is \"" + act + "\"; LLaMA models use \"silu\"");
        }
        for (String bias : List.of("attention_bias", "mlp_bias")) {
            JsonNode b = root.get(bias);
            if (b != null && b.asBoolean(false)) throw new UserException(file + ": " + bias + "=true is not supported (LLaMA has no biases)");
        }
        int dim = f.positiveInt("hidden_size", null);
        int hidden = f.positiveInt("intermediate_size", null);
        int layers = f.positiveInt("num_hidden_layers", null);
        int heads = f.positiveInt("num_attention_heads", null);
        int kvHeads = f.positiveInt("num_key_value_heads", heads);
        int vocab = f.positiveInt("vocab_size", null);
        int maxPos = f.positiveInt("max_position_embeddings", null);
        float eps = f.positiveFloat("rms_norm_eps", 1e-6f);
        float theta = f.positiveFloat("rope_theta", 10000f);
        boolean tied = f.bool("tie_word_embeddings", false);
        JsonNode headDim = root.get("head_dim");
        if (headDim != null && !headDim.isNull() && (!headDim.canConvertToInt() || !headDim.isIntegralNumber()
                || heads == 0 || dim % heads != 0 || headDim.intValue() != dim / heads)) {
            throw new UserException(file + ": head_dim " + headDim + " must equal hidden_size / num_attention_heads = "
                    + dim + " / " + heads + " (other head sizes are not supported)");
        }
        RopeScaling scaling = ropeScaling(file, root.get("rope_scaling"));
        try {
            return new LlamaConfig(dim, hidden, layers, heads, kvHeads, vocab, maxPos, eps, theta, scaling, tied);
        } catch (IllegalArgumentException e) {
            throw new UserException(file + ": " + e.getMessage());
        }
    }

    private static RopeScaling ropeScaling(Path file, JsonNode node) {
        if (node == null || node.isNull()) return null;
        if (!node.isObject()) throw new UserException(file + ": rope_scaling must be an object or null, got " + node);
        JsonNode type = node.has("rope_type") ? node.get("rope_type") : node.get("type");
        String t = type == null ? null : type.asText();
        if ("default".equals(t)) return null;
        if (!"llama3".equals(t)) {
            throw new UserException(file + ": rope_scaling type " + (t == null ? "(missing)" : "\"" + t + "\"")
                    + " is not supported; only \"llama3\" is");
        }
        Fields f = new Fields(file, node);
        try {
            return new RopeScaling(f.positiveFloat("factor", null), f.positiveFloat("low_freq_factor", null),
                    f.positiveFloat("high_freq_factor", null), f.positiveInt("original_max_position_embeddings", null));
        } catch (IllegalArgumentException e) {
            throw new UserException(file + ": " + e.getMessage());
        }
    }

    /** Typed access to config fields with errors naming the file and the field. */
    private record Fields(Path file, JsonNode root) {
        private JsonNode get(String name, boolean required) {
            JsonNode n = root.get(name);
            if (n == null || n.isNull()) {
                if (required) throw new UserException(file + ": missing field \"" + name + "\"");
                return null;
            }
            return n;
        }

        int positiveInt(String name, Integer dflt) {
            JsonNode n = get(name, dflt == null);
            if (n == null) return dflt;
            if (!n.isIntegralNumber() || !n.canConvertToInt() || n.intValue() <= 0) {
                throw new UserException(file + ": field \"" + name + "\" must be a positive integer, got " + n);
            }
            return n.intValue();
        }

        float positiveFloat(String name, Float dflt) {
            JsonNode n = get(name, dflt == null);
            if (n == null) return dflt;
            if (!n.isNumber() || !(n.floatValue() > 0) || Float.isInfinite(n.floatValue())) {
                throw new UserException(file + ": field \"" + name + "\" must be a positive number, got " + n);
            }
            return n.floatValue();
        }

        boolean bool(String name, boolean dflt) {
            JsonNode n = get(name, false);
            if (n == null) return dflt;
            if (!n.isBoolean()) throw new UserException(file + ": field \"" + name + "\" must be true or false, got " + n);
            return n.booleanValue();
        }

        String optionalText(String name) {
            JsonNode n = get(name, false);
            if (n == null) return null;
            if (!n.isTextual()) throw new UserException(file + ": field \"" + name + "\" must be a string, got " + n);
            return n.textValue();
        }
    }

    /** The {@code config.json} content for {@code c} with weights stored as {@code dtype}. */
    static ObjectNode configJson(LlamaConfig c, DType dtype) {
        ObjectNode o = JSON.createObjectNode();
        o.putArray("architectures").add("LlamaForCausalLM");
        o.put("model_type", "llama");
        o.put("hidden_size", c.dim());
        o.put("intermediate_size", c.hiddenDim());
        o.put("num_hidden_layers", c.nLayers());
        o.put("num_attention_heads", c.nHeads());
        o.put("num_key_value_heads", c.nKvHeads());
        o.put("head_dim", c.headDim());
        o.put("vocab_size", c.vocabSize());
        o.put("max_position_embeddings", c.maxSeqLen());
        o.put("rms_norm_eps", c.normEps());
        o.put("rope_theta", c.ropeTheta());
        RopeScaling s = c.ropeScaling();
        if (s == null) {
            o.putNull("rope_scaling");
        } else {
            ObjectNode r = o.putObject("rope_scaling");
            r.put("rope_type", "llama3");
            r.put("factor", s.factor());
            r.put("low_freq_factor", s.lowFreqFactor());
            r.put("high_freq_factor", s.highFreqFactor());
            r.put("original_max_position_embeddings", s.originalMaxPositionEmbeddings());
        }
        o.put("tie_word_embeddings", c.tiedEmbeddings());
        o.put("hidden_act", "silu");
        o.put("attention_bias", false);
        o.put("mlp_bias", false);
        o.put("torch_dtype", switch (dtype) {
            case F32 -> "float32";
            case F16 -> "float16";
            case BF16 -> "bfloat16";
        });
        return o;
    }

    // ---------------------------------------------------------------- reading

    /** Reads the checkpoint in {@code dir}. */
    public static LlamaWeights read(Path dir) {
        return read(dir, 0);
    }

    /** Reads the checkpoint in {@code dir}, replacing its context length by {@code maxSeqLen} when that is positive. */
    public static LlamaWeights read(Path dir, int maxSeqLen) {
        LlamaConfig config = readConfig(dir);
        if (maxSeqLen > 0) config = config.withMaxSeqLen(maxSeqLen);
        Map<String, Path> weightMap = weightMap(dir);
        Map<Path, Safetensors> open = new LinkedHashMap<>();
        try {
            for (Path p : new LinkedHashSet<>(weightMap.values())) open.put(p, Safetensors.openMapped(p));
            // Where each stored tensor really is; the index must agree with the shards' headers.
            Map<String, Safetensors> where = new HashMap<>();
            for (Safetensors st : open.values()) {
                for (String name : st.names()) {
                    Safetensors prev = where.put(name, st);
                    if (prev != null) {
                        throw new UserException(dir + ": tensor '" + name + "' is stored twice, in " + prev.file().getFileName()
                                + " and " + st.file().getFileName());
                    }
                }
            }
            for (Map.Entry<String, Path> e : weightMap.entrySet()) {
                if (!e.getKey().isEmpty() && !open.get(e.getValue()).contains(e.getKey())) {
                    throw new UserException(dir.resolve(INDEX) + ": lists tensor '" + e.getKey() + "' in " + e.getValue().getFileName()
                            + ", which does not contain it");
                }
            }
            // Validate names and shapes before allocating, so a wrong config.json fails with a message, not an OutOfMemoryError.
            List<LlamaWeights.Tensor> layout = layout(config);
            LlamaWeights.Tensor tiedHead = config.tiedEmbeddings() && where.containsKey("lm_head.weight")
                    ? new LlamaWeights.Tensor("lm_head.weight", new int[]{config.vocabSize(), config.dim()}, (WeightMatrix) null) : null;
            checkNames(dir, config, where.keySet(), layout);
            for (LlamaWeights.Tensor t : layout) checkShape(where.get(t.name()), t);
            if (tiedHead != null) checkShape(where.get(tiedHead.name()), tiedHead);
            // Matrices stored as BF16 or F16 stay in the mapped files, read in place; F32 ones and norm weights are copied once.
            LlamaWeights w = new LlamaWeights(config, null);
            for (LlamaWeights.Tensor t : layout) {
                Safetensors st = where.get(t.name());
                DType stored = st.entry(t.name()).dtype();
                if (t.shape().length == 1) {
                    st.readFloats(t.name(), w.weight(t.name()).f32());
                } else if (stored == DType.BF16 || stored == DType.F16) {
                    w.set(t.name(), WeightMatrix.of(stored == DType.BF16 ? GgmlType.BF16 : GgmlType.F16, st.bytes(t.name()), t.shape()[0], t.shape()[1]));
                } else {
                    float[] data = new float[Math.multiplyExact(t.shape()[0], t.shape()[1])];
                    st.readFloats(t.name(), data);
                    w.set(t.name(), WeightMatrix.of(data, t.shape()[0], t.shape()[1]));
                }
            }
            if (tiedHead != null) checkTiedHead(where.get(tiedHead.name()), w.tokenEmbedding);
            return w;
        } finally {
            for (Safetensors st : open.values()) st.close();
        }
    }

    /**
     * Tensor name to the file holding it, from {@code model.safetensors.index.json}; for a
     * single-file checkpoint, {@code model.safetensors} under the empty name.
     */
    private static Map<String, Path> weightMap(Path dir) {
        Path index = dir.resolve(INDEX), single = dir.resolve(SINGLE);
        Map<String, Path> map = new LinkedHashMap<>();
        if (Files.isRegularFile(index)) {
            JsonNode wm = readJson(index).get("weight_map");
            if (wm == null || !wm.isObject()) throw new UserException(index + ": missing object \"weight_map\"");
            for (Map.Entry<String, JsonNode> e : wm.properties()) {
                String f = e.getValue().asText("");
                Path p = dir.resolve(f);
                if (f.isEmpty() || f.contains("/") || f.contains("\\") || !Files.isRegularFile(p)) {
                    throw new UserException(index + ": tensor '" + e.getKey() + "' is mapped to \"" + f + "\", which is not a file in " + dir);
                }
                map.put(e.getKey(), p);
            }
        } else if (Files.isRegularFile(single)) {
            map.put("", single);
        } else {
            throw new UserException(dir + ": no " + SINGLE + " or " + INDEX + " found");
        }
        return map;
    }

    /**
     * The names and shapes of {@link LlamaWeights#tensors()} for {@code c}, without allocating
     * the data (null). Kept equal to it by HfCheckpointTest.
     */
    static List<LlamaWeights.Tensor> layout(LlamaConfig c) {
        int d = c.dim(), kv = c.kvDim(), h = c.hiddenDim();
        List<LlamaWeights.Tensor> out = new ArrayList<>();
        out.add(new LlamaWeights.Tensor("model.embed_tokens.weight", new int[]{c.vocabSize(), d}, (WeightMatrix) null));
        for (int l = 0; l < c.nLayers(); l++) {
            String p = "model.layers." + l + ".";
            out.add(new LlamaWeights.Tensor(p + "self_attn.q_proj.weight", new int[]{d, d}, (WeightMatrix) null));
            out.add(new LlamaWeights.Tensor(p + "self_attn.k_proj.weight", new int[]{kv, d}, (WeightMatrix) null));
            out.add(new LlamaWeights.Tensor(p + "self_attn.v_proj.weight", new int[]{kv, d}, (WeightMatrix) null));
            out.add(new LlamaWeights.Tensor(p + "self_attn.o_proj.weight", new int[]{d, d}, (WeightMatrix) null));
            out.add(new LlamaWeights.Tensor(p + "mlp.gate_proj.weight", new int[]{h, d}, (WeightMatrix) null));
            out.add(new LlamaWeights.Tensor(p + "mlp.up_proj.weight", new int[]{h, d}, (WeightMatrix) null));
            out.add(new LlamaWeights.Tensor(p + "mlp.down_proj.weight", new int[]{d, h}, (WeightMatrix) null));
            out.add(new LlamaWeights.Tensor(p + "input_layernorm.weight", new int[]{d}, (WeightMatrix) null));
            out.add(new LlamaWeights.Tensor(p + "post_attention_layernorm.weight", new int[]{d}, (WeightMatrix) null));
        }
        out.add(new LlamaWeights.Tensor("model.norm.weight", new int[]{d}, (WeightMatrix) null));
        if (!c.tiedEmbeddings()) out.add(new LlamaWeights.Tensor("lm_head.weight", new int[]{c.vocabSize(), d}, (WeightMatrix) null));
        return out;
    }

    private static void checkNames(Path dir, LlamaConfig c, Set<String> stored, List<LlamaWeights.Tensor> expected) {
        Set<String> want = new HashSet<>();
        for (LlamaWeights.Tensor t : expected) {
            want.add(t.name());
            if (!stored.contains(t.name())) {
                throw new UserException(dir + ": missing tensor '" + t.name() + "'"
                        + (t.name().equals("lm_head.weight") ? " (config.json says tie_word_embeddings=false)" : ""));
            }
        }
        List<String> unknown = new ArrayList<>();
        for (String s : stored) {
            boolean ignorable = s.endsWith("rotary_emb.inv_freq") || (c.tiedEmbeddings() && s.equals("lm_head.weight"));
            if (!want.contains(s) && !ignorable) unknown.add(s);
        }
        if (!unknown.isEmpty()) {
            unknown.sort(null);
            throw new UserException(dir + ": " + unknown.size() + " unexpected tensor(s) for a LLaMA model with this config.json: "
                    + String.join(", ", unknown.subList(0, Math.min(5, unknown.size()))) + (unknown.size() > 5 ? ", ..." : ""));
        }
    }

    private static void checkShape(Safetensors st, LlamaWeights.Tensor t) {
        long[] actual = st.shape(t.name());
        long[] want = Arrays.stream(t.shape()).asLongStream().toArray();
        if (!Arrays.equals(actual, want)) {
            throw new UserException(st.file() + ": tensor '" + t.name() + "' has shape " + Arrays.toString(actual)
                    + " but config.json implies " + Arrays.toString(want));
        }
    }

    /** A tied model may still store lm_head.weight, but then it must equal the embedding. */
    private static void checkTiedHead(Safetensors st, WeightMatrix embeddingTable) {
        float[] embedding = embeddingTable.toF32();
        float[] chunk = new float[Math.min(embedding.length, 1 << 16)];
        for (int from = 0; from < embedding.length; from += chunk.length) {
            int n = Math.min(chunk.length, embedding.length - from);
            st.readFloats("lm_head.weight", from, chunk, 0, n);
            for (int i = 0; i < n; i++) {
                if (Float.floatToIntBits(chunk[i]) != Float.floatToIntBits(embedding[from + i])) {
                    throw new UserException(st.file() + ": lm_head.weight differs from model.embed_tokens.weight (element " + (from + i)
                            + ") although config.json says tie_word_embeddings=true");
                }
            }
        }
    }

    private static JsonNode readJson(Path file) {
        try {
            return JSON.readTree(Files.readAllBytes(file));
        } catch (NoSuchFileException e) {
            throw new UserException(file + ": file not found");
        } catch (JsonProcessingException e) {
            throw new UserException(file + ": not valid JSON: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw new UserException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    // ---------------------------------------------------------------- writing

    /**
     * Writes {@code w} into directory {@code dir} with tensors stored as {@code dtype}. When
     * {@code maxShardBytes} is positive and the tensors exceed it, they are split, in order, into
     * shards of at most that many data bytes (a larger tensor gets a shard of its own) with an index.
     */
    public static void write(LlamaWeights w, Path dir, DType dtype, long maxShardBytes) throws IOException {
        Files.createDirectories(dir);
        List<List<Safetensors.Tensor>> shards = new ArrayList<>();
        List<Safetensors.Tensor> current = new ArrayList<>();
        long currentBytes = 0, total = 0;
        for (LlamaWeights.Tensor t : w.tensors()) {
            long bytes = t.size() * dtype.bytes();
            if (maxShardBytes > 0 && !current.isEmpty() && currentBytes + bytes > maxShardBytes) {
                shards.add(current);
                current = new ArrayList<>();
                currentBytes = 0;
            }
            current.add(new Safetensors.Tensor(t.name(), t.shape(), t.weight().toF32()));
            currentBytes += bytes;
            total += bytes;
        }
        shards.add(current);

        Map<String, String> meta = Map.of("format", "pt");
        Set<String> written = new HashSet<>();
        if (shards.size() == 1) {
            Safetensors.write(dir.resolve(SINGLE), shards.getFirst(), dtype, meta);
            written.add(SINGLE);
        } else {
            ObjectNode index = JSON.createObjectNode();
            index.putObject("metadata").put("total_size", total);
            ObjectNode weightMap = index.putObject("weight_map");
            for (int i = 0; i < shards.size(); i++) {
                String name = String.format("model-%05d-of-%05d.safetensors", i + 1, shards.size());
                Safetensors.write(dir.resolve(name), shards.get(i), dtype, meta);
                for (Safetensors.Tensor t : shards.get(i)) weightMap.put(t.name(), name);
                written.add(name);
            }
            AtomicFiles.write(dir.resolve(INDEX), JSON.writeValueAsString(index).getBytes(StandardCharsets.UTF_8));
            written.add(INDEX);
        }
        removeStaleModelFiles(dir, written);
        AtomicFiles.write(dir.resolve(CONFIG), JSON.writeValueAsString(configJson(w.config, dtype)).getBytes(StandardCharsets.UTF_8));
    }

    /** Deletes model files of an earlier checkpoint that the one just written does not use. */
    private static void removeStaleModelFiles(Path dir, Set<String> keep) throws IOException {
        List<Path> stale = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
            for (Path p : ds) {
                String n = p.getFileName().toString();
                boolean model = n.equals(SINGLE) || n.equals(INDEX) || SHARD.matcher(n).matches();
                if (model && !keep.contains(n)) stale.add(p);
            }
        }
        // The index first: a crash part-way must never leave an index pointing at deleted shards.
        stale.sort((a, b) -> Boolean.compare(!a.getFileName().toString().equals(INDEX), !b.getFileName().toString().equals(INDEX)));
        for (Path p : stale) Files.deleteIfExists(p);
    }
}
