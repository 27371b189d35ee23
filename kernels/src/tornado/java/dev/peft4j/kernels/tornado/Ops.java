package dev.peft4j.kernels.tornado;

import uk.ac.manchester.tornado.api.TaskGraph;

/**
 * The ops a training step is written against, each with a hierarchical task name
 * ({@code layer_3.q.lora.fwd}). {@link #graph} records them as tasks of a TornadoVM TaskGraph;
 * {@link #java} runs the same task methods at once as plain Java, which is how the device result
 * is checked against the CPU. An int after a buffer is the offset it is read from (a layer's slice
 * of a packed per-layer array).
 */
public interface Ops {
    void embedding(String name, float[] out, float[] table, int[] tokens, int n, int dim);
    void matmul(String name, float[] y, int yOff, float[] x, int xOff, float[] w, int wOff, int n, int in, int out);
    void matmulBackwardInput(String name, float[] dx, int dxOff, float[] dy, int dyOff, float[] w, int wOff, int n, int in, int out);
    void matmulBackwardWeight(String name, float[] dw, int dwOff, float[] dy, int dyOff, float[] x, int xOff, int n, int in, int out);
    void rmsnorm(String name, float[] out, int outOff, float[] x, int xOff, float[] w, int wOff, float[] rstd, int rstdOff, int n, int dim, float eps);
    void rmsnormBackwardInput(String name, float[] dx, float[] dOut, float[] x, int xOff, float[] w, int wOff, float[] rstd, int rstdOff, int n, int dim);
    void rope(String name, float[] x, int xOff, float[] cos, float[] sin, int n, int heads, int hd, int pos0, int period);
    void ropeBackward(String name, float[] dx, float[] cos, float[] sin, int n, int heads, int hd, int pos0, int period);
    void attention(String name, float[] out, int outOff, float[] q, int qOff, float[] k, int kOff, float[] v, int vOff, float[] att, int attOff, int batch, int nHeads, int nKv, int hd, int T, int p0, int kvRows);
    void attentionBackwardQuery(String name, float[] dq, float[] dScores, float[] dOut, float[] k, int kOff, float[] v, int vOff, float[] att, int attOff, int batch, int nHeads, int nKv, int hd, int T, int p0, int kvRows);
    void attentionBackwardKeyValue(String name, float[] dk, float[] dv, float[] dScores, float[] dOut, float[] q, int qOff, float[] att, int attOff, int batch, int nHeads, int nKv, int hd, int T, int p0, int kvRows);
    void prefixRows(String name, float[] kAll, float[] vAll, int allOff, float[] k, float[] v, int kvOff, float[] table, int layer, int width, int batch, int P, int T, int kvDim);
    void prefixRowsBackward(String name, float[] dk, float[] dv, float[] dkAll, float[] dvAll, int batch, int P, int T, int kvDim);
    void prefixTableBackward(String name, float[] dTable, float[] dkAll, float[] dvAll, int layer, int width, int batch, int P, int T, int kvDim);
    void swiglu(String name, float[] out, int outOff, float[] gate, int gateOff, float[] up, int upOff, int n);
    void swigluBackward(String name, float[] dGate, float[] dUp, float[] dOut, float[] gate, int gateOff, float[] up, int upOff, int n);
    void residual(String name, float[] x, int xOff, float[] delta, int n);
    void scale(String name, float[] out, float[] x, float s, int n);
    void addScaled(String name, float[] y, int yOff, float[] x, float s, int n);
    void copy(String name, float[] out, int outOff, float[] x, int xOff, int n);
    void zero(String name, float[] x, int n);
    void zeroIf(String name, float[] x, float[] flag, int n);
    void biasTanh(String name, float[] x, float[] b, int bOff, int rows, int cols);
    void addBias(String name, float[] x, float[] b, int bOff, int rows, int cols);
    void biasBackward(String name, float[] db, int dbOff, float[] dy, int rows, int cols);
    void tanhBackward(String name, float[] d, float[] y, int n);
    void sumOfSquares(String name, float[] partial, int pOff, float[] x, int n, int parts);
    void crossEntropy(String name, float[] logits, int[] targets, float[] weights, float[] losses, float[] scale, int rows, int vocab);
    void adamW(String name, float[] w, float[] grad, float[] m, float[] v, float[] hyper, int n);
    void adapterAttention(String name, float[] out, int outOff, float[] q, int qOff, float[] kp, int kpOff, float[] vp, int vpOff, float[] probs, int pOff, float[] mixed, int mOff, float[] gate, int gOff, int n, int nHeads, int nKv, int hd, int len);
    void adapterBackwardQuery(String name, float[] dq, float[] ds, float[] dOut, float[] kp, int kpOff, float[] vp, int vpOff, float[] probs, int pOff, float[] gate, int gOff, int n, int nHeads, int nKv, int hd, int len);
    void adapterBackwardKeyValue(String name, float[] dKp, float[] dVp, float[] ds, float[] dOut, float[] q, int qOff, float[] probs, int pOff, float[] gate, int gOff, int n, int nHeads, int nKv, int hd, int len);
    void adapterBackwardGate(String name, float[] dGate, int gOff, float[] dOut, float[] mixed, int mOff, int n, int nHeads, int hd);

    /** Ops that run now, as plain Java. */
    static Ops java() {
        return new Ops() {
            public void embedding(String name, float[] out, float[] table, int[] tokens, int n, int dim) {
                TaskKernels.embedding(out, table, tokens, n, dim);
            }
            public void matmul(String name, float[] y, int yOff, float[] x, int xOff, float[] w, int wOff, int n, int in, int out) {
                TaskKernels.matmul(y, yOff, x, xOff, w, wOff, n, in, out);
            }
            public void matmulBackwardInput(String name, float[] dx, int dxOff, float[] dy, int dyOff, float[] w, int wOff, int n, int in, int out) {
                TaskKernels.matmulBackwardInput(dx, dxOff, dy, dyOff, w, wOff, n, in, out);
            }
            public void matmulBackwardWeight(String name, float[] dw, int dwOff, float[] dy, int dyOff, float[] x, int xOff, int n, int in, int out) {
                TaskKernels.matmulBackwardWeight(dw, dwOff, dy, dyOff, x, xOff, n, in, out);
            }
            public void rmsnorm(String name, float[] out, int outOff, float[] x, int xOff, float[] w, int wOff, float[] rstd, int rstdOff, int n, int dim, float eps) {
                TaskKernels.rmsnorm(out, outOff, x, xOff, w, wOff, rstd, rstdOff, n, dim, eps);
            }
            public void rmsnormBackwardInput(String name, float[] dx, float[] dOut, float[] x, int xOff, float[] w, int wOff, float[] rstd, int rstdOff, int n, int dim) {
                TaskKernels.rmsnormBackwardInput(dx, dOut, x, xOff, w, wOff, rstd, rstdOff, n, dim);
            }
            public void rope(String name, float[] x, int xOff, float[] cos, float[] sin, int n, int heads, int hd, int pos0, int period) {
                TaskKernels.rope(x, xOff, cos, sin, n, heads, hd, pos0, period);
            }
            public void ropeBackward(String name, float[] dx, float[] cos, float[] sin, int n, int heads, int hd, int pos0, int period) {
                TaskKernels.ropeBackward(dx, cos, sin, n, heads, hd, pos0, period);
            }
            public void attention(String name, float[] out, int outOff, float[] q, int qOff, float[] k, int kOff, float[] v, int vOff, float[] att, int attOff, int batch, int nHeads, int nKv, int hd, int T, int p0, int kvRows) {
                TaskKernels.attention(out, outOff, q, qOff, k, kOff, v, vOff, att, attOff, batch, nHeads, nKv, hd, T, p0, kvRows, kvRows);
            }
            public void attentionBackwardQuery(String name, float[] dq, float[] dScores, float[] dOut, float[] k, int kOff, float[] v, int vOff, float[] att, int attOff, int batch, int nHeads, int nKv, int hd, int T, int p0, int kvRows) {
                TaskKernels.attentionBackwardQuery(dq, dScores, dOut, k, kOff, v, vOff, att, attOff, batch, nHeads, nKv, hd, T, p0, kvRows, kvRows);
            }
            public void attentionBackwardKeyValue(String name, float[] dk, float[] dv, float[] dScores, float[] dOut, float[] q, int qOff, float[] att, int attOff, int batch, int nHeads, int nKv, int hd, int T, int p0, int kvRows) {
                TaskKernels.attentionBackwardKeyValue(dk, dv, dScores, dOut, q, qOff, att, attOff, batch, nHeads, nKv, hd, T, p0, kvRows, kvRows);
            }
            public void prefixRows(String name, float[] kAll, float[] vAll, int allOff, float[] k, float[] v, int kvOff, float[] table, int layer, int width, int batch, int P, int T, int kvDim) {
                TaskKernels.prefixRows(kAll, vAll, allOff, k, v, kvOff, table, layer, width, batch, P, T, kvDim);
            }
            public void prefixRowsBackward(String name, float[] dk, float[] dv, float[] dkAll, float[] dvAll, int batch, int P, int T, int kvDim) {
                TaskKernels.prefixRowsBackward(dk, dv, dkAll, dvAll, batch, P, T, kvDim);
            }
            public void prefixTableBackward(String name, float[] dTable, float[] dkAll, float[] dvAll, int layer, int width, int batch, int P, int T, int kvDim) {
                TaskKernels.prefixTableBackward(dTable, dkAll, dvAll, layer, width, batch, P, T, kvDim);
            }
            public void swiglu(String name, float[] out, int outOff, float[] gate, int gateOff, float[] up, int upOff, int n) {
                TaskKernels.swiglu(out, outOff, gate, gateOff, up, upOff, n);
            }
            public void swigluBackward(String name, float[] dGate, float[] dUp, float[] dOut, float[] gate, int gateOff, float[] up, int upOff, int n) {
                TaskKernels.swigluBackward(dGate, dUp, dOut, gate, gateOff, up, upOff, n);
            }
            public void residual(String name, float[] x, int xOff, float[] delta, int n) {
                TaskKernels.residual(x, xOff, delta, n);
            }
            public void scale(String name, float[] out, float[] x, float s, int n) {
                TaskKernels.scale(out, x, s, n);
            }
            public void addScaled(String name, float[] y, int yOff, float[] x, float s, int n) {
                TaskKernels.addScaled(y, yOff, x, s, n);
            }
            public void copy(String name, float[] out, int outOff, float[] x, int xOff, int n) {
                TaskKernels.copy(out, outOff, x, xOff, n);
            }
            public void zero(String name, float[] x, int n) {
                TaskKernels.zero(x, n);
            }
            public void zeroIf(String name, float[] x, float[] flag, int n) {
                TaskKernels.zeroIf(x, flag, n);
            }
            public void biasTanh(String name, float[] x, float[] b, int bOff, int rows, int cols) {
                TaskKernels.biasTanh(x, b, bOff, rows, cols);
            }
            public void addBias(String name, float[] x, float[] b, int bOff, int rows, int cols) {
                TaskKernels.addBias(x, b, bOff, rows, cols);
            }
            public void biasBackward(String name, float[] db, int dbOff, float[] dy, int rows, int cols) {
                TaskKernels.biasBackward(db, dbOff, dy, rows, cols);
            }
            public void tanhBackward(String name, float[] d, float[] y, int n) {
                TaskKernels.tanhBackward(d, y, n);
            }
            public void sumOfSquares(String name, float[] partial, int pOff, float[] x, int n, int parts) {
                TaskKernels.sumOfSquares(partial, pOff, x, n, parts);
            }
            public void crossEntropy(String name, float[] logits, int[] targets, float[] weights, float[] losses, float[] scale, int rows, int vocab) {
                TaskKernels.crossEntropy(logits, targets, weights, losses, scale, rows, vocab);
            }
            public void adamW(String name, float[] w, float[] grad, float[] m, float[] v, float[] hyper, int n) {
                TaskKernels.adamW(w, grad, m, v, hyper, n);
            }
            public void adapterAttention(String name, float[] out, int outOff, float[] q, int qOff, float[] kp, int kpOff, float[] vp, int vpOff, float[] probs, int pOff, float[] mixed, int mOff, float[] gate, int gOff, int n, int nHeads, int nKv, int hd, int len) {
                TaskKernels.adapterAttention(out, outOff, q, qOff, kp, kpOff, vp, vpOff, probs, pOff, mixed, mOff, gate, gOff, n, nHeads, nKv, hd, len);
            }
            public void adapterBackwardQuery(String name, float[] dq, float[] ds, float[] dOut, float[] kp, int kpOff, float[] vp, int vpOff, float[] probs, int pOff, float[] gate, int gOff, int n, int nHeads, int nKv, int hd, int len) {
                TaskKernels.adapterBackwardQuery(dq, ds, dOut, kp, kpOff, vp, vpOff, probs, pOff, gate, gOff, n, nHeads, nKv, hd, len);
            }
            public void adapterBackwardKeyValue(String name, float[] dKp, float[] dVp, float[] ds, float[] dOut, float[] q, int qOff, float[] probs, int pOff, float[] gate, int gOff, int n, int nHeads, int nKv, int hd, int len) {
                TaskKernels.adapterBackwardKeyValue(dKp, dVp, ds, dOut, q, qOff, probs, pOff, gate, gOff, n, nHeads, nKv, hd, len);
            }
            public void adapterBackwardGate(String name, float[] dGate, int gOff, float[] dOut, float[] mixed, int mOff, int n, int nHeads, int hd) {
                TaskKernels.adapterBackwardGate(dGate, gOff, dOut, mixed, mOff, n, nHeads, hd);
            }
        };
    }

    /** A TornadoVM name for a hierarchical one: TornadoVM task and graph names may not contain dots. */
    static String id(String name) {
        return name.replace('.', '_');
    }

    /** Ops recorded as tasks of g (TornadoVM task names may not contain dots, so '.' becomes '_'). */
    static Ops graph(TaskGraph g) {
        return new Ops() {
            public void embedding(String name, float[] out, float[] table, int[] tokens, int n, int dim) {
                g.task(id(name), TaskKernels::embedding, out, table, tokens, n, dim);
            }
            public void matmul(String name, float[] y, int yOff, float[] x, int xOff, float[] w, int wOff, int n, int in, int out) {
                g.task(id(name), TaskKernels::matmul, y, yOff, x, xOff, w, wOff, n, in, out);
            }
            public void matmulBackwardInput(String name, float[] dx, int dxOff, float[] dy, int dyOff, float[] w, int wOff, int n, int in, int out) {
                g.task(id(name), TaskKernels::matmulBackwardInput, dx, dxOff, dy, dyOff, w, wOff, n, in, out);
            }
            public void matmulBackwardWeight(String name, float[] dw, int dwOff, float[] dy, int dyOff, float[] x, int xOff, int n, int in, int out) {
                g.task(id(name), TaskKernels::matmulBackwardWeight, dw, dwOff, dy, dyOff, x, xOff, n, in, out);
            }
            public void rmsnorm(String name, float[] out, int outOff, float[] x, int xOff, float[] w, int wOff, float[] rstd, int rstdOff, int n, int dim, float eps) {
                g.task(id(name), TaskKernels::rmsnorm, out, outOff, x, xOff, w, wOff, rstd, rstdOff, n, dim, eps);
            }
            public void rmsnormBackwardInput(String name, float[] dx, float[] dOut, float[] x, int xOff, float[] w, int wOff, float[] rstd, int rstdOff, int n, int dim) {
                g.task(id(name), TaskKernels::rmsnormBackwardInput, dx, dOut, x, xOff, w, wOff, rstd, rstdOff, n, dim);
            }
            public void rope(String name, float[] x, int xOff, float[] cos, float[] sin, int n, int heads, int hd, int pos0, int period) {
                g.task(id(name), TaskKernels::rope, x, xOff, cos, sin, n, heads, hd, pos0, period);
            }
            public void ropeBackward(String name, float[] dx, float[] cos, float[] sin, int n, int heads, int hd, int pos0, int period) {
                g.task(id(name), TaskKernels::ropeBackward, dx, cos, sin, n, heads, hd, pos0, period);
            }
            public void attention(String name, float[] out, int outOff, float[] q, int qOff, float[] k, int kOff, float[] v, int vOff, float[] att, int attOff, int batch, int nHeads, int nKv, int hd, int T, int p0, int kvRows) {
                g.task(id(name), TaskKernels::attention, out, outOff, q, qOff, k, kOff, v, vOff, att, attOff, batch, nHeads, nKv, hd, T, p0, kvRows, kvRows);
            }
            public void attentionBackwardQuery(String name, float[] dq, float[] dScores, float[] dOut, float[] k, int kOff, float[] v, int vOff, float[] att, int attOff, int batch, int nHeads, int nKv, int hd, int T, int p0, int kvRows) {
                g.task(id(name), TaskKernels::attentionBackwardQuery, dq, dScores, dOut, k, kOff, v, vOff, att, attOff, batch, nHeads, nKv, hd, T, p0, kvRows, kvRows);
            }
            public void attentionBackwardKeyValue(String name, float[] dk, float[] dv, float[] dScores, float[] dOut, float[] q, int qOff, float[] att, int attOff, int batch, int nHeads, int nKv, int hd, int T, int p0, int kvRows) {
                g.task(id(name), TaskKernels::attentionBackwardKeyValue, dk, dv, dScores, dOut, q, qOff, att, attOff, batch, nHeads, nKv, hd, T, p0, kvRows, kvRows);
            }
            public void prefixRows(String name, float[] kAll, float[] vAll, int allOff, float[] k, float[] v, int kvOff, float[] table, int layer, int width, int batch, int P, int T, int kvDim) {
                g.task(id(name), TaskKernels::prefixRows, kAll, vAll, allOff, k, v, kvOff, table, layer, width, batch, P, T, kvDim);
            }
            public void prefixRowsBackward(String name, float[] dk, float[] dv, float[] dkAll, float[] dvAll, int batch, int P, int T, int kvDim) {
                g.task(id(name), TaskKernels::prefixRowsBackward, dk, dv, dkAll, dvAll, batch, P, T, kvDim);
            }
            public void prefixTableBackward(String name, float[] dTable, float[] dkAll, float[] dvAll, int layer, int width, int batch, int P, int T, int kvDim) {
                g.task(id(name), TaskKernels::prefixTableBackward, dTable, dkAll, dvAll, layer, width, batch, P, T, kvDim);
            }
            public void swiglu(String name, float[] out, int outOff, float[] gate, int gateOff, float[] up, int upOff, int n) {
                g.task(id(name), TaskKernels::swiglu, out, outOff, gate, gateOff, up, upOff, n);
            }
            public void swigluBackward(String name, float[] dGate, float[] dUp, float[] dOut, float[] gate, int gateOff, float[] up, int upOff, int n) {
                g.task(id(name), TaskKernels::swigluBackward, dGate, dUp, dOut, gate, gateOff, up, upOff, n);
            }
            public void residual(String name, float[] x, int xOff, float[] delta, int n) {
                g.task(id(name), TaskKernels::residual, x, xOff, delta, n);
            }
            public void scale(String name, float[] out, float[] x, float s, int n) {
                g.task(id(name), TaskKernels::scale, out, x, s, n);
            }
            public void addScaled(String name, float[] y, int yOff, float[] x, float s, int n) {
                g.task(id(name), TaskKernels::addScaled, y, yOff, x, s, n);
            }
            public void copy(String name, float[] out, int outOff, float[] x, int xOff, int n) {
                g.task(id(name), TaskKernels::copy, out, outOff, x, xOff, n);
            }
            public void zero(String name, float[] x, int n) {
                g.task(id(name), TaskKernels::zero, x, n);
            }
            public void zeroIf(String name, float[] x, float[] flag, int n) {
                g.task(id(name), TaskKernels::zeroIf, x, flag, n);
            }
            public void biasTanh(String name, float[] x, float[] b, int bOff, int rows, int cols) {
                g.task(id(name), TaskKernels::biasTanh, x, b, bOff, rows, cols);
            }
            public void addBias(String name, float[] x, float[] b, int bOff, int rows, int cols) {
                g.task(id(name), TaskKernels::addBias, x, b, bOff, rows, cols);
            }
            public void biasBackward(String name, float[] db, int dbOff, float[] dy, int rows, int cols) {
                g.task(id(name), TaskKernels::biasBackward, db, dbOff, dy, rows, cols);
            }
            public void tanhBackward(String name, float[] d, float[] y, int n) {
                g.task(id(name), TaskKernels::tanhBackward, d, y, n);
            }
            public void sumOfSquares(String name, float[] partial, int pOff, float[] x, int n, int parts) {
                g.task(id(name), TaskKernels::sumOfSquares, partial, pOff, x, n, parts);
            }
            public void crossEntropy(String name, float[] logits, int[] targets, float[] weights, float[] losses, float[] scale, int rows, int vocab) {
                g.task(id(name), TaskKernels::crossEntropy, logits, targets, weights, losses, scale, rows, vocab);
            }
            public void adamW(String name, float[] w, float[] grad, float[] m, float[] v, float[] hyper, int n) {
                g.task(id(name), TaskKernels::adamW, w, grad, m, v, hyper, n);
            }
            public void adapterAttention(String name, float[] out, int outOff, float[] q, int qOff, float[] kp, int kpOff, float[] vp, int vpOff, float[] probs, int pOff, float[] mixed, int mOff, float[] gate, int gOff, int n, int nHeads, int nKv, int hd, int len) {
                g.task(id(name), TaskKernels::adapterAttention, out, outOff, q, qOff, kp, kpOff, vp, vpOff, probs, pOff, mixed, mOff, gate, gOff, n, nHeads, nKv, hd, len);
            }
            public void adapterBackwardQuery(String name, float[] dq, float[] ds, float[] dOut, float[] kp, int kpOff, float[] vp, int vpOff, float[] probs, int pOff, float[] gate, int gOff, int n, int nHeads, int nKv, int hd, int len) {
                g.task(id(name), TaskKernels::adapterBackwardQuery, dq, ds, dOut, kp, kpOff, vp, vpOff, probs, pOff, gate, gOff, n, nHeads, nKv, hd, len);
            }
            public void adapterBackwardKeyValue(String name, float[] dKp, float[] dVp, float[] ds, float[] dOut, float[] q, int qOff, float[] probs, int pOff, float[] gate, int gOff, int n, int nHeads, int nKv, int hd, int len) {
                g.task(id(name), TaskKernels::adapterBackwardKeyValue, dKp, dVp, ds, dOut, q, qOff, probs, pOff, gate, gOff, n, nHeads, nKv, hd, len);
            }
            public void adapterBackwardGate(String name, float[] dGate, int gOff, float[] dOut, float[] mixed, int mOff, int n, int nHeads, int hd) {
                g.task(id(name), TaskKernels::adapterBackwardGate, dGate, gOff, dOut, mixed, mOff, n, nHeads, hd);
            }
        };
    }
}
