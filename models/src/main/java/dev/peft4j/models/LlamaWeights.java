package dev.peft4j.models;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The weights of a LLaMA model in peft4j's canonical layout, all {@code float32}, row-major.
 *
 * <p>Linear weights are {@code [out][in]} (PyTorch's {@code nn.Linear.weight}). The query and key
 * projections are in the Hugging Face layout: within each head, output rows {@code i} and
 * {@code i + headDim/2} form one RoPE pair ("rotate half"). Readers of the llama2.c / Meta layout,
 * where rows {@code 2i} and {@code 2i+1} form a pair, permute on load (see {@link RopeLayout}).
 */
public final class LlamaWeights {
    public final LlamaConfig config;
    public final float[] tokenEmbedding; // [vocab][dim]
    public final float[][] attnNorm;     // [layer][dim]
    public final float[][] wq;           // [layer][nHeads*headDim][dim]
    public final float[][] wk;           // [layer][kvDim][dim]
    public final float[][] wv;           // [layer][kvDim][dim]
    public final float[][] wo;           // [layer][dim][nHeads*headDim]
    public final float[][] ffnNorm;      // [layer][dim]
    public final float[][] wGate;        // [layer][hidden][dim]   (w1, gate_proj)
    public final float[][] wDown;        // [layer][dim][hidden]   (w2, down_proj)
    public final float[][] wUp;          // [layer][hidden][dim]   (w3, up_proj)
    public final float[] finalNorm;      // [dim]
    public final float[] classifier;     // [vocab][dim]; the same array as tokenEmbedding when tied

    /** Allocates zeroed weights (norm weights zero too: fill them before use). */
    public LlamaWeights(LlamaConfig c) {
        this.config = c;
        int L = c.nLayers(), d = c.dim(), kv = c.kvDim(), h = c.hiddenDim();
        tokenEmbedding = new float[Math.multiplyExact(c.vocabSize(), d)];
        attnNorm = new float[L][d];
        wq = new float[L][d * d];
        wk = new float[L][kv * d];
        wv = new float[L][kv * d];
        wo = new float[L][d * d];
        ffnNorm = new float[L][d];
        wGate = new float[L][h * d];
        wDown = new float[L][d * h];
        wUp = new float[L][h * d];
        finalNorm = new float[d];
        classifier = c.tiedEmbeddings() ? tokenEmbedding : new float[c.vocabSize() * d];
    }

    /**
     * Random weights, deterministic in {@code seed}: linears and embeddings N(0, std²), norm
     * weights 1. Used for benchmarks, tests and the embedded demo model.
     */
    public static LlamaWeights random(LlamaConfig c, long seed, float std) {
        LlamaWeights w = new LlamaWeights(c);
        SplittableRandom root = new SplittableRandom(seed);
        for (Tensor t : w.tensors()) {
            SplittableRandom r = root.split();
            if (t.name().endsWith("norm.weight")) {
                java.util.Arrays.fill(t.data(), 1f);
            } else {
                float[] a = t.data();
                for (int i = 0; i < a.length; i++) a[i] = (float) (r.nextGaussian() * std);
            }
        }
        return w;
    }

    /** One named weight tensor, by its Hugging Face name. */
    public record Tensor(String name, int[] shape, float[] data) {
        public long size() {
            long n = 1;
            for (int s : shape) n *= s;
            return n;
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
