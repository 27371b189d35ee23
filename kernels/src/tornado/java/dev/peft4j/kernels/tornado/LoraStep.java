package dev.peft4j.kernels.tornado;

import dev.peft4j.kernels.Rope;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import uk.ac.manchester.tornado.api.TaskGraph;
import uk.ac.manchester.tornado.api.TornadoExecutionPlan;
import uk.ac.manchester.tornado.api.TornadoExecutionResult;
import uk.ac.manchester.tornado.api.common.TornadoDevice;
import uk.ac.manchester.tornado.api.enums.DataTransferMode;
import uk.ac.manchester.tornado.api.exceptions.TornadoExecutionPlanException;

/**
 * One LoRA training step of a LLaMA model (LoRA on the q and v projections, all base weights
 * frozen): forward, cross-entropy, backward and AdamW, written once against {@link Ops} so that
 * the same sequence runs as one TornadoVM TaskGraph ({@link #onDevice}) or as plain Java
 * ({@link #inJava}, the check).
 *
 * <p>On the device the frozen weights, the activations and the LoRA state (A, B, their gradients
 * and AdamW moments) are copied once, on the first execution, and stay there; each step moves only
 * the batch (tokens, targets, loss weights), the step's hyper-parameters, and back the per-token
 * losses. The LoRA weights come back on demand ({@link #fetchLora}).
 *
 * <p>Status: the Java form runs; the single-graph device form does not yet (TornadoVM 5.2.0 does
 * not finish scheduling a graph of hundreds of tasks, and needs -Dtornado.tvm.maxbytecodesize raised
 * before that). The next step is one graph per layer forward / backward in one execution plan.
 *
 * <pre>
 *   per layer:  h = x + Wo·attn(rope(q), rope(k), v),  q = Wq·n1 + s·Bq·Aq·n1,  v = Wv·n1 + s·Bv·Av·n1
 *               x' = h + Wdown·(silu(Wgate·n2) ⊙ Wup·n2),  n1 = rmsnorm(x), n2 = rmsnorm(h),  s = alpha / rank
 * </pre>
 */
public final class LoraStep implements AutoCloseable {

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

    /** Frozen base weights, nn.Linear layout [out][in]. */
    public record Weights(float[] embed,      // [vocab][dim]
                          float[][] attnNorm, // [L][dim]
                          float[][] wq,       // [L][dim][dim]
                          float[][] wk,       // [L][kvDim][dim]
                          float[][] wv,       // [L][kvDim][dim]
                          float[][] wo,       // [L][dim][dim]
                          float[][] ffnNorm,  // [L][dim]
                          float[][] wGate,    // [L][hidden][dim]
                          float[][] wUp,      // [L][hidden][dim]
                          float[][] wDown,    // [L][dim][hidden]
                          float[] finalNorm,  // [dim]
                          float[] head) {     // [vocab][dim]

        /** Random weights of the given shape (uniform, scaled by 1/sqrt(fan-in)); norms are 1. */
        public static Weights random(Shape s, long seed) {
            SplittableRandom r = new SplittableRandom(seed);
            int L = s.layers(), d = s.dim(), kv = s.kvDim(), h = s.hidden();
            float[][] an = new float[L][], wq = new float[L][], wk = new float[L][], wv = new float[L][], wo = new float[L][];
            float[][] fn = new float[L][], wg = new float[L][], wu = new float[L][], wd = new float[L][];
            for (int l = 0; l < L; l++) {
                an[l] = ones(d); fn[l] = ones(d);
                wq[l] = uniform(r, d * d, d); wk[l] = uniform(r, kv * d, d); wv[l] = uniform(r, kv * d, d);
                wo[l] = uniform(r, d * d, d); wg[l] = uniform(r, h * d, d); wu[l] = uniform(r, h * d, d);
                wd[l] = uniform(r, d * h, h);
            }
            return new Weights(uniform(r, s.vocab() * d, 1), an, wq, wk, wv, wo, fn, wg, wu, wd, ones(d),
                    uniform(r, s.vocab() * d, d));
        }
    }

    private final Shape s;
    private final Weights w;
    private final float scaling;
    private final List<Object> deviceOnce = new ArrayList<>();   // copied on the first execution only
    private final TornadoExecutionPlan plan;                      // null when running in Java
    private final Runnable javaStep;                              // null when running on the device
    private TornadoExecutionResult lastResult;

    // ---- trainable LoRA state, per layer ----
    private final float[][] aq, bq, av, bv;         // A [rank][dim]; Bq [dim][rank]; Bv [kvDim][rank]
    private final float[][] gAq, gBq, gAv, gBv;     // gradients, same shapes
    private final float[][] mAq, mBq, mAv, mBv, vAq, vBq, vAv, vBv; // AdamW moments

    // ---- per step inputs ----
    private final int[] tokens, targets;            // [N]
    private final float[] lossWeights;              // [N] 0 masks a token
    private final float[] ceScale = new float[1];   // 1 / Σ lossWeights
    private final float[] hyper = new float[TaskKernels.HYPER_SIZE];
    private final float[] losses;                   // [N] per-token cross-entropy
    private int t;                                  // AdamW step count

    private LoraStep(Shape s, Weights w, long loraSeed, TornadoDevice device) {
        this.s = s;
        this.w = w;
        this.scaling = s.alpha() / s.rank();
        int L = s.layers(), d = s.dim(), kv = s.kvDim(), h = s.hidden(), r = s.rank(), n = s.n();
        int hd = s.hd(), T = s.seq(), B = s.batch(), attSize = B * s.heads() * T * T;
        SplittableRandom rnd = new SplittableRandom(loraSeed);
        aq = new float[L][]; bq = new float[L][]; av = new float[L][]; bv = new float[L][];
        for (int l = 0; l < L; l++) {
            aq[l] = uniform(rnd, r * d, d); av[l] = uniform(rnd, r * d, d);
            // B is zero in LoRA's init; small random values here so that every gradient path is exercised
            bq[l] = uniform(rnd, d * r, 100.0 * r); bv[l] = uniform(rnd, kv * r, 100.0 * r);
        }
        gAq = zeros(L, r * d); gBq = zeros(L, d * r); gAv = zeros(L, r * d); gBv = zeros(L, kv * r);
        mAq = zeros(L, r * d); mBq = zeros(L, d * r); mAv = zeros(L, r * d); mBv = zeros(L, kv * r);
        vAq = zeros(L, r * d); vBq = zeros(L, d * r); vAv = zeros(L, r * d); vBv = zeros(L, kv * r);
        tokens = new int[n]; targets = new int[n]; lossWeights = new float[n]; losses = new float[n];

        double[] invFreq = new double[hd / 2];
        for (int j = 0; j < hd / 2; j++) invFreq[j] = Math.pow(s.ropeTheta(), -2.0 * j / hd);
        float[] cos = once(new float[T * hd / 2]), sin = once(new float[T * hd / 2]); // [T][hd/2]
        Rope.tables(cos, sin, invFreq, T);

        // ---- activations, saved per layer for backward ----
        float[][] xIn = once(zeros(L + 1, n * d));   // [L+1][N][dim] residual stream into each layer; [L] = out
        float[][] xb = once(zeros(L, n * d)), xMid = once(zeros(L, n * d)), xb2 = once(zeros(L, n * d));
        float[][] rstd1 = once(zeros(L, n)), rstd2 = once(zeros(L, n));
        float[][] q = once(zeros(L, n * d)), k = once(zeros(L, n * kv)), v = once(zeros(L, n * kv));
        float[][] zq = once(zeros(L, n * r)), zv = once(zeros(L, n * r));   // [N][rank] A·x
        float[][] att = once(zeros(L, attSize)), attOut = once(zeros(L, n * d));
        float[][] gate = once(zeros(L, n * h)), up = once(zeros(L, n * h)), act = once(zeros(L, n * h));
        float[] rstdF = once(new float[n]), xbF = once(new float[n * d]), logits = once(new float[n * s.vocab()]);
        // ---- scratch ----
        float[] tmp = once(new float[n * d]), tmpKv = once(new float[n * kv]);
        float[] dx = once(new float[n * d]), dxb = once(new float[n * d]), dAttOut = once(new float[n * d]);
        float[] dq = once(new float[n * d]), dk = once(new float[n * kv]), dv = once(new float[n * kv]);
        float[] dScores = once(new float[attSize]), dAct = once(new float[n * h]), dGate = once(new float[n * h]);
        float[] dUp = once(new float[n * h]), dz = once(new float[n * r]), dyS = once(new float[n * d]);

        for (Object o : List.of(w.embed(), w.finalNorm(), w.head())) deviceOnce.add(o);
        for (float[][] a : List.of(w.attnNorm(), w.wq(), w.wk(), w.wv(), w.wo(), w.ffnNorm(), w.wGate(), w.wUp(), w.wDown(),
                aq, bq, av, bv, gAq, gBq, gAv, gBv, mAq, mBq, mAv, mBv, vAq, vBq, vAv, vBv)) once(a);

        TaskGraph graph = device == null ? null : new TaskGraph("lora_step");
        if (graph != null) {
            graph.transferToDevice(DataTransferMode.FIRST_EXECUTION, deviceOnce.toArray());
            graph.transferToDevice(DataTransferMode.EVERY_EXECUTION, tokens, targets, lossWeights, ceScale, hyper);
        }
        Ops o = graph == null ? Ops.java() : Ops.graph(graph);
        Runnable sequence = () -> record(o, cos, sin, xIn, xb, xMid, xb2, rstd1, rstd2, q, k, v, zq, zv, att, attOut, gate,
                up, act, rstdF, xbF, logits, tmp, tmpKv, dx, dxb, dAttOut, dq, dk, dv, dScores, dAct, dGate, dUp, dz, dyS);
        if (graph == null) {          // Java: the sequence runs at each step
            javaStep = sequence;
            plan = null;
            return;
        }
        sequence.run();               // TornadoVM: the sequence is recorded once as tasks
        javaStep = null;
        graph.transferToHost(DataTransferMode.EVERY_EXECUTION, losses);
        graph.transferToHost(DataTransferMode.UNDER_DEMAND, lora());
        plan = new TornadoExecutionPlan(graph.snapshot()).withDevice(device);
    }

    /** A step that runs as one TaskGraph on the given TornadoVM device. */
    public static LoraStep onDevice(Shape s, Weights w, long loraSeed, TornadoDevice device) {
        return new LoraStep(s, w, loraSeed, device);
    }

    /** The same step as plain Java (each op runs when the step runs). */
    public static LoraStep inJava(Shape s, Weights w, long loraSeed) {
        return new LoraStep(s, w, loraSeed, null);
    }

    /** The whole step, op by op: forward, loss, backward read bottom-up, AdamW. */
    private void record(Ops o, float[] cos, float[] sin, float[][] xIn, float[][] xb, float[][] xMid, float[][] xb2,
                        float[][] rstd1, float[][] rstd2, float[][] q, float[][] k, float[][] v, float[][] zq, float[][] zv,
                        float[][] att, float[][] attOut, float[][] gate, float[][] up, float[][] act, float[] rstdF,
                        float[] xbF, float[] logits, float[] tmp, float[] tmpKv, float[] dx, float[] dxb, float[] dAttOut,
                        float[] dq, float[] dk, float[] dv, float[] dScores, float[] dAct, float[] dGate, float[] dUp,
                        float[] dz, float[] dyS) {
        int L = s.layers(), d = s.dim(), kv = s.kvDim(), h = s.hidden(), r = s.rank(), n = s.n(), hd = s.hd(), T = s.seq();
        int B = s.batch(), H = s.heads(), KV = s.kvHeads(), V = s.vocab();
        for (int l = 0; l < L; l++) {
            o.zero("layer_" + l + ".q.lora.zero_grad_a", gAq[l], r * d); o.zero("layer_" + l + ".q.lora.zero_grad_b", gBq[l], d * r);
            o.zero("layer_" + l + ".v.lora.zero_grad_a", gAv[l], r * d); o.zero("layer_" + l + ".v.lora.zero_grad_b", gBv[l], kv * r);
        }
        o.embedding("embed.fwd", xIn[0], w.embed(), tokens, n, d);
        for (int l = 0; l < L; l++) {
            String p = "layer_" + l;
            o.rmsnorm(p + ".attn_norm.fwd", xb[l], xIn[l], w.attnNorm()[l], rstd1[l], n, d, s.eps());
            o.matmul(p + ".q.fwd", q[l], xb[l], w.wq()[l], n, d, d);
            loraForward(o, p + ".q.lora", q[l], xb[l], aq[l], bq[l], zq[l], tmp, d);
            o.matmul(p + ".k.fwd", k[l], xb[l], w.wk()[l], n, d, kv);
            o.matmul(p + ".v.fwd", v[l], xb[l], w.wv()[l], n, d, kv);
            loraForward(o, p + ".v.lora", v[l], xb[l], av[l], bv[l], zv[l], tmpKv, kv);
            o.rope(p + ".q.rope.fwd", q[l], cos, sin, n, H, hd, T);
            o.rope(p + ".k.rope.fwd", k[l], cos, sin, n, KV, hd, T);
            o.attention(p + ".attn.fwd", attOut[l], q[l], k[l], v[l], att[l], B, H, KV, hd, T);
            o.copy(p + ".attn.residual_in", xMid[l], xIn[l], n * d);
            o.matmul(p + ".o.fwd", tmp, attOut[l], w.wo()[l], n, d, d);
            o.residual(p + ".attn.residual", xMid[l], tmp, n * d);
            o.rmsnorm(p + ".ffn_norm.fwd", xb2[l], xMid[l], w.ffnNorm()[l], rstd2[l], n, d, s.eps());
            o.matmul(p + ".gate.fwd", gate[l], xb2[l], w.wGate()[l], n, d, h);
            o.matmul(p + ".up.fwd", up[l], xb2[l], w.wUp()[l], n, d, h);
            o.swiglu(p + ".swiglu.fwd", act[l], gate[l], up[l], n * h);
            o.copy(p + ".ffn.residual_in", xIn[l + 1], xMid[l], n * d);
            o.matmul(p + ".down.fwd", tmp, act[l], w.wDown()[l], n, h, d);
            o.residual(p + ".ffn.residual", xIn[l + 1], tmp, n * d);
        }
        o.rmsnorm("final_norm.fwd", xbF, xIn[L], w.finalNorm(), rstdF, n, d, s.eps());
        o.matmul("lm_head.fwd", logits, xbF, w.head(), n, d, V);
        o.crossEntropy("loss.fwd_bwd", logits, targets, lossWeights, losses, ceScale, n, V); // logits := dLogits

        o.zero("lm_head.bwd_zero", dxb, n * d);
        o.matmulBackwardInput("lm_head.bwd", dxb, logits, w.head(), n, d, V);
        o.zero("final_norm.bwd_zero", dx, n * d);
        o.rmsnormBackwardInput("final_norm.bwd", dx, dxb, xIn[L], w.finalNorm(), rstdF, n, d);
        for (int l = L - 1; l >= 0; l--) {
            String p = "layer_" + l;
            o.zero(p + ".down.bwd_zero", dAct, n * h);
            o.matmulBackwardInput(p + ".down.bwd", dAct, dx, w.wDown()[l], n, h, d);
            o.zero(p + ".swiglu.bwd_zero_gate", dGate, n * h);
            o.zero(p + ".swiglu.bwd_zero_up", dUp, n * h);
            o.swigluBackward(p + ".swiglu.bwd", dGate, dUp, dAct, gate[l], up[l], n * h);
            o.zero(p + ".ffn_norm.bwd_zero", dxb, n * d);
            o.matmulBackwardInput(p + ".gate.bwd", dxb, dGate, w.wGate()[l], n, d, h);
            o.matmulBackwardInput(p + ".up.bwd", dxb, dUp, w.wUp()[l], n, d, h);
            o.rmsnormBackwardInput(p + ".ffn_norm.bwd", dx, dxb, xMid[l], w.ffnNorm()[l], rstd2[l], n, d);
            o.zero(p + ".o.bwd_zero", dAttOut, n * d);
            o.matmulBackwardInput(p + ".o.bwd", dAttOut, dx, w.wo()[l], n, d, d);
            o.zero(p + ".attn.bwd_zero_q", dq, n * d);
            o.zero(p + ".attn.bwd_zero_k", dk, n * kv);
            o.zero(p + ".attn.bwd_zero_v", dv, n * kv);
            o.attentionBackwardQuery(p + ".attn.bwd_q", dq, dScores, dAttOut, k[l], v[l], att[l], B, H, KV, hd, T);
            o.attentionBackwardKeyValue(p + ".attn.bwd_kv", dk, dv, dScores, dAttOut, q[l], att[l], B, H, KV, hd, T);
            o.ropeBackward(p + ".q.rope.bwd", dq, cos, sin, n, H, hd, T);
            o.ropeBackward(p + ".k.rope.bwd", dk, cos, sin, n, KV, hd, T);
            o.zero(p + ".attn_norm.bwd_zero", dxb, n * d);
            o.matmulBackwardInput(p + ".q.bwd", dxb, dq, w.wq()[l], n, d, d);
            loraBackward(o, p + ".q.lora", dxb, dq, xb[l], aq[l], bq[l], zq[l], gAq[l], gBq[l], dz, dyS, d);
            o.matmulBackwardInput(p + ".k.bwd", dxb, dk, w.wk()[l], n, d, kv);
            o.matmulBackwardInput(p + ".v.bwd", dxb, dv, w.wv()[l], n, d, kv);
            loraBackward(o, p + ".v.lora", dxb, dv, xb[l], av[l], bv[l], zv[l], gAv[l], gBv[l], dz, dyS, kv);
            o.rmsnormBackwardInput(p + ".attn_norm.bwd", dx, dxb, xIn[l], w.attnNorm()[l], rstd1[l], n, d);
        }
        for (int l = 0; l < L; l++) {
            String p = "layer_" + l;
            o.adamW(p + ".q.lora.adamw_a", aq[l], gAq[l], mAq[l], vAq[l], hyper, r * d);
            o.adamW(p + ".q.lora.adamw_b", bq[l], gBq[l], mBq[l], vBq[l], hyper, d * r);
            o.adamW(p + ".v.lora.adamw_a", av[l], gAv[l], mAv[l], vAv[l], hyper, r * d);
            o.adamW(p + ".v.lora.adamw_b", bv[l], gBv[l], mBv[l], vBv[l], hyper, kv * r);
        }
    }

    /** y [N][out] += s · (x·Aᵀ)·Bᵀ, keeping z = x·Aᵀ [N][rank] for backward. */
    private void loraForward(Ops o, String p, float[] y, float[] x, float[] a, float[] b, float[] z, float[] tmp, int out) {
        int n = s.n(), d = s.dim(), r = s.rank();
        o.matmul(p + ".fwd_a", z, x, a, n, d, r);
        o.matmul(p + ".fwd_b", tmp, z, b, n, r, out);
        o.scale(p + ".fwd_scale", tmp, tmp, scaling, n * out);
        o.residual(p + ".fwd", y, tmp, n * out);
    }

    /** dB += s·dyᵀ·z; dz = s·dy·B; dA += dzᵀ·x; dx += dz·A. */
    private void loraBackward(Ops o, String p, float[] dx, float[] dy, float[] x, float[] a, float[] b, float[] z,
                              float[] dA, float[] dB, float[] dz, float[] dyS, int out) {
        int n = s.n(), d = s.dim(), r = s.rank();
        o.scale(p + ".bwd_scale", dyS, dy, scaling, n * out);
        o.matmulBackwardWeight(p + ".bwd_b", dB, dyS, z, n, r, out);
        o.zero(p + ".bwd_zero", dz, n * r);
        o.matmulBackwardInput(p + ".bwd_z", dz, dyS, b, n, r, out);
        o.matmulBackwardWeight(p + ".bwd_a", dA, dz, x, n, d, r);
        o.matmulBackwardInput(p + ".bwd", dx, dz, a, n, d, r);
    }

    /**
     * Runs one step on the batch (tokens, next-token targets, loss weights [N]) with AdamW at rate lr;
     * returns the weighted mean loss before the update.
     */
    public double step(int[] batchTokens, int[] batchTargets, float[] batchWeights, float lr) {
        System.arraycopy(batchTokens, 0, tokens, 0, tokens.length);
        System.arraycopy(batchTargets, 0, targets, 0, targets.length);
        System.arraycopy(batchWeights, 0, lossWeights, 0, lossWeights.length);
        double total = 0;
        for (float x : lossWeights) total += x;
        ceScale[0] = (float) (1.0 / total);
        t++;
        float b1 = 0.9f, b2 = 0.999f;
        hyper[TaskKernels.GRAD_SCALE] = 1f;
        hyper[TaskKernels.LR] = lr;
        hyper[TaskKernels.BETA1] = b1;
        hyper[TaskKernels.BETA2] = b2;
        hyper[TaskKernels.EPS] = 1e-8f;
        hyper[TaskKernels.WEIGHT_DECAY] = 0f;
        hyper[TaskKernels.BC1] = (float) (1 - Math.pow(b1, t));
        hyper[TaskKernels.BC2] = (float) (1 - Math.pow(b2, t));
        if (plan == null) javaStep.run();
        else lastResult = plan.execute();
        double loss = 0;
        for (int i = 0; i < losses.length; i++) loss += (double) losses[i] * lossWeights[i];
        return loss / total;
    }

    /** Copies the LoRA weights back from the device (no-op in Java); returns them as [Aq, Bq, Av, Bv] per layer. */
    public float[][][] fetchLora() {
        if (lastResult != null) lastResult.transferToHost(lora());
        return new float[][][] {aq, bq, av, bv};
    }

    private Object[] lora() {
        List<Object> all = new ArrayList<>();
        for (float[][] a : List.of(aq, bq, av, bv)) all.addAll(List.of((Object[]) a));
        return all.toArray();
    }

    /** Device memory in use by this step's plan, in bytes (0 in Java). */
    public long deviceMemoryBytes() {
        return plan == null ? 0 : plan.getCurrentDeviceMemoryUsage();
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

    private float[] once(float[] a) {
        deviceOnce.add(a);
        return a;
    }

    private float[][] once(float[][] a) {
        for (float[] x : a) deviceOnce.add(x);
        return a;
    }

    private static float[][] zeros(int rows, int n) {
        return new float[rows][n];
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
