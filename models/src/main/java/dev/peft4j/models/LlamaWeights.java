package dev.peft4j.models;

import dev.peft4j.kernels.Threads;
import dev.peft4j.kernels.WeightMatrix;
import dev.peft4j.kernels.quant.GgmlType;
import dev.peft4j.kernels.quant.Quantize;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The weights of a LLaMA model in peft4j's canonical layout, row-major.
 *
 * <p>Linear weights and the embedding table are {@link WeightMatrix}es {@code [out][in]} (PyTorch's
 * {@code nn.Linear.weight}) in the type they were stored in (float32, BF16, F16, Q8_0, ...), read as
 * they are by the frozen linear kernels; norm weights are float32. A tensor that becomes trainable is
 * converted to float32 first ({@link #toFloat32}): trainable tensors are float32 master weights. The query and key
 * projections are in the Hugging Face layout: within each head, output rows {@code i} and
 * {@code i + headDim/2} form one RoPE pair ("rotate half"). Readers of the llama2.c / Meta layout,
 * where rows {@code 2i} and {@code 2i+1} form a pair, permute on load (see {@link RopeLayout}).
 */
public final class LlamaWeights {
    public final LlamaConfig config;
    public WeightMatrix tokenEmbedding;  // [vocab][dim]
    public final float[][] attnNorm;     // [layer][dim]
    public final WeightMatrix[] wq;      // [layer] of [nHeads*headDim][dim]
    public final WeightMatrix[] wk;      // [layer] of [kvDim][dim]
    public final WeightMatrix[] wv;      // [layer] of [kvDim][dim]
    public final WeightMatrix[] wo;      // [layer] of [dim][nHeads*headDim]
    public final float[][] ffnNorm;      // [layer][dim]
    public final WeightMatrix[] wGate;   // [layer] of [hidden][dim]   (w1, gate_proj)
    public final WeightMatrix[] wDown;   // [layer] of [dim][hidden]   (w2, down_proj)
    public final WeightMatrix[] wUp;     // [layer] of [hidden][dim]   (w3, up_proj)
    public final float[] finalNorm;      // [dim]
    public WeightMatrix classifier;      // [vocab][dim]; the same matrix as tokenEmbedding when tied

    /** Allocates zeroed float32 weights (norm weights zero too: fill them before use). */
    public LlamaWeights(LlamaConfig c) {
        this(c, GgmlType.F32);
    }

    /**
     * Allocates zeroed weights, linears and the embedding table in {@code type} (off-heap unless F32);
     * with a null type they are left unset, for a reader to {@link #set} (norm weights are allocated).
     */
    public LlamaWeights(LlamaConfig c, GgmlType type) {
        this.config = c;
        int L = c.nLayers(), d = c.dim(), kv = c.kvDim(), h = c.hiddenDim();
        tokenEmbedding = type == null ? null : WeightMatrix.allocate(type, c.vocabSize(), d);
        attnNorm = new float[L][d];
        wq = new WeightMatrix[L];
        wk = new WeightMatrix[L];
        wv = new WeightMatrix[L];
        wo = new WeightMatrix[L];
        ffnNorm = new float[L][d];
        wGate = new WeightMatrix[L];
        wDown = new WeightMatrix[L];
        wUp = new WeightMatrix[L];
        for (int l = 0; type != null && l < L; l++) {
            wq[l] = WeightMatrix.allocate(type, d, d);
            wk[l] = WeightMatrix.allocate(type, kv, d);
            wv[l] = WeightMatrix.allocate(type, kv, d);
            wo[l] = WeightMatrix.allocate(type, d, d);
            wGate[l] = WeightMatrix.allocate(type, h, d);
            wDown[l] = WeightMatrix.allocate(type, d, h);
            wUp[l] = WeightMatrix.allocate(type, h, d);
        }
        finalNorm = new float[d];
        classifier = c.tiedEmbeddings() || type == null ? tokenEmbedding : WeightMatrix.allocate(type, c.vocabSize(), d);
    }

    /**
     * Random weights, deterministic in {@code seed}: linears and embeddings N(0, std²), norm
     * weights 1. Used for benchmarks, tests and the embedded demo model.
     */
    public static LlamaWeights random(LlamaConfig c, long seed, float std) {
        return random(c, seed, std, GgmlType.F32);
    }

    /**
     * Random weights generated straight into {@code type}, a few rows at a time (a 7B model in Q4_0
     * never exists in float32): the float32 model's values, rounded or quantised. Tensors are filled in
     * parallel, each from its own stream.
     */
    public static LlamaWeights random(LlamaConfig c, long seed, float std, GgmlType type) {
        LlamaWeights w = new LlamaWeights(c, type);
        SplittableRandom root = new SplittableRandom(seed);
        List<Tensor> tensors = w.tensors();
        SplittableRandom[] streams = new SplittableRandom[tensors.size()];
        for (int i = 0; i < streams.length; i++) streams[i] = root.split();
        Threads.parallelFor(tensors.size(), (from, to) -> {
            for (int i = from; i < to; i++) {
                Tensor t = tensors.get(i);
                if (t.name().endsWith("norm.weight")) java.util.Arrays.fill(t.data(), 1f);
                else fillGaussian(t.weight(), streams[i], std);
            }
        });
        return w;
    }

    /** Fills m with N(0, std²) values in row order, through a float buffer of a few rows when m is not float32. */
    private static void fillGaussian(WeightMatrix m, SplittableRandom r, float std) {
        if (m.isF32()) {
            float[] a = m.f32();
            for (int i = 0; i < a.length; i++) a[i] = (float) (r.nextGaussian() * std);
            return;
        }
        int cols = m.cols(), rows = Math.max(1, (1 << 16) / cols);
        float[] buf = new float[rows * cols];
        for (int r0 = 0; r0 < m.rows(); r0 += rows) {
            int n = Math.min(rows, m.rows() - r0);
            for (int i = 0; i < n * cols; i++) buf[i] = (float) (r.nextGaussian() * std);
            Quantize.quantize(m.type(), buf, 0, n * cols, m.data(), r0 * m.rowBytes());
        }
    }

    /**
     * The base tensor {@code name} as float32 in place (a copy of its decoded values when it is stored
     * in another type; a tied embedding and classifier stay one tensor). Returns its values.
     */
    public float[] toFloat32(String name) {
        WeightMatrix m = weight(name);
        if (m.isF32()) return m.f32();
        WeightMatrix f = WeightMatrix.of(m.toF32(), m.rows(), m.cols());
        if (m == tokenEmbedding) tokenEmbedding = f;
        if (m == classifier) classifier = f;
        for (WeightMatrix[] layer : new WeightMatrix[][]{wq, wk, wv, wo, wGate, wUp, wDown})
            for (int l = 0; l < layer.length; l++) if (layer[l] == m) layer[l] = f;
        return f.f32();
    }

    /** The weight a linear site reads: a layer's projection, or the classifier (the embedding table when tied). */
    public WeightMatrix matrix(dev.peft4j.api.LinearSite site) {
        int l = site.layer();
        return switch (site.kind()) {
            case Q -> wq[l];
            case K -> wk[l];
            case V -> wv[l];
            case O -> wo[l];
            case GATE -> wGate[l];
            case UP -> wUp[l];
            case DOWN -> wDown[l];
            case LM_HEAD -> classifier;
        };
    }

    /** The tensor named {@code name} (a Hugging Face name of {@link #tensors()}). */
    public WeightMatrix weight(String name) {
        for (Tensor t : tensors()) if (t.name().equals(name)) return t.weight();
        throw new IllegalArgumentException("the model has no tensor named '" + name + "'");
    }

    /**
     * Sets the linear weight or embedding table {@code name} (a Hugging Face name; the embedding
     * also sets a tied classifier) to {@code m}, whose shape must be the tensor's.
     */
    public void set(String name, WeightMatrix m) {
        int[] shape = null;
        for (Tensor t : tensors()) if (t.name().equals(name)) shape = t.shape();
        if (shape == null || shape.length != 2) throw new IllegalArgumentException("the model has no matrix named '" + name + "'");
        if (m.rows() != shape[0] || m.cols() != shape[1]) {
            throw new IllegalArgumentException(name + " is " + shape[0] + " x " + shape[1] + ", not " + m.rows() + " x " + m.cols());
        }
        if (name.equals("model.embed_tokens.weight")) {
            tokenEmbedding = m;
            if (config.tiedEmbeddings()) classifier = m;
            return;
        }
        if (name.equals("lm_head.weight")) {
            classifier = m;
            return;
        }
        String[] parts = name.split("\\."); // model.layers.L.(self_attn|mlp).X_proj.weight
        int l = Integer.parseInt(parts[2]);
        WeightMatrix[] layer = switch (parts[4]) {
            case "q_proj" -> wq;
            case "k_proj" -> wk;
            case "v_proj" -> wv;
            case "o_proj" -> wo;
            case "gate_proj" -> wGate;
            case "up_proj" -> wUp;
            case "down_proj" -> wDown;
            default -> throw new IllegalArgumentException("the model has no matrix named '" + name + "'");
        };
        layer[l] = m;
    }

    /**
     * Converts the linear weights and the embedding table to {@code type} in place (a tied embedding
     * and classifier stay one tensor); norm weights stay float32. Returns this.
     */
    public LlamaWeights convertBase(GgmlType type) {
        java.util.Map<WeightMatrix, WeightMatrix> done = new java.util.IdentityHashMap<>();
        for (Tensor t : tensors()) {
            if (t.shape().length == 1) continue; // norm weights
            try {
                done.put(t.weight(), t.weight().convert(type));
            } catch (IllegalArgumentException e) {
                throw new dev.peft4j.api.UserException("cannot store " + t.name() + " " + java.util.Arrays.toString(t.shape()) + " as " + type + ": " + e.getMessage());
            }
        }
        tokenEmbedding = done.get(tokenEmbedding);
        classifier = done.get(classifier);
        for (WeightMatrix[] layer : new WeightMatrix[][]{wq, wk, wv, wo, wGate, wUp, wDown})
            for (int l = 0; l < layer.length; l++) layer[l] = done.get(layer[l]);
        return this;
    }

    /** The float32 arrays of per-layer weights that are all float32 (for backends that take float[]). */
    public static float[][] f32(WeightMatrix[] layers) {
        float[][] out = new float[layers.length][];
        for (int l = 0; l < layers.length; l++) out[l] = layers[l].f32();
        return out;
    }

    /** The types the base's linear weights and embedding table are stored in (one entry each, in tensor order). */
    public java.util.Set<GgmlType> storedTypes() {
        java.util.Set<GgmlType> types = java.util.EnumSet.noneOf(GgmlType.class);
        for (Tensor t : tensors()) if (t.shape().length == 2) types.add(t.weight().type());
        return types;
    }

    /** Bytes the weights occupy in memory, in their stored types. */
    public long bytes() {
        long b = 0;
        for (Tensor t : tensors()) b += t.weight().bytes();
        return b;
    }

    /** One named weight tensor, by its Hugging Face name, in its stored type. */
    public record Tensor(String name, int[] shape, WeightMatrix weight) {
        /** A float32 tensor over {@code data} (a vector is one row). */
        public Tensor(String name, int[] shape, float[] data) {
            this(name, shape, data == null ? null : WeightMatrix.of(data, shape.length == 1 ? 1 : shape[0], shape[shape.length - 1]));
        }

        public long size() {
            long n = 1;
            for (int s : shape) n *= s;
            return n;
        }

        /** The float32 values, the tensor's own array; only for a float32 tensor. */
        public float[] data() {
            if (!weight.isF32()) {
                throw new IllegalStateException("tensor " + name + " is stored as " + weight.type() + ", not float32");
            }
            return weight.f32();
        }
    }

    /**
     * Every distinct tensor with its Hugging Face name ({@code model.layers.0.self_attn.q_proj.weight}
     * ...), in the order of Hugging Face's checkpoints. A tied classifier is not listed twice.
     */
    public List<Tensor> tensors() {
        LlamaConfig c = config;
        int d = c.dim(), kv = c.kvDim(), h = c.hiddenDim();
        List<Tensor> out = new ArrayList<>();
        out.add(new Tensor("model.embed_tokens.weight", new int[]{c.vocabSize(), d}, tokenEmbedding));
        for (int l = 0; l < c.nLayers(); l++) {
            String p = "model.layers." + l + ".";
            out.add(new Tensor(p + "self_attn.q_proj.weight", new int[]{d, d}, wq[l]));
            out.add(new Tensor(p + "self_attn.k_proj.weight", new int[]{kv, d}, wk[l]));
            out.add(new Tensor(p + "self_attn.v_proj.weight", new int[]{kv, d}, wv[l]));
            out.add(new Tensor(p + "self_attn.o_proj.weight", new int[]{d, d}, wo[l]));
            out.add(new Tensor(p + "mlp.gate_proj.weight", new int[]{h, d}, wGate[l]));
            out.add(new Tensor(p + "mlp.up_proj.weight", new int[]{h, d}, wUp[l]));
            out.add(new Tensor(p + "mlp.down_proj.weight", new int[]{d, h}, wDown[l]));
            out.add(new Tensor(p + "input_layernorm.weight", new int[]{d}, attnNorm[l]));
            out.add(new Tensor(p + "post_attention_layernorm.weight", new int[]{d}, ffnNorm[l]));
        }
        out.add(new Tensor("model.norm.weight", new int[]{d}, finalNorm));
        if (!c.tiedEmbeddings()) out.add(new Tensor("lm_head.weight", new int[]{c.vocabSize(), d}, classifier));
        return out;
    }
}
