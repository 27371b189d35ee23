package dev.peft4j.kernels;

import static dev.peft4j.kernels.TensorCheck.check;
import static dev.peft4j.kernels.TensorCheck.dot;
import static dev.peft4j.kernels.TensorCheck.finiteDifferences;
import static dev.peft4j.kernels.TensorCheck.random;
import static dev.peft4j.kernels.TensorCheck.sameForEverySplit;
import static dev.peft4j.kernels.TensorCheck.toDouble;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.peft4j.kernels.reference.Reference;
import dev.peft4j.kernels.reference.ReferenceBackward;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.function.DoubleSupplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Causal GQA attention over B=2 sequences of T=4 queries, with p0 extra key/value rows before the
 * queries' own (kvRows = p0 + T), as a KV cache or prefix tuning lays them out.
 */
class AttentionTest {
    static final int B = 2, T = 4;

    /** One configuration's buffers and the kernel calls over it. */
    static final class Case {
        final int nHeads, nKv, hd, p0, kvRows, attStride, qDim, kvDim;
        final float[] q, k, v, dOut; // q, dOut [B][T][nHeads*hd]; k, v [B][kvRows][nKv*hd]

        Case(int nHeads, int nKv, int hd, int p0, long seed) {
            this.nHeads = nHeads;
            this.nKv = nKv;
            this.hd = hd;
            this.p0 = p0;
            kvRows = p0 + T;
            attStride = kvRows + 1; // wider than needed: rows must be addressed by the stride
            qDim = nHeads * hd;
            kvDim = nKv * hd;
            SplittableRandom r = new SplittableRandom(seed);
            q = random(r, B * T * qDim, 1.5);
            k = random(r, B * kvRows * kvDim, 1.5);
            v = random(r, B * kvRows * kvDim, 1.0);
            dOut = random(r, B * T * qDim, 1.0);
        }

        int rows() { return B * nHeads * T; }

        float[][] kernelForward(int[][] pieces) {
            float[] out = new float[B * T * qDim], att = new float[rows() * attStride];
            for (int[] p : pieces) Attention.forward(out, q, k, v, att, nHeads, nKv, hd, T, p0, kvRows, attStride, p[0], p[1]);
            return new float[][] {out, att};
        }

        /** Query pass over the pieces of 0..rows(); key/value pass over the same fractions of 0..B*nKv. */
        float[][] kernelBackward(float[] dq0, float[] dk0, float[] dv0, int[][] pieces) {
            float[] att = kernelForward(new int[][] {{0, rows()}})[1];
            float[] dq = dq0.clone(), dk = dk0.clone(), dv = dv0.clone(), dScores = new float[att.length];
            for (int[] p : pieces)
                Attention.backwardQuery(dq, dScores, dOut, k, v, att, nHeads, nKv, hd, T, p0, kvRows, attStride, p[0], p[1]);
            int kvHeads = B * nKv;
            for (int[] p : pieces)
                Attention.backwardKeyValue(dk, dv, dScores, dOut, q, att, nHeads, nKv, hd, T, p0, kvRows, attStride,
                        p[0] * kvHeads / rows(), p[1] * kvHeads / rows());
            return new float[][] {dq, dk, dv};
        }

        float[] referenceForward() {
            float[] out = new float[B * T * qDim];
            for (int b = 0; b < B; b++) {
                float[] o = new float[T * qDim];
                Reference.attention(o, qOf(q, b), kvOf(k, b), kvOf(v, b), T, p0, nHeads, nKv, hd);
                System.arraycopy(o, 0, out, b * T * qDim, T * qDim);
            }
            return out;
        }

        float[][] referenceBackward(float[] dq0, float[] dk0, float[] dv0) {
            float[] dq = dq0.clone(), dk = dk0.clone(), dv = dv0.clone();
            for (int b = 0; b < B; b++) {
                float[] dqb = qOf(dq, b), dkb = kvOf(dk, b), dvb = kvOf(dv, b);
                ReferenceBackward.attention(dqb, dkb, dvb, qOf(dOut, b), qOf(q, b), kvOf(k, b), kvOf(v, b), T, p0, nHeads, nKv, hd);
                System.arraycopy(dqb, 0, dq, b * T * qDim, dqb.length);
                System.arraycopy(dkb, 0, dk, b * kvRows * kvDim, dkb.length);
                System.arraycopy(dvb, 0, dv, b * kvRows * kvDim, dvb.length);
            }
            return new float[][] {dq, dk, dv};
        }

        float[] qOf(float[] a, int b) { return Arrays.copyOfRange(a, b * T * qDim, (b + 1) * T * qDim); }

        float[] kvOf(float[] a, int b) { return Arrays.copyOfRange(a, b * kvRows * kvDim, (b + 1) * kvRows * kvDim); }

        String name() { return "attention H" + nHeads + " kv" + nKv + " hd" + hd + " p0=" + p0; }
    }

    @ParameterizedTest(name = "nHeads={0} nKv={1} hd={2} p0={3}")
    @CsvSource({"4,2,6,0", "4,2,6,3", "4,1,8,0", "4,1,8,3", "4,4,6,3"})
    void forwardMatchesReference(int nHeads, int nKv, int hd, int p0) {
        Case c = new Case(nHeads, nKv, hd, p0, 10 + p0);
        float[][] got = sameForEverySplit(c.name() + " forward", c.rows(), c::kernelForward);
        check(c.name() + " out vs ref", got[0], c.referenceForward(), 1e-6);
    }

    @ParameterizedTest(name = "nHeads={0} nKv={1} hd={2} p0={3}")
    @CsvSource({"4,2,6,0", "4,2,6,3", "4,1,8,0", "4,1,8,3", "4,4,6,3"})
    void backwardAddsIntoGradientsAndMatchesReference(int nHeads, int nKv, int hd, int p0) {
        Case c = new Case(nHeads, nKv, hd, p0, 20 + p0);
        SplittableRandom r = new SplittableRandom(3);
        float[] dq0 = random(r, c.q.length, 0.5), dk0 = random(r, c.k.length, 0.5), dv0 = random(r, c.v.length, 0.5);
        float[][] got = sameForEverySplit(c.name() + " backward", c.rows(), pieces -> c.kernelBackward(dq0, dk0, dv0, pieces));
        float[][] want = c.referenceBackward(dq0, dk0, dv0);
        check(c.name() + " dq (+= non-zero) vs ref", got[0], want[0], 1e-5);
        check(c.name() + " dk (+= non-zero) vs ref", got[1], want[1], 1e-5);
        check(c.name() + " dv (+= non-zero) vs ref", got[2], want[2], 1e-5);
    }

    @ParameterizedTest(name = "nHeads={0} nKv={1} hd={2} p0={3}")
    @CsvSource({"4,2,6,0", "4,2,6,3", "4,1,8,3"})
    void backwardMatchesFiniteDifferences(int nHeads, int nKv, int hd, int p0) {
        Case c = new Case(nHeads, nKv, hd, p0, 30 + p0);
        double[] q = toDouble(c.q), k = toDouble(c.k), v = toDouble(c.v);
        DoubleSupplier loss =
                () -> dot(DoubleOps.attention(q, k, v, B, T, p0, c.kvRows, nHeads, nKv, hd), c.dOut);
        double[] fdq = finiteDifferences(q, loss, 1e-5), fdk = finiteDifferences(k, loss, 1e-5), fdv = finiteDifferences(v, loss, 1e-5);
        float[][] ref = c.referenceBackward(new float[q.length], new float[k.length], new float[v.length]);
        check(c.name() + " ref dq vs FD(double)", ref[0], fdq, 1e-6);
        check(c.name() + " ref dk vs FD(double)", ref[1], fdk, 1e-6);
        check(c.name() + " ref dv vs FD(double)", ref[2], fdv, 1e-6);
        float[][] got = c.kernelBackward(new float[q.length], new float[k.length], new float[v.length], new int[][] {{0, c.rows()}});
        check(c.name() + " kernel dq vs FD(double)", got[0], fdq, 1e-4);
        check(c.name() + " kernel dk vs FD(double)", got[1], fdk, 1e-4);
        check(c.name() + " kernel dv vs FD(double)", got[2], fdv, 1e-4);
    }

    /**
     * The KV-cache use: queries for positions p0.. run against a cache whose first p0 rows hold the
     * earlier keys give exactly the rows p0.. of one causal pass over all positions. Cache rows past
     * the last query's position are NaN: reading one would show.
     */
    @ParameterizedTest(name = "nKv={0}")
    @CsvSource({"2", "1"})
    void cachedQueriesEqualRowsOfTheFullPass(int nKv) {
        int nHeads = 4, hd = 8, len = 6, cacheRows = 9, qDim = nHeads * hd, kvDim = nKv * hd;
        SplittableRandom r = new SplittableRandom(4);
        float[] q = random(r, len * qDim, 1.5);                         // [len][qDim]
        float[] k = random(r, cacheRows * kvDim, 1.5), v = random(r, cacheRows * kvDim, 1.0); // [cacheRows][kvDim]
        Arrays.fill(k, len * kvDim, k.length, Float.NaN);
        Arrays.fill(v, len * kvDim, v.length, Float.NaN);
        float[] full = new float[len * qDim], att = new float[nHeads * len * cacheRows];
        Attention.forward(full, q, k, v, att, nHeads, nKv, hd, len, 0, cacheRows, cacheRows, 0, nHeads * len);
        for (int p0 = 0; p0 < len; p0++)
            for (int t = 1; p0 + t <= len; t += 2) { // one token (decode) and chunks of 3, 5 (prefill)
                float[] qs = Arrays.copyOfRange(q, p0 * qDim, (p0 + t) * qDim), out = new float[t * qDim];
                float[] a = new float[nHeads * t * cacheRows];
                Attention.forward(out, qs, k, v, a, nHeads, nKv, hd, t, p0, cacheRows, cacheRows, 0, nHeads * t);
                assertArrayEquals(Arrays.copyOfRange(full, p0 * qDim, (p0 + t) * qDim), out,
                        "queries " + p0 + ".." + (p0 + t - 1) + " at p0=" + p0);
            }
        System.out.printf("attention kv cache nKv=%d: every query run at p0=0..%d (1, 3, 5 at a time) equals the full pass, bit for bit; first %.6f%n",
                nKv, len - 1, full[0]);
        float[] want = new float[len * qDim];
        Reference.attention(want, q, k, v, len, 0, nHeads, nKv, hd);
        check("attention kv cache full pass vs ref", full, want, 1e-6);
    }

    @Test
    void probabilitiesAreSavedAsRowsThatSumToOne() {
        Case c = new Case(4, 2, 6, 3, 5);
        float[] att = c.kernelForward(new int[][] {{0, c.rows()}})[1];
        for (int row = 0; row < c.rows(); row++) {
            int t = row % T;
            double s = 0;
            for (int j = 0; j < c.p0 + t + 1; j++) s += att[row * c.attStride + j];
            assertEquals(1.0, s, 1e-6, "row " + row);
        }
    }
}
