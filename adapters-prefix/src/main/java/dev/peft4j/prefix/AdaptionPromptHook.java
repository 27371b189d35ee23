package dev.peft4j.prefix;

import dev.peft4j.api.GatedAttentionHook;
import dev.peft4j.api.Parameter;
import dev.peft4j.api.Pass;
import dev.peft4j.api.FrozenLinear;
import dev.peft4j.kernels.Threads;
import java.util.Arrays;

/**
 * LLaMA-Adapter's zero-init gated attention at one layer.
 *
 * <pre>
 *   Kp = prompt·Wkᵀ, Vp = prompt·Wvᵀ           [len][kvDim]   (frozen projections, no RoPE)
 *   p_ih = softmax_j(q_ih · Kp_j,g / √hd)      g = h's key/value head; no causal mask
 *   out_ih += gate_h · Σ_j p_ihj Vp_j,g        (gate_h = gate_0 for every h with one gate per layer)
 *
 *   dgate_h += Σ_i dOut_ih·a_ih                 (a_ih = Σ_j p_ihj Vp_j,g; one gate: the sum over heads too)
 *   dVp_j,g += Σ p_ihj gate_h dOut_ih;  ds = p ⊙ (dp − Σ p dp), dp_ihj = gate_h dOut_ih·Vp_j,g
 *   dq_ih += Σ_j ds_ihj Kp_j,g / √hd;   dKp_j,g += Σ ds_ihj q_ih / √hd
 *   dprompt += dKp·Wk + dVp·Wv
 * </pre>
 */
final class AdaptionPromptHook implements GatedAttentionHook {
    private final Parameter prompt;  // [1][len][dim]
    private final Parameter gate;    // [nHeads] (one per head) or [1] (one per layer, shared by every head)
    private final FrozenLinear wk, wv; // [kvDim][dim] frozen, in the base's stored type
    private final int len, dim, nHeads, nKv, hd, kvDim;
    private final float[] kp, vp;    // [len][kvDim]
    private final float[] dKp, dVp;  // [len][kvDim]
    private float[] probs = new float[0]; // [n][nHeads][len] of the latest forward
    private float[] mixed = new float[0]; // [n][nHeads*hd]    a = Σ p Vp, before the gate

    AdaptionPromptHook(Parameter prompt, Parameter gate, FrozenLinear wk, FrozenLinear wv, int len, int dim, int nHeads, int nKv) {
        this.prompt = prompt;
        this.gate = gate;
        this.wk = wk;
        this.wv = wv;
        this.len = len;
        this.dim = dim;
        this.nHeads = nHeads;
        this.nKv = nKv;
        this.hd = dim / nHeads;
        this.kvDim = nKv * hd;
        kp = new float[len * kvDim];
        vp = new float[len * kvDim];
        dKp = new float[len * kvDim];
        dVp = new float[len * kvDim];
    }

    @Override
    public void forward(float[] q, float[] out, int n, Pass pass) {
        wk.forward(kp, 0, prompt.data(), 0, len);
        wv.forward(vp, 0, prompt.data(), 0, len);
        if (probs.length < n * nHeads * len) {
            probs = new float[n * nHeads * len];
            mixed = new float[n * nHeads * hd];
        }
        float scale = (float) (1.0 / Math.sqrt(hd));
        int group = nHeads / nKv, qDim = nHeads * hd;
        float[] g = gate.data();
        Threads.parallelFor(n * nHeads, (from, to) -> {
            for (int r = from; r < to; r++) {
                int i = r / nHeads, h = r % nHeads, kvo = (h / group) * hd, qo = i * qDim + h * hd, po = r * len;
                float max = Float.NEGATIVE_INFINITY;
                for (int j = 0; j < len; j++) {
                    float s = 0f;
                    for (int c = 0; c < hd; c++) s += q[qo + c] * kp[j * kvDim + kvo + c];
                    probs[po + j] = s * scale;
                    max = Math.max(max, probs[po + j]);
                }
                float sum = 0f;
                for (int j = 0; j < len; j++) sum += probs[po + j] = (float) Math.exp(probs[po + j] - max);
                for (int c = 0; c < hd; c++) mixed[qo + c] = 0f;
                for (int j = 0; j < len; j++) {
                    float p = probs[po + j] /= sum;
                    for (int c = 0; c < hd; c++) mixed[qo + c] += p * vp[j * kvDim + kvo + c];
                }
                float gh = g[g.length == 1 ? 0 : h];
                for (int c = 0; c < hd; c++) out[qo + c] += gh * mixed[qo + c];
            }
        });
    }

    @Override
    public void backward(float[] q, float[] dOut, float[] dq, int n) {
        float scale = (float) (1.0 / Math.sqrt(hd));
        int group = nHeads / nKv, qDim = nHeads * hd;
        float[] g = gate.data(), dg = gate.grad();
        Arrays.fill(dKp, 0f);
        Arrays.fill(dVp, 0f);
        // Sequential over rows: dKp, dVp and the gates' gradients are shared by all rows.
        float[] dp = new float[len];
        for (int r = 0; r < n * nHeads; r++) {
            int i = r / nHeads, h = r % nHeads, kvo = (h / group) * hd, qo = i * qDim + h * hd, po = r * len;
            int gi = g.length == 1 ? 0 : h;
            float gd = 0f;
            for (int c = 0; c < hd; c++) gd += dOut[qo + c] * mixed[qo + c];
            dg[gi] += gd;
            float dot = 0f;
            for (int j = 0; j < len; j++) {
                float s = 0f;
                for (int c = 0; c < hd; c++) {
                    float da = g[gi] * dOut[qo + c];
                    s += da * vp[j * kvDim + kvo + c];
                    dVp[j * kvDim + kvo + c] += probs[po + j] * da;
                }
                dp[j] = s;
                dot += s * probs[po + j];
            }
            for (int j = 0; j < len; j++) {
                float ds = probs[po + j] * (dp[j] - dot) * scale;
                for (int c = 0; c < hd; c++) {
                    dq[qo + c] += ds * kp[j * kvDim + kvo + c];
                    dKp[j * kvDim + kvo + c] += ds * q[qo + c];
                }
            }
        }
        // dprompt [len][dim] += dKp [len][kvDim] · Wk [kvDim][dim] + dVp · Wv
        wk.backwardInput(prompt.grad(), 0, dKp, 0, len);
        wv.backwardInput(prompt.grad(), 0, dVp, 0, len);
    }
}
