package dev.peft4j.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.peft4j.kernels.quant.Dequant;
import dev.peft4j.kernels.quant.GgmlType;
import dev.peft4j.kernels.reference.Reference;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.Test;

/**
 * {@link FrozenMatmulCpu} against dequantise-then-matmul: the stored bytes are random blocks (any
 * bytes are a valid block), dequantised here by plain loops that follow ggml-common.h, then
 * multiplied by {@link Reference} in double.
 */
class FrozenMatmulTest {
    private static final ValueLayout.OfShort SHORT_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /**
     * Shapes {n, in, out}: decode (n ≤ 4), and the packed GEMM with W decoded into its panels: partial
     * panels, several K blocks (aligned to W's blocks, 288 and 800 split unevenly), more than one
     * 512-column block, and threads' column ranges that start inside a K-quant's 256-value block.
     */
    private static final int[][] SHAPES = {{1, 64, 5}, {3, 96, 130}, {4, 32, 1}, {7, 288, 33}, {33, 544, 300}, {6, 256, 129},
        {9, 800, 600}, {5, 1056, 40}};

    enum Type {
        BF16(GgmlType.BF16), F16(GgmlType.F16), Q8_0(GgmlType.Q8_0), Q4_0(GgmlType.Q4_0), Q4_K(GgmlType.Q4_K), Q6_K(GgmlType.Q6_K);
        final GgmlType type;

        Type(GgmlType t) {
            type = t;
        }
    }

    /** Random stored bytes for a rows x cols matrix: scales are small normal halves, so every value is finite. */
    static WeightMatrix random(GgmlType t, int rows, int cols, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        long rowBytes = WeightMatrix.rowBytes(t, cols);
        MemorySegment seg = Arena.ofAuto().allocate(rows * rowBytes);
        for (long i = 0; i < seg.byteSize(); i++) seg.set(ValueLayout.JAVA_BYTE, i, (byte) r.nextInt(256));
        int bs = t.blockSize(), bb = t.bytesPerBlock();
        for (int row = 0; row < rows; row++) {
            for (int b = 0; b < cols / bs; b++) {
                long off = row * rowBytes + (long) b * bb;
                switch (t) {
                    case BF16 -> seg.set(SHORT_LE, off, (short) (Float.floatToRawIntBits((float) r.nextGaussian()) >>> 16));
                    case F16 -> seg.set(SHORT_LE, off, Float.floatToFloat16((float) r.nextGaussian()));
                    case Q8_0, Q4_0 -> seg.set(SHORT_LE, off, Float.floatToFloat16((float) (0.01 + 0.02 * r.nextDouble())));
                    case Q4_K -> { // d, dmin
                        seg.set(SHORT_LE, off, Float.floatToFloat16((float) (0.001 + 0.002 * r.nextDouble())));
                        seg.set(SHORT_LE, off + 2, Float.floatToFloat16((float) (0.001 * r.nextDouble())));
                    }
                    case Q6_K -> seg.set(SHORT_LE, off + 208, Float.floatToFloat16((float) (0.0005 + 0.001 * r.nextDouble())));
                    default -> throw new AssertionError(t);
                }
            }
        }
        return WeightMatrix.of(t, seg, rows, cols);
    }

    /** The scalar dequantisation, bit for bit gguf-py's ({@link Dequant}, checked against its fixtures). */
    static float[] dequantize(WeightMatrix w) {
        return Dequant.dequantize(w.type(), w.data(), 0, w.rows() * w.cols());
    }

    /** cols rounded up to whole blocks of t (the K-quants' 256). */
    private static int up(int cols, GgmlType t) {
        return t.blockSize() <= 32 ? cols : (cols + t.blockSize() - 1) / t.blockSize() * t.blockSize();
    }

    private static float[] gaussian(int size, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] a = new float[size];
        for (int i = 0; i < size; i++) a[i] = (float) r.nextGaussian();
        return a;
    }

    @ParameterizedTest
    @EnumSource(Type.class)
    void decodeIsTheDequantisedValuesBitForBit(Type type) {
        int cols = up(288, type.type), c0 = up(64, type.type), c1 = cols, ld = cols + 12;
        WeightMatrix w = random(type.type, 9, cols, 1);
        float[] expected = dequantize(w);
        float[] all = w.toF32();
        for (int i = 0; i < all.length; i++) assertEquals(Float.floatToRawIntBits(expected[i]), Float.floatToRawIntBits(all[i]), type + " element " + i);
        // a block-aligned window into a wider panel
        float[] panel = new float[5 * ld];
        w.decode(2, 7, c0, c1, panel, 0, ld);
        for (int r = 2; r < 7; r++)
            for (int k = c0; k < c1; k++) assertEquals(expected[r * cols + k], panel[(r - 2) * ld + k - c0], type + " (" + r + "," + k + ")");
        System.out.printf("%s decode: first values %.6f %.6f %.6f, %d of %d bit-exact%n", type, all[0], all[1], all[2], all.length, all.length);
    }

    @Test
    void halfSpecialsDecode() {
        short[] halves = {0x0000, (short) 0x8000, 0x0001, 0x03ff, 0x0400, 0x3c00, (short) 0xc000, 0x7bff, 0x7c00, (short) 0xfc00, 0x7e00, 0x3555};
        MemorySegment seg = Arena.ofAuto().allocate(2L * 32);
        for (int i = 0; i < 32; i++) seg.set(SHORT_LE, 2L * i, halves[i % halves.length]);
        float[] got = WeightMatrix.of(GgmlType.F16, seg, 1, 32).toF32();
        for (int i = 0; i < 32; i++) {
            float want = Float.float16ToFloat(halves[i % halves.length]);
            assertEquals(Float.floatToRawIntBits(want) & (Float.isNaN(want) ? 0xffc00000 : -1),
                    Float.floatToRawIntBits(got[i]) & (Float.isNaN(want) ? 0xffc00000 : -1), "half 0x" + Integer.toHexString(halves[i % halves.length] & 0xffff));
        }
    }

    @ParameterizedTest
    @EnumSource(Type.class)
    void forwardMatchesDequantisedMatmul(Type type) {
        for (int[] s : SHAPES) {
            int n = s[0], in = up(s[1], type.type), out = s[2];
            WeightMatrix w = random(type.type, out, in, 7 + in);
            float[] x = gaussian(n * in + 3, 11);
            float[] y = new float[n * out + 2];
            FrozenMatmulCpu.forward(y, 2, x, 3, w, n);
            float[] want = new float[n * out];
            float[] xs = java.util.Arrays.copyOfRange(x, 3, 3 + n * in);
            Reference.matmul(want, xs, dequantize(w), n, in, out);
            check(type + " forward " + n + "x" + in + "->" + out, want, y, 2, in);
        }
    }

    @ParameterizedTest
    @EnumSource(Type.class)
    void backwardInputMatchesDequantisedMatmul(Type type) {
        for (int[] s : SHAPES) {
            int n = s[0], in = up(s[1], type.type), out = s[2];
            WeightMatrix w = random(type.type, out, in, 5 + out);
            float[] dy = gaussian(n * out + 1, 13);
            float[] dx = gaussian(n * in + 4, 17); // accumulates onto what is there
            float[] want = java.util.Arrays.copyOfRange(dx, 4, 4 + n * in);
            FrozenMatmulCpu.backwardInput(dx, 4, dy, 1, w, n);
            Reference.matmulBackwardInput(want, java.util.Arrays.copyOfRange(dy, 1, 1 + n * out), dequantize(w), n, in, out);
            check(type + " backwardInput " + n + "x" + out + "->" + in, want, dx, 4, out);
        }
    }

    @ParameterizedTest
    @EnumSource(Type.class)
    void embeddingRowsAreDecoded(Type type) {
        int dim = up(64, type.type);
        WeightMatrix table = random(type.type, 11, dim, 3);
        float[] all = dequantize(table), out = new float[3 * dim];
        int[] tokens = {10, 0, 4};
        FrozenMatmulCpu.embedding(out, table, tokens, 3);
        for (int i = 0; i < 3; i++)
            for (int k = 0; k < dim; k++) assertEquals(all[tokens[i] * dim + k], out[i * dim + k]);
    }

    @Test
    void repeatsBitForBit() {
        WeightMatrix w = random(GgmlType.Q8_0, 300, 544, 2);
        float[] x = gaussian(33 * 544, 3), a = new float[33 * 300], b = new float[33 * 300];
        FrozenMatmulCpu.forward(a, 0, x, 0, w, 33);
        FrozenMatmulCpu.forward(b, 0, x, 0, w, 33);
        org.junit.jupiter.api.Assertions.assertArrayEquals(a, b);
    }

    @Test
    void refusesMisshapenStorage() {
        assertThrows(IllegalArgumentException.class, () -> WeightMatrix.of(GgmlType.Q8_0, Arena.ofAuto().allocate(34), 1, 16));
        assertThrows(IllegalArgumentException.class, () -> WeightMatrix.of(GgmlType.Q8_0, Arena.ofAuto().allocate(33), 1, 32));
        assertThrows(IllegalStateException.class, () -> random(GgmlType.BF16, 2, 4, 1).f32());
    }

    /** Relative to the scale of the sum (sqrt(terms) · |typical product|): float accumulation over `terms` products. */
    private static void check(String what, float[] want, float[] got, int off, int terms) {
        double maxDiff = 0, scale = 0;
        for (float v : want) scale = Math.max(scale, Math.abs(v));
        for (int i = 0; i < want.length; i++) maxDiff = Math.max(maxDiff, Math.abs(want[i] - got[off + i]));
        double tol = 1e-5 * Math.max(1, scale);
        System.out.printf("%s: first %.6f vs %.6f, max diff %.2e, tolerance %.2e%n", what, want[0], got[off], maxDiff, tol);
        if (maxDiff > tol) throw new AssertionError(what + ": max diff " + maxDiff + " > " + tol);
    }
}
