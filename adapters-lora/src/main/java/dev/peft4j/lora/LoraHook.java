package dev.peft4j.lora;

import dev.peft4j.api.LinearHook;
import dev.peft4j.api.Parameter;
import dev.peft4j.api.Pass;
import dev.peft4j.kernels.MatmulCpu;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * One LoRA update at one linear site: {@code y += s · dropout(x)·Aᵀ·Bᵀ}.
 *
 * <pre>
 *   x [n][in] ──dropout──▶ x̃ ──·Aᵀ [in→r]──▶ h ──·s──▶ hs [n][r] ──·Bᵀ [r→out]──▶ + y [n][out]
 *
 *   dB += dyᵀ·hs          dh = s · dy·B          dA += dhᵀ·x̃          dx += mask ⊙ (dh·A)
 * </pre>
 */
final class LoraHook implements LinearHook {
    private final Parameter a;      // [r][in]
    private final Parameter b;      // [out][r]
    private final int in, out, r;
    private final float scale, dropout;
    private final long siteSalt;
    boolean merged;                 // while merged into the base weight the hook is a no-op

    // scratch, grown to the largest n seen
    private float[] hs = new float[0];       // [n][r]   s · x̃·Aᵀ of the latest forward
    private float[] dropped = new float[0];  // [n][in]  x̃ of the latest training forward (dropout only)
    private float[] keep = new float[0];     // [n][in]  dropout scale per element: 0 or 1/(1−p)
    private boolean droppedValid;
    private final float[] bt;                // [r][out] Bᵀ, refreshed by every forward
    private float[] dh = new float[0];       // [n][r]
    private float[] dxTilde = new float[0];  // [n][in]

    LoraHook(Parameter a, Parameter b, int in, int out, int r, double scale, double dropout, long siteSalt) {
        this.a = a;
        this.b = b;
        this.in = in;
        this.out = out;
        this.r = r;
        this.scale = (float) scale;
        this.dropout = (float) dropout;
        this.siteSalt = siteSalt;
        this.bt = new float[r * out];
    }

    @Override
    public void forward(float[] x, float[] y, int n, Pass pass) {
        if (merged) return;
        float[] xin = x;
        droppedValid = false;
        if (pass.training() && dropout > 0) {
            xin = dropout(x, n, pass.seed());
            droppedValid = true;
        }
        if (hs.length < n * r) hs = new float[n * r];
        MatmulCpu.forward(hs, 0, xin, 0, a.data(), 0, n, in, r);
        for (int i = 0; i < n * r; i++) hs[i] *= scale;
        float[] bw = b.data();
        for (int o = 0; o < out; o++) for (int k = 0; k < r; k++) bt[k * out + o] = bw[o * r + k];
        // y [n][out] += hs [n][r] · Bᵀ [r][out]
        MatmulCpu.backwardInput(y, 0, hs, 0, bt, 0, n, out, r);
    }

    private float[] dropout(float[] x, int n, long seed) {
        if (dropped.length < n * in) {
            dropped = new float[n * in];
            keep = new float[n * in];
        }
        SplittableRandom rng = new SplittableRandom(seed ^ siteSalt);
        float inv = 1f / (1f - dropout);
        for (int i = 0; i < n * in; i++) {
            keep[i] = rng.nextFloat() < dropout ? 0f : inv;
            dropped[i] = x[i] * keep[i];
        }
        return dropped;
    }

    @Override
    public void backward(float[] x, float[] dy, float[] dx, int n) {
        if (merged) return;
        float[] xin = droppedValid ? dropped : x;
        // dB [out][r] += dyᵀ [out][n] · hs [n][r]
        MatmulCpu.backwardWeight(b.grad(), 0, dy, 0, hs, 0, n, r, out);
        // dh [n][r] = s · dy [n][out] · B [out][r]
        if (dh.length < n * r) dh = new float[n * r];
        Arrays.fill(dh, 0, n * r, 0f);
        MatmulCpu.backwardInput(dh, 0, dy, 0, b.data(), 0, n, r, out);
        for (int i = 0; i < n * r; i++) dh[i] *= scale;
        // dA [r][in] += dhᵀ · x̃
        MatmulCpu.backwardWeight(a.grad(), 0, dh, 0, xin, 0, n, in, r);
        if (!droppedValid) {
            MatmulCpu.backwardInput(dx, 0, dh, 0, a.data(), 0, n, in, r); // dx += dh · A
        } else {
            if (dxTilde.length < n * in) dxTilde = new float[n * in];
            Arrays.fill(dxTilde, 0, n * in, 0f);
            MatmulCpu.backwardInput(dxTilde, 0, dh, 0, a.data(), 0, n, in, r);
            for (int i = 0; i < n * in; i++) dx[i] += dxTilde[i] * keep[i];
        }
    }

    /** W [out][in] += sign · s · B·A. */
    void addTo(float[] w, float sign) {
        float[] sbt = new float[r * out]; // [r][out] = sign · s · Bᵀ
        float[] bw = b.data();
        for (int o = 0; o < out; o++) for (int k = 0; k < r; k++) sbt[k * out + o] = sign * scale * bw[o * r + k];
        // W [out][in] += sbtᵀ [out][r] · A [r][in]
        MatmulCpu.backwardWeight(w, 0, sbt, 0, a.data(), 0, r, in, out);
    }
}
