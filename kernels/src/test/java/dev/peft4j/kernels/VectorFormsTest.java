package dev.peft4j.kernels;

import static dev.peft4j.kernels.TensorCheck.check;
import static dev.peft4j.kernels.TensorCheck.random;
import static dev.peft4j.kernels.TensorCheck.sameForEverySplit;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.peft4j.kernels.reference.Reference;
import dev.peft4j.kernels.reference.ReferenceBackward;
import java.util.SplittableRandom;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/** The Vector API forms of cross-entropy, SwiGLU, RMSNorm and RoPE, and their exp, against the references and plain kernels (every vector width's tail included). */
class VectorFormsTest {
    @Test
    void expIsWithinTwoUlpAndFlushesBelowTheFloatRange() {
        int L = FloatVector.SPECIES_PREFERRED.length();
        double worst = 0;
        float[] x = new float[L], e = new float[L];
        for (float v = -87f; v < 87.9f; v += 0.0137f) {
            for (int i = 0; i < L; i++) x[i] = v + i * 1e-3f;
            VectorMath.exp(FloatVector.fromArray(FloatVector.SPECIES_PREFERRED, x, 0)).intoArray(e, 0);
            for (int i = 0; i < L; i++) {
                double want = Math.exp(x[i]);
                worst = Math.max(worst, Math.abs(e[i] - want) / Math.ulp((float) want));
            }
        }
        System.out.printf("VectorMath.exp on [-87, 87.9): worst error %.2f ulp%n", worst);
        assertTrue(worst <= 2.0, "worst " + worst + " ulp");
        for (int i = 0; i < L; i++) x[i] = -100f - i;
        VectorMath.exp(FloatVector.fromArray(FloatVector.SPECIES_PREFERRED, x, 0)).intoArray(e, 0);
        for (float v : e) assertEquals(0f, v);
    }

    @ParameterizedTest
    @ValueSource(ints = {11, 64, 1000, 32003})
    void crossEntropyMatchesReference(int vocab) {
        int rows = 5;
        int[] targets = {3, 0, vocab - 1, 7, 2};
        float[] weights = {1f, 0f, 0.5f, 1f, 2f};
        float scale = 1f / 4.5f;
        float[] logits = random(new SplittableRandom(vocab), rows * vocab, 4.0);
        float[][] got = sameForEverySplit("cross-entropy cpu V=" + vocab, rows, pieces -> {
            float[] g = logits.clone(), losses = new float[rows];
            for (int[] p : pieces) CrossEntropyCpu.forwardBackward(g, targets, weights, 0, losses, vocab, scale, p[0], p[1]);
            return new float[][] {g, losses};
        });
        float[] want = new float[rows * vocab], losses = new float[rows];
        ReferenceBackward.crossEntropy(want, losses, logits, targets, weights, rows, vocab, scale);
        check("cross-entropy cpu losses V=" + vocab, got[1], losses, 1e-6);
        check("cross-entropy cpu dlogits V=" + vocab, got[0], want, 1e-6);
        for (int j = 0; j < vocab; j++) assertEquals(0f, got[0][vocab + j], "masked row, column " + j);
        float[] evalOnly = logits.clone(), l2 = new float[rows];
        CrossEntropyCpu.forwardBackward(evalOnly, targets, weights, 0, l2, vocab, 0f, 0, rows);
        assertArrayEquals(logits, evalOnly, "scale 0 leaves the logits");
        assertArrayEquals(got[1], l2, "losses with scale 0");
    }

    @Test
    void swigluMatchesReference() {
        int n = 77; // not a multiple of any vector width
        SplittableRandom r = new SplittableRandom(6);
        float[] gate = random(r, n, 6.0), up = random(r, n, 1.5), dOut = random(r, n, 1.0), dGate0 = random(r, n, 1.0), dUp0 = random(r, n, 1.0);
        float[] out = sameForEverySplit("swiglu cpu forward", n, pieces -> {
            float[] o = new float[n];
            for (int[] p : pieces) SwiGluCpu.forward(o, 0, gate, 0, up, 0, p[0], p[1]);
            return new float[][] {o};
        })[0];
        float[] want = new float[n];
        Reference.swiglu(want, gate, up, n);
        check("swiglu cpu forward vs reference", out, want, 1e-6);
        float[][] grads = sameForEverySplit("swiglu cpu backward", n, pieces -> {
            float[] dg = dGate0.clone(), du = dUp0.clone();
            for (int[] p : pieces) SwiGluCpu.backward(dg, du, dOut, gate, 0, up, 0, p[0], p[1]);
            return new float[][] {dg, du};
        });
        float[] dg = dGate0.clone(), du = dUp0.clone();
        SwiGlu.backward(dg, du, dOut, gate, up, 0, n); // the plain kernel, itself checked against finite differences
        check("swiglu cpu dgate vs plain", grads[0], dg, 1e-6);
        check("swiglu cpu dup vs plain", grads[1], du, 1e-6);
    }

    @ParameterizedTest
    @ValueSource(ints = {5, 16, 48, 288, 301})
    void rmsNormMatchesThePlainKernel(int dim) {
        int n = 9;
        float eps = 1e-5f;
        SplittableRandom r = new SplittableRandom(dim);
        float[] x = random(r, n * dim, 2.0), delta = random(r, n * dim, 1.0), w = random(r, dim, 1.5), dOut = random(r, n * dim, 1.0);
        float[] dx0 = random(r, n * dim, 1.0), dw0 = random(r, dim, 1.0);
        float[][] got = sameForEverySplit("rmsnorm cpu forward dim " + dim, n, pieces -> {
            float[] o = new float[n * dim], rs = new float[n];
            for (int[] p : pieces) RmsNormCpu.forward(o, x, w, rs, dim, eps, p[0], p[1]);
            return new float[][] {o, rs};
        });
        float[] want = new float[n * dim], wantRstd = new float[n];
        RmsNorm.forward(want, x, w, wantRstd, dim, eps, 0, n); // the plain kernel, itself checked against the reference and finite differences
        check("rmsnorm cpu out vs plain", got[0], want, 1e-6);
        check("rmsnorm cpu rstd vs plain", got[1], wantRstd, 1e-6);
        float[] again = new float[n * dim];
        RmsNormCpu.apply(again, x, w, got[1], dim, 0, n);
        assertArrayEquals(got[0], again, "apply from the saved rstd gives the forward's bits");

        float[] sum = new float[n * dim], fused = new float[n * dim], fusedRstd = new float[n], plainSum = x.clone();
        RmsNormCpu.addForward(sum, x, delta, fused, w, fusedRstd, dim, eps, 0, n);
        Residual.forward(plainSum, delta, 0, n * dim);
        assertArrayEquals(plainSum, sum, "addForward's sum is the residual add");
        float[] sepOut = new float[n * dim], sepRstd = new float[n];
        RmsNormCpu.forward(sepOut, plainSum, w, sepRstd, dim, eps, 0, n);
        assertArrayEquals(sepOut, fused, "addForward's norm is the forward of the sum");
        assertArrayEquals(sepRstd, fusedRstd, "addForward's rstd");

        float[][] dxGot = sameForEverySplit("rmsnorm cpu backwardInput dim " + dim, n, pieces -> {
            float[] dx = dx0.clone();
            for (int[] p : pieces) RmsNormCpu.backwardInput(dx, dOut, x, w, wantRstd, dim, p[0], p[1]);
            return new float[][] {dx};
        });
        float[] dxWant = dx0.clone();
        RmsNorm.backwardInput(dxWant, dOut, x, w, wantRstd, dim, 0, n);
        check("rmsnorm cpu dx vs plain", dxGot[0], dxWant, 1e-5);
        float[][] dwGot = sameForEverySplit("rmsnorm cpu backwardWeight dim " + dim, dim, pieces -> {
            float[] dw = dw0.clone();
            for (int[] p : pieces) RmsNormCpu.backwardWeight(dw, dOut, x, wantRstd, n, dim, p[0], p[1]);
            return new float[][] {dw};
        });
        float[] dwWant = dw0.clone();
        RmsNorm.backwardWeight(dwWant, dOut, x, wantRstd, n, dim, 0, dim);
        check("rmsnorm cpu dw vs plain", dwGot[0], dwWant, 1e-5);
    }

    @ParameterizedTest
    @ValueSource(ints = {2, 6, 48, 64, 70})
    void ropeGivesThePlainKernelsBits(int hd) {
        int n = 7, qHeads = 4, kHeads = 2, pos0 = 3, period = 5, half = hd / 2, maxPos = pos0 + period;
        SplittableRandom r = new SplittableRandom(hd);
        double[] inv = new double[half];
        for (int j = 0; j < half; j++) inv[j] = Math.pow(10000, -2.0 * j / hd);
        float[] cos = new float[maxPos * half], sin = new float[maxPos * half];
        Rope.tables(cos, sin, inv, maxPos);
        float[] q = random(r, n * qHeads * hd, 1.0), k = random(r, n * kHeads * hd, 1.0);
        for (boolean inverse : new boolean[] {false, true}) {
            float[][] got = sameForEverySplit("rope cpu hd " + hd + (inverse ? " backward" : " forward"), n, pieces -> {
                float[] a = q.clone(), b = k.clone();
                for (int[] p : pieces) {
                    if (inverse) RopeCpu.backward(a, qHeads, b, kHeads, cos, sin, hd, pos0, period, p[0], p[1]);
                    else RopeCpu.forward(a, qHeads, b, kHeads, cos, sin, hd, pos0, period, p[0], p[1]);
                }
                return new float[][] {a, b};
            });
            float[] a = q.clone(), b = k.clone();
            if (inverse) {
                Rope.backward(a, cos, sin, qHeads, hd, pos0, period, 0, n);
                Rope.backward(b, cos, sin, kHeads, hd, pos0, period, 0, n);
            } else {
                Rope.forward(a, cos, sin, qHeads, hd, pos0, period, 0, n);
                Rope.forward(b, cos, sin, kHeads, hd, pos0, period, 0, n);
            }
            assertArrayEquals(a, got[0], "rotated q");
            assertArrayEquals(b, got[1], "rotated k");
        }
    }
}
