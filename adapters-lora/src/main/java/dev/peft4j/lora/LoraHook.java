package dev.peft4j.lora;

import dev.peft4j.api.LinearHook;
import dev.peft4j.api.Parameter;
import dev.peft4j.api.Pass;
import dev.peft4j.kernels.MatmulCpu;
import dev.peft4j.kernels.Threads;
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
 *
 * With DoRA (Liu et al. 2024, "DoRA: Weight-Decomposed Low-Rank Adaptation") the adapted weight is
 * {@code W' = m ⊙ (W + s·B·A) / ‖W + s·B·A‖} per output row, the norm treated as a constant (detached, the
 * paper's section 4.3 and Hugging Face PEFT's {@code dora.py}). With {@code c = m / ‖·‖} [out], the base output
 * {@code base = x̃·Wᵀ} (the y the hook receives, without dropout) and {@code l = hs·Bᵀ}:
 *
 * <pre>
 *   y += (c − 1) ⊙ base + c ⊙ l            u = base + l  [n][out], kept for dm
 *
 *   dm_o += Σ_i dy_io · u_io / ‖·‖_o       LoRA's backward with dy' = c ⊙ dy       dx += mask ⊙ (((c − 1) ⊙ dy)·W)
 * </pre>
 *
 * The row norms are computed each forward one row at a time ({@link #rowNorms}), never materialising B·A.
 * Without dropout, {@code base} is the y the hook receives, as PEFT uses the layer's result so far; this is
 * exact when the DoRA hook is the first at its site (one adapter per site, as PEFT files have).
 */
final class LoraHook implements LinearHook {
    private final Parameter a;      // [r][in]
    private final Parameter b;      // [out][r]
    private final Parameter m;      // [out] DoRA's magnitude, or null (plain LoRA)
    private final dev.peft4j.api.FrozenLinear w; // [out][in] the frozen base, in its stored type (DoRA only)
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
    // DoRA only
    private final float[] norm;              // [out] ‖W + s·B·A‖ per row, of the latest forward
    private final float[] c;                 // [out] m / norm
    private float[] u = new float[0];        // [n][out] base + l of the latest forward
    private float[] l = new float[0];        // [n][out] hs·Bᵀ; in backward, c ⊙ dy
    private float[] base = new float[0];     // [n][out] x̃·Wᵀ (with dropout); in backward, (c − 1) ⊙ dy

    LoraHook(Parameter a, Parameter b, Parameter m, float[] w, int in, int out, int r, double scale, double dropout, long siteSalt) {
        this(a, b, m, w == null ? null : ofFloat32(w, in, out), in, out, r, scale, dropout, siteSalt);
    }

    LoraHook(Parameter a, Parameter b, Parameter m, dev.peft4j.api.FrozenLinear w, int in, int out, int r, double scale, double dropout, long siteSalt) {
        this.a = a;
        this.b = b;
        this.m = m;
        this.w = w;
        this.in = in;
        this.out = out;
        this.r = r;
        this.scale = (float) scale;
        this.dropout = (float) dropout;
        this.siteSalt = siteSalt;
        this.bt = new float[r * out];
        this.norm = m == null ? null : new float[out];
        this.c = m == null ? null : new float[out];
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
        if (m == null) {
            // y [n][out] += hs [n][r] · Bᵀ [r][out]
            MatmulCpu.backwardInput(y, 0, hs, 0, bt, 0, n, out, r);
            return;
        }
        rowNorms(norm, w, a.data(), bw, in, out, r, scale);
        float[] mag = m.data();
        for (int o = 0; o < out; o++) c[o] = mag[o] / norm[o];
        if (u.length < n * out) {
            u = new float[n * out];
            l = new float[n * out];
            base = new float[n * out];
        }
        Arrays.fill(l, 0, n * out, 0f);
        MatmulCpu.backwardInput(l, 0, hs, 0, bt, 0, n, out, r);           // l [n][out] = hs · Bᵀ
        if (droppedValid) {
            w.forward(base, 0, xin, 0, n);         // base [n][out] = x̃ · Wᵀ
            for (int i = 0; i < n; i++) {
                for (int o = 0, j = i * out; o < out; o++, j++) {
                    u[j] = base[j] + l[j];
                    y[j] += c[o] * u[j] - base[j];
                }
            }
        } else {
            for (int i = 0; i < n; i++) {
                for (int o = 0, j = i * out; o < out; o++, j++) {
                    u[j] = y[j] + l[j];                                   // y holds x·Wᵀ here
                    y[j] = c[o] * u[j];
                }
            }
        }
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
        float[] dyl = dy;                    // the gradient reaching the low-rank path
        if (m != null) {
            float[] dm = m.grad();
            for (int i = 0; i < n; i++) {
                for (int o = 0, j = i * out; o < out; o++, j++) {
                    dm[o] += dy[j] * u[j] / norm[o];
                    l[j] = c[o] * dy[j];
                    base[j] = (c[o] - 1f) * dy[j];
                }
            }
            dyl = l;
        }
        float[] xin = droppedValid ? dropped : x;
        // dB [out][r] += dy'ᵀ [out][n] · hs [n][r]
        MatmulCpu.backwardWeight(b.grad(), 0, dyl, 0, hs, 0, n, r, out);
        // dh [n][r] = s · dy' [n][out] · B [out][r]
        if (dh.length < n * r) dh = new float[n * r];
        Arrays.fill(dh, 0, n * r, 0f);
        MatmulCpu.backwardInput(dh, 0, dyl, 0, b.data(), 0, n, r, out);
        for (int i = 0; i < n * r; i++) dh[i] *= scale;
        // dA [r][in] += dhᵀ · x̃
        MatmulCpu.backwardWeight(a.grad(), 0, dh, 0, xin, 0, n, in, r);
        if (!droppedValid) {
            MatmulCpu.backwardInput(dx, 0, dh, 0, a.data(), 0, n, in, r); // dx += dh · A
            if (m != null) w.backwardInput(dx, 0, base, 0, n); // dx += ((c − 1) ⊙ dy) · W
        } else {
            if (dxTilde.length < n * in) dxTilde = new float[n * in];
            Arrays.fill(dxTilde, 0, n * in, 0f);
            MatmulCpu.backwardInput(dxTilde, 0, dh, 0, a.data(), 0, n, in, r);
            if (m != null) w.backwardInput(dxTilde, 0, base, 0, n);
            for (int i = 0; i < n * in; i++) dx[i] += dxTilde[i] * keep[i];
        }
    }

    /**
     * norm [out] = ‖W_o + s·(B·A)_o‖ for every output row o, one row at a time (a [in] temporary per task, never
     * the [out][in] product). W [out][in], A [r][in], B [out][r]; float sums of squares accumulated in double.
     */
    static void rowNorms(float[] norm, float[] w, float[] a, float[] b, int in, int out, int r, float s) {
        rowNorms(norm, ofFloat32(w, in, out), a, b, in, out, r, s);
    }

    /** As above, W read in its stored type one row at a time into a [in] scratch (dequantised, no float32 copy of W). */
    static void rowNorms(float[] norm, dev.peft4j.api.FrozenLinear w, float[] a, float[] b, int in, int out, int r, float s) {
        Threads.parallelFor(out, (from, to) -> {
            float[] row = new float[in];
            for (int o = from; o < to; o++) {
                w.decodeRows(o, o + 1, row, 0);
                for (int k = 0; k < r; k++) {
                    float sb = s * b[o * r + k];
                    for (int i = 0, ak = k * in; i < in; i++) row[i] += sb * a[ak + i];
                }
                double sum = 0;
                for (int i = 0; i < in; i++) sum += (double) row[i] * row[i];
                norm[o] = (float) Math.sqrt(sum);
            }
        });
    }

    /** W [out][in] += sign · s · B·A. */
    void addTo(float[] w, float sign) {
        float[] sbt = new float[r * out]; // [r][out] = sign · s · Bᵀ
        float[] bw = b.data();
        for (int o = 0; o < out; o++) for (int k = 0; k < r; k++) sbt[k * out + o] = sign * scale * bw[o * r + k];
        // W [out][in] += sbtᵀ [out][r] · A [r][in]
        MatmulCpu.backwardWeight(w, 0, sbt, 0, a.data(), 0, r, in, out);
    }

    boolean dora() {
        return m != null;
    }

    /** DoRA's merge: W ← c ⊙ (W + s·B·A) per row, c = m / ‖W + s·B·A‖ of the unmerged W; returns c [out] for {@link #unmergeDora}. */
    float[] mergeDora(float[] weight) {
        float[] n = new float[out];
        rowNorms(n, weight, a.data(), b.data(), in, out, r, scale);
        float[] factor = new float[out];
        for (int o = 0; o < out; o++) factor[o] = m.data()[o] / n[o];
        addTo(weight, +1f);
        for (int o = 0; o < out; o++) for (int i = 0; i < in; i++) weight[o * in + i] *= factor[o];
        return factor;
    }

    /** Undoes {@link #mergeDora}: W ← W / c − s·B·A. */
    void unmergeDora(float[] weight, float[] factor) {
        for (int o = 0; o < out; o++) for (int i = 0; i < in; i++) weight[o * in + i] /= factor[o];
        addTo(weight, -1f);
    }

    /** A float32 W [out][in] (row-major, held by reference) as a frozen linear. */
    static dev.peft4j.api.FrozenLinear ofFloat32(float[] w, int in, int out) {
        return new dev.peft4j.api.FrozenLinear() {
            @Override public int in() { return in; }
            @Override public int out() { return out; }
            @Override public void forward(float[] y, int yOff, float[] x, int xOff, int n) {
                dev.peft4j.kernels.MatmulCpu.forward(y, yOff, x, xOff, w, 0, n, in, out);
            }
            @Override public void backwardInput(float[] dx, int dxOff, float[] dy, int dyOff, int n) {
                dev.peft4j.kernels.MatmulCpu.backwardInput(dx, dxOff, dy, dyOff, w, 0, n, in, out);
            }
            @Override public void decodeRows(int r0, int r1, float[] dst, int dstOff) {
                System.arraycopy(w, r0 * in, dst, dstOff, (r1 - r0) * in);
            }
        };
    }
}
