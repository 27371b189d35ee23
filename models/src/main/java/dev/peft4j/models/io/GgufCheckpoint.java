package dev.peft4j.models.io;

import dev.peft4j.api.UserException;
import dev.peft4j.kernels.Threads;
import dev.peft4j.kernels.WeightMatrix;
import dev.peft4j.kernels.quant.Dequant;
import dev.peft4j.kernels.quant.GgmlType;
import dev.peft4j.kernels.quant.Quantize;
import dev.peft4j.models.LlamaConfig;
import dev.peft4j.models.LlamaWeights;
import dev.peft4j.models.RopeScaling;
import dev.peft4j.models.io.GgufFile.Tensor;
import dev.peft4j.models.io.GgufFile.Value;
import dev.peft4j.models.io.GgufFile.ValueType;
import dev.peft4j.models.tokenizer.GgufTokenizers;
import dev.peft4j.models.tokenizer.Tokenizer;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A LLaMA model in a GGUF file, laid out as llama.cpp's converter writes it ({@code general.architecture =
 * "llama"}), and its tokenizer ({@link GgufTokenizers}).
 *
 * <pre>
 *   llama.context_length, embedding_length, block_count, feed_forward_length, attention.head_count,
 *   attention.head_count_kv, attention.layer_norm_rms_epsilon, rope.freq_base, [rope.dimension_count], [vocab_size]
 *   token_embd.weight      {dim, vocab}        blk.N.attn_norm.weight {dim}    blk.N.ffn_norm.weight {dim}
 *   blk.N.attn_q.weight    {dim, dim}          blk.N.attn_k/attn_v.weight {dim, kv_dim}
 *   blk.N.attn_output.weight {dim, dim}        blk.N.ffn_gate/ffn_up.weight {dim, hidden}
 *   blk.N.ffn_down.weight  {hidden, dim}       output_norm.weight {dim}    output.weight {dim, vocab} (absent: tied)
 *   rope_freqs.weight      {head_dim/2}        LLaMA 3.1 scaling as per-frequency divisors (optional)
 * </pre>
 *
 * Dims are GGUF's (ne[0] innermost), so {@code {in, out}} is PyTorch's {@code [out][in]}. The q and k rows
 * are in Meta's interleaved RoPE order; they are permuted to peft4j's order by whole rows (a row of a
 * block-quantised tensor is whole blocks), as {@link Llama2cCheckpoint} does.
 *
 * <p>Reading keeps the weights in their stored types, memory-mapped ({@link #read(Path, int)}). Writing stores
 * 2-D weights in the asked type (F32, F16, BF16, Q8_0 or Q4_0, or each as held; a weight whose rows are not
 * whole blocks falls back to F16, as llama.cpp's converter does) and norms in F32, with the tokenizer.
 */
public final class GgufCheckpoint {
    static final String ARCH = "llama";

    private GgufCheckpoint() {}

    /** The config of the model in an open GGUF file, after checking its tensors' names and shapes. */
    public static LlamaConfig readConfig(GgufFile g) {
        String arch = g.string("general.architecture", null);
        if (!arch.equals(ARCH)) {
            throw g.bad("general.architecture", "is \"" + arch + "\"; only \"llama\" models are supported");
        }
        String p = ARCH + ".";
        int dim = g.positiveInt(p + "embedding_length", null);
        int hidden = g.positiveInt(p + "feed_forward_length", null);
        int layers = g.positiveInt(p + "block_count", null);
        int heads = g.positiveInt(p + "attention.head_count", null);
        int kvHeads = g.positiveInt(p + "attention.head_count_kv", heads);
        int ctx = g.positiveInt(p + "context_length", null);
        double eps = g.number(p + "attention.layer_norm_rms_epsilon", null);
        double theta = g.number(p + "rope.freq_base", 10000.0);
        if (heads > 0 && dim % heads == 0 && g.has(p + "rope.dimension_count")) {
            long rd = g.integer(p + "rope.dimension_count", null);
            if (rd != dim / heads) {
                throw g.bad(p + "rope.dimension_count", rd + " differs from the head size " + dim / heads + " (partial RoPE is not supported)");
            }
        }
        String scalingType = g.string(p + "rope.scaling.type", "none");
        if (!scalingType.equals("none")) {
            throw g.bad(p + "rope.scaling.type", "\"" + scalingType + "\" RoPE scaling is not supported (LLaMA 3's comes as rope_freqs.weight)");
        }
        Tensor embd = g.tensor("token_embd.weight");
        if (embd == null) throw g.bad("token_embd.weight", "missing tensor");
        if (embd.dims().length != 2 || embd.dims()[0] != dim) {
            throw g.bad("token_embd.weight", "dims " + java.util.Arrays.toString(embd.dims()) + " but " + p + "embedding_length is " + dim);
        }
        if (embd.dims()[1] > Integer.MAX_VALUE) throw g.bad("token_embd.weight", "vocabulary too large");
        int vocab = (int) embd.dims()[1];
        if (g.has(p + "vocab_size") && g.integer(p + "vocab_size", null) != vocab) {
            throw g.bad(p + "vocab_size", g.integer(p + "vocab_size", null) + " does not match token_embd.weight's " + vocab + " rows");
        }
        if (g.has("tokenizer.ggml.tokens")) {
            int n = g.array("tokenizer.ggml.tokens", ValueType.STRING, true).length();
            if (n != vocab) {
                throw g.bad("tokenizer.ggml.tokens", n + " tokens but token_embd.weight has " + vocab
                        + " rows: the vocabulary does not match the embedding");
            }
        }
        boolean tied = g.tensor("output.weight") == null;
        LlamaConfig c;
        try {
            c = new LlamaConfig(dim, hidden, layers, heads, kvHeads, vocab, ctx, (float) eps, (float) theta, null, tied);
        } catch (IllegalArgumentException e) {
            throw new UserException("GGUF file " + g.file() + ": llama.*: " + e.getMessage());
        }
        RopeScaling scaling = ropeScaling(g, c);
        if (scaling != null) {
            c = new LlamaConfig(dim, hidden, layers, heads, kvHeads, vocab, ctx, (float) eps, (float) theta, scaling, tied);
        }
        checkTensors(g, c);
        return c;
    }

    /** The config of the model in {@code file}. */
    public static LlamaConfig readConfig(Path file) {
        try (GgufFile g = GgufFile.open(file)) {
            return readConfig(g);
        }
    }

    /**
     * LLaMA 3.1 scaling from {@code rope_freqs.weight}: llama.cpp's converter stores, per frequency, the
     * divisor of {@link RopeScaling#scale}. Its factor is the largest divisor; the low/high frequency factors
     * are LLaMA 3's 1 and 4, and the original context {@code rope.scaling.original_context_length} or 8192,
     * checked against every stored divisor.
     */
    private static RopeScaling ropeScaling(GgufFile g, LlamaConfig c) {
        Tensor t = g.tensor("rope_freqs.weight");
        if (t == null) return null;
        int half = c.headDim() / 2;
        if (t.type() != GgmlType.F32 || t.dims().length != 1 || t.dims()[0] != half) {
            throw g.bad("rope_freqs.weight", "expected F32 {" + half + "}, got " + t.type() + " " + java.util.Arrays.toString(t.dims()));
        }
        float[] divisors = Dequant.dequantize(GgmlType.F32, t.data(), 0, half);
        float factor = 1;
        for (float d : divisors) factor = Math.max(factor, d);
        int orig = g.positiveInt(ARCH + ".rope.scaling.original_context_length", 8192);
        RopeScaling s;
        try {
            s = new RopeScaling(factor, 1f, 4f, orig);
        } catch (IllegalArgumentException e) {
            throw g.bad("rope_freqs.weight", e.getMessage());
        }
        double[] want = divisors(c, s);
        for (int i = 0; i < half; i++) {
            double expected = want[i];
            if (Math.abs(expected - divisors[i]) > 1e-5 * Math.max(1, expected)) {
                throw g.bad("rope_freqs.weight", "divisor " + i + " is " + divisors[i] + " but LLaMA 3 scaling (factor " + factor
                        + ", low 1, high 4, original context " + orig + ") gives " + expected + "; other scalings are not supported");
            }
        }
        return s;
    }

    /** rope_freqs.weight of LLaMA 3 scaling: per frequency i, the divisor invFreq_i / scaled invFreq_i. */
    static double[] divisors(LlamaConfig c, RopeScaling s) {
        double[] d = new double[c.headDim() / 2];
        for (int i = 0; i < d.length; i++) {
            double invFreq = Math.pow(c.ropeTheta(), -2.0 * i / c.headDim());
            d[i] = invFreq / s.scale(invFreq);
        }
        return d;
    }

    /** The GGUF name of each peft4j (Hugging Face) tensor name. */
    static String ggufName(String hfName) {
        if (hfName.equals("model.embed_tokens.weight")) return "token_embd.weight";
        if (hfName.equals("model.norm.weight")) return "output_norm.weight";
        if (hfName.equals("lm_head.weight")) return "output.weight";
        String rest = hfName.substring("model.layers.".length());
        int dot = rest.indexOf('.');
        String layer = rest.substring(0, dot);
        String part = switch (rest.substring(dot + 1)) {
            case "self_attn.q_proj.weight" -> "attn_q";
            case "self_attn.k_proj.weight" -> "attn_k";
            case "self_attn.v_proj.weight" -> "attn_v";
            case "self_attn.o_proj.weight" -> "attn_output";
            case "mlp.gate_proj.weight" -> "ffn_gate";
            case "mlp.up_proj.weight" -> "ffn_up";
            case "mlp.down_proj.weight" -> "ffn_down";
            case "input_layernorm.weight" -> "attn_norm";
            case "post_attention_layernorm.weight" -> "ffn_norm";
            default -> throw new IllegalArgumentException(hfName);
        };
        return "blk." + layer + "." + part + ".weight";
    }

    /** GGUF dims of a PyTorch shape: reversed. */
    static long[] dims(int[] shape) {
        long[] d = new long[shape.length];
        for (int i = 0; i < shape.length; i++) d[i] = shape[shape.length - 1 - i];
        return d;
    }

    /** Heads whose rows are stored in Meta's RoPE order for this tensor, or 0 when it is not q or k. */
    static int metaHeads(String ggufName, LlamaConfig c) {
        if (ggufName.endsWith(".attn_q.weight")) return c.nHeads();
        if (ggufName.endsWith(".attn_k.weight")) return c.nKvHeads();
        return 0;
    }

    private static void checkTensors(GgufFile g, LlamaConfig c) {
        Set<String> want = new HashSet<>();
        for (LlamaWeights.Tensor t : HfCheckpoint.layout(c)) {
            String name = ggufName(t.name());
            want.add(name);
            Tensor s = g.tensor(name);
            if (s == null) throw g.bad(name, "missing tensor");
            long[] d = dims(t.shape());
            if (!java.util.Arrays.equals(s.dims(), d)) {
                throw g.bad(name, "dims " + java.util.Arrays.toString(s.dims()) + " but the llama.* metadata implies " + java.util.Arrays.toString(d));
            }
        }
        want.add("rope_freqs.weight");
        List<String> unknown = new ArrayList<>();
        for (String n : g.tensors().keySet()) if (!want.contains(n)) unknown.add(n);
        if (!unknown.isEmpty()) {
            throw g.bad(unknown.getFirst(), unknown.size() + " tensor(s) a LLaMA model does not have: "
                    + String.join(", ", unknown.subList(0, Math.min(5, unknown.size()))));
        }
    }

    /** Reads the model, its weights in their stored types (see {@link #read(Path, int)}). */
    public static LlamaWeights read(Path file) {
        return read(file, 0);
    }

    /**
     * Reads the model, replacing its context length by {@code maxSeqLen} when positive. Linear weights and
     * the embedding stay in their stored types as slices of the file's mapping (not copied), except q and k,
     * whose rows are permuted from Meta's order into an off-heap copy (whole rows of bytes, never
     * dequantised), and F32 tensors, copied into float arrays; norm weights are float32.
     */
    public static LlamaWeights read(Path file, int maxSeqLen) {
        GgufFile g = GgufFile.openMapped(file);
        LlamaConfig c = readConfig(g);
        LlamaWeights w = new LlamaWeights(maxSeqLen > 0 ? c.withMaxSeqLen(maxSeqLen) : c, null);
        for (LlamaWeights.Tensor t : HfCheckpoint.layout(c)) {
            String name = ggufName(t.name());
            Tensor stored = g.tensor(name);
            if (t.shape().length == 1) dequantize(stored, 0, c.headDim(), w.weight(t.name()).f32());
            else w.set(t.name(), matrix(stored, metaHeads(name, c), c.headDim()));
        }
        return w;
    }

    /**
     * Dequantises {@code t} into dst ([rows][rowLength] floats); when {@code metaHeads} is positive the rows
     * are in Meta's RoPE order and land in peft4j's ({@link #hfRowOf}).
     */
    public static void dequantize(Tensor t, int metaHeads, int headDim, float[] dst) {
        int cols = Math.toIntExact(t.rowLength());
        int rows = Math.toIntExact(t.rows());
        long rowBytes = t.rowBytes();
        Threads.parallelFor(rows, (from, to) -> {
            for (int r = from; r < to; r++) {
                int row = metaHeads > 0 ? hfRowOf(r, headDim) : r;
                Dequant.dequantize(t.type(), t.data(), r * rowBytes, dst, row * cols, cols);
            }
        });
    }

    /** One tensor [rows][cols] as a {@link WeightMatrix}; rows permuted from Meta's order when {@code metaHeads} > 0. */
    public static WeightMatrix matrix(Tensor t, int metaHeads, int headDim) {
        int rows = Math.toIntExact(t.rows()), cols = Math.toIntExact(t.rowLength());
        if (t.type() == GgmlType.F32) {
            float[] f = new float[Math.multiplyExact(rows, cols)];
            dequantize(t, metaHeads, headDim, f);
            return WeightMatrix.of(f, rows, cols);
        }
        if (metaHeads == 0) return WeightMatrix.of(t.type(), t.data(), rows, cols);
        WeightMatrix m = WeightMatrix.allocate(t.type(), rows, cols);
        long rb = t.rowBytes();
        for (int r = 0; r < rows; r++) MemorySegment.copy(t.data(), r * rb, m.data(), hfRowOf(r, headDim) * rb, rb);
        return m;
    }

    /** peft4j's (Hugging Face's) row of Meta row {@code metaRow}. */
    public static int hfRowOf(int metaRow, int headDim) {
        return Llama2cCheckpoint.hfRow(metaRow, headDim);
    }

    /** Meta's row of peft4j's row {@code hfRow}: the inverse of {@link #hfRowOf}. */
    public static int metaRowOf(int hfRow, int headDim) {
        int head = hfRow / headDim, j = hfRow % headDim, half = headDim / 2;
        return head * headDim + 2 * (j % half) + j / half;
    }

    // ---------------------------------------------------------------- writing

    /** llama.cpp's general.file_type for a model mostly in {@code type}. */
    static int fileType(GgmlType type) {
        return switch (type) {
            case F32 -> 0;
            case F16 -> 1;
            case Q4_0 -> 2;
            case Q8_0 -> 7;
            case BF16 -> 32;
            case Q4_K, Q6_K -> throw new IllegalArgumentException(type.toString());
        };
    }

    /**
     * Writes {@code w} (and {@code tokenizer}, unless null) to {@code file} with 2-D weights in {@code type}
     * (null: each in the type it is held in), atomically and deterministically. A weight already held in
     * the type it is written in is copied as it is (its rows permuted for q and k), never re-quantised.
     */
    public static void write(LlamaWeights w, Tokenizer tokenizer, Path file, GgmlType type) throws IOException {
        if (type != null && !Quantize.supports(type)) {
            throw new UserException("cannot write " + file + " as " + type + ": GGUF output is F32, F16, BF16, Q8_0 or Q4_0");
        }
        LlamaConfig c = w.config;
        RopeScaling s = c.ropeScaling();
        if (s != null && (s.lowFreqFactor() != 1f || s.highFreqFactor() != 4f)) {
            throw new UserException("cannot write " + file + ": GGUF (llama.cpp) stores LLaMA 3 RoPE scaling with low_freq_factor 1 and "
                    + "high_freq_factor 4 only; this model has " + s);
        }
        Map<String, Value> tokenizerMeta = tokenizer == null ? Map.of() : GgufTokenizers.metadata(tokenizer);
        if (tokenizer != null && tokenizer.vocabSize() != c.vocabSize()) {
            throw new UserException("cannot write " + file + ": the tokenizer has " + tokenizer.vocabSize() + " tokens but the model's vocabulary is "
                    + c.vocabSize() + " (GGUF needs them equal)");
        }
        GgufWriter out = new GgufWriter();
        out.putString("general.architecture", ARCH);
        out.putString("general.name", "peft4j");
        GgmlType main = type != null ? type : mostBytes(w);
        out.putUint32("general.file_type", fileType(main));
        if (main.isQuantized() || w.storedTypes().stream().anyMatch(GgmlType::isQuantized) && type == null) {
            out.putUint32("general.quantization_version", 2);
        }
        String p = ARCH + ".";
        out.putUint32(p + "vocab_size", c.vocabSize());
        out.putUint32(p + "context_length", c.maxSeqLen());
        out.putUint32(p + "embedding_length", c.dim());
        out.putUint32(p + "block_count", c.nLayers());
        out.putUint32(p + "feed_forward_length", c.hiddenDim());
        out.putUint32(p + "rope.dimension_count", c.headDim());
        out.putUint32(p + "attention.head_count", c.nHeads());
        out.putUint32(p + "attention.head_count_kv", c.nKvHeads());
        out.putFloat32(p + "attention.layer_norm_rms_epsilon", c.normEps());
        out.putFloat32(p + "rope.freq_base", c.ropeTheta());
        if (s != null) out.putUint32(p + "rope.scaling.original_context_length", s.originalMaxPositionEmbeddings());
        for (Map.Entry<String, Value> e : tokenizerMeta.entrySet()) out.put(e.getKey(), e.getValue());
        if (s != null) {
            int half = c.headDim() / 2;
            double[] exact = divisors(c, s);
            float[] divisors = new float[half];
            for (int i = 0; i < half; i++) divisors[i] = (float) exact[i];
            out.tensor("rope_freqs.weight", GgmlType.F32, new long[]{half}, () -> encode(GgmlType.F32, WeightMatrix.of(divisors, 1, half), 0, 0));
        }
        for (LlamaWeights.Tensor t : w.tensors()) {
            String name = ggufName(t.name());
            long[] d = dims(t.shape());
            WeightMatrix m = t.weight();
            GgmlType want = d.length == 1 ? GgmlType.F32 : type != null ? type : m.type();
            GgmlType tt = d[0] % want.blockSize() == 0 ? want : GgmlType.F16;
            int heads = metaHeads(name, c);
            out.tensor(name, tt, d, () -> encode(tt, m, heads, c.headDim()));
        }
        out.write(file);
    }

    /** The type most of the base's bytes are held in (for general.file_type of a mixed file). */
    private static GgmlType mostBytes(LlamaWeights w) {
        Map<GgmlType, Long> bytes = new java.util.EnumMap<>(GgmlType.class);
        for (LlamaWeights.Tensor t : w.tensors()) if (t.shape().length == 2) bytes.merge(t.weight().type(), t.weight().bytes(), Long::sum);
        GgmlType best = GgmlType.F32;
        for (var e : bytes.entrySet()) if (e.getValue() > bytes.getOrDefault(best, 0L)) best = e.getKey();
        return best == GgmlType.Q4_K || best == GgmlType.Q6_K ? GgmlType.F32 : best;
    }

    /** m ([rows][cols], peft4j row order) as {@code type}; rows in Meta's order when {@code metaHeads} > 0. */
    private static MemorySegment encode(GgmlType type, WeightMatrix m, int metaHeads, int headDim) {
        int rows = m.rows(), cols = m.cols();
        long rowBytes = type.byteSize(cols);
        if (m.type() == type && type != GgmlType.F32) {
            if (metaHeads == 0) return m.data();
            MemorySegment seg = Arena.ofAuto().allocate(rowBytes * rows, 64);
            for (int r = 0; r < rows; r++) MemorySegment.copy(m.data(), hfRowOf(r, headDim) * rowBytes, seg, r * rowBytes, rowBytes);
            return seg;
        }
        float[] data = m.isF32() ? m.f32() : m.toF32();
        MemorySegment seg = Arena.ofAuto().allocate(rowBytes * rows, 64);
        Threads.parallelFor(rows, (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                int from = metaHeads > 0 ? hfRowOf(r, headDim) : r;
                Quantize.quantize(type, data, from * cols, cols, seg, r * rowBytes);
            }
        });
        return seg;
    }

    /** The tokenizer stored in {@code file}. */
    public static Tokenizer readTokenizer(Path file) {
        try (GgufFile g = GgufFile.open(file)) {
            if (!GgufTokenizers.has(g)) {
                throw g.bad("tokenizer.ggml.model", "the file stores no tokenizer; pass --tokenizer PATH");
            }
            return GgufTokenizers.read(g);
        }
    }
}
