package dev.peft4j.kernels;

import static dev.peft4j.kernels.TensorCheck.check;
import static dev.peft4j.kernels.TensorCheck.random;
import static dev.peft4j.kernels.TensorCheck.sameForEverySplit;
import static dev.peft4j.kernels.TensorCheck.toDouble;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.peft4j.kernels.reference.ReferenceBackward;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** AdamW against the double reference (torch.optim.AdamW semantics). */
class AdamWTest {
    static final int N = 23;
    static final float LR = 1e-3f, BETA1 = 0.9f, BETA2 = 0.999f, EPS = 1e-8f, WD = 0.1f;

    final SplittableRandom r = new SplittableRandom(11);
    final float[] w0 = random(r, N, 1.0); // [N]

    /** The gradients of steps 1..steps: fixed random vectors, one per step. */
    float[][] gradients(int steps) {
        SplittableRandom gr = new SplittableRandom(12);
        float[][] g = new float[steps][];
        for (int s = 0; s < steps; s++) g[s] = random(gr, N, 0.5);
        return g;
    }

    static float bc(float beta, int t) { return (float) (1 - Math.pow(beta, t)); }

    /** eps 1e-8 as in training; eps 1e-2 is comparable to sqrt(v̂), so its place (outside the sqrt) shows. */
    @ParameterizedTest(name = "eps={0}")
    @ValueSource(floats = {1e-8f, 1e-2f})
    void fiveStepsMatchTheDoubleReference(float eps) {
        int steps = 5;
        float gradScale = 0.75f;
        float[][] g = gradients(steps);
        float[][] got = sameForEverySplit("adamw 5 steps", N, pieces -> {
            float[] w = w0.clone(), m = new float[N], v = new float[N];
            for (int t = 1; t <= steps; t++)
                for (int[] p : pieces)
                    AdamW.step(w, g[t - 1], m, v, gradScale, LR, BETA1, BETA2, eps, WD, bc(BETA1, t), bc(BETA2, t), p[0], p[1]);
            return new float[][] {w, m, v};
        });
        double[] w = toDouble(w0), m = new double[N], v = new double[N];
        for (int t = 1; t <= steps; t++) ReferenceBackward.adamW(w, m, v, g[t - 1], t, gradScale, LR, BETA1, BETA2, eps, WD);
        check("adamw eps=" + eps + " w after 5 steps vs ref", got[0], w, 1e-6);
        check("adamw m after 5 steps vs ref", got[1], m, 1e-6);
        check("adamw v after 5 steps vs ref", got[2], v, 1e-6);
        // the change alone, so that the 1e-3 updates are not hidden behind |w| ~ 1
        double[] wantDelta = new double[N], gotDelta = new double[N];
        for (int i = 0; i < N; i++) {
            wantDelta[i] = w[i] - w0[i];
            gotDelta[i] = (double) got[0][i] - w0[i];
        }
        check("adamw w − w0 after 5 steps vs ref", gotDelta, wantDelta, 1e-4);
    }

    @Test
    void firstStepMovesByLrTimesSignOfGradient() {
        float[] g = gradients(1)[0], w = w0.clone(), m = new float[N], v = new float[N];
        AdamW.step(w, g, m, v, 1f, LR, BETA1, BETA2, EPS, 0f, bc(BETA1, 1), bc(BETA2, 1), 0, N);
        double worst = 0;
        for (int i = 0; i < N; i++) worst = Math.max(worst, Math.abs((w[i] - w0[i]) + LR * Math.signum(g[i])));
        System.out.printf("adamw step 1: w−w0 = %.6e for g=%.4f (−lr·sign(g) = %.1e); max |w−w0 + lr·sign(g)| = %.2e (tol %.1e)%n",
                w[0] - w0[0], g[0], -LR * Math.signum(g[0]), worst, LR * 1e-3);
        assertEquals(0, worst, LR * 1e-3);
    }

    @Test
    void epsIsAddedOutsideTheSquareRoot() {
        float eps = 0.1f;
        float[] g = gradients(1)[0], w = w0.clone(), m = new float[N], v = new float[N];
        AdamW.step(w, g, m, v, 1f, LR, BETA1, BETA2, eps, 0f, bc(BETA1, 1), bc(BETA2, 1), 0, N);
        double[] want = new double[N], got = new double[N];
        for (int i = 0; i < N; i++) {
            want[i] = -LR * g[i] / (Math.abs(g[i]) + eps); // step 1: m̂ = g, sqrt(v̂) = |g|
            got[i] = (double) w[i] - w0[i];
        }
        check("adamw step 1 with eps=0.1: w − w0", got, want, 1e-4);
    }

    @Test
    void weightDecayIsDecoupledFromTheGradient() {
        float[] w = w0.clone(), m = new float[N], v = new float[N];
        AdamW.step(w, new float[N], m, v, 1f, LR, BETA1, BETA2, EPS, WD, bc(BETA1, 1), bc(BETA2, 1), 0, N);
        float[] want = new float[N];
        for (int i = 0; i < N; i++) want[i] = w0[i] * (1f - LR * WD); // a zero gradient leaves only the decay
        assertArrayEquals(want, w);
        assertArrayEquals(new float[N], m);
        assertArrayEquals(new float[N], v);
    }

    @Test
    void gradScaleMultipliesTheGradient() {
        float[] g = gradients(1)[0], half = g.clone();
        for (int i = 0; i < N; i++) half[i] = g[i] * 0.5f;
        float[] w1 = w0.clone(), m1 = new float[N], v1 = new float[N];
        float[] w2 = w0.clone(), m2 = new float[N], v2 = new float[N];
        AdamW.step(w1, g, m1, v1, 0.5f, LR, BETA1, BETA2, EPS, WD, bc(BETA1, 1), bc(BETA2, 1), 0, N);
        AdamW.step(w2, half, m2, v2, 1f, LR, BETA1, BETA2, EPS, WD, bc(BETA1, 1), bc(BETA2, 1), 0, N);
        assertArrayEquals(w2, w1);
        assertArrayEquals(m2, m1);
        assertArrayEquals(v2, v1);
    }

    @Test
    void sumOfSquaresIsExactOverTheRange() {
        float[] g = gradients(1)[0];
        double want = 0;
        for (int i = 3; i < 17; i++) want += (double) g[i] * g[i];
        assertEquals(want, AdamW.sumOfSquares(g, 3, 17), 0);
    }
}
