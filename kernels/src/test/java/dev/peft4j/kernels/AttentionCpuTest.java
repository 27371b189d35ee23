package dev.peft4j.kernels;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The Vector API attention against the plain kernel (itself checked against the reference and finite differences). */
class AttentionCpuTest {
    private static float[] random(int n, SplittableRandom r) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) r.nextGaussian();
        return a;
    }

    private static void close(String what, float[] want, float[] got) {
        double scale = 0, diff = 0;
        for (int i = 0; i < want.length; i++) {
            scale = Math.max(scale, Math.abs(want[i]));
            diff = Math.max(diff, Math.abs(want[i] - got[i]));
        }
        System.out.printf("  %-28s max |ref| %.3e  max diff %.2e  (tol 1e-5 rel)%n", what, scale, diff);
        assertTrue(diff <= 1e-5 * Math.max(scale, 1e-6), what + ": " + diff + " vs scale " + scale);
    }

    @ParameterizedTest
    @CsvSource({"4,2,6,5,0", "4,2,16,7,3", "6,3,48,9,2", "4,1,69,4,0", "2,2,64,6,5", "6,6,48,150,10", "4,2,16,70,0", "4,2,8,45,0"})
    void matchesThePlainKernel(int nHeads, int nKv, int hd, int T, int p0) {
        SplittableRandom r = new SplittableRandom(nHeads * 131 + hd);
        int B = 2, kvRows = p0 + T + 1, attStride = kvRows + 2, qDim = nHeads * hd, kvDim = nKv * hd, rows = B * nHeads * T;
        float[] q = random(B * T * qDim, r), k = random(B * kvRows * kvDim, r), v = random(B * kvRows * kvDim, r), dOut = random(B * T * qDim, r);
        float[] out1 = new float[q.length], out2 = new float[q.length], att1 = new float[rows * attStride], att2 = new float[rows * attStride];
        Attention.forward(out1, q, k, v, att1, nHeads, nKv, hd, T, p0, kvRows, attStride, 0, rows);
        AttentionCpu.forward(out2, q, k, v, att2, nHeads, nKv, hd, T, p0, kvRows, attStride, 0, rows);
        float[] out3 = new float[q.length], att3 = new float[att2.length]; // split as threads split rows, mid-tile
        for (int[] piece : new int[][]{{0, rows / 3}, {rows / 3, rows - 7}, {rows - 7, rows}})
            AttentionCpu.forward(out3, q, k, v, att3, nHeads, nKv, hd, T, p0, kvRows, attStride, piece[0], piece[1]);
        org.junit.jupiter.api.Assertions.assertArrayEquals(out2, out3, "forward out, rows split in 3");
        org.junit.jupiter.api.Assertions.assertArrayEquals(att2, att3, "forward probabilities, rows split in 3");
        System.out.printf("attention heads %d kv %d hd %d T %d p0 %d:%n", nHeads, nKv, hd, T, p0);
        close("forward out", out1, out2);
        close("forward probabilities", att1, att2);
        float[] dq1 = random(q.length, new SplittableRandom(1)), dq2 = dq1.clone();
        float[] ds1 = new float[att1.length], ds2 = new float[att1.length];
        Attention.backwardQuery(dq1, ds1, dOut, k, v, att1, nHeads, nKv, hd, T, p0, kvRows, attStride, 0, rows);
        AttentionCpu.backwardQuery(dq2, ds2, dOut, k, v, att1, nHeads, nKv, hd, T, p0, kvRows, attStride, 0, rows);
        close("dq (accumulated)", dq1, dq2);
        float scale = (float) (1.0 / Math.sqrt(hd)), ds1Scaled[] = ds1.clone();
        for (int i = 0; i < ds1Scaled.length; i++) ds1Scaled[i] *= scale;
        close("dScores (cpu: times 1/sqrt(hd))", ds1Scaled, ds2);
        float[] dk1 = random(k.length, new SplittableRandom(2)), dk2 = dk1.clone(), dv1 = random(v.length, new SplittableRandom(3)), dv2 = dv1.clone();
        Attention.backwardKeyValue(dk1, dv1, ds1, dOut, q, att1, nHeads, nKv, hd, T, p0, kvRows, attStride, 0, B * nKv);
        AttentionCpu.backwardKeyValue(dk2, dv2, ds2, dOut, q, att1, nHeads, nKv, hd, T, p0, kvRows, attStride, 0, B * nKv);
        close("dk (accumulated)", dk1, dk2);
        close("dv (accumulated)", dv1, dv2);
    }
}
