package dev.peft4j.kernels.tornado;

import static dev.peft4j.kernels.tornado.DeviceCheck.check;
import static dev.peft4j.kernels.tornado.DeviceCheck.of;
import static dev.peft4j.kernels.tornado.DeviceCheck.random;
import static dev.peft4j.kernels.tornado.DeviceCheck.run;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.peft4j.kernels.Rope;
import dev.peft4j.kernels.reference.Reference;
import dev.peft4j.kernels.reference.ReferenceBackward;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import uk.ac.manchester.tornado.api.TaskGraph;
import uk.ac.manchester.tornado.api.TornadoExecutionPlan;
import uk.ac.manchester.tornado.api.enums.DataTransferMode;

/**
 * Every task kernel, compiled by TornadoVM and run on its device, against the plain references
 * (double accumulators). Shapes are small and odd so that no size lines up with a work group.
 */
class TaskKernelsDeviceTest {
    private static final double TOL = 2e-5;
    private final SplittableRandom rnd = new SplittableRandom(7);

    @BeforeAll
    static void deviceIsThere() {
        assertTrue(TornadoBackend.unavailableReason().isEmpty(), TornadoBackend.unavailableReason().orElse(""));
        System.out.println("TornadoVM device: " + TornadoBackend.describe(TornadoBackend.device(TornadoBackend.deviceIndexFromProperty())));
    }

    @Test
    void embedding() {
        int vocab = 11, n = 6, dim = 5;
        float[] table = random(rnd, vocab * dim, 1), out = new float[n * dim], expected = new float[n * dim];
        int[] tokens = {3, 0, 10, 3, 7, 1};
        run("embedding", of(table, tokens), of(out), g -> g.task("fwd", TaskKernels::embedding, out, table, tokens, n, dim));
        Reference.embedding(expected, table, tokens, n, dim);
        check("embedding.fwd", out, expected, 0);
    }

    @Test
    void matmulForwardAndBackward() {
        int n = 5, in = 13, out = 9;
        float[] x = random(rnd, n * in, 1), w = random(rnd, out * in, 0.5), dy = random(rnd, n * out, 1);
        float[] y = new float[n * out], dx = random(rnd, n * in, 0.1), dw = random(rnd, out * in, 0.1);
        float[] eY = new float[n * out], eDx = dx.clone(), eDw = dw.clone();
        run("matmul", of(x, w, dy, dx, dw), of(y, dx, dw), g -> g
                .task("fwd", TaskKernels::matmul, y, 0, x, 0, w, 0, n, in, out)
                .task("bwd_x", TaskKernels::matmulBackwardInput, dx, 0, dy, 0, w, 0, n, in, out)
                .task("bwd_w", TaskKernels::matmulBackwardWeight, dw, 0, dy, 0, x, 0, n, in, out));
        Reference.matmul(eY, x, w, n, in, out);
        Reference.matmulBackwardInput(eDx, dy, w, n, in, out);
        Reference.matmulBackwardWeight(eDw, dy, x, n, in, out);
        check("matmul.fwd", y, eY, TOL);
        check("matmul.bwd_x", dx, eDx, TOL);
        check("matmul.bwd_w", dw, eDw, TOL);
    }

    @Test
    void rmsnormForwardAndBackward() {
        int n = 4, dim = 19;
        float eps = 1e-5f;
        float[] x = random(rnd, n * dim, 2), w = random(rnd, dim, 1), dOut = random(rnd, n * dim, 1);
        float[] out = new float[n * dim], rstd = new float[n], dx = new float[n * dim], dw = new float[dim];
        run("rmsnorm", of(x, w, dOut, rstd, dx, dw), of(out, dx, dw), g -> g
                .task("fwd", TaskKernels::rmsnorm, out, 0, x, 0, w, 0, rstd, 0, n, dim, eps)
                .task("bwd_x", TaskKernels::rmsnormBackwardInput, dx, dOut, x, 0, w, 0, rstd, 0, n, dim)
                .task("bwd_w", TaskKernels::rmsnormBackwardWeight, dw, dOut, x, rstd, n, dim));
        float[] eOut = new float[n * dim], eDx = new float[n * dim], eDw = new float[dim];
        Reference.rmsnorm(eOut, x, w, n, dim, eps);
        ReferenceBackward.rmsnorm(eDx, eDw, dOut, x, w, n, dim, eps);
        check("rmsnorm.fwd", out, eOut, TOL);
        check("rmsnorm.bwd_x", dx, eDx, TOL);
        check("rmsnorm.bwd_w", dw, eDw, TOL);
    }

    @Test
    void ropeForwardAndBackward() {
        int T = 3, batch = 2, n = T * batch, heads = 2, hd = 8, half = hd / 2;
        double[] invFreq = new double[half];
        for (int j = 0; j < half; j++) invFreq[j] = Math.pow(10000, -2.0 * j / hd);
        float[] cos = new float[T * half], sin = new float[T * half];
        Rope.tables(cos, sin, invFreq, T);
        float[] x = random(rnd, n * heads * hd, 1), dx = random(rnd, n * heads * hd, 1);
        float[] eX = x.clone(), eDx = dx.clone();
        run("rope", of(x, dx, cos, sin), of(x, dx), g -> g
                .task("fwd", TaskKernels::rope, x, 0, cos, sin, n, heads, hd, 0, T)
                .task("bwd", TaskKernels::ropeBackward, dx, cos, sin, n, heads, hd, 0, T));
        int[] positions = new int[n];
        for (int i = 0; i < n; i++) positions[i] = i % T;
        Reference.rope(eX, n, heads, hd, positions, invFreq);
        ReferenceBackward.rope(eDx, n, heads, hd, positions, invFreq);
        check("rope.fwd", x, eX, TOL);
        check("rope.bwd", dx, eDx, TOL);
    }

    @Test
    void attentionForwardAndBackward() {
        int batch = 2, T = 5, nHeads = 4, nKv = 2, hd = 8, qDim = nHeads * hd, kvDim = nKv * hd;
        float[] q = random(rnd, batch * T * qDim, 1), k = random(rnd, batch * T * kvDim, 1), v = random(rnd, batch * T * kvDim, 1);
        float[] dOut = random(rnd, batch * T * qDim, 1);
        float[] out = new float[batch * T * qDim], att = new float[batch * nHeads * T * T], dScores = new float[att.length];
        float[] dq = new float[q.length], dk = new float[k.length], dv = new float[v.length];
        run("attention", of(q, k, v, dOut, att, dScores, dq, dk, dv), of(out, dq, dk, dv), g -> g
                .task("fwd", TaskKernels::attention, out, 0, q, 0, k, 0, v, 0, att, 0, batch, nHeads, nKv, hd, T, 0, T, T)
                .task("bwd_q", TaskKernels::attentionBackwardQuery, dq, dScores, dOut, k, 0, v, 0, att, 0, batch, nHeads, nKv, hd, T, 0, T, T)
                .task("bwd_kv", TaskKernels::attentionBackwardKeyValue, dk, dv, dScores, dOut, q, 0, att, 0, batch, nHeads, nKv, hd, T, 0, T, T));
        float[] eOut = new float[out.length], eDq = new float[dq.length], eDk = new float[dk.length], eDv = new float[dv.length];
        for (int b = 0; b < batch; b++) {
            int qs = b * T * qDim, ks = b * T * kvDim;
            float[] qb = Arrays.copyOfRange(q, qs, qs + T * qDim), kb = Arrays.copyOfRange(k, ks, ks + T * kvDim);
            float[] vb = Arrays.copyOfRange(v, ks, ks + T * kvDim), dOb = Arrays.copyOfRange(dOut, qs, qs + T * qDim);
            float[] ob = new float[T * qDim], dqb = new float[T * qDim], dkb = new float[T * kvDim], dvb = new float[T * kvDim];
            Reference.attention(ob, qb, kb, vb, T, 0, nHeads, nKv, hd);
            ReferenceBackward.attention(dqb, dkb, dvb, dOb, qb, kb, vb, T, 0, nHeads, nKv, hd);
            System.arraycopy(ob, 0, eOut, qs, ob.length);
            System.arraycopy(dqb, 0, eDq, qs, dqb.length);
            System.arraycopy(dkb, 0, eDk, ks, dkb.length);
            System.arraycopy(dvb, 0, eDv, ks, dvb.length);
        }
        check("attention.fwd", out, eOut, TOL);
        check("attention.bwd_q", dq, eDq, TOL);
        check("attention.bwd_k", dk, eDk, TOL);
        check("attention.bwd_v", dv, eDv, TOL);
    }

    @Test
    void swigluForwardAndBackwardAndResidual() {
        int n = 37;
        float[] gate = random(rnd, n, 4), up = random(rnd, n, 2), dOut = random(rnd, n, 1);
        float[] out = new float[n], dGate = new float[n], dUp = new float[n], x = random(rnd, n, 1);
        float[] eX = x.clone();
        run("swiglu", of(gate, up, dOut, dGate, dUp, x), of(out, dGate, dUp, x), g -> g
                .task("fwd", TaskKernels::swiglu, out, 0, gate, 0, up, 0, n)
                .task("bwd", TaskKernels::swigluBackward, dGate, dUp, dOut, gate, 0, up, 0, n)
                .task("residual", TaskKernels::residual, x, 0, dOut, n));
        float[] eOut = new float[n], eDg = new float[n], eDu = new float[n];
        Reference.swiglu(eOut, gate, up, n);
        ReferenceBackward.swiglu(eDg, eDu, dOut, gate, up, n);
        for (int i = 0; i < n; i++) eX[i] += dOut[i];
        check("swiglu.fwd", out, eOut, TOL);
        check("swiglu.bwd_gate", dGate, eDg, TOL);
        check("swiglu.bwd_up", dUp, eDu, TOL);
        check("residual", x, eX, 0);
    }

    @Test
    void crossEntropyLossAndGradient() {
        int rows = 4, vocab = 53;
        float[] logits = random(rnd, rows * vocab, 5), weights = {1, 0, 1, 1}, losses = new float[rows];
        int[] targets = {0, 17, 52, 9};
        float[] scale = {1f / 3};
        float[] expectedGrad = new float[logits.length], expectedLoss = new float[rows];
        ReferenceBackward.crossEntropy(expectedGrad, expectedLoss, logits, targets, weights, rows, vocab, scale[0]);
        run("cross_entropy", of(logits, targets, weights, scale), of(logits, losses), g -> g
                .task("fwd_bwd", TaskKernels::crossEntropy, logits, targets, weights, losses, scale, rows, vocab));
        check("cross_entropy.loss", losses, expectedLoss, TOL);
        check("cross_entropy.grad", logits, expectedGrad, TOL);
    }

    /** The gradient norm's device pass (chunks of uneven length: 1000 over 64 parts) and the flagged clearing of gradients. */
    @Test
    void sumOfSquaresByChunksAndClearingByFlag() {
        int n = 1000, parts = 64;
        float[] x = random(rnd, n, 1), partial = new float[2 + parts];
        run("grad_norm", of(x, partial), of(partial), g -> g.task("sum_of_squares", TaskKernels::sumOfSquares, partial, 2, x, n, parts));
        // only the parts from the offset: TornadoVM copies an array the task only writes back, not in, so
        // partial [0..2) holds whatever the device memory held
        double total = 0, expected = 0;
        for (int p = 2; p < partial.length; p++) total += partial[p];
        for (float v : x) expected += (double) v * v;
        check("sum_of_squares", new float[]{(float) total}, new float[]{(float) expected}, 1e-6);

        float[] keep = x.clone(), clear = x.clone(), no = {0f}, yes = {1f};
        run("zero_if", of(keep, clear, no, yes), of(keep, clear), g -> g
                .task("keep", TaskKernels::zeroIf, keep, no, n)
                .task("clear", TaskKernels::zeroIf, clear, yes, n));
        check("zero_if.flag_0", keep, x, 0);
        check("zero_if.flag_1", clear, new float[n], 0);
    }

    /** The prefix reparameterisation's pieces: bias + tanh, bias, a bias's gradient, tanh's backward. */
    @Test
    void biasTanhBiasAndTheirBackward() {
        int rows = 5, cols = 7, off = 3;
        float[] x = random(rnd, rows * cols, 3), b = random(rnd, off + cols, 1), y = x.clone(), z = x.clone();
        float[] dy = random(rnd, rows * cols, 1), db = random(rnd, off + cols, 1), dbIn = db.clone(), d = dy.clone();
        float[] eTanh = new float[rows * cols], eBias = new float[rows * cols], eDb = dbIn.clone(), eD = new float[rows * cols];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                eTanh[i * cols + j] = (float) Math.tanh((double) x[i * cols + j] + b[off + j]);
                eBias[i * cols + j] = x[i * cols + j] + b[off + j];
                eDb[off + j] += dy[i * cols + j];
            }
        }
        run("projection", of(y, z, b, dy, db), of(y, z, db), g -> g
                .task("tanh", TaskKernels::biasTanh, y, b, off, rows, cols)
                .task("bias", TaskKernels::addBias, z, b, off, rows, cols)
                .task("bias_bwd", TaskKernels::biasBackward, db, off, dy, rows, cols));
        check("bias_tanh", y, eTanh, 1e-6);
        check("add_bias", z, eBias, 1e-6);
        check("bias.bwd", db, eDb, 1e-6);
        for (int i = 0; i < d.length; i++) eD[i] = (float) (dy[i] * (1 - (double) eTanh[i] * eTanh[i]));
        run("tanh_bwd", of(d, eTanh), of(d), g -> g.task("tanh_bwd", TaskKernels::tanhBackward, d, eTanh, rows * cols));
        check("tanh.bwd", d, eD, 1e-6);
    }

    /** Two steps through one execution plan: the per-step hyper-parameters travel in their array. */
    @Test
    void adamWTwoStepsThroughOnePlan() throws Exception {
        int n = 29;
        float[] w = random(rnd, n, 1), g = random(rnd, n, 1), m = new float[n], v = new float[n];
        float[] hyper = new float[TaskKernels.HYPER_SIZE];
        double lr = 1e-2, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.01, gradScale = 0.5;
        double[] eW = new double[n], eM = new double[n], eV = new double[n];
        for (int i = 0; i < n; i++) eW[i] = w[i];
        TaskGraph graph = new TaskGraph("adamw")
                .transferToDevice(DataTransferMode.FIRST_EXECUTION, w, m, v)
                .transferToDevice(DataTransferMode.EVERY_EXECUTION, g, hyper)
                .task("step", TaskKernels::adamW, w, g, m, v, hyper, n)
                .transferToHost(DataTransferMode.EVERY_EXECUTION, w);
        try (TornadoExecutionPlan plan = new TornadoExecutionPlan(graph.snapshot())) {
            plan.withDevice(TornadoBackend.device(TornadoBackend.deviceIndexFromProperty()));
            for (int t = 1; t <= 2; t++) {
                hyper[TaskKernels.GRAD_SCALE] = (float) gradScale;
                hyper[TaskKernels.LR] = (float) (lr * t); // a schedule: the rate changes between steps
                hyper[TaskKernels.BETA1] = (float) b1;
                hyper[TaskKernels.BETA2] = (float) b2;
                hyper[TaskKernels.EPS] = (float) eps;
                hyper[TaskKernels.WEIGHT_DECAY] = (float) wd;
                hyper[TaskKernels.BC1] = (float) (1 - Math.pow(b1, t));
                hyper[TaskKernels.BC2] = (float) (1 - Math.pow(b2, t));
                plan.execute();
                ReferenceBackward.adamW(eW, eM, eV, g, t, gradScale, lr * t, b1, b2, eps, wd);
                for (int i = 0; i < n; i++) g[i] = -0.5f * g[i] + 0.1f; // a new gradient for the next step
            }
        }
        float[] expected = new float[n];
        for (int i = 0; i < n; i++) expected[i] = (float) eW[i];
        check("adamw.w(2 steps)", w, expected, 1e-5);
    }
}
