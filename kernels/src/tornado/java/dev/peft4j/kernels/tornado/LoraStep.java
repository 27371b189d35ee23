package dev.peft4j.kernels.tornado;

import dev.peft4j.kernels.DeviceStep;
import dev.peft4j.kernels.Rope;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import uk.ac.manchester.tornado.api.ImmutableTaskGraph;
import uk.ac.manchester.tornado.api.TaskGraph;
import uk.ac.manchester.tornado.api.TornadoExecutionPlan;
import uk.ac.manchester.tornado.api.TornadoExecutionResult;
import uk.ac.manchester.tornado.api.common.TornadoDevice;
import uk.ac.manchester.tornado.api.enums.DataTransferMode;
import uk.ac.manchester.tornado.api.exceptions.TornadoExecutionPlanException;

/**
 * A training step of a LLaMA model with frozen base weights: LoRA on any subset of the seven linears q, k, v, o,
 * gate, up, down ({@link Site}) of every layer and optionally on lm_head, optionally a LLaMA-Adapter and prefix tuning
 * (a plain table or through its MLP); forward, cross-entropy, backward, the gradient norm and AdamW, written once
 * against {@link Ops} so that the same sequence runs as TornadoVM TaskGraphs ({@link #onDevice}) or as plain Java
 * ({@link #inJava}, the check). It is a {@link DeviceStep}: a training run writes its tensors' values and moments
 * (named as the plugins name their parameters), runs micro-batches ({@link #forwardBackward}), the norm and
 * {@link #update}, and reads them back.
 *
 * <p>On the device the frozen weights, the activations and the trainable state (values, gradients and AdamW
 * moments) are copied once, before the first step, and stay there; each micro-batch moves only the batch (tokens,
 * targets, loss weights, whether it starts a step) in and the per-token losses out, each update the AdamW settings
 * in and the norm's partial sums out. Values and moments come back on demand ({@link #read}, {@link #fetchLora}).
 *
 * <p>On the device the step is one TaskGraph per stage (embedding, each layer's forward, the head
 * with the loss, each layer's backward, AdamW) in one execution plan; a single graph for the whole
 * step is too much for TornadoVM 5.2.0's graph compiler, whose scheduling is cubic in the graph's
 * nodes. Each graph passes every resident buffer on to the next, and TornadoVM 5.2.0 caps a graph
 * at 1024 nodes, so every kind of per-layer buffer (each weight matrix, the LoRA state, each saved
 * activation) is ONE array {@code [layers][...]} that the tasks address by offset: a graph hands
 * on a fixed number of buffers ({@value #RESIDENT_BUFFERS}) whatever the depth. The handing on still
 * makes TornadoVM's per-graph bytecode larger than its default: the JVM needs
 * {@code -Dtornado.tvm.maxbytecodesize} (bytes, default 4096) above it, which this class sets to
 * {@value #BYTECODE_SIZE} when the JVM has no value and TornadoVM has not compiled a graph yet.
 *
 * <pre>
 *   per layer:  h = x + o(attn(rope(q(n1)), rope(k(n1)), v(n1))),  x' = h + down(silu(gate(n2)) ⊙ up(n2))
 *               n1 = rmsnorm(x), n2 = rmsnorm(h),  f(x) = Wf·x (+ s·Bf·Af·x on a LoRA site),  s = alpha / rank
 * </pre>
 *
 * <p>Optionally the step also trains a LLaMA-Adapter ({@link LlamaAdapter}) on the layers from its start
 * layer: per adapted layer a prompt [len][dim] and one gate per head, whose gated attention over the
 * prompt's keys and values (the layer's frozen k and v projections, no RoPE, no mask) is added to the
 * attention output before o_proj; its prompt and gates take AdamW with the LoRA matrices. Its buffers are
 * packed per adapted layer like the rest ({@value #ADAPTER_BUFFERS} more resident buffers).
 *
 * <pre>
 *   attn += gate_h · softmax_j(q_ih·Kp_j,g / √hd) · Vp_g,   Kp = prompt·Wkᵀ,  Vp = prompt·Wvᵀ
 * </pre>
 *
 * <p>Optionally the step also does prefix tuning ({@link Prefix}): a table of P rows of keys and values per layer,
 * copied unrotated in front of every sequence's own keys and values (which, like the queries, take RoPE from
 * position P); attention runs over P + T rows with the prefix visible to every query. Its backward sums the prefix
 * rows' dK, dV over the batch into the table's gradient (one thread per table element), and the table takes AdamW
 * with the rest ({@value #PREFIX_BUFFERS} more resident buffers).
 */
public final class LoraStep implements DeviceStep {
    /** The TornadoVM bytecode buffer per graph, in bytes, that this class asks for (see above). */
    public static final int BYTECODE_SIZE = 1 << 18;

    /** How many buffers stay on the device and pass from graph to graph, at any depth. */
    public static final int RESIDENT_BUFFERS = 50;

    /** How many resident buffers a LLaMA-Adapter adds. */
    public static final int ADAPTER_BUFFERS = 11;

    /** How many resident buffers prefix tuning adds. */
    public static final int PREFIX_BUFFERS = 8;

    /** How many more its reparameterisation adds. */
    public static final int PROJECTION_BUFFERS = 7;

    /** Chunks per trainable buffer in the gradient norm's device pass. */
    private static final int NORM_PARTS = 1024;

    static {
        if (System.getProperty("tornado.tvm.maxbytecodesize") == null) {
            System.setProperty("tornado.tvm.maxbytecodesize", Integer.toString(BYTECODE_SIZE));
        }
    }

    /** Model and batch shape; LoRA rank and alpha. */
    public record Shape(int dim, int layers, int heads, int kvHeads, int hidden, int vocab, int batch, int seq,
                        int rank, float alpha, float eps, double ropeTheta) {
        /** Head width. */
        public int hd() { return dim / heads; }
        /** Width of the key and value projections. */
        public int kvDim() { return kvHeads * hd(); }
        /** Tokens per step. */
        public int n() { return batch * seq; }
    }

    /** A linear of a LLaMA layer that can carry LoRA, in the order its A and B are packed. */
    public enum Site {
        Q, K, V, O, GATE, UP, DOWN;

        /** Input width of the linear. */
        public int in(Shape s) { return this == DOWN ? s.hidden() : s.dim(); }

        /** Output width of the linear. */
        public int out(Shape s) {
            return switch (this) {
                case Q, O, DOWN -> s.dim();
                case K, V -> s.kvDim();
                case GATE, UP -> s.hidden();
            };
        }

        /** The Hugging Face module name ({@code q_proj}, ..., {@code down_proj}). */
        public String module() { return name().toLowerCase(java.util.Locale.ROOT) + "_proj"; }

        /** The Hugging Face block the module sits in: {@code self_attn} or {@code mlp}. */
        public String block() { return ordinal() <= O.ordinal() ? "self_attn" : "mlp"; }
    }

    /** LoRA on q and v, the step's default. */
    public static final Set<Site> QV = Collections.unmodifiableSet(EnumSet.of(Site.Q, Site.V));

    /**
     * A LLaMA-Adapter of {@code len} prompt rows on the layers from {@code startLayer} up: per adapted layer
     * the packed parameters are [prompt [len][dim] | gate [heads]].
     */
    public record LlamaAdapter(int len, int startLayer) {
        /** How many layers of the shape carry the adapter. */
        public int layers(Shape s) { return s.layers() - startLayer; }
        /** Floats of one adapted layer's parameters. */
        public int perLayer(Shape s) { return len * s.dim() + s.heads(); }
    }

    /**
     * Prefix tuning with {@code len} virtual tokens: a trainable table [len][layers·2·kvDim] whose row p holds
     * (K_0, V_0, K_1, V_1, ...), prepended unrotated to every sequence's keys and values in every layer; the
     * sequence's own positions (queries and keys) then start at len.
     */
    public record Prefix(int len, int encoderHidden) {
        /** A plain table (no reparameterisation). */
        public Prefix(int len) { this(len, 0); }

        /** Floats of one table row. */
        public int width(Shape s) { return s.layers() * 2 * s.kvDim(); }

        /**
         * Floats of the reparameterisation's parameters, packed [E [len][kvDim] | W1 [enc][kvDim] | b1 [enc] |
         * W2 [width][enc] | b2 [width]] (0 for a plain table).
         */
        public int projectionSize(Shape s) {
            int enc = encoderHidden, kv = s.kvDim(), width = width(s);
            return enc == 0 ? 0 : len * kv + enc * kv + enc + width * enc + width;
        }
    }

    /**
     * Frozen base weights, nn.Linear layout [out][in]; each per-layer kind is one array with layer l's
     * matrix at l times the matrix size ({@link #layer} cuts one out, {@link #pack} builds one).
     */
    public record Weights(float[] embed,     // [vocab][dim]
                          float[] attnNorm,  // [L][dim]
                          float[] wq,        // [L][dim][dim]
                          float[] wk,        // [L][kvDim][dim]
                          float[] wv,        // [L][kvDim][dim]
                          float[] wo,        // [L][dim][dim]
                          float[] ffnNorm,   // [L][dim]
                          float[] wGate,     // [L][hidden][dim]
                          float[] wUp,       // [L][hidden][dim]
                          float[] wDown,     // [L][dim][hidden]
                          float[] finalNorm, // [dim]
                          float[] head) {    // [vocab][dim]

        /** Random weights of the given shape (uniform, scaled by 1/sqrt(fan-in)); norms are 1. */
        public static Weights random(Shape s, long seed) {
            SplittableRandom r = new SplittableRandom(seed);
            int L = s.layers(), d = s.dim(), kv = s.kvDim(), h = s.hidden();
            float[] embed = uniform(r, s.vocab() * d, 1);
            float[][] wq = new float[L][], wk = new float[L][], wv = new float[L][], wo = new float[L][];
            float[][] wg = new float[L][], wu = new float[L][], wd = new float[L][];
            for (int l = 0; l < L; l++) {
                wq[l] = uniform(r, d * d, d); wk[l] = uniform(r, kv * d, d); wv[l] = uniform(r, kv * d, d);
                wo[l] = uniform(r, d * d, d); wg[l] = uniform(r, h * d, d); wu[l] = uniform(r, h * d, d);
                wd[l] = uniform(r, d * h, h);
            }
            return new Weights(embed, ones(L * d), pack(wq), pack(wk), pack(wv), pack(wo), ones(L * d), pack(wg), pack(wu),
                    pack(wd), ones(d), uniform(r, s.vocab() * d, d));
        }

        /** One array from per-layer arrays of equal length, layer by layer. */
        public static float[] pack(float[][] perLayer) {
            int size = perLayer.length == 0 ? 0 : perLayer[0].length;
            float[] all = new float[Math.multiplyExact(perLayer.length, size)];
            for (int l = 0; l < perLayer.length; l++) System.arraycopy(perLayer[l], 0, all, l * size, size);
            return all;
        }

        /** Layer l's slice of a packed array of {@code layers} equal slices, as a copy. */
        public static float[] layer(float[] packed, int layers, int l) {
            int size = packed.length / layers;
            return java.util.Arrays.copyOfRange(packed, l * size, (l + 1) * size);
        }
    }

    /** One stage of the step: a TaskGraph on the device, a run of plain-Java ops otherwise. */
    private record Stage(String name, Consumer<Ops> ops) {}

    private final Shape s;
    private final Weights w;
    private final float scaling;
    private final List<float[]> resident = new ArrayList<>();  // on the device for the plan's lifetime
    private final List<Stage> stages = new ArrayList<>();      // in step order
    private final TornadoExecutionPlan plan;                   // null when running in Java
    private final TornadoDevice device;                        // null when running in Java
    private TornadoExecutionResult lastUpdate;                 // the AdamW graph's last execution
    private boolean started;                                   // the first forward ran (and uploaded everything)
    private boolean hostStale;                                 // the device has values the host arrays lack

    // ---- trainable LoRA state: per layer, per site in Site order, A [rank][in] then B [out][rank] ----
    private final Site[] sites;                      // the linears that carry LoRA, in Site order
    private final int[] loraBefore;                  // [2·sites] offset of each A, B inside a layer's slice
    private final int loraPerLayer;                  // Σ over sites of rank·(in + out)
    private final float[] lora, gLora, mLora, vLora; // [L][loraPerLayer] (+ lm_head's A, B) weights, gradients, AdamW moments
    private final boolean headLora;                  // LoRA on lm_head too: its A [rank][dim], B [vocab][rank] after the layers'

    // ---- the optional LLaMA-Adapter, packed per adapted layer (A of them; all empty without one) ----
    private final LlamaAdapter adapter;              // null: none
    private final float[] ad, gAd, mAd, vAd;         // [A][len*dim + heads] prompt and gates, gradients, moments
    private final float[] kp, vp;                    // [A][len][kvDim] the prompt's keys and values
    private final float[] aProbs;                    // [A][N][heads][len] softmax over the prompt rows
    private final float[] aMixed;                    // [A][N][dim] Σ p·Vp before the gate
    private final float[] aDs;                       // [N][heads][len] score gradients
    private final float[] dKp, dVp;                  // [len][kvDim]

    // ---- optional prefix tuning (P = 0 without; its buffers are then empty) ----
    private final int P;                             // prefix rows per layer
    private final float[] pre, gPre, mPre, vPre;     // [P][L·2·kvDim] the table, its gradient, AdamW moments (plain)
    private final int enc;                           // the reparameterisation's hidden width; 0: the table is trained
    private final float[] prj, gPrj, mPrj, vPrj;     // its packed parameters (Prefix#projectionSize), gradients, moments
    private final float[] prjEmb, prjAct, prjDAct;   // [P][kvDim] a copy of E, [P][enc] tanh(E·W1ᵀ + b1) and its gradient
    private final float[] kAll, vAll;                // [L][B][P+T][kvDim] prefix rows then the sequence's k, v
    private final float[] dkAll, dvAll;              // [B][P+T][kvDim]

    // ---- per step inputs and outputs ----
    private final int[] tokens, targets;            // [N]
    private final float[] lossWeights;              // [N] 0 masks a token
    private final float[] ceScale = new float[1];   // 1 / Σ lossWeights
    private final float[] fresh = new float[1];     // 1: this micro-batch starts an optimizer step (clears gradients)
    private final float[] gradSq = new float[3 * NORM_PARTS]; // Σ g² per chunk of the LoRA, adapter, prefix gradients
    private final float[] hyper = new float[TaskKernels.HYPER_SIZE];
    private final float[] losses;                   // [N] per-token cross-entropy
    private int t;                                  // AdamW step count

    // ---- RoPE tables, activations saved per layer for backward (packed [L][...]), scratch ----
    private final float[] cos, sin;                 // [P+T][hd/2]
    private final float[] xIn;                      // [L+1][N][dim] residual stream into each layer; [L] = out
    private final float[] xb, xMid, xb2;            // [L][N][dim] attention norm out, stream after attention, ffn norm out
    private final float[] rstd1, rstd2;             // [L][N]
    private final float[] q, k, v;                  // [L][N][dim], [L][N][kvDim] x2 (after RoPE for q, k)
    private final float[] z;                        // [L][sites][N][rank] A·x per LoRA site
    private final float[] att, attOut;              // [L][B][heads][T][P+T] probabilities, [L][N][dim]
    private final float[] gate, up, act;            // [L][N][hidden]
    private final float[] rstdF, xbF, logits;       // [N], [N][dim], [N][vocab] (then dLogits)
    private final float[] tmp, loraY;               // [N][dim], [N][max out] (a LoRA branch's B·z)
    private final float[] dx, dxb, dAttOut, dq;     // [N][dim]
    private final float[] dk, dv;                   // [N][kvDim]
    private final float[] dScores;                  // [B][heads][T][P+T]
    private final float[] dAct, dGate, dUp;         // [N][hidden]
    private final float[] dz;                       // [N][rank]
    private final float[] dyS;                      // [N][max out] a LoRA site's output gradient times its scaling

    // ---- the trainable tensors by their PEFT names, for DeviceStep's read and write ----
    private record Slot(float[] w, float[] g, float[] m, float[] v, int off, int len) {}
    private final Map<String, Slot> slots = new LinkedHashMap<>();

    private LoraStep(Shape s, Weights w, long loraSeed, Set<Site> loraSites, boolean headLora, LlamaAdapter adapter, Prefix prefix,
                     double[] invFreqs, TornadoDevice device) {
        if (loraSites.isEmpty() && !headLora && adapter == null && prefix == null) throw new IllegalArgumentException("the step trains nothing");
        this.headLora = headLora;
        if (prefix != null && prefix.len() < 1) throw new IllegalArgumentException("prefix " + prefix + " has no rows");
        if (adapter != null && (adapter.len() < 1 || adapter.startLayer() < 0 || adapter.startLayer() >= s.layers())) {
            throw new IllegalArgumentException("adapter " + adapter + " does not fit " + s.layers() + " layers");
        }
        this.s = s;
        this.adapter = adapter;
        this.w = w;
        this.scaling = s.alpha() / s.rank();
        int L = s.layers(), d = s.dim(), kv = s.kvDim(), h = s.hidden(), r = s.rank(), n = s.n();
        this.P = prefix == null ? 0 : prefix.len();
        int hd = s.hd(), T = s.seq(), B = s.batch(), attSize = B * s.heads() * T * (P + T);
        this.device = device;
        sites = loraSites.isEmpty() ? new Site[0] : EnumSet.copyOf(loraSites).toArray(Site[]::new);
        int S = sites.length, maxOut = 0;
        loraBefore = new int[2 * S];
        int per = 0;
        for (int i = 0; i < S; i++) {
            loraBefore[2 * i] = per;
            per += r * sites[i].in(s);
            loraBefore[2 * i + 1] = per;
            per += sites[i].out(s) * r;
            maxOut = Math.max(maxOut, sites[i].out(s));
        }
        loraPerLayer = per;
        if (headLora) maxOut = Math.max(maxOut, s.vocab());
        int loraLen = Math.max(1, Math.addExact(Math.multiplyExact(L, loraPerLayer), headLora ? r * (d + s.vocab()) : 0));
        SplittableRandom rnd = new SplittableRandom(loraSeed);
        lora = new float[loraLen]; // one float (never read) when nothing carries LoRA: a device buffer is not empty
        for (int l = 0; l < L; l++) {
            // per layer all A, then all B (B is zero in LoRA's init; small random values here so that every
            // gradient path is exercised)
            for (int i = 0; i < S; i++) {
                int in = sites[i].in(s);
                System.arraycopy(uniform(rnd, r * in, in), 0, lora, loraOffset(l, 2 * i), r * in);
            }
            for (int i = 0; i < S; i++) {
                int out = sites[i].out(s);
                System.arraycopy(uniform(rnd, out * r, 100.0 * r), 0, lora, loraOffset(l, 2 * i + 1), out * r);
            }
        }
        if (headLora) {
            System.arraycopy(uniform(rnd, r * d, d), 0, lora, headOffset(), r * d);
            System.arraycopy(uniform(rnd, s.vocab() * r, 100.0 * r), 0, lora, headOffset() + r * d, s.vocab() * r);
        }
        gLora = new float[loraLen]; mLora = new float[loraLen]; vLora = new float[loraLen];
        int A = adapter == null ? 0 : adapter.layers(s), len = adapter == null ? 0 : adapter.len();
        int adPer = adapter == null ? 0 : adapter.perLayer(s);
        ad = packed(A, adPer); gAd = packed(A, adPer); mAd = packed(A, adPer); vAd = packed(A, adPer);
        for (int a = 0; a < A; a++) {
            // the gates are zero in LLaMA-Adapter's init; small random values here so that every gradient path is exercised
            System.arraycopy(uniform(rnd, len * d, 1), 0, ad, a * adPer, len * d);
            System.arraycopy(uniform(rnd, s.heads(), 4), 0, ad, a * adPer + len * d, s.heads());
        }
        kp = packed(A, len * kv); vp = packed(A, len * kv);
        aProbs = packed(A, n * s.heads() * len); aMixed = packed(A, n * d);
        aDs = new float[A == 0 ? 0 : n * s.heads() * len]; dKp = new float[A == 0 ? 0 : len * kv]; dVp = new float[dKp.length];
        int width = L * 2 * kv;
        enc = prefix == null ? 0 : prefix.encoderHidden();
        int prjSize = prefix == null ? 0 : prefix.projectionSize(s);
        // with the reparameterisation the table is computed (its moments unused): E, W1, b1, W2, b2 are trained
        pre = enc > 0 ? new float[P * width] : uniform(rnd, P * width, 1); gPre = new float[P * width];
        mPre = new float[enc > 0 ? 1 : P * width]; vPre = new float[mPre.length];
        prj = uniform(rnd, prjSize, enc + 1); gPrj = new float[prjSize]; mPrj = new float[prjSize]; vPrj = new float[prjSize];
        prjEmb = new float[P * kv]; prjAct = new float[P * enc]; prjDAct = new float[P * enc];
        kAll = packed(P == 0 ? 0 : L, B * (P + T) * kv); vAll = packed(P == 0 ? 0 : L, B * (P + T) * kv);
        dkAll = new float[P == 0 ? 0 : B * (P + T) * kv]; dvAll = new float[dkAll.length];
        tokens = new int[n]; targets = new int[n]; lossWeights = new float[n]; losses = new float[n];

        double[] invFreq = new double[hd / 2];
        for (int j = 0; j < hd / 2; j++) invFreq[j] = Math.pow(s.ropeTheta(), -2.0 * j / hd);
        if (invFreqs != null) {
            if (invFreqs.length != hd / 2) throw new IllegalArgumentException(invFreqs.length + " RoPE frequencies for head width " + hd);
            invFreq = invFreqs.clone();
        }
        cos = new float[(P + T) * hd / 2]; sin = new float[(P + T) * hd / 2];
        Rope.tables(cos, sin, invFreq, P + T);

        xIn = packed(L + 1, n * d);
        xb = packed(L, n * d); xMid = packed(L, n * d); xb2 = packed(L, n * d);
        rstd1 = packed(L, n); rstd2 = packed(L, n);
        q = packed(L, n * d); k = packed(L, n * kv); v = packed(L, n * kv);
        z = new float[Math.max(1, Math.addExact(Math.multiplyExact(L, S * n * r), headLora ? n * r : 0))]; // lm_head's z last
        att = packed(L, attSize); attOut = packed(L, n * d);
        gate = packed(L, n * h); up = packed(L, n * h); act = packed(L, n * h);
        rstdF = new float[n]; xbF = new float[n * d]; logits = new float[Math.multiplyExact(n, s.vocab())];
        tmp = new float[n * d]; loraY = new float[Math.max(1, n * maxOut)];
        dx = new float[n * d]; dxb = new float[n * d]; dAttOut = new float[n * d]; dq = new float[n * d];
        dk = new float[n * kv]; dv = new float[n * kv]; dScores = new float[attSize];
        dAct = new float[n * h]; dGate = new float[n * h]; dUp = new float[n * h]; dz = new float[n * r]; dyS = new float[Math.max(1, n * maxOut)];

        resident.addAll(List.of(w.embed(), w.attnNorm(), w.wq(), w.wk(), w.wv(), w.wo(), w.ffnNorm(), w.wGate(), w.wUp(),
                w.wDown(), w.finalNorm(), w.head(), lora, gLora, mLora, vLora, cos, sin,
                xIn, xb, xMid, xb2, rstd1, rstd2, q, k, v, z, loraY, att, attOut, gate, up, act,
                rstdF, xbF, logits, tmp, dx, dxb, dAttOut, dq, dk, dv, dScores, dAct, dGate, dUp, dz, dyS));
        if (adapter != null) resident.addAll(List.of(ad, gAd, mAd, vAd, kp, vp, aProbs, aMixed, aDs, dKp, dVp));
        if (P > 0) resident.addAll(List.of(pre, gPre, mPre, vPre, kAll, vAll, dkAll, dvAll));
        if (enc > 0) resident.addAll(List.of(prj, gPrj, mPrj, vPrj, prjEmb, prjAct, prjDAct));
        assert resident.size() == RESIDENT_BUFFERS + (adapter == null ? 0 : ADAPTER_BUFFERS) + (P == 0 ? 0 : PREFIX_BUFFERS)
                + (enc == 0 ? 0 : PROJECTION_BUFFERS);

        stages.add(new Stage("embed", this::embedForward));
        for (int l = 0; l < L; l++) {
            int layer = l;
            stages.add(new Stage("layer_" + l + ".fwd", o -> layerForward(o, layer)));
        }
        stages.add(new Stage("head", this::headForwardBackward));
        for (int l = L - 1; l >= 0; l--) {
            int layer = l;
            stages.add(new Stage("layer_" + l + ".bwd", o -> layerBackward(o, layer)));
        }
        stages.add(new Stage("grad_norm", this::gradNorm));
        stages.add(new Stage("adamw", this::update));
        for (int l = 0; l < L; l++) {
            for (int i = 0; i < S; i++) {
                String base = "base_model.model.model.layers." + l + "." + sites[i].block() + "." + sites[i].module();
                slots.put(base + ".lora_A.weight", new Slot(lora, gLora, mLora, vLora, loraOffset(l, 2 * i), r * sites[i].in(s)));
                slots.put(base + ".lora_B.weight", new Slot(lora, gLora, mLora, vLora, loraOffset(l, 2 * i + 1), sites[i].out(s) * r));
            }
        }
        for (int a = 0; a < A; a++) {
            String base = "base_model.model.model.layers." + (adapter.startLayer() + a) + ".self_attn.";
            slots.put(base + "adaption_prompt", new Slot(ad, gAd, mAd, vAd, a * adPer, len * d));
            slots.put(base + "adaption_gate", new Slot(ad, gAd, mAd, vAd, a * adPer + len * d, s.heads()));
        }
        if (headLora) {
            slots.put("base_model.model.lm_head.lora_A.weight", new Slot(lora, gLora, mLora, vLora, headOffset(), r * d));
            slots.put("base_model.model.lm_head.lora_B.weight", new Slot(lora, gLora, mLora, vLora, headOffset() + r * d, s.vocab() * r));
        }
        if (P > 0 && enc == 0) slots.put("prompt_embeddings", new Slot(pre, gPre, mPre, vPre, 0, pre.length));
        if (enc > 0) {
            int off = 0;
            String[] names = {"embedding.weight", "transform.0.weight", "transform.0.bias", "transform.2.weight", "transform.2.bias"};
            int[] sizes = {P * kv, enc * kv, enc, width * enc, width};
            for (int i = 0; i < names.length; i++) {
                slots.put("prompt_encoder." + names[i], new Slot(prj, gPrj, mPrj, vPrj, off, sizes[i]));
                off += sizes[i];
            }
        }
        plan = device == null ? null : devicePlan(device);
    }

    /** Offset of layer l's matrix m (2i: A of the i-th LoRA site, 2i+1: its B) in the packed LoRA arrays. */
    private int loraOffset(int l, int m) {
        return l * loraPerLayer + loraBefore[m];
    }

    /** Offset of lm_head's A (then B) in the packed LoRA arrays: after every layer's. */
    private int headOffset() {
        return s.layers() * loraPerLayer;
    }

    /** The index of a site among the LoRA sites, or -1 when it carries no LoRA. */
    private int siteIndex(Site site) {
        for (int i = 0; i < sites.length; i++) if (sites[i] == site) return i;
        return -1;
    }

    /**
     * The device form: graph 0 uploads every resident buffer once; graphs 1.. are the stages, each
     * taking the resident buffers over from the graph that ran before it and keeping them on the
     * device for the next. (TornadoVM hands a consumed buffer over from the last executed graph
     * only, so every stage passes all of them on; the first stage takes them from the upload on the
     * first step and from the AdamW graph after.) Per step only the batch and hyper-parameters go
     * in and the per-token losses come out.
     */
    private TornadoExecutionPlan devicePlan(TornadoDevice device) {
        Object[] all = resident.toArray();
        List<ImmutableTaskGraph> graphs = new ArrayList<>();
        TaskGraph upload = new TaskGraph("upload").transferToDevice(DataTransferMode.FIRST_EXECUTION, all);
        for (int i = 0; i < resident.size(); i += 8) {
            float[][] a = new float[8][];
            for (int j = 0; j < 8; j++) {
                // the last task is padded with arrays of its own: a task may not take one array twice
                a[j] = i + j < resident.size() ? resident.get(i + j) : new float[1];
                if (i + j >= resident.size()) upload.transferToDevice(DataTransferMode.FIRST_EXECUTION, a[j]);
            }
            upload.task("touch_" + i, TaskKernels::touch, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]);
        }
        graphs.add(upload.persistOnDevice(all).snapshot());
        String previous = "upload";
        for (Stage stage : stages) {
            TaskGraph g = new TaskGraph(Ops.id(stage.name())).consumeFromDevice(previous, all);
            if (stage.name().equals("embed")) {
                // after the upload, after an update, or (accumulating) after the previous micro-batch's backward;
                // TornadoVM hands the buffers over from whichever graph ran last
                g.consumeFromDevice("adamw", all).transferToDevice(DataTransferMode.EVERY_EXECUTION, tokens, fresh);
            }
            if (stage.name().equals("head")) {
                g.transferToDevice(DataTransferMode.EVERY_EXECUTION, targets, lossWeights, ceScale);
            }
            if (stage.name().equals("adamw")) g.transferToDevice(DataTransferMode.EVERY_EXECUTION, hyper);
            stage.ops().accept(Ops.graph(g));
            if (stage.name().equals("head")) g.transferToHost(DataTransferMode.EVERY_EXECUTION, losses);
            if (stage.name().equals("grad_norm")) g.transferToHost(DataTransferMode.EVERY_EXECUTION, gradSq);
            if (stage.name().equals("adamw")) g.transferToHost(DataTransferMode.UNDER_DEMAND, lora, gLora, mLora, vLora);
            if (stage.name().equals("adamw") && adapter != null) g.transferToHost(DataTransferMode.UNDER_DEMAND, ad, gAd, mAd, vAd);
            if (stage.name().equals("adamw") && P > 0) g.transferToHost(DataTransferMode.UNDER_DEMAND, pre, gPre, mPre, vPre);
            if (stage.name().equals("adamw") && enc > 0) g.transferToHost(DataTransferMode.UNDER_DEMAND, prj, gPrj, mPrj, vPrj);
            graphs.add(g.persistOnDevice(all).snapshot());
            previous = g.getTaskGraphName();
        }
        // graph 0 (the upload) runs before the first step, so that DeviceStep.write can set the starting values
        return new TornadoExecutionPlan(graphs.toArray(ImmutableTaskGraph[]::new)).withDevice(device);
    }

    /** A step (LoRA on q and v) that runs as TaskGraphs of one execution plan on the given TornadoVM device. */
    public static LoraStep onDevice(Shape s, Weights w, long loraSeed, TornadoDevice device) {
        return new LoraStep(s, w, loraSeed, QV, false, null, null, null, device);
    }

    /** The same step as plain Java (each op runs when the step runs). */
    public static LoraStep inJava(Shape s, Weights w, long loraSeed) {
        return new LoraStep(s, w, loraSeed, QV, false, null, null, null, null);
    }

    /** A step that also trains a LLaMA-Adapter, as TaskGraphs on the device (seeded with the LoRA state). */
    public static LoraStep onDevice(Shape s, Weights w, long loraSeed, LlamaAdapter adapter, TornadoDevice device) {
        return new LoraStep(s, w, loraSeed, QV, false, adapter, null, null, device);
    }

    /** A step that also trains a LLaMA-Adapter, as plain Java. */
    public static LoraStep inJava(Shape s, Weights w, long loraSeed, LlamaAdapter adapter) {
        return new LoraStep(s, w, loraSeed, QV, false, adapter, null, null, null);
    }

    /**
     * A step with LoRA on the given linears (at least one), an optional LLaMA-Adapter and optional prefix tuning
     * (null: none), as TaskGraphs on the device when {@code device} is not null, as plain Java when it is.
     */
    public static LoraStep of(Shape s, Weights w, long loraSeed, Set<Site> loraSites, LlamaAdapter adapter, Prefix prefix,
                              TornadoDevice device) {
        return new LoraStep(s, w, loraSeed, loraSites, false, adapter, prefix, null, device);
    }

    /**
     * A step for a training run ({@link DeviceStep}): LoRA on the given linears of every layer (possibly none) and,
     * when {@code headLora}, on lm_head, an optional LLaMA-Adapter and optional prefix tuning, RoPE at the given
     * inverse frequencies [hd/2] (the model's, scaling included). Its tensors start random: {@link #write} the
     * run's values before the first step.
     */
    public static LoraStep forTraining(Shape s, Weights w, Set<Site> loraSites, boolean headLora, LlamaAdapter adapter, Prefix prefix,
                                       double[] invFreqs, TornadoDevice device) {
        return new LoraStep(s, w, 0, loraSites, headLora, adapter, prefix, invFreqs, device);
    }

    /** The linears that carry LoRA, in the order of {@link #fetchLora}'s pairs. */
    public List<Site> loraSites() {
        return List.of(sites);
    }

    /** The names of the step's stages in order ({@code embed}, {@code layer_0.fwd}, ..., {@code adamw}). */
    public List<String> stageNames() {
        return stages.stream().map(Stage::name).toList();
    }

    /** Clears the LoRA gradients; embeds the batch into layer 0's input. */
    private void embedForward(Ops o) {
        if (hasLora()) o.zeroIf("lora.zero_grad", gLora, fresh, gLora.length);
        if (adapter != null) o.zeroIf("adapter.zero_grad", gAd, fresh, gAd.length);
        if (P > 0 && enc == 0) o.zeroIf("prefix.zero_grad", gPre, fresh, gPre.length);
        if (enc > 0) {
            // the table's gradient is per micro-batch (its backward through the projection runs after each); the
            // projection's parameters accumulate
            o.zero("prefix.table_zero_grad", gPre, gPre.length);
            o.zeroIf("prefix.projection.zero_grad", gPrj, fresh, gPrj.length);
            projectionForward(o);
        }
        o.embedding("embed.fwd", xIn, w.embed(), tokens, s.n(), s.dim());
    }

    /** Layer l's forward: xIn[l] → xIn[l+1], keeping what backward reads. */
    private void layerForward(Ops o, int l) {
        int d = s.dim(), kv = s.kvDim(), h = s.hidden(), n = s.n(), hd = s.hd(), T = s.seq();
        int B = s.batch(), H = s.heads(), KV = s.kvHeads();
        int nd = l * n * d, nkv = l * n * kv, nh = l * n * h, attOff = l * B * H * T * (P + T);
        String p = "layer_" + l;
        o.rmsnorm(p + ".attn_norm.fwd", xb, nd, xIn, nd, w.attnNorm(), l * d, rstd1, l * n, n, d, s.eps());
        o.matmul(p + ".q.fwd", q, nd, xb, nd, w.wq(), l * d * d, n, d, d);
        loraForward(o, p, l, Site.Q, q, nd, xb, nd);
        o.matmul(p + ".k.fwd", k, nkv, xb, nd, w.wk(), l * kv * d, n, d, kv);
        loraForward(o, p, l, Site.K, k, nkv, xb, nd);
        o.matmul(p + ".v.fwd", v, nkv, xb, nd, w.wv(), l * kv * d, n, d, kv);
        loraForward(o, p, l, Site.V, v, nkv, xb, nd);
        o.rope(p + ".q.rope.fwd", q, nd, cos, sin, n, H, hd, P, T);
        o.rope(p + ".k.rope.fwd", k, nkv, cos, sin, n, KV, hd, P, T);
        if (P == 0) {
            o.attention(p + ".attn.fwd", attOut, nd, q, nd, k, nkv, v, nkv, att, attOff, B, H, KV, hd, T, 0, T);
        } else {
            int allOff = l * B * (P + T) * kv;
            o.prefixRows(p + ".prefix.fwd", kAll, vAll, allOff, k, v, nkv, pre, l, s.layers() * 2 * kv, B, P, T, kv);
            o.attention(p + ".attn.fwd", attOut, nd, q, nd, kAll, allOff, vAll, allOff, att, attOff, B, H, KV, hd, T, P, P + T);
        }
        if (adapted(l)) adapterForward(o, p + ".adapter", l);
        o.copy(p + ".attn.residual_in", xMid, nd, xIn, nd, n * d);
        o.matmul(p + ".o.fwd", tmp, 0, attOut, nd, w.wo(), l * d * d, n, d, d);
        loraForward(o, p, l, Site.O, tmp, 0, attOut, nd);
        o.residual(p + ".attn.residual", xMid, nd, tmp, n * d);
        o.rmsnorm(p + ".ffn_norm.fwd", xb2, nd, xMid, nd, w.ffnNorm(), l * d, rstd2, l * n, n, d, s.eps());
        o.matmul(p + ".gate.fwd", gate, nh, xb2, nd, w.wGate(), l * h * d, n, d, h);
        loraForward(o, p, l, Site.GATE, gate, nh, xb2, nd);
        o.matmul(p + ".up.fwd", up, nh, xb2, nd, w.wUp(), l * h * d, n, d, h);
        loraForward(o, p, l, Site.UP, up, nh, xb2, nd);
        o.swiglu(p + ".swiglu.fwd", act, nh, gate, nh, up, nh, n * h);
        o.copy(p + ".ffn.residual_in", xIn, nd + n * d, xMid, nd, n * d);
        o.matmul(p + ".down.fwd", tmp, 0, act, nh, w.wDown(), l * d * h, n, h, d);
        loraForward(o, p, l, Site.DOWN, tmp, 0, act, nh);
        o.residual(p + ".ffn.residual", xIn, nd + n * d, tmp, n * d);
    }

    /** Final norm, classifier, cross-entropy (logits become dLogits) and their backward down to dx. */
    private void headForwardBackward(Ops o) {
        int L = s.layers(), d = s.dim(), n = s.n(), V = s.vocab();
        o.rmsnorm("final_norm.fwd", xbF, 0, xIn, L * n * d, w.finalNorm(), 0, rstdF, 0, n, d, s.eps());
        o.matmul("lm_head.fwd", logits, 0, xbF, 0, w.head(), 0, n, d, V);
        int r = s.rank(), a = headOffset(), b = a + r * d, zOff = L * sites.length * n * r;
        if (headLora) {
            o.matmul("lm_head.lora.fwd_a", z, zOff, xbF, 0, lora, a, n, d, r);
            o.matmul("lm_head.lora.fwd_b", loraY, 0, z, zOff, lora, b, n, r, V);
            o.addScaled("lm_head.lora.fwd", logits, 0, loraY, scaling, n * V);
        }
        o.crossEntropy("loss.fwd_bwd", logits, targets, lossWeights, losses, ceScale, n, V);
        o.zero("lm_head.bwd_zero", dxb, n * d);
        o.matmulBackwardInput("lm_head.bwd", dxb, 0, logits, 0, w.head(), 0, n, d, V);
        if (headLora) { // as loraBackward, with the logits' gradient as dy and the final norm's output as x
            o.scale("lm_head.lora.bwd_scale", dyS, logits, scaling, n * V);
            o.matmulBackwardWeight("lm_head.lora.bwd_b", gLora, b, dyS, 0, z, zOff, n, r, V);
            o.zero("lm_head.lora.bwd_zero", dz, n * r);
            o.matmulBackwardInput("lm_head.lora.bwd_z", dz, 0, dyS, 0, lora, b, n, r, V);
            o.matmulBackwardWeight("lm_head.lora.bwd_a", gLora, a, dz, 0, xbF, 0, n, d, r);
            o.matmulBackwardInput("lm_head.lora.bwd", dxb, 0, dz, 0, lora, a, n, d, r);
        }
        o.zero("final_norm.bwd_zero", dx, n * d);
        o.rmsnormBackwardInput("final_norm.bwd", dx, dxb, xIn, L * n * d, w.finalNorm(), 0, rstdF, 0, n, d);
    }

    /** Layer l's backward, its forward read bottom-up: dx (into layer l+1's input) → dx into layer l. */
    private void layerBackward(Ops o, int l) {
        int d = s.dim(), kv = s.kvDim(), h = s.hidden(), n = s.n(), hd = s.hd(), T = s.seq();
        int B = s.batch(), H = s.heads(), KV = s.kvHeads();
        int nd = l * n * d, nkv = l * n * kv, nh = l * n * h, attOff = l * B * H * T * (P + T);
        String p = "layer_" + l;
        o.zero(p + ".down.bwd_zero", dAct, n * h);
        o.matmulBackwardInput(p + ".down.bwd", dAct, 0, dx, 0, w.wDown(), l * d * h, n, h, d);
        loraBackward(o, p, l, Site.DOWN, dx, dAct, act, nh);
        o.zero(p + ".swiglu.bwd_zero_gate", dGate, n * h);
        o.zero(p + ".swiglu.bwd_zero_up", dUp, n * h);
        o.swigluBackward(p + ".swiglu.bwd", dGate, dUp, dAct, gate, nh, up, nh, n * h);
        o.zero(p + ".ffn_norm.bwd_zero", dxb, n * d);
        o.matmulBackwardInput(p + ".gate.bwd", dxb, 0, dGate, 0, w.wGate(), l * h * d, n, d, h);
        loraBackward(o, p, l, Site.GATE, dGate, dxb, xb2, nd);
        o.matmulBackwardInput(p + ".up.bwd", dxb, 0, dUp, 0, w.wUp(), l * h * d, n, d, h);
        loraBackward(o, p, l, Site.UP, dUp, dxb, xb2, nd);
        o.rmsnormBackwardInput(p + ".ffn_norm.bwd", dx, dxb, xMid, nd, w.ffnNorm(), l * d, rstd2, l * n, n, d);
        o.zero(p + ".o.bwd_zero", dAttOut, n * d);
        o.matmulBackwardInput(p + ".o.bwd", dAttOut, 0, dx, 0, w.wo(), l * d * d, n, d, d);
        loraBackward(o, p, l, Site.O, dx, dAttOut, attOut, nd);
        o.zero(p + ".attn.bwd_zero_q", dq, n * d);
        o.zero(p + ".attn.bwd_zero_k", dk, n * kv);
        o.zero(p + ".attn.bwd_zero_v", dv, n * kv);
        if (P == 0) {
            o.attentionBackwardQuery(p + ".attn.bwd_q", dq, dScores, dAttOut, k, nkv, v, nkv, att, attOff, B, H, KV, hd, T, 0, T);
            o.attentionBackwardKeyValue(p + ".attn.bwd_kv", dk, dv, dScores, dAttOut, q, nd, att, attOff, B, H, KV, hd, T, 0, T);
        } else {
            int allOff = l * B * (P + T) * kv;
            o.zero(p + ".attn.bwd_zero_k_all", dkAll, dkAll.length);
            o.zero(p + ".attn.bwd_zero_v_all", dvAll, dvAll.length);
            o.attentionBackwardQuery(p + ".attn.bwd_q", dq, dScores, dAttOut, kAll, allOff, vAll, allOff, att, attOff, B, H, KV,
                    hd, T, P, P + T);
            o.attentionBackwardKeyValue(p + ".attn.bwd_kv", dkAll, dvAll, dScores, dAttOut, q, nd, att, attOff, B, H, KV, hd,
                    T, P, P + T);
            o.prefixTableBackward(p + ".prefix.bwd_table", gPre, dkAll, dvAll, l, s.layers() * 2 * kv, B, P, T, kv);
            o.prefixRowsBackward(p + ".prefix.bwd", dk, dv, dkAll, dvAll, B, P, T, kv);
        }
        if (adapted(l)) adapterBackward(o, p + ".adapter", l);
        if (l == 0 && enc > 0) projectionBackward(o); // every layer has added its share to the table's gradient
        o.ropeBackward(p + ".q.rope.bwd", dq, cos, sin, n, H, hd, P, T);
        o.ropeBackward(p + ".k.rope.bwd", dk, cos, sin, n, KV, hd, P, T);
        o.zero(p + ".attn_norm.bwd_zero", dxb, n * d);
        o.matmulBackwardInput(p + ".q.bwd", dxb, 0, dq, 0, w.wq(), l * d * d, n, d, d);
        loraBackward(o, p, l, Site.Q, dq, dxb, xb, nd);
        o.matmulBackwardInput(p + ".k.bwd", dxb, 0, dk, 0, w.wk(), l * kv * d, n, d, kv);
        loraBackward(o, p, l, Site.K, dk, dxb, xb, nd);
        o.matmulBackwardInput(p + ".v.bwd", dxb, 0, dv, 0, w.wv(), l * kv * d, n, d, kv);
        loraBackward(o, p, l, Site.V, dv, dxb, xb, nd);
        o.rmsnormBackwardInput(p + ".attn_norm.bwd", dx, dxb, xIn, nd, w.attnNorm(), l * d, rstd1, l * n, n, d);
    }

    /** The prefix table from its reparameterisation: table = tanh(E·W1ᵀ + b1)·W2ᵀ + b2. */
    private void projectionForward(Ops o) {
        int kv = s.kvDim(), width = s.layers() * 2 * kv, w1 = P * kv, b1 = w1 + enc * kv, w2 = b1 + enc, b2 = w2 + width * enc;
        o.copy("prefix.projection.embedding", prjEmb, 0, prj, 0, P * kv); // a task takes an array once: E apart from W1
        o.matmul("prefix.projection.fwd_0", prjAct, 0, prjEmb, 0, prj, w1, P, kv, enc);
        o.biasTanh("prefix.projection.fwd_tanh", prjAct, prj, b1, P, enc);
        o.matmul("prefix.projection.fwd_2", pre, 0, prjAct, 0, prj, w2, P, enc, width);
        o.addBias("prefix.projection.fwd_bias", pre, prj, b2, P, width);
    }

    /** The table's gradient (gPre) back through the reparameterisation into E, W1, b1, W2, b2. */
    private void projectionBackward(Ops o) {
        int kv = s.kvDim(), width = s.layers() * 2 * kv, w1 = P * kv, b1 = w1 + enc * kv, w2 = b1 + enc, b2 = w2 + width * enc;
        o.matmulBackwardWeight("prefix.projection.bwd_2", gPrj, w2, gPre, 0, prjAct, 0, P, enc, width);
        o.biasBackward("prefix.projection.bwd_bias", gPrj, b2, gPre, P, width);
        o.zero("prefix.projection.bwd_zero", prjDAct, prjDAct.length);
        o.matmulBackwardInput("prefix.projection.bwd_act", prjDAct, 0, gPre, 0, prj, w2, P, enc, width);
        o.tanhBackward("prefix.projection.bwd_tanh", prjDAct, prjAct, P * enc);
        o.matmulBackwardWeight("prefix.projection.bwd_0", gPrj, w1, prjDAct, 0, prjEmb, 0, P, kv, enc);
        o.biasBackward("prefix.projection.bwd_tanh_bias", gPrj, b1, prjDAct, P, enc);
        o.matmulBackwardInput("prefix.projection.bwd", gPrj, 0, prjDAct, 0, prj, w1, P, kv, enc);
    }

    /** Σ g² per chunk of each trainable buffer, for the global gradient norm (the host adds the chunks). */
    private void gradNorm(Ops o) {
        if (hasLora()) o.sumOfSquares("lora.grad_norm", gradSq, 0, gLora, gLora.length, NORM_PARTS);
        if (adapter != null) o.sumOfSquares("adapter.grad_norm", gradSq, NORM_PARTS, gAd, gAd.length, NORM_PARTS);
        if (P > 0) o.sumOfSquares("prefix.grad_norm", gradSq, 2 * NORM_PARTS, enc > 0 ? gPrj : gPre, enc > 0 ? gPrj.length : gPre.length, NORM_PARTS);
    }

    /** AdamW on all LoRA matrices at once (they are one packed array), then the adapter and the prefix table. */
    private void update(Ops o) {
        if (hasLora()) o.adamW("lora.adamw", lora, gLora, mLora, vLora, hyper, lora.length);
        if (adapter != null) o.adamW("adapter.adamw", ad, gAd, mAd, vAd, hyper, ad.length);
        if (P > 0 && enc == 0) o.adamW("prefix.adamw", pre, gPre, mPre, vPre, hyper, pre.length);
        if (enc > 0) o.adamW("prefix.projection.adamw", prj, gPrj, mPrj, vPrj, hyper, prj.length);
    }

    private boolean hasLora() {
        return sites.length > 0 || headLora;
    }

    private boolean adapted(int l) {
        return adapter != null && l >= adapter.startLayer();
    }

    /** Kp, Vp = prompt·Wkᵀ, prompt·Wvᵀ; attOut [N][dim] += gate ⊙ softmax(q·Kpᵀ/√hd)·Vp (q after RoPE). */
    private void adapterForward(Ops o, String p, int l) {
        int d = s.dim(), kv = s.kvDim(), n = s.n(), H = s.heads(), len = adapter.len(), a = l - adapter.startLayer();
        int adOff = a * adapter.perLayer(s), kpOff = a * len * kv, nd = l * n * d;
        o.matmul(p + ".k.fwd", kp, kpOff, ad, adOff, w.wk(), l * kv * d, len, d, kv);
        o.matmul(p + ".v.fwd", vp, kpOff, ad, adOff, w.wv(), l * kv * d, len, d, kv);
        o.adapterAttention(p + ".fwd", attOut, nd, q, nd, kp, kpOff, vp, kpOff, aProbs, a * n * H * len, aMixed, a * n * d,
                ad, adOff + len * d, n, H, s.kvHeads(), s.hd(), len);
    }

    /** dq += the adapter's share (before RoPE's backward); dgate; dprompt += dKp·Wk + dVp·Wv. */
    private void adapterBackward(Ops o, String p, int l) {
        int d = s.dim(), kv = s.kvDim(), n = s.n(), H = s.heads(), KV = s.kvHeads(), hd = s.hd(), len = adapter.len();
        int a = l - adapter.startLayer(), adOff = a * adapter.perLayer(s), gOff = adOff + len * d, kpOff = a * len * kv;
        int pOff = a * n * H * len, nd = l * n * d;
        o.adapterBackwardQuery(p + ".bwd_q", dq, aDs, dAttOut, kp, kpOff, vp, kpOff, aProbs, pOff, ad, gOff, n, H, KV, hd, len);
        o.adapterBackwardKeyValue(p + ".bwd_kv", dKp, dVp, aDs, dAttOut, q, nd, aProbs, pOff, ad, gOff, n, H, KV, hd, len);
        o.adapterBackwardGate(p + ".bwd_gate", gAd, gOff, dAttOut, aMixed, a * n * d, n, H, hd);
        o.matmulBackwardInput(p + ".k.bwd", gAd, adOff, dKp, 0, w.wk(), l * kv * d, len, d, kv);
        o.matmulBackwardInput(p + ".v.bwd", gAd, adOff, dVp, 0, w.wv(), l * kv * d, len, d, kv);
    }

    /**
     * Layer l's LoRA branch on a site, when it carries one: y [N][out] += s · (x·Aᵀ)·Bᵀ, keeping z = x·Aᵀ
     * [N][rank] for backward.
     */
    private void loraForward(Ops o, String layer, int l, Site site, float[] y, int yOff, float[] x, int xOff) {
        int i = siteIndex(site);
        if (i < 0) return;
        int n = s.n(), r = s.rank(), in = site.in(s), out = site.out(s), zOff = (l * sites.length + i) * n * r;
        String p = layer + "." + site.name().toLowerCase(java.util.Locale.ROOT) + ".lora";
        o.matmul(p + ".fwd_a", z, zOff, x, xOff, lora, loraOffset(l, 2 * i), n, in, r);
        o.matmul(p + ".fwd_b", loraY, 0, z, zOff, lora, loraOffset(l, 2 * i + 1), n, r, out);
        o.addScaled(p + ".fwd", y, yOff, loraY, scaling, n * out);
    }

    /**
     * The backward of layer l's LoRA branch on a site, when it carries one, from the site's output gradient
     * dy [N][out]: dB += s·dyᵀ·z; dz = s·dy·B; dA += dzᵀ·x; dX [N][in] += dz·A (gradients at the offsets of A, B).
     */
    private void loraBackward(Ops o, String layer, int l, Site site, float[] dy, float[] dX, float[] x, int xOff) {
        int i = siteIndex(site);
        if (i < 0) return;
        int n = s.n(), r = s.rank(), in = site.in(s), out = site.out(s), zOff = (l * sites.length + i) * n * r;
        int aOff = loraOffset(l, 2 * i), bOff = loraOffset(l, 2 * i + 1);
        String p = layer + "." + site.name().toLowerCase(java.util.Locale.ROOT) + ".lora";
        o.scale(p + ".bwd_scale", dyS, dy, scaling, n * out);
        o.matmulBackwardWeight(p + ".bwd_b", gLora, bOff, dyS, 0, z, zOff, n, r, out);
        o.zero(p + ".bwd_zero", dz, n * r);
        o.matmulBackwardInput(p + ".bwd_z", dz, 0, dyS, 0, lora, bOff, n, r, out);
        o.matmulBackwardWeight(p + ".bwd_a", gLora, aOff, dz, 0, x, xOff, n, in, r);
        o.matmulBackwardInput(p + ".bwd", dX, 0, dz, 0, lora, aOff, n, in, r);
    }

    /**
     * Runs one step on the batch (tokens, next-token targets, loss weights [N]) with AdamW at rate lr (no decay, no
     * clipping); returns the weighted mean loss before the update.
     */
    public double step(int[] batchTokens, int[] batchTargets, float[] batchWeights, float lr) {
        double loss = forwardBackward(batchTokens, batchTargets, batchWeights, true);
        update(1f, lr, 0.9f, 0.999f, 1e-8f, 0f, ++t);
        return loss;
    }

    @Override
    public double forwardBackward(int[] batchTokens, int[] batchTargets, float[] batchWeights, boolean firstOfStep) {
        return run(batchTokens, batchTargets, batchWeights, firstOfStep, stages.size() - 2); // grad_norm and adamw are apart
    }

    @Override
    public double loss(int[] batchTokens, int[] batchTargets, float[] batchWeights) {
        return run(batchTokens, batchTargets, batchWeights, true, s.layers() + 2); // embed, each layer's forward, head
    }

    /** Runs the first {@code last} stages on the batch; returns its weighted mean loss. */
    private double run(int[] batchTokens, int[] batchTargets, float[] batchWeights, boolean firstOfStep, int last) {
        if (batchTokens.length != tokens.length || batchTargets.length != tokens.length || batchWeights.length != tokens.length) {
            throw new IllegalArgumentException("the step takes " + s.batch() + " x " + s.seq() + " = " + tokens.length + " tokens, targets and weights; got "
                    + batchTokens.length + ", " + batchTargets.length + ", " + batchWeights.length);
        }
        for (int i = 0; i < batchTokens.length; i++) {
            if (batchTokens[i] < 0 || batchTokens[i] >= s.vocab() || batchTargets[i] < 0 || batchTargets[i] >= s.vocab()) {
                throw new IllegalArgumentException("token " + batchTokens[i] + " or target " + batchTargets[i] + " at " + i
                        + " is outside the vocabulary of " + s.vocab());
            }
        }
        System.arraycopy(batchTokens, 0, tokens, 0, tokens.length);
        System.arraycopy(batchTargets, 0, targets, 0, targets.length);
        System.arraycopy(batchWeights, 0, lossWeights, 0, lossWeights.length);
        double total = 0;
        for (float x : lossWeights) total += x;
        ceScale[0] = total > 0 ? (float) (1.0 / total) : 0f;
        fresh[0] = firstOfStep ? 1f : 0f;
        if (plan == null) {
            Ops java = Ops.java();
            for (int i = 0; i < last; i++) stages.get(i).ops().accept(java);
        } else {
            if (!started) plan.withGraph(0).execute();
            for (int g = 1; g <= last; g++) plan.withGraph(g).execute();
        }
        started = true;
        hostStale = true;
        if (total == 0) return 0;
        double loss = 0;
        for (int i = 0; i < losses.length; i++) loss += (double) losses[i] * lossWeights[i];
        return loss / total;
    }

    @Override
    public double gradSumOfSquares() {
        if (!started) return 0;
        int g = stages.size() - 1;
        if (plan == null) stages.get(g - 1).ops().accept(Ops.java());
        else plan.withGraph(g).execute();
        // only the chunks of the buffers this step has: TornadoVM does not copy an output-only array in, so the
        // others hold whatever the device memory held
        double sum = 0;
        boolean[] present = {hasLora(), adapter != null, P > 0};
        for (int b = 0; b < present.length; b++) {
            if (present[b]) for (int i = b * NORM_PARTS; i < (b + 1) * NORM_PARTS; i++) sum += gradSq[i];
        }
        return sum;
    }

    @Override
    public void update(float gradScale, float lr, float beta1, float beta2, float eps, float weightDecay, int step) {
        if (!started) throw new IllegalStateException("update before any forwardBackward");
        if (step < 1) throw new IllegalArgumentException("AdamW steps count from 1, got " + step);
        hyper[TaskKernels.GRAD_SCALE] = gradScale;
        hyper[TaskKernels.LR] = lr;
        hyper[TaskKernels.BETA1] = beta1;
        hyper[TaskKernels.BETA2] = beta2;
        hyper[TaskKernels.EPS] = eps;
        hyper[TaskKernels.WEIGHT_DECAY] = weightDecay;
        hyper[TaskKernels.BC1] = (float) (1 - Math.pow(beta1, step));
        hyper[TaskKernels.BC2] = (float) (1 - Math.pow(beta2, step));
        if (plan == null) stages.getLast().ops().accept(Ops.java());
        else lastUpdate = plan.withGraph(stages.size()).execute();
        hostStale = true;
    }

    @Override
    public List<String> tensors() {
        return List.copyOf(slots.keySet());
    }

    @Override
    public int size(String tensor) {
        return slot(tensor).len();
    }

    @Override
    public void write(String tensor, float[] values, float[] m, float[] v) {
        if (started) throw new IllegalStateException("write after the first step: the device already holds " + tensor);
        Slot slot = slot(tensor);
        for (float[] a : new float[][]{values, m, v}) {
            if (a.length != slot.len()) throw new IllegalArgumentException(tensor + " has " + slot.len() + " floats, got " + a.length);
        }
        System.arraycopy(values, 0, slot.w(), slot.off(), slot.len());
        System.arraycopy(m, 0, slot.m(), slot.off(), slot.len());
        System.arraycopy(v, 0, slot.v(), slot.off(), slot.len());
    }

    @Override
    public void read(String tensor, float[] values, float[] m, float[] v) {
        Slot slot = slot(tensor);
        syncToHost();
        System.arraycopy(slot.w(), slot.off(), values, 0, slot.len());
        System.arraycopy(slot.m(), slot.off(), m, 0, slot.len());
        System.arraycopy(slot.v(), slot.off(), v, 0, slot.len());
    }

    /** Brings the host copies of every trainable buffer (values, gradients, moments) up to date, once per change. */
    private void syncToHost() {
        if (!hostStale || lastUpdate == null) return;
        lastUpdate.transferToHost(lora, gLora, mLora, vLora);
        if (adapter != null) lastUpdate.transferToHost(ad, gAd, mAd, vAd);
        if (P > 0) lastUpdate.transferToHost(pre, gPre, mPre, vPre);
        if (enc > 0) lastUpdate.transferToHost(prj, gPrj, mPrj, vPrj);
        hostStale = false;
    }

    private Slot slot(String tensor) {
        Slot slot = slots.get(tensor);
        if (slot == null) throw new IllegalArgumentException("the device step has no tensor " + tensor);
        return slot;
    }

    @Override
    public String device() {
        return device == null ? "Java (the device form run as plain Java)" : TornadoBackend.describe(device);
    }

    /**
     * Copies the LoRA weights back from the device (no-op in Java); returns them as [A, B of each site in
     * {@link #loraSites} order][layer] ([Aq, Bq, Av, Bv] for the default q and v).
     */
    public float[][][] fetchLora() {
        syncToHost();
        return unpackLora(lora);
    }

    /** Copies the last step's LoRA gradients back from the device; returns them like {@link #fetchLora}. */
    public float[][][] fetchLoraGradients() {
        syncToHost();
        return unpackLora(gLora);
    }

    private float[][][] unpackLora(float[] packed) {
        int r = s.rank();
        float[][][] out = new float[2 * sites.length][s.layers()][];
        for (int m = 0; m < out.length; m++) {
            int size = r * (m % 2 == 0 ? sites[m / 2].in(s) : sites[m / 2].out(s));
            for (int l = 0; l < s.layers(); l++) {
                int off = loraOffset(l, m);
                out[m][l] = java.util.Arrays.copyOfRange(packed, off, off + size);
            }
        }
        return out;
    }

    /** Copies the adapter back from the device (no-op in Java); returns [prompt [len*dim], gate [heads]][adapted layer]. */
    public float[][][] fetchAdapter() {
        syncToHost();
        return unpackAdapter(ad);
    }

    /** Copies the last step's adapter gradients back; returns [prompt, gate][adapted layer]. */
    public float[][][] fetchAdapterGradients() {
        syncToHost();
        return unpackAdapter(gAd);
    }

    private float[][][] unpackAdapter(float[] packed) {
        if (adapter == null) throw new IllegalStateException("this step has no LLaMA-Adapter");
        int A = adapter.layers(s), per = adapter.perLayer(s), promptSize = adapter.len() * s.dim();
        float[][][] out = new float[2][A][];
        for (int a = 0; a < A; a++) {
            out[0][a] = java.util.Arrays.copyOfRange(packed, a * per, a * per + promptSize);
            out[1][a] = java.util.Arrays.copyOfRange(packed, a * per + promptSize, (a + 1) * per);
        }
        return out;
    }

    /** Copies the prefix table back from the device (no-op in Java); returns it as [P][layers·2·kvDim]. */
    public float[] fetchPrefix() {
        if (P == 0) throw new IllegalStateException("this step has no prefix tuning");
        syncToHost();
        return pre.clone();
    }

    /** Copies the last step's prefix table gradient back; returns it as [P][layers·2·kvDim]. */
    public float[] fetchPrefixGradient() {
        if (P == 0) throw new IllegalStateException("this step has no prefix tuning");
        syncToHost();
        return gPre.clone();
    }

    /**
     * Bytes of the buffers the step keeps on its device (the frozen weights, the trainable state, the activations
     * and scratch, the batch), counted from the step's own arrays: TornadoVM's own heap is not included.
     */
    @Override
    public long deviceMemoryBytes() {
        long floats = (long) gradSq.length + hyper.length + ceScale.length + fresh.length + lossWeights.length + losses.length;
        for (float[] a : resident) floats += a.length;
        return 4 * (floats + tokens.length + targets.length);
    }

    @Override
    public void close() {
        if (plan == null) return;
        try {
            plan.close();
        } catch (TornadoExecutionPlanException e) {
            throw new IllegalStateException(e);
        }
    }

    private static float[] packed(int layers, int size) {
        return new float[Math.multiplyExact(layers, size)];
    }

    private static float[] ones(int n) {
        float[] a = new float[n];
        java.util.Arrays.fill(a, 1f);
        return a;
    }

    private static float[] uniform(SplittableRandom r, int n, double fanIn) {
        float bound = (float) (1 / Math.sqrt(fanIn));
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) ((r.nextDouble() * 2 - 1) * bound);
        return a;
    }
}
