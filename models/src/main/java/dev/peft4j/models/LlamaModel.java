package dev.peft4j.models;

import dev.peft4j.kernels.Attention;
import dev.peft4j.kernels.Embedding;
import dev.peft4j.kernels.MatmulCpu;
import dev.peft4j.kernels.Residual;
import dev.peft4j.kernels.RmsNorm;
import dev.peft4j.kernels.Rope;
import dev.peft4j.kernels.SwiGlu;
import dev.peft4j.kernels.Threads;

/**
 * A LLaMA model for inference: the forward pass over a KV cache, in chunks of tokens.
 *
 * <pre>
 *   x = embed(tokens)
 *   per layer:  h = rmsnorm(x)·w_attn;  q,k,v = h·Wqᵀ, h·Wkᵀ, h·Wvᵀ;  rope(q, k)
 *               x += attention(q, K_cache, V_cache)·Woᵀ
 *               h = rmsnorm(x)·w_ffn;   x += (silu(h·Wgateᵀ) ⊙ h·Wupᵀ)·Wdownᵀ
 *   logits = rmsnorm(x)·w_final · classifierᵀ
 * </pre>
 */
public final class LlamaModel {
    private final LlamaConfig config;
    private final LlamaWeights weights;
    private final float[] ropeCos; // [maxSeq][hd/2]
    private final float[] ropeSin; // [maxSeq][hd/2]

    public LlamaModel(LlamaWeights weights) {
        this.weights = weights;
        this.config = weights.config;
        int half = config.headDim() / 2;
        ropeCos = new float[config.maxSeqLen() * half];
        ropeSin = new float[config.maxSeqLen() * half];
        Rope.tables(ropeCos, ropeSin, inverseFrequencies(config), config.maxSeqLen());
    }

    public LlamaConfig config() {
        return config;
    }

    public LlamaWeights weights() {
        return weights;
    }

    /** RoPE inverse frequencies [hd/2]: theta^(-2j/hd), with LLaMA 3.1 scaling when configured. */
    public static double[] inverseFrequencies(LlamaConfig c) {
        int hd = c.headDim();
        double[] f = new double[hd / 2];
        for (int j = 0; j < f.length; j++) {
            f[j] = Math.pow(c.ropeTheta(), -2.0 * j / hd);
            if (c.ropeScaling() != null) f[j] = c.ropeScaling().scale(f[j]);
        }
        return f;
    }

    /** Buffers for generation: the KV cache and the activations of one chunk of tokens. */
    public static final class State {
        final int chunk;
        final float[][] keyCache;   // [layer][maxSeq][kvDim]
        final float[][] valueCache; // [layer][maxSeq][kvDim]
        final float[] x;            // [chunk][dim]    residual stream
        final float[] xb;           // [chunk][dim]    normed input of a block
        final float[] q;            // [chunk][dim]
        final float[] attOut;       // [chunk][dim]
        final float[] proj;         // [chunk][dim]    output of o_proj / down_proj
        final float[] gate;         // [chunk][hidden]
        final float[] up;           // [chunk][hidden]
        final float[] att;          // [nHeads][chunk][maxSeq]
        final float[] logits;       // [vocab]         logits of the chunk's last token
        final int[] tokens;         // [chunk]

        State(LlamaConfig c, int chunk) {
            this.chunk = chunk;
            int d = c.dim(), kv = c.kvDim(), h = c.hiddenDim(), S = c.maxSeqLen();
            keyCache = new float[c.nLayers()][S * kv];
            valueCache = new float[c.nLayers()][S * kv];
            x = new float[chunk * d];
            xb = new float[chunk * d];
            q = new float[chunk * d];
            attOut = new float[chunk * d];
            proj = new float[chunk * d];
            gate = new float[chunk * h];
            up = new float[chunk * h];
            att = new float[c.nHeads() * chunk * S];
            logits = new float[c.vocabSize()];
            tokens = new int[chunk];
        }

        /** Logits of the last token of the latest call, [vocab]; a view valid until the next call. */
        public float[] logits() {
            return logits;
        }
    }

    /** A fresh state whose prompt chunks hold up to 64 tokens (fewer if the context is shorter). */
    public State newState() {
        return new State(config, Math.min(64, config.maxSeqLen()));
    }

    /**
     * Runs tokens[0..n) at positions pos..pos+n-1, filling the KV cache, and returns the logits of
     * the last token ({@code [vocab]}, a buffer owned by the state).
     */
    public float[] forward(State s, int[] tokens, int n, int pos) {
        float[] last = null;
        for (int start = 0; start < n; start += s.chunk) {
            int m = Math.min(s.chunk, n - start);
            System.arraycopy(tokens, start, s.tokens, 0, m);
            forwardChunk(s, m, pos + start, null);
            last = s.logits;
        }
        return last;
    }

    /** Logits of every position of a sequence starting at position 0: [n][vocab]. For tests and evaluation. */
    public float[][] forwardAll(int[] tokens) {
        State s = newState();
        float[][] out = new float[tokens.length][];
        int V = config.vocabSize();
        float[] chunkLogits = new float[s.chunk * V]; // [chunk][vocab]
        for (int start = 0; start < tokens.length; start += s.chunk) {
            int m = Math.min(s.chunk, tokens.length - start);
            System.arraycopy(tokens, start, s.tokens, 0, m);
            forwardChunk(s, m, start, chunkLogits);
            for (int i = 0; i < m; i++) out[start + i] = java.util.Arrays.copyOfRange(chunkLogits, i * V, (i + 1) * V);
        }
        return out;
    }

    /** One chunk of n tokens at pos..pos+n-1; all rows' logits into allLogits [n][vocab] if given, else the last row's into s.logits. */
    private void forwardChunk(State s, int n, int pos, float[] allLogits) {
        LlamaConfig c = config;
        LlamaWeights w = weights;
        if (pos + n > c.maxSeqLen()) {
            throw new IllegalArgumentException("position " + (pos + n) + " exceeds the context length " + c.maxSeqLen());
        }
        int d = c.dim(), kv = c.kvDim(), hid = c.hiddenDim(), hd = c.headDim(), H = c.nHeads(), S = c.maxSeqLen();
        float eps = c.normEps();
        for (int i = 0; i < n; i++) {
            if (s.tokens[i] < 0 || s.tokens[i] >= c.vocabSize()) {
                throw new IllegalArgumentException("token id " + s.tokens[i] + " is outside the vocabulary [0, " + c.vocabSize() + ")");
            }
        }
        Embedding.forward(s.x, w.tokenEmbedding, s.tokens, n, d);
        for (int l = 0; l < c.nLayers(); l++) {
            float[] kc = s.keyCache[l], vc = s.valueCache[l];
            RmsNorm.forward(s.xb, s.x, w.attnNorm[l], null, d, eps, 0, n);
            MatmulCpu.forward(s.q, 0, s.xb, 0, w.wq[l], 0, n, d, d);
            MatmulCpu.forward(kc, pos * kv, s.xb, 0, w.wk[l], 0, n, d, kv);
            MatmulCpu.forward(vc, pos * kv, s.xb, 0, w.wv[l], 0, n, d, kv);
            Rope.forward(s.q, ropeCos, ropeSin, H, hd, pos, n, 0, n);
            // rows of the cache from pos: the same rotation, viewed from the cache's start
            ropeCacheRows(kc, pos, n);
            Threads.parallelFor(H * n, (from, to) ->
                    Attention.forward(s.attOut, s.q, kc, vc, s.att, H, c.nKvHeads(), hd, n, pos, S, S, from, to));
            MatmulCpu.forward(s.proj, 0, s.attOut, 0, w.wo[l], 0, n, d, d);
            Residual.forward(s.x, s.proj, 0, n * d);

            RmsNorm.forward(s.xb, s.x, w.ffnNorm[l], null, d, eps, 0, n);
            MatmulCpu.forward(s.gate, 0, s.xb, 0, w.wGate[l], 0, n, d, hid);
            MatmulCpu.forward(s.up, 0, s.xb, 0, w.wUp[l], 0, n, d, hid);
            SwiGlu.forward(s.gate, s.gate, s.up, 0, n * hid);
            MatmulCpu.forward(s.proj, 0, s.gate, 0, w.wDown[l], 0, n, hid, d);
            Residual.forward(s.x, s.proj, 0, n * d);
        }
        int first = allLogits != null ? 0 : n - 1;
        RmsNorm.forward(s.xb, s.x, w.finalNorm, null, d, eps, first, n);
        MatmulCpu.forward(allLogits != null ? allLogits : s.logits, 0, s.xb, first * d, w.classifier, 0, n - first, d, c.vocabSize());
    }

    /** RoPE on rows pos..pos+n of a KV cache (the keys just written). */
    private void ropeCacheRows(float[] cache, int pos, int n) {
        // Row i of the cache has position i: period = maxSeq, pos0 = 0, rows pos..pos+n.
        Rope.forward(cache, ropeCos, ropeSin, config.nKvHeads(), config.headDim(), 0, config.maxSeqLen(), pos, pos + n);
    }
}
