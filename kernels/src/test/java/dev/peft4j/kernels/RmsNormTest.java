package dev.peft4j.kernels;

import static dev.peft4j.kernels.TensorCheck.check;
import static dev.peft4j.kernels.TensorCheck.dot;
import static dev.peft4j.kernels.TensorCheck.finiteDifferences;
import static dev.peft4j.kernels.TensorCheck.random;
import static dev.peft4j.kernels.TensorCheck.sameForEverySplit;
import static dev.peft4j.kernels.TensorCheck.toDouble;

import dev.peft4j.kernels.reference.Reference;
import dev.peft4j.kernels.reference.ReferenceBackward;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class RmsNormTest {
    static final int N = 5, DIM = 12;
    static final float EPS = 1e-5f;

    final SplittableRandom r = new SplittableRandom(1);
    final float[] x = random(r, N * DIM, 2.0);   // [N][DIM]
    final float[] w = random(r, DIM, 1.5);       // [DIM]
    final float[] dOut = random(r, N * DIM, 1.0); // [N][DIM]

    /** Kernel backward: dx over row pieces, dw over column pieces, into copies of the given initial gradients. */
    float[][] kernelBackward(float[] dx0, float[] dw0, int[][] pieces) {
        float[] out = new float[N * DIM], rstd = new float[N];
        RmsNorm.forward(out, x, w, rstd, DIM, EPS, 0, N);
        float[] dx = dx0.clone(), dw = dw0.clone();
        for (int[] p : pieces) RmsNorm.backwardInput(dx, dOut, x, w, rstd, DIM, p[0] * N / DIM, p[1] * N / DIM);
        for (int[] p : pieces) RmsNorm.backwardWeight(dw, dOut, x, rstd, N, DIM, p[0], p[1]);
        return new float[][] {dx, dw};
    }

    @Test
    void forwardMatchesReference() {
        float[][] got = sameForEverySplit("rmsnorm forward", N, pieces -> {
            float[] out = new float[N * DIM], rstd = new float[N];
            for (int[] p : pieces) RmsNorm.forward(out, x, w, rstd, DIM, EPS, p[0], p[1]);
            return new float[][] {out, rstd};
        });
        float[] want = new float[N * DIM];
        Reference.rmsnorm(want, x, w, N, DIM, EPS);
        check("rmsnorm forward vs reference", got[0], want, 1e-6);
        double[] rstd = new double[N];
        for (int i = 0; i < N; i++) {
            double ss = 0;
            for (int j = 0; j < DIM; j++) ss += (double) x[i * DIM + j] * x[i * DIM + j];
            rstd[i] = 1 / Math.sqrt(ss / DIM + EPS);
        }
        check("rmsnorm saved rstd", got[1], rstd, 1e-6);
    }

    @Test
    void backwardAddsIntoGradientsAndMatchesReference() {
        float[] dx0 = random(r, N * DIM, 0.5), dw0 = random(r, DIM, 0.5); // non-zero: the kernels must add
        // rows and columns are cut at the same fractions: N rows for dx, DIM columns for dw
        float[][] got = sameForEverySplit("rmsnorm backward", DIM, pieces -> kernelBackward(dx0, dw0, pieces));
        float[] dx = dx0.clone(), dw = dw0.clone();
        ReferenceBackward.rmsnorm(dx, dw, dOut, x, w, N, DIM, EPS);
        check("rmsnorm dx (+= on non-zero) vs ref", got[0], dx, 1e-5);
        check("rmsnorm dw (+= on non-zero) vs ref", got[1], dw, 1e-5);
    }

    @Test
    void referenceMatchesFiniteDifferences() {
        double[] xd = toDouble(x), wd = toDouble(w);
        double[] fdx = finiteDifferences(xd, () -> dot(DoubleOps.rmsnorm(xd, wd, N, DIM, EPS), dOut), 1e-5);
        double[] fdw = finiteDifferences(wd, () -> dot(DoubleOps.rmsnorm(xd, wd, N, DIM, EPS), dOut), 1e-5);
        float[] dx = new float[N * DIM], dw = new float[DIM];
        ReferenceBackward.rmsnorm(dx, dw, dOut, x, w, N, DIM, EPS);
        check("rmsnorm ref dx vs FD(double)", dx, fdx, 1e-6);
        check("rmsnorm ref dw vs FD(double)", dw, fdw, 1e-6);

        float[][] got = kernelBackward(new float[N * DIM], new float[DIM], new int[][] {{0, DIM}});
        check("rmsnorm kernel dx vs FD(double)", got[0], fdx, 1e-4);
        check("rmsnorm kernel dw vs FD(double)", got[1], fdw, 1e-4);
    }
}
