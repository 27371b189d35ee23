package dev.peft4j.kernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The tiled (flash) attention against the plain kernel (itself checked against the reference and
 * finite differences): the output, each row's log-sum-exp (against double sums), and dq, dk, dv from
 * the saved output and log-sum-exp alone; and the same bits for any split of rows or units.
 */
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
        System.out.printf("  %-28s first %+.6f vs %+.6f  max |ref| %.3e  max diff %.2e  (tol 1e-5 rel)%n", what, want[0], got[0], scale, diff);
        assertTrue(diff <= 1e-5 * Math.max(scale, 1e-6), what + ": " + diff + " vs scale " + scale);
    }

    @ParameterizedTest
    @CsvSource({"4,2,6,5,0", "4,2,16,7,3", "6,3,48,9,2", "4,1,69,4,0", "2,2,64,6,5", "6,6,48,150,10", "4,2,16,70,0", "4,2,8,45,0",
            "2,1,16,300,7", "3,3,8,129,0"})
    void matchesThePlainKernel(int nHeads, int nKv, int hd, int T, int p0) {
        SplittableRandom r = new SplittableRandom(nHeads * 131 + hd);
        int B = 2, kvRows = p0 + T + 1, attStride = kvRows + 2, qDim = nHeads * hd, kvDim = nKv * hd, rows = B * nHeads * T;
        float[] q = random(B * T * qDim, r), k = random(B * kvRows * kvDim, r), v = random(B * kvRows * kvDim, r), dOut = random(B * T * qDim, r);
        float[] out1 = new float[q.length], out2 = new float[q.length], att1 = new float[rows * attStride], lse = new float[rows];
        Attention.forward(out1, q, k, v, att1, nHeads, nKv, hd, T, p0, kvRows, attStride, 0, rows);
        AttentionCpu.forward(out2, lse, q, k, v, nHeads, nKv, hd, T, p0, kvRows, 0, rows);
        float[] out3 = new float[q.length], lse3 = new float[rows]; // split as threads split rows, mid-tile
        for (int[] piece : new int[][]{{0, rows / 3}, {rows / 3, rows - 7}, {rows - 7, rows}})
            AttentionCpu.forward(out3, lse3, q, k, v, nHeads, nKv, hd, T, p0, kvRows, piece[0], piece[1]);
        assertArrayEquals(out2, out3, "forward out, rows split in 3");
        assertArrayEquals(lse, lse3, "forward log-sum-exp, rows split in 3");
        System.out.printf("attention heads %d kv %d hd %d T %d p0 %d:%n", nHeads, nKv, hd, T, p0);
        close("forward out", out1, out2);
        close("log-sum-exp (double sums)", logSumExp(q, k, nHeads, nKv, hd, T, p0, kvRows), lse);

        float[] dq1 = random(q.length, new SplittableRandom(1)), dq2 = dq1.clone();
        float[] dk1 = random(k.length, new SplittableRandom(2)), dk2 = dk1.clone(), dv1 = random(v.length, new SplittableRandom(3)), dv2 = dv1.clone();
        float[] ds1 = new float[att1.length];
        Attention.backwardQuery(dq1, ds1, dOut, k, v, att1, nHeads, nKv, hd, T, p0, kvRows, attStride, 0, rows);
        Attention.backwardKeyValue(dk1, dv1, ds1, dOut, q, att1, nHeads, nKv, hd, T, p0, kvRows, attStride, 0, B * nKv);
        float[] dq3 = dq2.clone(), dk3 = dk2.clone(), dv3 = dv2.clone();
        AttentionCpu.backward(dq2, dk2, dv2, dOut, q, k, v, out2, lse, nHeads, nKv, hd, T, p0, kvRows, 0, B * nKv);
        close("dq (accumulated)", dq1, dq2);
        close("dk (accumulated)", dk1, dk2);
        close("dv (accumulated)", dv1, dv2);
        for (int u = 0; u < B * nKv; u++) // one unit at a time, last first
            AttentionCpu.backward(dq3, dk3, dv3, dOut, q, k, v, out2, lse, nHeads, nKv, hd, T, p0, kvRows, B * nKv - 1 - u, B * nKv - u);
        assertArrayEquals(dq2, dq3, "dq, units one at a time");
        assertArrayEquals(dk2, dk3, "dk, units one at a time");
        assertArrayEquals(dv2, dv3, "dv, units one at a time");
    }

    /** log Σ_j exp(q_t·k_j / sqrt(hd)) over each row's keys, in double. */
    private static float[] logSumExp(float[] q, float[] k, int nHeads, int nKv, int hd, int T, int p0, int kvRows) {
        int qDim = nHeads * hd, kvDim = nKv * hd, rows = q.length / qDim * nHeads;
        float[] out = new float[rows];
        for (int r = 0; r < rows; r++) {
            int t = r % T, bh = r / T, h = bh % nHeads, b = bh / nHeads, len = p0 + t + 1;
            double[] s = new double[len];
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (int j = 0; j < len; j++) {
                for (int c = 0; c < hd; c++) s[j] += (double) q[(b * T + t) * qDim + h * hd + c] * k[(b * kvRows + j) * kvDim + (h / (nHeads / nKv)) * hd + c];
                s[j] /= Math.sqrt(hd);
                max = Math.max(max, s[j]);
            }
            for (int j = 0; j < len; j++) sum += Math.exp(s[j] - max);
            out[r] = (float) (max + Math.log(sum));
        }
        return out;
    }
}
