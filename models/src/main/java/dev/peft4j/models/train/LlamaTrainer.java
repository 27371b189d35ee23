package dev.peft4j.models.train;

import dev.peft4j.api.GatedAttentionHook;
import dev.peft4j.api.KvPrefixHook;
import dev.peft4j.api.LinearSite;
import dev.peft4j.api.LinearSite.Kind;
import dev.peft4j.api.Parameter;
import dev.peft4j.api.Pass;
import dev.peft4j.kernels.AttentionCpu;
import dev.peft4j.kernels.CrossEntropyCpu;
import dev.peft4j.kernels.Embedding;
import dev.peft4j.kernels.FrozenMatmulCpu;
import dev.peft4j.kernels.MatmulCpu;
import dev.peft4j.kernels.Residual;
import dev.peft4j.kernels.Rope;
import dev.peft4j.kernels.RmsNormCpu;
import dev.peft4j.kernels.RopeCpu;
import dev.peft4j.kernels.SwiGluCpu;
import dev.peft4j.kernels.Threads;
import dev.peft4j.kernels.WeightMatrix;
import dev.peft4j.models.LlamaConfig;
import dev.peft4j.models.LlamaModel;
import dev.peft4j.models.LlamaWeights;
import dev.peft4j.models.peft.Hooks;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

/**
 * Forward and backward of a LLaMA model over a batch of B x T tokens, for training and for the
 * loss of evaluation (the same code path).
 *
 * <p>Every activation buffer is named and sized once, here. A layer keeps for its backward only what
 * costs a matmul to recompute: its input, q, k, v, the attention output and its log-sum-exp per row
 * (attention is tiled as flash attention: no [T][T] probabilities are kept), the residual stream
 * after attention, and the SwiGLU's gate and up. The normed inputs of the linears and silu(gate)·up
 * are recomputed in backward into shared scratch, from the saved rstd, only where a hook or a
 * trainable weight reads them. With {@code recompute} only each layer's input is kept and the layer's
 * other activations are recomputed during backward (one layer's worth of buffers instead of L). Gradients accumulate ({@code +=}) into the
 * {@link Parameter}s of the trainable base tensors; frozen weights cost no weight-gradient work.
 */
public final class LlamaTrainer {
    /** Rows of logits computed at once by the chunked cross-entropy: enough rows that packing the classifier is amortised (64 rows cost 40% more time at the stories15M shape). */
    private static final int LOGIT_CHUNK_ROWS = 256;

    private final LlamaConfig c;
    private final LlamaWeights w;
    private final int B, T, N;
    private final boolean recompute;
    private final int P;                 // key/value rows prepended by KV-prefix hooks (prefix tuning)
    private final int kvRows;            // P + T: rows of keys and values per sequence
    private final float[] prefixK, prefixV;    // [P][kvDim] the hooks' rows of the current layer
    private final float[] dPrefixK, dPrefixV;  // [P][kvDim] their gradient, summed over the batch
    private final Hooks hooks;
    private final dev.peft4j.models.peft.LinearMaps maps; // the hooks' input and output maps, with their kept values
    private final LinearSite[][] sites;  // [layer][kind]
    private static final LinearSite LM_HEAD = LinearSite.lmHead();
    private Pass pass = Pass.INFERENCE;  // of the current forward (and its recomputation)
    private long microSteps;             // forwardBackward calls so far: seeds each training pass
    private final long seed;
    private final float[] ropeCos, ropeSin; // [T][hd/2]

    // ---- activations ----
    private final float[][] xIn;        // [layer][N][dim]  residual stream entering each layer
    private final LayerActs[] acts;     // one per layer, or one shared when recomputing
    private final float[] xOut;         // [N][dim]   residual stream after the last layer
    private final float[] rstdFinal;    // [N]
    private final float[] xbFinal;      // [N][dim]   final-normed
    private final float[] logits;       // [LOGIT_CHUNK_ROWS][vocab]  one chunk of logits, then its gradient
    private final float[] losses;       // [N]        per-token cross-entropy
    private final float[] chunkLosses;  // [LOGIT_CHUNK_ROWS] one chunk's
    private final float[] headIn;       // [LOGIT_CHUNK_ROWS][dim]  a chunk's final-normed rows, for LM_HEAD hooks
    private final float[] dHeadIn;      // [LOGIT_CHUNK_ROWS][dim]  their gradient

    // ---- forward scratch (shared by all layers; recomputed in backward where read) ----
    private final float[] xb;           // [N][dim]    a normed block input (attention's, then the feed-forward's)
    private final float[] act;          // [N][hidden] silu(gate) * up
    private final float[] proj;         // [N][dim]    o_proj / down_proj output

    // ---- gradient scratch (shared by all layers) ----
    private final float[] dx;           // [N][dim]   gradient of the residual stream
    private final float[] dxb;          // [N][dim]   gradient of a normed block input
    private final float[] dAttOut;      // [N][dim]
    private final float[] dq;           // [N][dim]
    private final float[] dk;           // [B][P+T][kvDim]
    private final float[] dv;           // [B][P+T][kvDim]
    private final float[] dkLin;        // [N][kvDim]  gradient of the k projection's output (dk itself when P = 0)
    private final float[] dvLin;        // [N][kvDim]
    private final float[] dAct;         // [N][hidden]
    private final float[] dGate;        // [N][hidden]
    private final float[] dUp;          // [N][hidden]

    // ---- trainable parameters and their gradients (null when frozen) ----
    private final List<Parameter> parameters = new ArrayList<>();
    private final float[] gEmbedding, gFinalNorm, gClassifier;
    private final float[][] gAttnNorm, gWq, gWk, gWv, gWo, gFfnNorm, gWGate, gWUp, gWDown;

    /** The activations of one layer's forward, kept for its backward. */
    private static final class LayerActs {
        final float[] rstdAttn;   // [N]
        final float[] q;          // [N][dim]    after RoPE
        final float[] kLin;       // [N][kvDim]  k projection, after RoPE
        final float[] vLin;       // [N][kvDim]  v projection
        final float[] k;          // [B][P+T][kvDim]  prefix rows, then kLin (kLin itself when P = 0)
        final float[] v;          // [B][P+T][kvDim]
        final float[] lse;        // [B][H][T]   log-sum-exp of each attention row's scores
        final float[] attOut;     // [N][dim]    o_proj's input: attention output (+ gated hooks' additions)
        float[] attCore;          // [N][dim]    the attention output alone (attOut itself unless gated hooks add to it)
        final float[] xMid;       // [N][dim]    residual stream after attention
        final float[] rstdFfn;    // [N]
        final float[] gate;       // [N][hidden] before SiLU
        final float[] up;         // [N][hidden]

        LayerActs(LlamaConfig c, int B, int T, int P) {
            int N = B * T, d = c.dim(), kv = c.kvDim(), h = c.hiddenDim();
            rstdAttn = new float[N];
            q = new float[N * d];
            kLin = new float[N * kv];
            vLin = new float[N * kv];
            k = P == 0 ? kLin : new float[B * (P + T) * kv];
            v = P == 0 ? vLin : new float[B * (P + T) * kv];
            lse = new float[B * c.nHeads() * T];
            attOut = new float[N * d];
            attCore = attOut;
            xMid = new float[N * d];
            rstdFfn = new float[N];
            gate = new float[N * h];
            up = new float[N * h];
        }

        /** The buffer for the attention output alone: a separate one once gated hooks add to attOut. */
        float[] attCore(boolean gated) {
            if (gated && attCore == attOut) attCore = new float[attOut.length];
            return gated ? attCore : attOut;
        }

        long floats() {
            return rstdAttn.length + q.length + kLin.length + vLin.length + (k == kLin ? 0 : k.length + v.length) + lse.length
                    + attOut.length + (attCore == attOut ? 0 : attCore.length) + xMid.length + rstdFfn.length + gate.length + up.length;
        }
    }

    /**
     * @param weights          the base model (its arrays are updated in place by the optimizer when trainable)
     * @param batchSize        B
     * @param seqLen           T (at most the model's context)
     * @param trainable        HF names of the base tensors to train ({@link #ALL} for full fine-tuning, empty for none)
     * @param recompute        keep only layer inputs; recompute the rest in backward
     */
    public LlamaTrainer(LlamaWeights weights, int batchSize, int seqLen, Set<String> trainable, boolean recompute) {
        this(weights, Hooks.none(weights.config.nLayers()), batchSize, seqLen, recompute, 0, baseParameters(weights, trainable));
    }

    /** Parameters over the base tensors named (or all, for {@link #ALL}), converted to float32 master weights first. */
    public static List<Parameter> baseParameters(LlamaWeights weights, Set<String> names) {
        List<Parameter> out = new ArrayList<>();
        for (LlamaWeights.Tensor t : weights.tensors()) {
            if (names == ALL || names.contains(t.name())) out.add(new Parameter(t.name(), t.shape(), weights.toFloat32(t.name())));
        }
        return out;
    }

    /**
     * A trainer whose linear layers run PEFT hooks; {@code seed} seeds the hooks' training passes
     * (dropout), one pass per {@link #forwardBackward} call. {@code trainableBase} are parameters over
     * base tensors (their data arrays are the weights' own) that receive weight gradients.
     */
    public LlamaTrainer(LlamaWeights weights, Hooks hooks, int batchSize, int seqLen, boolean recompute, long seed,
                        List<Parameter> trainableBase) {
        this.w = weights;
        this.hooks = hooks;
        this.maps = new dev.peft4j.models.peft.LinearMaps(hooks, recompute);
        this.seed = seed;
        this.sites = LlamaModel.sites(weights.config.nLayers());
        this.c = weights.config;
        if (seqLen > c.maxSeqLen()) {
            throw new IllegalArgumentException("sequence length " + seqLen + " exceeds the model's context length " + c.maxSeqLen());
        }
        this.B = batchSize;
        this.T = seqLen;
        this.N = B * T;
        this.recompute = recompute;
        int d = c.dim(), kv = c.kvDim(), h = c.hiddenDim(), L = c.nLayers();
        this.P = LlamaModel.prefixRows(hooks, c.nLayers());
        this.kvRows = P + T;
        int half = c.headDim() / 2;
        ropeCos = new float[kvRows * half];
        ropeSin = new float[kvRows * half];
        Rope.tables(ropeCos, ropeSin, LlamaModel.inverseFrequencies(c), kvRows);
        prefixK = new float[P * kv];
        prefixV = new float[P * kv];
        dPrefixK = new float[P * kv];
        dPrefixV = new float[P * kv];

        xIn = new float[L][N * d];
        acts = new LayerActs[recompute ? 1 : L];
        for (int i = 0; i < acts.length; i++) acts[i] = new LayerActs(c, B, T, P);
        xOut = new float[N * d];
        rstdFinal = new float[N];
        xbFinal = new float[N * d];
        logits = new float[Math.min(LOGIT_CHUNK_ROWS, N) * c.vocabSize()];
        losses = new float[N];
        chunkLosses = new float[Math.min(LOGIT_CHUNK_ROWS, N)];
        headIn = new float[Math.min(LOGIT_CHUNK_ROWS, N) * d];
        dHeadIn = new float[Math.min(LOGIT_CHUNK_ROWS, N) * d];

        xb = new float[N * d];
        act = new float[N * h];
        proj = new float[N * d];
        dx = new float[N * d];
        dxb = new float[N * d];
        dAttOut = new float[N * d];
        dq = new float[N * d];
        dk = new float[B * kvRows * kv];
        dv = new float[B * kvRows * kv];
        dkLin = P == 0 ? dk : new float[N * kv];
        dvLin = P == 0 ? dv : new float[N * kv];
        dAct = new float[N * h];
        dGate = new float[N * h];
        dUp = new float[N * h];

        java.util.Map<float[], float[]> grads = new java.util.IdentityHashMap<>();
        for (Parameter p : trainableBase) {
            grads.put(p.data(), p.grad());
            parameters.add(p);
        }
        gEmbedding = grads.get(floats(w.tokenEmbedding));
        gFinalNorm = grads.get(w.finalNorm);
        gClassifier = grads.get(floats(w.classifier)); // the embedding's gradient when tied
        gAttnNorm = perLayer(grads, w.attnNorm);
        gWq = perLayer(grads, w.wq);
        gWk = perLayer(grads, w.wk);
        gWv = perLayer(grads, w.wv);
        gWo = perLayer(grads, w.wo);
        gFfnNorm = perLayer(grads, w.ffnNorm);
        gWGate = perLayer(grads, w.wGate);
        gWUp = perLayer(grads, w.wUp);
        gWDown = perLayer(grads, w.wDown);
    }

    /** Marker for "every base tensor is trainable" (full fine-tuning). */
    public static final Set<String> ALL = Set.of("*");

    private static float[][] perLayer(java.util.Map<float[], float[]> grads, float[][] weights) {
        float[][] g = new float[weights.length][];
        for (int l = 0; l < weights.length; l++) g[l] = grads.get(weights[l]);
        return g;
    }

    private static float[][] perLayer(java.util.Map<float[], float[]> grads, WeightMatrix[] weights) {
        float[][] g = new float[weights.length][];
        for (int l = 0; l < weights.length; l++) g[l] = grads.get(floats(weights[l]));
        return g;
    }

    /** A float32 weight's array (a trainable tensor's), or null for a compressed (frozen) one. */
    private static float[] floats(WeightMatrix m) {
        return m.isF32() ? m.f32() : null;
    }

    /** Training passes run so far: seeds each pass's dropout; saved in checkpoints for exact resumes. */
    public long microSteps() {
        return microSteps;
    }

    public void setMicroSteps(long microSteps) {
        this.microSteps = microSteps;
    }

    /** The trainable base tensors, by HF name, with their gradients (hooks' parameters are their adapters'). */
    public List<Parameter> parameters() {
        return parameters;
    }

    public LlamaConfig config() {
        return c;
    }

    public int batchSize() {
        return B;
    }

    public int seqLen() {
        return T;
    }

    /** Bytes held by activations and gradient scratch (not weights, gradients of weights or optimizer state). */
    public long activationBytes() {
        long floats = 0;
        for (float[] a : xIn) floats += a.length;
        for (LayerActs a : acts) floats += a.floats();
        floats += xOut.length + rstdFinal.length + xbFinal.length + logits.length + losses.length + xb.length + act.length + proj.length
                + dx.length + dxb.length + dAttOut.length + dq.length + dk.length + dv.length + (P == 0 ? 0 : dkLin.length + dvLin.length)
                + dAct.length + dGate.length + dUp.length;
        return floats * 4;
    }

    /** Loss of a batch: the weighted mean cross-entropy. Forward only. */
    public double loss(Batch batch) {
        checkBatch(batch);
        pass = Pass.INFERENCE;
        forward(batch);
        return crossEntropy(batch, false);
    }

    /**
     * Forward and backward: returns the weighted mean cross-entropy and adds its gradient to every
     * trainable parameter's gradient.
     */
    public double forwardBackward(Batch batch) {
        checkBatch(batch);
        pass = new Pass(true, seed * 0x9E3779B97F4A7C15L + microSteps++);
        forward(batch);
        Arrays.fill(dx, 0f);
        double loss = crossEntropy(batch, true); // fills dx with d loss / d xOut
        backward(batch);
        return loss;
    }

    /** The loss over many batches: each batch's mean weighted by its token weights. Forward only. */
    public record MeanLoss(double loss, long tokens) {
        public double perplexity() {
            return Math.exp(loss);
        }
    }

    /** Weighted mean cross-entropy over batches of this trainer's shape (batches with no weight are skipped). */
    public MeanLoss meanLoss(Iterable<Batch> batches) {
        return meanLoss(batches, this::loss);
    }

    /** The mean over every weighted token of batches whose mean losses {@code loss} gives (batches weighing 0 skipped). */
    public static MeanLoss meanLoss(Iterable<Batch> batches, java.util.function.ToDoubleFunction<Batch> loss) {
        double sum = 0, weights = 0;
        for (Batch b : batches) {
            double w = b.weightSum();
            if (w == 0) continue;
            sum += loss.applyAsDouble(b) * w;
            weights += w;
        }
        return new MeanLoss(sum / Math.max(weights, 1e-12), Math.round(weights));
    }

    /** Per-token losses of the latest call, [B*T] (unweighted). */
    public float[] tokenLosses() {
        return losses;
    }

    private void checkBatch(Batch b) {
        if (b.batchSize() != B || b.seqLen() != T) {
            throw new IllegalArgumentException("this trainer takes batches of " + B + " x " + T + ", got " + b.batchSize() + " x " + b.seqLen());
        }
        for (int i = 0; i < N; i++) {
            if (b.inputs()[i] < 0 || b.inputs()[i] >= c.vocabSize() || b.targets()[i] < 0 || b.targets()[i] >= c.vocabSize()) {
                throw new IllegalArgumentException("token id at " + i + " is outside the vocabulary [0, " + c.vocabSize() + ")");
            }
        }
    }

    // =====================================================================================
    // forward
    // =====================================================================================

    private void forward(Batch batch) {
        FrozenMatmulCpu.embedding(xIn[0], w.tokenEmbedding, batch.inputs(), N);
        for (int l = 0; l < c.nLayers(); l++) {
            layerForward(l, l + 1 < c.nLayers() ? xIn[l + 1] : xOut);
        }
        int d = c.dim();
        Threads.parallelFor(N, (from, to) -> RmsNormCpu.forward(xbFinal, xOut, w.finalNorm, rstdFinal, d, c.normEps(), from, to));
    }

    private LayerActs acts(int l) {
        return acts[recompute ? 0 : l];
    }

    /** One transformer block: xIn[l] -> out. */
    private void layerForward(int l, float[] out) {
        LayerActs a = acts(l);
        int d = c.dim(), kv = c.kvDim(), h = c.hiddenDim(), H = c.nHeads(), hd = c.headDim();
        float eps = c.normEps();
        float[] x = xIn[l];

        // attention
        Threads.parallelFor(N, (from, to) -> RmsNormCpu.forward(xb, x, w.attnNorm[l], a.rstdAttn, d, eps, from, to));
        LinearSite[] site = sites[l];
        linear(site[Kind.Q.ordinal()], a.q, xb, w.wq[l], d, d);
        linear(site[Kind.K.ordinal()], a.kLin, xb, w.wk[l], d, kv);
        linear(site[Kind.V.ordinal()], a.vLin, xb, w.wv[l], d, kv);
        Threads.parallelFor(N, (from, to) -> RopeCpu.forward(a.q, H, a.kLin, c.nKvHeads(), ropeCos, ropeSin, hd, P, T, from, to));
        if (P > 0) withPrefixRows(l, a);
        List<GatedAttentionHook> gated = hooks.gated(l);
        float[] core = a.attCore(!gated.isEmpty());
        Threads.parallelFor(B * H * T, (from, to) ->
                AttentionCpu.forward(core, a.lse, a.q, a.k, a.v, H, c.nKvHeads(), hd, T, P, kvRows, from, to));
        if (!gated.isEmpty()) {
            System.arraycopy(core, 0, a.attOut, 0, N * d);
            for (GatedAttentionHook g : gated) g.forward(a.q, a.attOut, N, pass);
        }
        linear(site[Kind.O.ordinal()], proj, a.attOut, w.wo[l], d, d);

        // feed-forward, its norm fused with the residual add before it
        Threads.parallelFor(N, (from, to) -> RmsNormCpu.addForward(a.xMid, x, proj, xb, w.ffnNorm[l], a.rstdFfn, d, eps, from, to));
        linear(site[Kind.GATE.ordinal()], a.gate, xb, w.wGate[l], d, h);
        linear(site[Kind.UP.ordinal()], a.up, xb, w.wUp[l], d, h);
        swiGlu(a);
        linear(site[Kind.DOWN.ordinal()], proj, act, w.wDown[l], h, d);
        residual(out, a.xMid, proj);
    }

    /** act [N][hidden] = silu(gate) * up. */
    private void swiGlu(LayerActs a) {
        Threads.parallelFor(N * c.hiddenDim(), (from, to) -> SwiGluCpu.forward(act, 0, a.gate, 0, a.up, 0, from, to));
    }

    /** out = x + delta, [N][dim]. */
    private void residual(float[] out, float[] x, float[] delta) {
        Threads.parallelFor(N * c.dim(), (from, to) -> {
            System.arraycopy(x, from, out, from, to - from);
            Residual.forward(out, delta, from, to);
        });
    }

    /** xb = the normed input x·rstd·w of a block again (the forward's exact values, from its saved rstd). */
    private void renorm(float[] x, float[] weight, float[] rstd) {
        int d = c.dim();
        Threads.parallelFor(N, (from, to) -> RmsNormCpu.apply(xb, x, weight, rstd, d, from, to));
    }

    /** Whether a linear's backward reads its input: a hook or an input map sits at the site, or its weight trains. */
    private boolean readsInput(LinearSite site, float[] gW) {
        return gW != null || hooks.hasLinear(site) || !hooks.inputMaps(site).isEmpty();
    }

    /**
     * Chunked cross-entropy over the final normed states. With {@code grad}, the chunk's logits
     * gradient flows into dxb (then through the final norm into dx) and into the classifier.
     */
    private double crossEntropy(Batch batch, boolean grad) {
        int d = c.dim(), V = c.vocabSize();
        double weightSum = batch.weightSum();
        float scale = grad ? (float) (1.0 / Math.max(weightSum, 1e-12)) : 0f;
        int chunk = logits.length / V;
        if (grad) Arrays.fill(dxb, 0f);
        for (int r0 = 0; r0 < N; r0 += chunk) {
            int rows = Math.min(chunk, N - r0), off = r0;
            boolean headHooks = hooks.hasLinear(LM_HEAD);
            FrozenMatmulCpu.forward(logits, 0, xbFinal, r0 * d, w.classifier, rows);
            if (headHooks) {
                System.arraycopy(xbFinal, r0 * d, headIn, 0, rows * d);
                hooks.linearForward(LM_HEAD, headIn, logits, rows, pass);
            }
            float[] chunkLosses = this.chunkLosses;
            Threads.parallelFor(rows, (from, to) ->
                    CrossEntropyCpu.forwardBackward(logits, batch.targets(), batch.weights(), off, chunkLosses, V, scale, from, to));
            System.arraycopy(chunkLosses, 0, losses, r0, rows);
            if (grad) {
                FrozenMatmulCpu.backwardInput(dxb, r0 * d, logits, 0, w.classifier, rows);
                if (gClassifier != null) MatmulCpu.backwardWeight(gClassifier, 0, logits, 0, xbFinal, r0 * d, rows, d, V);
                if (headHooks) {
                    Arrays.fill(dHeadIn, 0, rows * d, 0f);
                    hooks.linearBackward(LM_HEAD, headIn, logits, dHeadIn, rows);
                    for (int i = 0; i < rows * d; i++) dxb[r0 * d + i] += dHeadIn[i];
                }
            }
        }
        if (grad) {
            Threads.parallelFor(N, (from, to) -> RmsNormCpu.backwardInput(dx, dxb, xOut, w.finalNorm, rstdFinal, d, from, to));
            if (gFinalNorm != null) {
                Threads.parallelFor(d, (from, to) -> RmsNormCpu.backwardWeight(gFinalNorm, dxb, xOut, rstdFinal, N, d, from, to));
            }
        }
        double sum = 0;
        for (int i = 0; i < N; i++) sum += (double) losses[i] * batch.weights()[i];
        return sum / Math.max(weightSum, 1e-12);
    }

    private final java.util.Map<KvPrefixHook, float[][]> hookRows = new java.util.IdentityHashMap<>();

    /** A KV-prefix hook's own k, v rows [rows][kvDim], allocated once per hook. */
    private float[][] hookRows(KvPrefixHook h) {
        return hookRows.computeIfAbsent(h, x -> new float[][]{new float[x.rows() * c.kvDim()], new float[x.rows() * c.kvDim()]});
    }

    /** Lays out k, v [B][P+T][kvDim]: the KV-prefix hooks' rows, then each sequence's own keys and values. */
    private void withPrefixRows(int l, LayerActs a) {
        int kv = c.kvDim(), row = 0;
        for (KvPrefixHook h : hooks.kvPrefix(l)) {
            float[][] buf = hookRows(h);
            float[] k = buf[0], v = buf[1];
            h.keysValues(k, v, pass);
            System.arraycopy(k, 0, prefixK, row * kv, k.length);
            System.arraycopy(v, 0, prefixV, row * kv, v.length);
            row += h.rows();
        }
        for (int b = 0; b < B; b++) {
            int base = b * kvRows * kv;
            System.arraycopy(prefixK, 0, a.k, base, P * kv);
            System.arraycopy(prefixV, 0, a.v, base, P * kv);
            System.arraycopy(a.kLin, b * T * kv, a.k, base + P * kv, T * kv);
            System.arraycopy(a.vLin, b * T * kv, a.v, base + P * kv, T * kv);
        }
    }

    /** Splits dk, dv [B][P+T][kvDim] into the projections' gradients and the prefix rows' (summed over the batch, to their hooks). */
    private void prefixRowsBackward(int l) {
        int kv = c.kvDim();
        Arrays.fill(dPrefixK, 0f);
        Arrays.fill(dPrefixV, 0f);
        for (int b = 0; b < B; b++) {
            int base = b * kvRows * kv;
            for (int i = 0; i < P * kv; i++) {
                dPrefixK[i] += dk[base + i];
                dPrefixV[i] += dv[base + i];
            }
            System.arraycopy(dk, base + P * kv, dkLin, b * T * kv, T * kv);
            System.arraycopy(dv, base + P * kv, dvLin, b * T * kv, T * kv);
        }
        int row = 0;
        for (KvPrefixHook h : hooks.kvPrefix(l)) {
            float[][] buf = hookRows(h);
            System.arraycopy(dPrefixK, row * kv, buf[0], 0, h.rows() * kv);
            System.arraycopy(dPrefixV, row * kv, buf[1], 0, h.rows() * kv);
            h.backward(buf[0], buf[1]);
            row += h.rows();
        }
    }

    /** y [N][out] = x·Wᵀ (W in its stored type), then the site's hooks add their deltas; input and output maps around both. */
    private void linear(LinearSite site, float[] y, float[] x, WeightMatrix weight, int in, int out) {
        float[] mapped = maps.input(site, x, in, N, pass);    // x itself without input maps
        float[] pre = maps.preOutput(site, y, out, N);        // y itself without output maps
        FrozenMatmulCpu.forward(pre, 0, mapped, 0, weight, N);
        hooks.linearForward(site, mapped, pre, N, pass);
        maps.output(site, y, out, N, pass);
    }

    /** dx [N][in] += dy·W (+ the hooks' shares); gW += dyᵀ·x when W is trainable; hooks accumulate their own gradients. */
    private void linearBackward(LinearSite site, float[] dxOut, float[] x, float[] dy, WeightMatrix weight, float[] gW, int in, int out) {
        float[] dPre = maps.outputBackward(site, dy, out, N);     // dy itself without output maps
        float[] mapped = maps.mappedInput(site, x, in, N);
        float[] dMapped = maps.inputGradient(site, dxOut, in, N); // dxOut itself without input maps
        FrozenMatmulCpu.backwardInput(dMapped, 0, dPre, 0, weight, N);
        if (gW != null) MatmulCpu.backwardWeight(gW, 0, dPre, 0, mapped, 0, N, in, out);
        hooks.linearBackward(site, mapped, dPre, dMapped, N);
        maps.inputBackward(site, x, dMapped, dxOut, in, N);
    }

    // =====================================================================================
    // backward: the forward read bottom-up
    // =====================================================================================

    private void backward(Batch batch) {
        int lowest = lowestBackwardLayer();
        for (int l = c.nLayers() - 1; l >= lowest; l--) {
            if (recompute) layerForward(l, dAttOut); // the output itself is not needed again; dAttOut is free here
            layerBackward(l);
        }
        if (gEmbedding != null) Embedding.backward(gEmbedding, dx, batch.inputs(), N, c.dim());
    }

    /**
     * The lowest layer whose backward can reach a trainable parameter: the embedding's gradient needs
     * every layer; otherwise the lowest layer with a trainable weight or an active hook (a linear's,
     * an input or output map, prefix rows, a gated prompt). Layers below it only carry gradients to
     * frozen weights and are skipped (LLaMA-Adapter on the top layers backpropagates through those
     * alone, as autograd would); {@code nLayers} when nothing below the head trains.
     */
    public int lowestBackwardLayer() {
        if (gEmbedding != null) return 0;
        for (int l = 0; l < c.nLayers(); l++) if (layerTrains(l)) return l;
        return c.nLayers();
    }

    private boolean layerTrains(int l) {
        for (float[][] g : List.of(gAttnNorm, gWq, gWk, gWv, gWo, gFfnNorm, gWGate, gWUp, gWDown)) if (g[l] != null) return true;
        if (!hooks.kvPrefix(l).isEmpty() || !hooks.gated(l).isEmpty()) return true;
        for (LinearSite site : sites[l]) {
            if (hooks.hasLinear(site) || !hooks.inputMaps(site).isEmpty() || !hooks.outputMaps(site).isEmpty()) return true;
        }
        return false;
    }

    /** dx holds d loss / d (layer l's output); on return it holds d loss / d xIn[l]. */
    private void layerBackward(int l) {
        LayerActs a = acts(l);
        int d = c.dim(), kv = c.kvDim(), h = c.hiddenDim(), H = c.nHeads(), hd = c.headDim();
        float[] x = xIn[l];

        // feed-forward: out = xMid + (silu(gate) * up) · Wdownᵀ
        LinearSite[] site = sites[l];
        LinearSite sDown = site[Kind.DOWN.ordinal()], sGate = site[Kind.GATE.ordinal()], sUp = site[Kind.UP.ordinal()];
        if (readsInput(sDown, gWDown[l])) swiGlu(a);
        Arrays.fill(dAct, 0f);
        linearBackward(sDown, dAct, act, dx, w.wDown[l], gWDown[l], h, d);
        Arrays.fill(dGate, 0f);
        Arrays.fill(dUp, 0f);
        Threads.parallelFor(N * h, (from, to) -> SwiGluCpu.backward(dGate, dUp, dAct, a.gate, 0, a.up, 0, from, to));
        if (readsInput(sGate, gWGate[l]) || readsInput(sUp, gWUp[l])) renorm(a.xMid, w.ffnNorm[l], a.rstdFfn);
        Arrays.fill(dxb, 0f);
        linearBackward(sGate, dxb, xb, dGate, w.wGate[l], gWGate[l], d, h);
        linearBackward(sUp, dxb, xb, dUp, w.wUp[l], gWUp[l], d, h);
        if (gFfnNorm[l] != null) {
            Threads.parallelFor(d, (from, to) -> RmsNormCpu.backwardWeight(gFfnNorm[l], dxb, a.xMid, a.rstdFfn, N, d, from, to));
        }
        Threads.parallelFor(N, (from, to) -> RmsNormCpu.backwardInput(dx, dxb, a.xMid, w.ffnNorm[l], a.rstdFfn, d, from, to));

        // attention: xMid = x + attention(rope(q), rope(k), v) · Woᵀ
        Arrays.fill(dAttOut, 0f);
        linearBackward(site[Kind.O.ordinal()], dAttOut, a.attOut, dx, w.wo[l], gWo[l], d, d);
        Arrays.fill(dq, 0f);
        Arrays.fill(dk, 0f);
        Arrays.fill(dv, 0f);
        List<GatedAttentionHook> gated = hooks.gated(l);
        float[] core = gated.isEmpty() ? a.attOut : a.attCore;
        Threads.parallelFor(B * c.nKvHeads(), (from, to) ->
                AttentionCpu.backward(dq, dk, dv, dAttOut, a.q, a.k, a.v, core, a.lse, H, c.nKvHeads(), hd, T, P, kvRows, from, to));
        for (GatedAttentionHook g : gated) g.backward(a.q, dAttOut, dq, N);
        if (P > 0) prefixRowsBackward(l);
        Threads.parallelFor(N, (from, to) -> RopeCpu.backward(dq, H, dkLin, c.nKvHeads(), ropeCos, ropeSin, hd, P, T, from, to));
        LinearSite sQ = site[Kind.Q.ordinal()], sK = site[Kind.K.ordinal()], sV = site[Kind.V.ordinal()];
        if (readsInput(sQ, gWq[l]) || readsInput(sK, gWk[l]) || readsInput(sV, gWv[l])) renorm(x, w.attnNorm[l], a.rstdAttn);
        Arrays.fill(dxb, 0f);
        linearBackward(sQ, dxb, xb, dq, w.wq[l], gWq[l], d, d);
        linearBackward(sK, dxb, xb, dkLin, w.wk[l], gWk[l], d, kv);
        linearBackward(sV, dxb, xb, dvLin, w.wv[l], gWv[l], d, kv);
        if (gAttnNorm[l] != null) {
            Threads.parallelFor(d, (from, to) -> RmsNormCpu.backwardWeight(gAttnNorm[l], dxb, x, a.rstdAttn, N, d, from, to));
        }
        Threads.parallelFor(N, (from, to) -> RmsNormCpu.backwardInput(dx, dxb, x, w.attnNorm[l], a.rstdAttn, d, from, to));
    }
}
