package dev.peft4j.kernels;

import static dev.peft4j.kernels.TensorCheck.check;
import static dev.peft4j.kernels.TensorCheck.dot;
import static dev.peft4j.kernels.TensorCheck.finiteDifferences;
import static dev.peft4j.kernels.TensorCheck.random;
import static dev.peft4j.kernels.TensorCheck.sameForEverySplit;
import static dev.peft4j.kernels.TensorCheck.toDouble;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.peft4j.kernels.reference.Reference;
import dev.peft4j.kernels.reference.ReferenceBackward;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class SwiGluTest {
    static final int N = 40;

    final SplittableRandom r = new SplittableRandom(5);
    final float[] gate = random(r, N, 4.0), up = random(r, N, 1.5), dOut = random(r, N, 1.0); // [N]

    float[][] kernelBackward(float[] dGate0, float[] dUp0, int[][] pieces) {
        float[] dGate = dGate0.clone(), dUp = dUp0.clone();
        for (int[] p : pieces) SwiGlu.backward(dGate, dUp, dOut, gate, up, p[0], p[1]);
        return new float[][] {dGate, dUp};
    }

    @Test
    void forwardMatchesReference() {
        float[] got = sameForEverySplit("swiglu forward", N, pieces -> {
            float[] out = new float[N];
            for (int[] p : pieces) SwiGlu.forward(out, gate, up, p[0], p[1]);
            return new float[][] {out};
        })[0];
        float[] want = new float[N];
        Reference.swiglu(want, gate, up, N);
        check("swiglu forward vs reference", got, want, 1e-6);
    }

    @Test
    void backwardAddsIntoGradientsAndMatchesReference() {
        float[] dGate0 = random(r, N, 0.5), dUp0 = random(r, N, 0.5);
        float[][] got = sameForEverySplit("swiglu backward", N, pieces -> kernelBackward(dGate0, dUp0, pieces));
        float[] dGate = dGate0.clone(), dUp = dUp0.clone();
        ReferenceBackward.swiglu(dGate, dUp, dOut, gate, up, N);
        check("swiglu dgate (+= non-zero) vs ref", got[0], dGate, 1e-6);
        check("swiglu dup (+= non-zero) vs ref", got[1], dUp, 1e-6);
    }

    @Test
    void backwardMatchesFiniteDifferences() {
        double[] g = toDouble(gate), u = toDouble(up);
        double[] fdGate = finiteDifferences(g, () -> dot(DoubleOps.swiglu(g, u), dOut), 1e-5);
        double[] fdUp = finiteDifferences(u, () -> dot(DoubleOps.swiglu(g, u), dOut), 1e-5);
        float[] dGate = new float[N], dUp = new float[N];
        ReferenceBackward.swiglu(dGate, dUp, dOut, gate, up, N);
        check("swiglu ref dgate vs FD(double)", dGate, fdGate, 1e-6);
        check("swiglu ref dup vs FD(double)", dUp, fdUp, 1e-6);
        float[][] got = kernelBackward(new float[N], new float[N], new int[][] {{0, N}});
        check("swiglu kernel dgate vs FD(double)", got[0], fdGate, 1e-4);
        check("swiglu kernel dup vs FD(double)", got[1], fdUp, 1e-4);
    }

    @Test
    void largeGatesStayFinite() {
        float[] g = {-100f, -90f, 90f, 100f}, u = {1f, 2f, 3f, 4f}, d = {1f, 1f, 1f, 1f};
        float[] out = new float[4], dg = new float[4], du = new float[4];
        SwiGlu.forward(out, g, u, 0, 4);
        SwiGlu.backward(dg, du, d, g, u, 0, 4);
        float[] wantOut = new float[4], wantDg = new float[4], wantDu = new float[4];
        Reference.swiglu(wantOut, g, u, 4);
        ReferenceBackward.swiglu(wantDg, wantDu, d, g, u, 4);
        for (int i = 0; i < 4; i++)
            assertTrue(Float.isFinite(out[i]) && Float.isFinite(dg[i]) && Float.isFinite(du[i]), "gate " + g[i]);
        check("swiglu out at gates ±100", out, wantOut, 1e-6);
        check("swiglu dgate at gates ±100", dg, wantDg, 1e-6);
        check("swiglu dup at gates ±100", du, wantDu, 1e-6);
    }
}
