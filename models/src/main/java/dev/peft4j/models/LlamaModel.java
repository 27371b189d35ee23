package dev.peft4j.models;

import dev.peft4j.api.LinearSite;
import dev.peft4j.api.LinearSite.Kind;
import dev.peft4j.api.GatedAttentionHook;
import dev.peft4j.api.KvPrefixHook;
import dev.peft4j.api.Pass;
import dev.peft4j.kernels.AttentionCpu;
import dev.peft4j.kernels.FrozenMatmulCpu;
import dev.peft4j.kernels.Residual;
import dev.peft4j.kernels.RmsNorm;
import dev.peft4j.kernels.Rope;
import dev.peft4j.kernels.SwiGluCpu;
import dev.peft4j.kernels.Threads;
import dev.peft4j.kernels.WeightMatrix;
import dev.peft4j.models.peft.Hooks;

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
    private final Hooks hooks;
    private final LinearSite[][] sites; // [layer][kind]
    private final int prefix;      // key/value rows prepended by KV-prefix hooks (prefix tuning), the same in every layer
    private final float[] ropeCos; // [prefix + maxSeq][hd/2]
    private final float[] ropeSin; // [prefix + maxSeq][hd/2]

    public LlamaModel(LlamaWeights weights) {
        this(weights, Hooks.none(weights.config.nLayers()));
    }

    /** A model whose linear layers run the given PEFT hooks after the base matmuls. */
    public LlamaModel(LlamaWeights weights, Hooks hooks) {
        this.weights = weights;
        this.config = weights.config;
        this.hooks = hooks;
        this.sites = sites(config.nLayers());
        this.prefix = prefixRows(hooks, config.nLayers());
        int half = config.headDim() / 2, positions = prefix + config.maxSeqLen();
        ropeCos = new float[positions * half];
        ropeSin = new float[positions * half];
        Rope.tables(ropeCos, ropeSin, inverseFrequencies(config), positions);
    }

    public LlamaConfig config() {
        return config;
    }

    /** Every linear site, [layer][kind]; LM_HEAD is {@link LinearSite#lmHead()}. */
    public static LinearSite[][] sites(int layers) {
        LinearSite[][] s = new LinearSite[layers][Kind.values().length - 1];
        for (int l = 0; l < layers; l++) for (Kind k : Kind.values()) if (k != Kind.LM_HEAD) s[l][k.ordinal()] = new LinearSite(l, k);
        return s;
    }

    private static final LinearSite LM_HEAD = LinearSite.lmHead();

    /** y = x·Wᵀ (W in its stored type), then the site's hooks add their deltas; input and output maps around both. */
    private void linear(State s, LinearSite site, float[] y, float[] x, WeightMatrix w, int n, int in, int out) {
        if (site.kind() == Kind.LM_HEAD) { // no maps there
            FrozenMatmulCpu.forward(y, 0, x, 0, w, n);
            hooks.linearForward(site, x, y, n, Pass.INFERENCE);
            return;
        }
        float[] mapped = s.maps.input(site, x, in, n, Pass.INFERENCE); // x itself without input maps
        float[] pre = s.maps.preOutput(site, y, out, n);               // y itself without output maps
        FrozenMatmulCpu.forward(pre, 0, mapped, 0, w, n);
        hooks.linearForward(site, mapped, pre, n, Pass.INFERENCE);
        s.maps.output(site, y, out, n, Pass.INFERENCE);
    }

    public LlamaWeights weights() {
        return weights;
    }

    /**
     * The rows KV-prefix hooks prepend: the same number in every layer (0 without prefix tuning).
     * Real tokens' positions start after them, as in Hugging Face PEFT's prefix tuning.
     */
    public static int prefixRows(Hooks hooks, int layers) {
        int rows = hooks.prefixRows(0);
        for (int l = 1; l < layers; l++) {
            if (hooks.prefixRows(l) != rows) {
                throw new IllegalArgumentException("KV-prefix hooks add " + rows + " rows to layer 0 but " + hooks.prefixRows(l) + " to layer " + l
                        + ": every layer must get the same number");
            }
        }
        return rows;
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
        final int rows;             // prefix + maxSeq: rows of each layer's cache
        final float[][] keyCache;   // [layer][prefix + maxSeq][kvDim]  prefix rows first, then token p at row prefix + p
        final float[][] valueCache; // [layer][prefix + maxSeq][kvDim]
        final float[] x;            // [chunk][dim]    residual stream
        final float[] xb;           // [chunk][dim]    normed input of a block
        final float[] q;            // [chunk][dim]
        final float[] k;            // [chunk][kvDim]
        final float[] v;            // [chunk][kvDim]
        final float[] lastNormed;   // [dim]           final-normed state of the last token
        final float[] attOut;       // [chunk][dim]
        final float[] proj;         // [chunk][dim]    output of o_proj / down_proj
        final float[] gate;         // [chunk][hidden]
        final float[] up;           // [chunk][hidden]
        final float[] att;          // [nHeads][chunk][prefix + maxSeq]
        final float[] logits;       // [vocab]         logits of the chunk's last token
        final int[] tokens;         // [chunk]
        final dev.peft4j.models.peft.LinearMaps maps; // the hooks' input and output maps (their buffers: only at sites that have them)

        State(LlamaConfig c, int chunk, int prefix, Hooks hooks) {
            this.maps = new dev.peft4j.models.peft.LinearMaps(hooks, true);
            this.chunk = chunk;
            int d = c.dim(), kv = c.kvDim(), h = c.hiddenDim(), S = prefix + c.maxSeqLen();
            this.rows = S;
            keyCache = new float[c.nLayers()][S * kv];
            valueCache = new float[c.nLayers()][S * kv];
            x = new float[chunk * d];
            xb = new float[chunk * d];
            q = new float[chunk * d];
            k = new float[chunk * kv];
            v = new float[chunk * kv];
            lastNormed = new float[d];
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
        State s = new State(config, Math.min(64, config.maxSeqLen()), prefix, hooks);
        if (prefix > 0) {
            int kv = config.kvDim();
            for (int l = 0; l < config.nLayers(); l++) {
                int row = 0;
                for (KvPrefixHook h : hooks.kvPrefix(l)) {
                    float[] k = new float[h.rows() * kv], v = new float[h.rows() * kv];
                    h.keysValues(k, v, Pass.INFERENCE);
                    System.arraycopy(k, 0, s.keyCache[l], row * kv, k.length);
                    System.arraycopy(v, 0, s.valueCache[l], row * kv, v.length);
                    row += h.rows();
                }
            }
        }
        return s;
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
        int d = c.dim(), kv = c.kvDim(), hid = c.hiddenDim(), hd = c.headDim(), H = c.nHeads(), S = s.rows, P = prefix;
        float eps = c.normEps();
        for (int i = 0; i < n; i++) {
            if (s.tokens[i] < 0 || s.tokens[i] >= c.vocabSize()) {
                throw new IllegalArgumentException("token id " + s.tokens[i] + " is outside the vocabulary [0, " + c.vocabSize() + ")");
            }
        }
        FrozenMatmulCpu.embedding(s.x, w.tokenEmbedding, s.tokens, n);
        for (int l = 0; l < c.nLayers(); l++) {
            float[] kc = s.keyCache[l], vc = s.valueCache[l];
            RmsNorm.forward(s.xb, s.x, w.attnNorm[l], null, d, eps, 0, n);
            LinearSite[] site = sites[l];
            linear(s, site[Kind.Q.ordinal()], s.q, s.xb, w.wq[l], n, d, d);
            linear(s, site[Kind.K.ordinal()], s.k, s.xb, w.wk[l], n, d, kv);
            linear(s, site[Kind.V.ordinal()], s.v, s.xb, w.wv[l], n, d, kv);
            System.arraycopy(s.k, 0, kc, (P + pos) * kv, n * kv);
            System.arraycopy(s.v, 0, vc, (P + pos) * kv, n * kv);
            Rope.forward(s.q, ropeCos, ropeSin, H, hd, P + pos, n, 0, n);
            // rows of the cache from pos: the same rotation, viewed from the cache's start
            ropeCacheRows(kc, P + pos, n, S);
            Threads.parallelFor(H * n, (from, to) ->
                    AttentionCpu.forward(s.attOut, s.q, kc, vc, s.att, H, c.nKvHeads(), hd, n, P + pos, S, S, from, to));
            for (GatedAttentionHook g : hooks.gated(l)) g.forward(s.q, s.attOut, n, Pass.INFERENCE);
            linear(s, site[Kind.O.ordinal()], s.proj, s.attOut, w.wo[l], n, d, d);
            Residual.forward(s.x, s.proj, 0, n * d);

            RmsNorm.forward(s.xb, s.x, w.ffnNorm[l], null, d, eps, 0, n);
            linear(s, site[Kind.GATE.ordinal()], s.gate, s.xb, w.wGate[l], n, d, hid);
            linear(s, site[Kind.UP.ordinal()], s.up, s.xb, w.wUp[l], n, d, hid);
            SwiGluCpu.forward(s.gate, 0, s.gate, 0, s.up, 0, 0, n * hid);
            linear(s, site[Kind.DOWN.ordinal()], s.proj, s.gate, w.wDown[l], n, hid, d);
            Residual.forward(s.x, s.proj, 0, n * d);
        }
        if (allLogits != null) {
            RmsNorm.forward(s.xb, s.x, w.finalNorm, null, d, eps, 0, n);
            linear(s, LM_HEAD, allLogits, s.xb, w.classifier, n, d, c.vocabSize());
        } else {
            RmsNorm.forward(s.xb, s.x, w.finalNorm, null, d, eps, n - 1, n);
            System.arraycopy(s.xb, (n - 1) * d, s.lastNormed, 0, d);
            linear(s, LM_HEAD, s.logits, s.lastNormed, w.classifier, 1, d, c.vocabSize());
        }
    }

    /** RoPE on cache rows row..row+n (the keys just written); a cache row's index is its position. */
    private void ropeCacheRows(float[] cache, int row, int n, int rows) {
        Rope.forward(cache, ropeCos, ropeSin, config.nKvHeads(), config.headDim(), 0, rows, row, row + n);
    }
}
