package dev.peft4j.kernels.tornado;

import dev.peft4j.kernels.AdamW;
import dev.peft4j.kernels.Attention;
import dev.peft4j.kernels.CrossEntropy;
import dev.peft4j.kernels.Matmul;
import dev.peft4j.kernels.Parallel;
import dev.peft4j.kernels.Residual;
import dev.peft4j.kernels.RmsNorm;
import dev.peft4j.kernels.Rope;
import dev.peft4j.kernels.SwiGlu;

/**
 * The task methods that TaskGraphs run: each binds one of the plain kernels to its whole range.
 *
 * <p>The plain kernels take a row range {@code from..to} so that the CPU backend can split rows
 * over threads; TornadoVM only parallelises loops that start at a constant, so these wrappers pass
 * {@code 0..n} and TornadoVM inlines the call and folds the constant. The kernel bodies are the
 * plain ones, so the device runs exactly the code the CPU tests check. Buffers that a training step
 * keeps per layer are packed into one array per kind ({@code [layers][...]}), so the wrappers take
 * an offset for each buffer that may be such a slice. Values that change per step
 * (learning rate, bias corrections, the loss scale) travel in small arrays rather than as scalars,
 * which a TaskGraph fixes when it is built.
 *
 * <p>The only kernel written here is the embedding gather: the plain one copies rows with
 * {@code System.arraycopy}, which TornadoVM cannot compile.
 */
public final class TaskKernels {
    private TaskKernels() {}

    /** Slots of the AdamW hyper-parameter array passed to {@link #adamW}. */
    public static final int GRAD_SCALE = 0, LR = 1, BETA1 = 2, BETA2 = 3, EPS = 4, WEIGHT_DECAY = 5, BC1 = 6, BC2 = 7,
            HYPER_SIZE = 8;

    /** out [n][dim] = table [vocab][dim] rows at tokens [n]. */
    public static void embedding(float[] out, float[] table, int[] tokens, int n, int dim) {
        for (@Parallel int i = 0; i < n; i++) {
            for (@Parallel int j = 0; j < dim; j++) out[i * dim + j] = table[tokens[i] * dim + j];
        }
    }

    /** y [n][out] = x [n][in] · w [out][in]ᵀ ({@link Matmul#forward}); each buffer from its offset. */
    public static void matmul(float[] y, int yOff, float[] x, int xOff, float[] w, int wOff, int n, int in, int out) {
        Matmul.forward(y, yOff, x, xOff, w, wOff, n, in, out);
    }

    /** dx [n][in] += dy [n][out] · w [out][in]. */
    public static void matmulBackwardInput(float[] dx, int dxOff, float[] dy, int dyOff, float[] w, int wOff, int n, int in,
                                           int out) {
        Matmul.backwardInput(dx, dxOff, dy, dyOff, w, wOff, n, in, out);
    }

    /** dw [out][in] += dy [n][out]ᵀ · x [n][in]. */
    public static void matmulBackwardWeight(float[] dw, int dwOff, float[] dy, int dyOff, float[] x, int xOff, int n, int in,
                                            int out) {
        Matmul.backwardWeight(dw, dwOff, dy, dyOff, x, xOff, n, in, out);
    }

    /** out [n][dim] = rmsnorm(x) · w, rstd [n] saved for backward; each buffer from its offset. */
    public static void rmsnorm(float[] out, int outOff, float[] x, int xOff, float[] w, int wOff, float[] rstd, int rstdOff,
                               int n, int dim, float eps) {
        RmsNorm.forward(out, outOff, x, xOff, w, wOff, rstd, rstdOff, dim, eps, 0, n);
    }

    /** dx [n][dim] += d rmsnorm / dx; x, w, rstd from their offsets. */
    public static void rmsnormBackwardInput(float[] dx, float[] dOut, float[] x, int xOff, float[] w, int wOff, float[] rstd,
                                            int rstdOff, int n, int dim) {
        RmsNorm.backwardInput(dx, dOut, x, xOff, w, wOff, rstd, rstdOff, dim, 0, n);
    }

    /** dw [dim] += Σ_rows dOut · x · rstd. */
    public static void rmsnormBackwardWeight(float[] dw, float[] dOut, float[] x, float[] rstd, int n, int dim) {
        RmsNorm.backwardWeight(dw, dOut, x, rstd, n, dim, 0, dim);
    }

    /** Rotates x [n][heads*hd] (from xOff) in place; row i is at position pos0 + i % period. */
    public static void rope(float[] x, int xOff, float[] cos, float[] sin, int n, int heads, int hd, int pos0, int period) {
        Rope.forward(x, xOff, cos, sin, heads, hd, pos0, period, 0, n);
    }

    /** Rotates the gradient dx [n][heads*hd] back. */
    public static void ropeBackward(float[] dx, float[] cos, float[] sin, int n, int heads, int hd, int pos0, int period) {
        Rope.backward(dx, cos, sin, heads, hd, pos0, period, 0, n);
    }

    /**
     * Causal GQA attention for B sequences of T queries ({@link Attention#forward}, all B·nHeads·T rows);
     * each buffer from its offset.
     */
    public static void attention(float[] out, int outOff, float[] q, int qOff, float[] k, int kOff, float[] v, int vOff,
                                 float[] att, int attOff, int batch, int nHeads, int nKv, int hd, int T, int p0, int kvRows,
                                 int attStride) {
        Attention.forward(out, outOff, q, qOff, k, kOff, v, vOff, att, attOff, nHeads, nKv, hd, T, p0, kvRows, attStride,
                0, batch * nHeads * T);
    }

    /** Attention backward, first pass: dScores and dq; the saved k, v, att from their offsets. */
    public static void attentionBackwardQuery(float[] dq, float[] dScores, float[] dOut, float[] k, int kOff, float[] v,
                                              int vOff, float[] att, int attOff, int batch, int nHeads, int nKv, int hd,
                                              int T, int p0, int kvRows, int attStride) {
        Attention.backwardQuery(dq, dScores, dOut, k, kOff, v, vOff, att, attOff, nHeads, nKv, hd, T, p0, kvRows, attStride,
                0, batch * nHeads * T);
    }

    /** Attention backward, second pass: dk and dv, one row per (sequence, key/value head); q, att from their offsets. */
    public static void attentionBackwardKeyValue(float[] dk, float[] dv, float[] dScores, float[] dOut, float[] q, int qOff,
                                                 float[] att, int attOff, int batch, int nHeads, int nKv, int hd, int T,
                                                 int p0, int kvRows, int attStride) {
        Attention.backwardKeyValue(dk, dv, dScores, dOut, q, qOff, att, attOff, nHeads, nKv, hd, T, p0, kvRows, attStride,
                0, batch * nKv);
    }

    /** out [n] = silu(gate) · up; each buffer from its offset. */
    public static void swiglu(float[] out, int outOff, float[] gate, int gateOff, float[] up, int upOff, int n) {
        SwiGlu.forward(out, outOff, gate, gateOff, up, upOff, 0, n);
    }

    /** dGate, dUp [n] += SwiGLU's backward; the saved gate and up from their offsets. */
    public static void swigluBackward(float[] dGate, float[] dUp, float[] dOut, float[] gate, int gateOff, float[] up,
                                      int upOff, int n) {
        SwiGlu.backward(dGate, dUp, dOut, gate, gateOff, up, upOff, 0, n);
    }

    /** x [n] (from xOff) += delta [n]. */
    public static void residual(float[] x, int xOff, float[] delta, int n) {
        Residual.forward(x, xOff, delta, 0, 0, n);
    }

    /**
     * Cross-entropy of logits [rows][vocab] against targets [rows] (losses [rows], unweighted); the
     * logits become their gradient scaled by weights[i] · scale[0] when scale[0] != 0.
     */
    public static void crossEntropy(float[] logits, int[] targets, float[] weights, float[] losses, float[] scale,
                                    int rows, int vocab) {
        CrossEntropy.forwardBackward(logits, targets, weights, 0, losses, vocab, scale[0], 0, rows);
    }

    /** One AdamW step over w, g, m, v [n], hyper-parameters read from hyper [{@link #HYPER_SIZE}]. */
    public static void adamW(float[] w, float[] g, float[] m, float[] v, float[] hyper, int n) {
        AdamW.step(w, g, m, v, hyper[GRAD_SCALE], hyper[LR], hyper[BETA1], hyper[BETA2], hyper[EPS],
                hyper[WEIGHT_DECAY], hyper[BC1], hyper[BC2], 0, n);
    }

    /** out [n] = s · x (LoRA's scaling of a gradient). */
    public static void scale(float[] out, float[] x, float s, int n) {
        for (@Parallel int i = 0; i < n; i++) out[i] = s * x[i];
    }

    /** y [n] (from yOff) += s · x (LoRA's scaled update added to the base projection). */
    public static void addScaled(float[] y, int yOff, float[] x, float s, int n) {
        for (@Parallel int i = 0; i < n; i++) y[yOff + i] += s * x[i];
    }

    /** out [n] (from outOff) = x [n] (from xOff). */
    public static void copy(float[] out, int outOff, float[] x, int xOff, int n) {
        for (@Parallel int i = 0; i < n; i++) out[outOff + i] = x[xOff + i];
    }

    /** x [n] = 0: clears gradient buffers on the device between steps. */
    public static void zero(float[] x, int n) {
        for (@Parallel int i = 0; i < n; i++) x[i] = 0f;
    }

    /**
     * x [n] = 0 when flag [0] is not 0: the first micro-batch of an optimizer step clears the gradients,
     * the later ones add to them (the flag travels with the batch).
     */
    public static void zeroIf(float[] x, float[] flag, int n) {
        // x is read as well as written, so that TornadoVM does not take it for an output only
        for (@Parallel int i = 0; i < n; i++) x[i] = flag[0] != 0f ? 0f : x[i];
    }

    // ---- prefix tuning's reparameterisation: table = tanh(E·W1ᵀ + b1)·W2ᵀ + b2 ----

    /** x [rows][cols] = tanh(x + b) with b [cols] from bOff (in double: tanh = 1 − 2 / (e^{2x} + 1)). */
    public static void biasTanh(float[] x, float[] b, int bOff, int rows, int cols) {
        for (@Parallel int i = 0; i < rows; i++) {
            for (@Parallel int j = 0; j < cols; j++) {
                double e = Math.exp(2.0 * (x[i * cols + j] + b[bOff + j]));
                x[i * cols + j] = (float) (1.0 - 2.0 / (e + 1.0));
            }
        }
    }

    /** x [rows][cols] += b [cols] from bOff. */
    public static void addBias(float[] x, float[] b, int bOff, int rows, int cols) {
        for (@Parallel int i = 0; i < rows; i++) {
            for (@Parallel int j = 0; j < cols; j++) x[i * cols + j] += b[bOff + j];
        }
    }

    /** db [cols] (from dbOff) += Σ_i dy [rows][cols]: a bias's gradient. */
    public static void biasBackward(float[] db, int dbOff, float[] dy, int rows, int cols) {
        for (@Parallel int j = 0; j < cols; j++) {
            float sum = 0f;
            for (int i = 0; i < rows; i++) sum += dy[i * cols + j];
            db[dbOff + j] += sum;
        }
    }

    /** d [n] *= 1 − y², y = tanh(x): tanh's backward from its output. */
    public static void tanhBackward(float[] d, float[] y, int n) {
        for (@Parallel int i = 0; i < n; i++) d[i] *= 1f - y[i] * y[i];
    }

    /**
     * partial [parts] (from pOff) = Σ x² over each of {@code parts} contiguous chunks of x [n]: the first pass
     * of the global gradient norm, whose parts the host adds in double.
     */
    public static void sumOfSquares(float[] partial, int pOff, float[] x, int n, int parts) {
        for (@Parallel int p = 0; p < parts; p++) {
            int chunk = (n + parts - 1) / parts;
            int from = p * chunk;
            int to = Math.min(n, from + chunk);
            float s = 0f;
            for (int i = from; i < to; i++) s += x[i] * x[i];
            partial[pOff + p] = s;
        }
    }

    // ---- LLaMA-Adapter: gated attention over a layer's prompt rows (Kp, Vp [len][kvDim], no mask, no RoPE) ----

    /**
     * out_ih += gate_h · Σ_j p_ihj Vp_j,g with p_ih = softmax_j(q_ih·Kp_j,g / √hd), g = h's key/value head; one
     * row per (token, head), n·nHeads rows. Keeps p (probs [n][nHeads][len]) and the ungated sum (mixed [n][dim])
     * for backward. Each buffer from its offset; the gates [nHeads] from gOff.
     */
    public static void adapterAttention(float[] out, int outOff, float[] q, int qOff, float[] kp, int kpOff, float[] vp,
                                        int vpOff, float[] probs, int pOff, float[] mixed, int mOff, float[] gate, int gOff,
                                        int n, int nHeads, int nKv, int hd, int len) {
        int qDim = nHeads * hd, kvDim = nKv * hd, group = nHeads / nKv;
        float scale = (float) (1.0 / Math.sqrt(hd));
        for (@Parallel int r = 0; r < n * nHeads; r++) {
            int i = r / nHeads, h = r % nHeads, kvo = (h / group) * hd, qo = i * qDim + h * hd, po = pOff + r * len;
            float max = Float.NEGATIVE_INFINITY;
            for (int j = 0; j < len; j++) {
                float s = 0f;
                for (int c = 0; c < hd; c++) s += q[qOff + qo + c] * kp[kpOff + j * kvDim + kvo + c];
                probs[po + j] = s * scale;
                max = Math.max(max, probs[po + j]);
            }
            float sum = 0f;
            for (int j = 0; j < len; j++) {
                float e = (float) Math.exp(probs[po + j] - max);
                probs[po + j] = e;
                sum += e;
            }
            for (int c = 0; c < hd; c++) mixed[mOff + qo + c] = 0f;
            for (int j = 0; j < len; j++) {
                float p = probs[po + j] / sum;
                probs[po + j] = p;
                for (int c = 0; c < hd; c++) mixed[mOff + qo + c] += p * vp[vpOff + j * kvDim + kvo + c];
            }
            float g = gate[gOff + h];
            for (int c = 0; c < hd; c++) out[outOff + qo + c] += g * mixed[mOff + qo + c];
        }
    }

    /**
     * Adapter backward, per (token, head) row: ds_ihj = p_ihj (dp_ihj − Σ_j p dp) / √hd with
     * dp_ihj = gate_h dOut_ih·Vp_j,g, kept in ds [n][nHeads][len]; dq_ih += Σ_j ds_ihj Kp_j,g.
     */
    public static void adapterBackwardQuery(float[] dq, float[] ds, float[] dOut, float[] kp, int kpOff, float[] vp, int vpOff,
                                            float[] probs, int pOff, float[] gate, int gOff, int n, int nHeads, int nKv,
                                            int hd, int len) {
        int qDim = nHeads * hd, kvDim = nKv * hd, group = nHeads / nKv;
        float scale = (float) (1.0 / Math.sqrt(hd));
        for (@Parallel int r = 0; r < n * nHeads; r++) {
            int i = r / nHeads, h = r % nHeads, kvo = (h / group) * hd, qo = i * qDim + h * hd, po = pOff + r * len;
            float g = gate[gOff + h];
            float dot = 0f;
            for (int j = 0; j < len; j++) {
                float s = 0f;
                for (int c = 0; c < hd; c++) s += g * dOut[qo + c] * vp[vpOff + j * kvDim + kvo + c];
                ds[r * len + j] = s;
                dot += s * probs[po + j];
            }
            for (int j = 0; j < len; j++) {
                float d = probs[po + j] * (ds[r * len + j] - dot) * scale;
                ds[r * len + j] = d;
                for (int c = 0; c < hd; c++) dq[qo + c] += d * kp[kpOff + j * kvDim + kvo + c];
            }
        }
    }

    /**
     * Adapter backward, per (prompt row, key/value head): dKp_j,g = Σ_i,h∈g ds_ihj q_ih and
     * dVp_j,g = Σ_i,h∈g p_ihj gate_h dOut_ih, written (not added) to dKp, dVp [len][kvDim]; len·nKv rows, so
     * the sums over tokens that every row shares stay inside one row.
     */
    public static void adapterBackwardKeyValue(float[] dKp, float[] dVp, float[] ds, float[] dOut, float[] q, int qOff,
                                               float[] probs, int pOff, float[] gate, int gOff, int n, int nHeads, int nKv,
                                               int hd, int len) {
        int qDim = nHeads * hd, kvDim = nKv * hd, group = nHeads / nKv;
        for (@Parallel int r = 0; r < len * nKv; r++) {
            int j = r / nKv, kvh = r % nKv;
            for (int c = 0; c < hd; c++) {
                float sk = 0f, sv = 0f;
                for (int i = 0; i < n; i++) {
                    for (int x = 0; x < group; x++) {
                        int h = kvh * group + x, row = i * nHeads + h, qo = i * qDim + h * hd;
                        sk += ds[row * len + j] * q[qOff + qo + c];
                        sv += probs[pOff + row * len + j] * (gate[gOff + h] * dOut[qo + c]);
                    }
                }
                dKp[j * kvDim + kvh * hd + c] = sk;
                dVp[j * kvDim + kvh * hd + c] = sv;
            }
        }
    }

    /** Adapter backward, per head: dgate_h (at gOff) += Σ_i dOut_ih · mixed_ih; nHeads rows. */
    public static void adapterBackwardGate(float[] dGate, int gOff, float[] dOut, float[] mixed, int mOff, int n, int nHeads,
                                           int hd) {
        int qDim = nHeads * hd;
        for (@Parallel int h = 0; h < nHeads; h++) {
            float acc = 0f;
            for (int i = 0; i < n; i++) {
                float s = 0f;
                for (int c = 0; c < hd; c++) s += dOut[i * qDim + h * hd + c] * mixed[mOff + i * qDim + h * hd + c];
                acc += s;
            }
            dGate[gOff + h] += acc;
        }
    }

    // ---- prefix tuning: P key/value rows per layer from a table [P][L·2·kvDim] (row p: K_0, V_0, K_1, V_1, ...) ----

    /**
     * kAll, vAll [batch][P+T][kvDim] (from allOff) = per sequence layer {@code layer}'s P prefix rows of the table
     * (width floats a row), then the sequence's own rows of k, v [batch][T][kvDim] (from kvOff).
     */
    public static void prefixRows(float[] kAll, float[] vAll, int allOff, float[] k, float[] v, int kvOff, float[] table,
                                  int layer, int width, int batch, int P, int T, int kvDim) {
        int rows = P + T;
        for (@Parallel int i = 0; i < batch * rows; i++) {
            for (@Parallel int c = 0; c < kvDim; c++) {
                int b = i / rows, t = i % rows;
                float kx, vx;
                if (t < P) {
                    kx = table[t * width + layer * 2 * kvDim + c];
                    vx = table[t * width + layer * 2 * kvDim + kvDim + c];
                } else {
                    kx = k[kvOff + (b * T + t - P) * kvDim + c];
                    vx = v[kvOff + (b * T + t - P) * kvDim + c];
                }
                kAll[allOff + i * kvDim + c] = kx;
                vAll[allOff + i * kvDim + c] = vx;
            }
        }
    }

    /** dk, dv [batch][T][kvDim] = the sequences' own rows of dkAll, dvAll [batch][P+T][kvDim] (written, not added). */
    public static void prefixRowsBackward(float[] dk, float[] dv, float[] dkAll, float[] dvAll, int batch, int P, int T,
                                          int kvDim) {
        for (@Parallel int i = 0; i < batch * T * kvDim; i++) {
            int b = i / (T * kvDim), src = (b * (P + T) + P) * kvDim + i % (T * kvDim);
            dk[i] = dkAll[src];
            dv[i] = dvAll[src];
        }
    }

    /**
     * dTable (layer {@code layer}'s K and V columns of rows 0..P) += the prefix rows of dkAll, dvAll
     * [batch][P+T][kvDim] summed over the batch; one thread per table element, the loop over b inside it.
     */
    public static void prefixTableBackward(float[] dTable, float[] dkAll, float[] dvAll, int layer, int width, int batch,
                                           int P, int T, int kvDim) {
        for (@Parallel int e = 0; e < P * 2 * kvDim; e++) {
            int p = e / (2 * kvDim), j = e % (2 * kvDim), c = j % kvDim;
            float s = 0f;
            for (int b = 0; b < batch; b++) {
                int src = (b * (P + T) + p) * kvDim + c;
                s += j < kvDim ? dkAll[src] : dvAll[src];
            }
            dTable[p * width + layer * 2 * kvDim + j] += s;
        }
    }

    /**
     * Reads and writes back one element of each array: a task that makes TornadoVM copy the arrays to
     * the device (a graph moves only what its tasks use), for the graph that uploads resident buffers.
     */
    public static void touch(float[] a, float[] b, float[] c, float[] d, float[] e, float[] f, float[] g, float[] h) {
        a[0] = a[0]; b[0] = b[0]; c[0] = c[0]; d[0] = d[0]; e[0] = e[0]; f[0] = f[0]; g[0] = g[0]; h[0] = h[0];
    }
}
