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

/** The Vector API forms of cross-entropy and SwiGLU, and their exp, against the references (every vector width's tail included). */
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
}
