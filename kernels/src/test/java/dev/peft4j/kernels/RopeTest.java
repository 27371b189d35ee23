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
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Rotate-half RoPE over B=2 sequences of T=5 tokens laid end to end (period T), 3 heads of width 8. */
class RopeTest {
    static final int B = 2, T = 5, N = B * T, HEADS = 3, HD = 8, MAX_SEQ = 16;

    final SplittableRandom r = new SplittableRandom(2);
    final float[] x = random(r, N * HEADS * HD, 1.0);    // [N][HEADS*HD]
    final float[] dOut = random(r, N * HEADS * HD, 1.0); // [N][HEADS*HD]
    final double[] invFreq = new double[HD / 2];
    final float[] cos = new float[MAX_SEQ * HD / 2], sin = new float[MAX_SEQ * HD / 2]; // [MAX_SEQ][HD/2]

    RopeTest() {
        for (int j = 0; j < HD / 2; j++) invFreq[j] = Math.pow(10000, -2.0 * j / HD) * 1.7; // larger angles than stock
        Rope.tables(cos, sin, invFreq, MAX_SEQ);
    }

    /** Row i's position: pos0 + i % T. */
    static int[] positions(int pos0) {
        int[] p = new int[N];
        for (int i = 0; i < N; i++) p[i] = pos0 + i % T;
        return p;
    }

    @ParameterizedTest(name = "pos0={0}")
    @CsvSource({"0", "6"})
    void forwardMatchesReference(int pos0) {
        float[] got = sameForEverySplit("rope forward pos0=" + pos0, N, pieces -> {
            float[] y = x.clone();
            for (int[] p : pieces) Rope.forward(y, cos, sin, HEADS, HD, pos0, T, p[0], p[1]);
            return new float[][] {y};
        })[0];
        float[] want = x.clone();
        Reference.rope(want, N, HEADS, HD, positions(pos0), invFreq);
        check("rope forward vs reference", got, want, 1e-6);
    }

    @ParameterizedTest(name = "pos0={0}")
    @CsvSource({"0", "6"})
    void backwardMatchesReferenceAndInvertsForward(int pos0) {
        float[] got = sameForEverySplit("rope backward pos0=" + pos0, N, pieces -> {
            float[] d = dOut.clone();
            for (int[] p : pieces) Rope.backward(d, cos, sin, HEADS, HD, pos0, T, p[0], p[1]);
            return new float[][] {d};
        })[0];
        float[] want = dOut.clone();
        ReferenceBackward.rope(want, N, HEADS, HD, positions(pos0), invFreq);
        check("rope backward vs reference", got, want, 1e-6);

        float[] roundTrip = x.clone();
        Rope.forward(roundTrip, cos, sin, HEADS, HD, pos0, T, 0, N);
        Rope.backward(roundTrip, cos, sin, HEADS, HD, pos0, T, 0, N);
        check("rope backward(forward(x)) = x", roundTrip, x, 1e-6);
    }

    @ParameterizedTest(name = "pos0={0}")
    @CsvSource({"0", "6"})
    void backwardMatchesFiniteDifferences(int pos0) {
        int[] pos = positions(pos0);
        double[] xd = toDouble(x);
        double[] fd = finiteDifferences(xd, () -> dot(DoubleOps.rope(xd, N, HEADS, HD, pos, invFreq), dOut), 1e-5);
        float[] ref = dOut.clone();
        ReferenceBackward.rope(ref, N, HEADS, HD, pos, invFreq);
        check("rope ref dx vs FD(double)", ref, fd, 1e-6);
        float[] got = dOut.clone();
        Rope.backward(got, cos, sin, HEADS, HD, pos0, T, 0, N);
        check("rope kernel dx vs FD(double)", got, fd, 1e-4);
    }
}
