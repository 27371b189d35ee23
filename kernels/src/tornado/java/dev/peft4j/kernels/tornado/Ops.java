package dev.peft4j.kernels.tornado;

import uk.ac.manchester.tornado.api.TaskGraph;

/**
 * The ops a training step is written against, each with a hierarchical task name
 * ({@code layer_3.q.lora.fwd}). {@link #graph} records them as tasks of a TornadoVM TaskGraph;
 * {@link #java} runs the same task methods at once as plain Java, which is how the device result
 * is checked against the CPU.
 */
public interface Ops {
    void embedding(String name, float[] out, float[] table, int[] tokens, int n, int dim);
    void matmul(String name, float[] y, float[] x, float[] w, int n, int in, int out);
    void matmulBackwardInput(String name, float[] dx, float[] dy, float[] w, int n, int in, int out);
    void matmulBackwardWeight(String name, float[] dw, float[] dy, float[] x, int n, int in, int out);
    void rmsnorm(String name, float[] out, float[] x, float[] w, float[] rstd, int n, int dim, float eps);
    void rmsnormBackwardInput(String name, float[] dx, float[] dOut, float[] x, float[] w, float[] rstd, int n, int dim);
    void rope(String name, float[] x, float[] cos, float[] sin, int n, int heads, int hd, int period);
    void ropeBackward(String name, float[] dx, float[] cos, float[] sin, int n, int heads, int hd, int period);
    void attention(String name, float[] out, float[] q, float[] k, float[] v, float[] att, int batch, int nHeads, int nKv, int hd, int T);
    void attentionBackwardQuery(String name, float[] dq, float[] dScores, float[] dOut, float[] k, float[] v, float[] att,
                                int batch, int nHeads, int nKv, int hd, int T);
    void attentionBackwardKeyValue(String name, float[] dk, float[] dv, float[] dScores, float[] dOut, float[] q, float[] att,
                                   int batch, int nHeads, int nKv, int hd, int T);
    void swiglu(String name, float[] out, float[] gate, float[] up, int n);
    void swigluBackward(String name, float[] dGate, float[] dUp, float[] dOut, float[] gate, float[] up, int n);
    void residual(String name, float[] x, float[] delta, int n);
    void scale(String name, float[] out, float[] x, float s, int n);
    void addScaled(String name, float[] y, float[] x, float s, int n);
    void copy(String name, float[] out, float[] x, int n);
    void zero(String name, float[] x, int n);
    void crossEntropy(String name, float[] logits, int[] targets, float[] weights, float[] losses, float[] scale, int rows, int vocab);
    void adamW(String name, float[] w, float[] g, float[] m, float[] v, float[] hyper, int n);

    /** Ops that run now, as plain Java. */
    static Ops java() {
        return new Ops() {
            public void embedding(String s, float[] o, float[] t, int[] tok, int n, int d) { TaskKernels.embedding(o, t, tok, n, d); }
            public void matmul(String s, float[] y, float[] x, float[] w, int n, int i, int o) { TaskKernels.matmul(y, x, w, n, i, o); }
            public void matmulBackwardInput(String s, float[] dx, float[] dy, float[] w, int n, int i, int o) { TaskKernels.matmulBackwardInput(dx, dy, w, n, i, o); }
            public void matmulBackwardWeight(String s, float[] dw, float[] dy, float[] x, int n, int i, int o) { TaskKernels.matmulBackwardWeight(dw, dy, x, n, i, o); }
            public void rmsnorm(String s, float[] o, float[] x, float[] w, float[] r, int n, int d, float e) { TaskKernels.rmsnorm(o, x, w, r, n, d, e); }
            public void rmsnormBackwardInput(String s, float[] dx, float[] dO, float[] x, float[] w, float[] r, int n, int d) { TaskKernels.rmsnormBackwardInput(dx, dO, x, w, r, n, d); }
            public void rope(String s, float[] x, float[] c, float[] sn, int n, int h, int hd, int p) { TaskKernels.rope(x, c, sn, n, h, hd, 0, p); }
            public void ropeBackward(String s, float[] dx, float[] c, float[] sn, int n, int h, int hd, int p) { TaskKernels.ropeBackward(dx, c, sn, n, h, hd, 0, p); }
            public void attention(String s, float[] o, float[] q, float[] k, float[] v, float[] a, int b, int h, int kv, int hd, int t) { TaskKernels.attention(o, q, k, v, a, b, h, kv, hd, t, 0, t, t); }
            public void attentionBackwardQuery(String s, float[] dq, float[] ds, float[] dO, float[] k, float[] v, float[] a, int b, int h, int kv, int hd, int t) { TaskKernels.attentionBackwardQuery(dq, ds, dO, k, v, a, b, h, kv, hd, t, 0, t, t); }
            public void attentionBackwardKeyValue(String s, float[] dk, float[] dv, float[] ds, float[] dO, float[] q, float[] a, int b, int h, int kv, int hd, int t) { TaskKernels.attentionBackwardKeyValue(dk, dv, ds, dO, q, a, b, h, kv, hd, t, 0, t, t); }
            public void swiglu(String s, float[] o, float[] g, float[] u, int n) { TaskKernels.swiglu(o, g, u, n); }
            public void swigluBackward(String s, float[] dg, float[] du, float[] dO, float[] g, float[] u, int n) { TaskKernels.swigluBackward(dg, du, dO, g, u, n); }
            public void residual(String s, float[] x, float[] d, int n) { TaskKernels.residual(x, d, n); }
            public void scale(String s, float[] o, float[] x, float f, int n) { TaskKernels.scale(o, x, f, n); }
            public void addScaled(String s, float[] y, float[] x, float f, int n) { TaskKernels.addScaled(y, x, f, n); }
            public void copy(String s, float[] o, float[] x, int n) { TaskKernels.copy(o, x, n); }
            public void zero(String s, float[] x, int n) { TaskKernels.zero(x, n); }
            public void crossEntropy(String s, float[] l, int[] t, float[] w, float[] ls, float[] sc, int r, int v) { TaskKernels.crossEntropy(l, t, w, ls, sc, r, v); }
            public void adamW(String s, float[] w, float[] g, float[] m, float[] v, float[] h, int n) { TaskKernels.adamW(w, g, m, v, h, n); }
        };
    }

    /** A TornadoVM name for a hierarchical one: TornadoVM task and graph names may not contain dots. */
    static String id(String name) {
        return name.replace('.', '_');
    }

    /** Ops recorded as tasks of g (TornadoVM task names may not contain dots, so '.' becomes '_'). */
    static Ops graph(TaskGraph g) {
        return new Ops() {
            public void embedding(String s, float[] o, float[] t, int[] tok, int n, int d) { g.task(id(s), TaskKernels::embedding, o, t, tok, n, d); }
            public void matmul(String s, float[] y, float[] x, float[] w, int n, int i, int o) { g.task(id(s), TaskKernels::matmul, y, x, w, n, i, o); }
            public void matmulBackwardInput(String s, float[] dx, float[] dy, float[] w, int n, int i, int o) { g.task(id(s), TaskKernels::matmulBackwardInput, dx, dy, w, n, i, o); }
            public void matmulBackwardWeight(String s, float[] dw, float[] dy, float[] x, int n, int i, int o) { g.task(id(s), TaskKernels::matmulBackwardWeight, dw, dy, x, n, i, o); }
            public void rmsnorm(String s, float[] o, float[] x, float[] w, float[] r, int n, int d, float e) { g.task(id(s), TaskKernels::rmsnorm, o, x, w, r, n, d, e); }
            public void rmsnormBackwardInput(String s, float[] dx, float[] dO, float[] x, float[] w, float[] r, int n, int d) { g.task(id(s), TaskKernels::rmsnormBackwardInput, dx, dO, x, w, r, n, d); }
            public void rope(String s, float[] x, float[] c, float[] sn, int n, int h, int hd, int p) { g.task(id(s), TaskKernels::rope, x, c, sn, n, h, hd, 0, p); }
            public void ropeBackward(String s, float[] dx, float[] c, float[] sn, int n, int h, int hd, int p) { g.task(id(s), TaskKernels::ropeBackward, dx, c, sn, n, h, hd, 0, p); }
            public void attention(String s, float[] o, float[] q, float[] k, float[] v, float[] a, int b, int h, int kv, int hd, int t) { g.task(id(s), TaskKernels::attention, o, q, k, v, a, b, h, kv, hd, t, 0, t, t); }
            public void attentionBackwardQuery(String s, float[] dq, float[] ds, float[] dO, float[] k, float[] v, float[] a, int b, int h, int kv, int hd, int t) { g.task(id(s), TaskKernels::attentionBackwardQuery, dq, ds, dO, k, v, a, b, h, kv, hd, t, 0, t, t); }
            public void attentionBackwardKeyValue(String s, float[] dk, float[] dv, float[] ds, float[] dO, float[] q, float[] a, int b, int h, int kv, int hd, int t) { g.task(id(s), TaskKernels::attentionBackwardKeyValue, dk, dv, ds, dO, q, a, b, h, kv, hd, t, 0, t, t); }
            public void swiglu(String s, float[] o, float[] gt, float[] u, int n) { g.task(id(s), TaskKernels::swiglu, o, gt, u, n); }
            public void swigluBackward(String s, float[] dg, float[] du, float[] dO, float[] gt, float[] u, int n) { g.task(id(s), TaskKernels::swigluBackward, dg, du, dO, gt, u, n); }
            public void residual(String s, float[] x, float[] d, int n) { g.task(id(s), TaskKernels::residual, x, d, n); }
            public void scale(String s, float[] o, float[] x, float f, int n) { g.task(id(s), TaskKernels::scale, o, x, f, n); }
            public void addScaled(String s, float[] y, float[] x, float f, int n) { g.task(id(s), TaskKernels::addScaled, y, x, f, n); }
            public void copy(String s, float[] o, float[] x, int n) { g.task(id(s), TaskKernels::copy, o, x, n); }
            public void zero(String s, float[] x, int n) { g.task(id(s), TaskKernels::zero, x, n); }
            public void crossEntropy(String s, float[] l, int[] t, float[] w, float[] ls, float[] sc, int r, int v) { g.task(id(s), TaskKernels::crossEntropy, l, t, w, ls, sc, r, v); }
            public void adamW(String s, float[] w, float[] gr, float[] m, float[] v, float[] h, int n) { g.task(id(s), TaskKernels::adamW, w, gr, m, v, h, n); }
        };
    }
}
