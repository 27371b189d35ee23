package dev.peft4j.kernels;

import dev.peft4j.kernels.quant.Dequant;
import dev.peft4j.kernels.quant.GgmlType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The frozen linear on the CPU: {@code y = x·Wᵀ} and {@code dx += dy·W} reading a
 * {@link WeightMatrix} in its stored type, with no expanded copy of the matrix.
 * {@code x [n][in]}, {@code W [out][in]}, {@code y [n][out]}, row-major from their offsets.
 *
 * <ul>
 *   <li>Float32 weights go straight to {@link MatmulCpu}.
 *   <li><b>Few rows of x</b> (decoding, n ≤ 4): each row of W is decoded in registers, a vector of
 *       values at a time (BF16: a shift; F16: its bits moved and rescaled by 2¹¹²; Q8_0 and Q4_0:
 *       int8 or nibbles widened and scaled), and dotted with x. Split over rows of W, so the
 *       compressed bytes stream from memory once: memory-bound, as a matvec is.
 *   <li><b>Many rows</b> (training, prompts): {@link MatmulCpu}'s packed GEMM, the float32 path's
 *       own loop nest, with W decoded straight into its packed B panels (a K×N block sized for L2)
 *       where the float32 path copies them from the array: the same blocking (K blocks start on W's
 *       blocks of values), packing of x and thread split, plus one decode per element of W per thread
 *       that packs it (amortised over the n rows of x that each panel serves). Each element of y or dx
 *       is summed by one thread in a fixed order, so results repeat bit for bit.
 * </ul>
 *
 * <p>Q4_K and Q6_K are decoded block by block on the scalar path ({@link #decode}) and take the
 * same two routes, through a float row or the GEMM's panels.
 */
public final class FrozenMatmulCpu {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    /** Species of L shorts, ints and bytes, to widen stored values into L floats. */
    private static final VectorSpecies<Short> SH = VectorSpecies.of(short.class, VectorShape.forBitSize(Math.max(64, L * 16)));
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Byte> BY = VectorSpecies.of(byte.class, VectorShape.forBitSize(Math.max(64, L * 8)));
    /** The vector decode needs L in {8, 16} (blocks of 32 split into whole vectors); otherwise the scalar one runs. */
    private static final boolean VECTOR = (L == 8 || L == 16) && SH.length() == L && BY.length() == L && I.length() == L;
    private static final ValueLayout.OfShort SHORT_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final float TWO_112 = 0x1p112f;

    /** The forward takes the register path up to this many rows of x. */
    private static final int DOT_MAX_ROWS = 4;
    private static final long PARALLEL_MIN_MACS = 1 << 15;

    /** Per-thread float scratch: [0] a row (or part of one) of decoded W. */
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[][]{new float[0]});

    private FrozenMatmulCpu() {}

    /** y [n][out] = x [n][in]·Wᵀ, overwriting y; W is [out][in]. */
    public static void forward(float[] y, int yOff, float[] x, int xOff, WeightMatrix w, int n) {
        int in = w.cols(), out = w.rows();
        if (w.isF32()) {
            MatmulCpu.forward(y, yOff, x, xOff, w.f32(), 0, n, in, out);
        } else if (n <= 0 || out <= 0) {
            return;
        } else if (in <= 0) {
            java.util.Arrays.fill(y, yOff, yOff + n * out, 0f);
        } else if (n <= DOT_MAX_ROWS) {
            run(out, (long) n * in * out, (from, to) -> {
                float[] row = rowScratch(w);
                for (int o = from; o < to; o++)
                    for (int i = 0; i < n; i++) y[yOff + i * out + o] = dot(w, o, x, xOff + i * in, row);
            });
        } else {
            // y = x·Wᵀ: the GEMM's B(p, j) = W[j][p], its K blocks on W's blocks of values
            MatmulCpu.gemm(y, yOff, out, false, x, xOff, in, 1, (pb, pc, kc, jc, nc) -> packRows(w, pb, pc, kc, jc, nc),
                    w.type().blockSize(), n, out, in);
        }
    }

    /** dx [n][in] += dy [n][out]·W; W is [out][in]. */
    public static void backwardInput(float[] dx, int dxOff, float[] dy, int dyOff, WeightMatrix w, int n) {
        int in = w.cols(), out = w.rows();
        if (w.isF32()) {
            MatmulCpu.backwardInput(dx, dxOff, dy, dyOff, w.f32(), 0, n, in, out);
            return;
        }
        if (n <= 0 || in <= 0 || out <= 0) return;
        // dx += dy·W: the GEMM's B(p, j) = W[p][j]
        MatmulCpu.gemm(dx, dxOff, in, true, dy, dyOff, out, 1, (pb, pc, kc, jc, nc) -> packColumns(w, pb, pc, kc, jc, nc), 1, n, in, out);
    }

    /**
     * The GEMM's block B(pc..pc+kc, jc..jc+nc) for B = Wᵀ (B(p, j) = W[j][p]): rows jc.. of W, columns
     * pc.., decoded a row at a time (from the block that holds column pc) and laid into the panels.
     */
    private static void packRows(WeightMatrix w, float[] pb, int pc, int kc, int jc, int nc) {
        int nr = MatmulCpu.panelWidth(), bs = w.type().blockSize();
        int p0 = pc / bs * bs, p1 = Math.min(w.cols(), (pc + kc + bs - 1) / bs * bs), skip = pc - p0;
        float[] row = grow(SCRATCH.get(), 0, p1 - p0);
        for (int jr = 0; jr < nc; jr += nr) {
            int base = jr * kc, cols = Math.min(nr, nc - jr);
            for (int j = 0; j < nr; j++) {
                int dst = base + j;
                if (j < cols) {
                    decode(w, jc + jr + j, jc + jr + j + 1, p0, p1, row, 0, p1 - p0);
                    for (int kk = 0; kk < kc; kk++) pb[dst + kk * nr] = row[skip + kk];
                } else {
                    for (int kk = 0; kk < kc; kk++) pb[dst + kk * nr] = 0f;
                }
            }
        }
    }

    /**
     * The GEMM's block B(pc..pc+kc, jc..jc+nc) for B = W (B(p, j) = W[p][j]): rows pc.. of W, each
     * decoded over columns jc.. (from the block that holds column jc) and cut into the panels.
     */
    private static void packColumns(WeightMatrix w, float[] pb, int pc, int kc, int jc, int nc) {
        int nr = MatmulCpu.panelWidth(), bs = w.type().blockSize();
        int c0 = jc / bs * bs, c1 = Math.min(w.cols(), (jc + nc + bs - 1) / bs * bs), skip = jc - c0;
        float[] row = grow(SCRATCH.get(), 0, c1 - c0);
        for (int kk = 0; kk < kc; kk++) {
            decode(w, pc + kk, pc + kk + 1, c0, c1, row, 0, c1 - c0);
            for (int jr = 0; jr < nc; jr += nr) {
                int dst = jr * kc + kk * nr, cols = Math.min(nr, nc - jr);
                System.arraycopy(row, skip + jr, pb, dst, cols);
                if (cols < nr) java.util.Arrays.fill(pb, dst + cols, dst + nr, 0f);
            }
        }
    }

    /** out [n][dim] = rows tokens[i] of the table W [vocab][dim], decoded. */
    public static void embedding(float[] out, WeightMatrix table, int[] tokens, int n) {
        int dim = table.cols();
        if (table.isF32()) {
            Embedding.forward(out, table.f32(), tokens, n, dim);
            return;
        }
        for (int i = 0; i < n; i++) decode(table, tokens[i], tokens[i] + 1, 0, dim, out, i * dim, dim);
    }

    private static void run(int parts, long macs, Threads.RangeTask task) {
        if (macs < PARALLEL_MIN_MACS) task.run(0, parts);
        else Threads.parallelFor(parts, task);
    }

    private static float[] grow(float[][] s, int i, int size) {
        if (s[i].length < size) s[i] = new float[size];
        return s[i];
    }

    /** A row of floats for types without a vector decode (null when the row is decoded in registers). */
    private static float[] rowScratch(WeightMatrix w) {
        return vectorDecode(w.type()) ? null : grow(SCRATCH.get(), 0, w.cols());
    }

    private static boolean vectorDecode(GgmlType t) {
        return VECTOR && (t == GgmlType.BF16 || t == GgmlType.F16 || t == GgmlType.Q8_0 || t == GgmlType.Q4_0);
    }

    // ---------------------------------------------------------------- the register path

    /** W[o]·x[xOff..xOff+in): decoded in registers, or through {@code row} (a float scratch row) on the scalar path. */
    static float dot(WeightMatrix w, int o, float[] x, int xOff, float[] row) {
        int in = w.cols();
        if (row != null) {
            decode(w, o, o + 1, 0, in, row, 0, in);
            FloatVector acc = FloatVector.zero(S);
            int k = 0;
            for (int bound = S.loopBound(in); k < bound; k += L)
                acc = FloatVector.fromArray(S, row, k).fma(FloatVector.fromArray(S, x, xOff + k), acc);
            float s = MatmulCpu.sum(acc);
            for (; k < in; k++) s += row[k] * x[xOff + k];
            return s;
        }
        MemorySegment seg = w.data();
        long base = o * w.rowBytes();
        // one small method per type: each is compiled with its own inlining budget, so the vector
        // helpers inline (a vector returned from a call that is not inlined is boxed: many times slower)
        return switch (w.type()) {
            case BF16 -> dotBf16(seg, base, x, xOff, in);
            case F16 -> dotF16(seg, base, x, xOff, in);
            case Q8_0 -> dotQ8(seg, base, x, xOff, in);
            case Q4_0 -> dotQ4(seg, base, x, xOff, in);
            default -> throw new AssertionError(w.type());
        };
    }

    // Two accumulators (even and odd vectors or blocks) so that consecutive FMAs do not wait on each other's latency.

    private static float dotBf16(MemorySegment seg, long base, float[] x, int xOff, int in) {
        FloatVector acc = FloatVector.zero(S), acc1 = acc;
        int k = 0;
        for (int bound = in - 2 * L; k <= bound; k += 2 * L) {
            acc = bf16(seg, base + 2L * k).fma(FloatVector.fromArray(S, x, xOff + k), acc);
            acc1 = bf16(seg, base + 2L * (k + L)).fma(FloatVector.fromArray(S, x, xOff + k + L), acc1);
        }
        for (int bound = S.loopBound(in); k < bound; k += L) acc = bf16(seg, base + 2L * k).fma(FloatVector.fromArray(S, x, xOff + k), acc);
        float s = MatmulCpu.sum(acc.add(acc1));
        for (; k < in; k++) s += Dequant.bf16ToF32(seg.get(SHORT_LE, base + 2L * k)) * x[xOff + k];
        return s;
    }

    private static float dotF16(MemorySegment seg, long base, float[] x, int xOff, int in) {
        FloatVector acc = FloatVector.zero(S), acc1 = acc;
        int k = 0;
        for (int bound = in - 2 * L; k <= bound; k += 2 * L) {
            acc = f16(seg, base + 2L * k).fma(FloatVector.fromArray(S, x, xOff + k), acc);
            acc1 = f16(seg, base + 2L * (k + L)).fma(FloatVector.fromArray(S, x, xOff + k + L), acc1);
        }
        for (int bound = S.loopBound(in); k < bound; k += L) acc = f16(seg, base + 2L * k).fma(FloatVector.fromArray(S, x, xOff + k), acc);
        float s = MatmulCpu.sum(acc.add(acc1));
        for (; k < in; k++) s += Dequant.f16At(seg, base + 2L * k) * x[xOff + k];
        return s;
    }

    private static float dotQ8(MemorySegment seg, long base, float[] x, int xOff, int in) {
        FloatVector acc = FloatVector.zero(S), acc1 = acc;
        long b = base;
        int k = 0;
        for (; k + 64 <= in; k += 64, b += 68) {
            FloatVector block = FloatVector.zero(S), block1 = block;
            for (int j = 0; j < 32; j += L) {
                block = q8(seg, b + 2 + j).fma(FloatVector.fromArray(S, x, xOff + k + j), block);
                block1 = q8(seg, b + 36 + j).fma(FloatVector.fromArray(S, x, xOff + k + 32 + j), block1);
            }
            acc = block.fma(scale(seg, b), acc);
            acc1 = block1.fma(scale(seg, b + 34), acc1);
        }
        if (k < in) { // an odd last block
            FloatVector block = FloatVector.zero(S);
            for (int j = 0; j < 32; j += L) block = q8(seg, b + 2 + j).fma(FloatVector.fromArray(S, x, xOff + k + j), block);
            acc = block.fma(scale(seg, b), acc);
        }
        return MatmulCpu.sum(acc.add(acc1));
    }

    private static float dotQ4(MemorySegment seg, long base, float[] x, int xOff, int in) {
        FloatVector acc = FloatVector.zero(S), acc1 = acc;
        long b = base;
        for (int k = 0; k < in; k += 32, b += 18) {
            FloatVector lo = FloatVector.zero(S), hi = lo;
            for (int j = 0; j < 16; j += L) { // L bytes give elements j.. (low nibbles) and 16 + j.. (high)
                IntVector q = nibbles(seg, b + 2 + j);
                lo = low(q).fma(FloatVector.fromArray(S, x, xOff + k + j), lo);
                hi = high(q).fma(FloatVector.fromArray(S, x, xOff + k + 16 + j), hi);
            }
            FloatVector sc = scale(seg, b);
            acc = lo.fma(sc, acc);
            acc1 = hi.fma(sc, acc1);
        }
        return MatmulCpu.sum(acc.add(acc1));
    }

    private static FloatVector bf16(MemorySegment seg, long off) {
        IntVector bits = (IntVector) ShortVector.fromMemorySegment(SH, seg, off, ByteOrder.LITTLE_ENDIAN).convertShape(VectorOperators.S2I, I, 0);
        return bits.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    /**
     * IEEE half to float: the exponent and mantissa shifted into a float's place and multiplied by
     * 2¹¹² (exact, subnormal halves included), infinities and NaNs given the all-ones exponent, the sign
     * put back.
     */
    private static FloatVector f16(MemorySegment seg, long off) {
        IntVector h = (IntVector) ShortVector.fromMemorySegment(SH, seg, off, ByteOrder.LITTLE_ENDIAN).convertShape(VectorOperators.ZERO_EXTEND_S2I, I, 0);
        IntVector magnitude = h.and(0x7fff).lanewise(VectorOperators.LSHL, 13);
        FloatVector f = magnitude.reinterpretAsFloats().mul(TWO_112);
        IntVector bits = f.reinterpretAsInts().blend(magnitude.or(0x7f800000), h.and(0x7c00).eq(0x7c00));
        return bits.or(h.and(0x8000).lanewise(VectorOperators.LSHL, 16)).reinterpretAsFloats();
    }

    /** The int8 values of a Q8_0 block at off, widened (not scaled). */
    private static FloatVector q8(MemorySegment seg, long off) {
        return (FloatVector) ByteVector.fromMemorySegment(BY, seg, off, ByteOrder.LITTLE_ENDIAN).convertShape(VectorOperators.B2F, S, 0);
    }

    /**
     * L bytes of a Q4_0 block's nibbles at off, zero-extended to ints (shifting and masking ints, not
     * bytes: x86 has no byte shifts, and the Vector API's byte shift is far slower than the int one).
     */
    private static IntVector nibbles(MemorySegment seg, long off) {
        return (IntVector) ByteVector.fromMemorySegment(BY, seg, off, ByteOrder.LITTLE_ENDIAN).convertShape(VectorOperators.B2I, I, 0);
    }

    /** q - 8 of the low nibbles (a block's elements 0..15), as floats. */
    private static FloatVector low(IntVector bytes) {
        return (FloatVector) bytes.and(0x0f).sub(8).convertShape(VectorOperators.I2F, S, 0);
    }

    /** q - 8 of the high nibbles (elements 16..31), as floats. */
    private static FloatVector high(IntVector bytes) {
        return (FloatVector) bytes.lanewise(VectorOperators.LSHR, 4).and(0x0f).sub(8).convertShape(VectorOperators.I2F, S, 0);
    }

    /** A block's f16 scale (its first two bytes), broadcast. */
    private static FloatVector scale(MemorySegment seg, long block) {
        return FloatVector.broadcast(S, Dequant.f16At(seg, block));
    }

    // ---------------------------------------------------------------- decoding into floats

    /**
     * Rows [r0, r1) and columns [c0, c1) of W as float32 into dst (row r at dstOff + (r-r0)*ld).
     * For quantised types c0 must start a block and c1 end one (or be the row's end). The values are
     * exactly the type's dequantised values (q·d in float32 for Q8_0/Q4_0).
     */
    public static void decode(WeightMatrix w, int r0, int r1, int c0, int c1, float[] dst, int dstOff, int ld) {
        if (w.isF32()) {
            for (int r = r0; r < r1; r++) System.arraycopy(w.f32(), r * w.cols() + c0, dst, dstOff + (r - r0) * ld, c1 - c0);
            return;
        }
        GgmlType t = w.type();
        int bs = t.blockSize();
        if (c0 % bs != 0 || (c1 % bs != 0 && c1 != w.cols())) {
            throw new IllegalArgumentException("columns [" + c0 + ", " + c1 + ") of a " + t + " matrix do not fall on its blocks of " + bs);
        }
        MemorySegment seg = w.data();
        boolean vector = vectorDecode(t);
        for (int r = r0; r < r1; r++) {
            long base = r * w.rowBytes();
            int d = dstOff + (r - r0) * ld - c0, k = c0;
            if (vector) {
                k = switch (t) { // one small method per type, as dot's
                    case BF16 -> decodeBf16(seg, base, k, c1, dst, d);
                    case F16 -> decodeF16(seg, base, k, c1, dst, d);
                    case Q8_0 -> decodeQ8(seg, base, k, c1, dst, d);
                    case Q4_0 -> decodeQ4(seg, base, k, c1, dst, d);
                    default -> throw new AssertionError(t);
                };
            }
            if (k < c1) Dequant.dequantize(t, seg, base + t.byteSize(k), dst, d + k, c1 - k); // the scalar path, or a float row's tail
        }
    }

    /** Row values [k, c1) at base (a row's bytes) into dst[d + k ..], whole vectors; returns where it stopped. */
    private static int decodeBf16(MemorySegment seg, long base, int k, int c1, float[] dst, int d) {
        for (; k + L <= c1; k += L) bf16(seg, base + 2L * k).intoArray(dst, d + k);
        return k;
    }

    private static int decodeF16(MemorySegment seg, long base, int k, int c1, float[] dst, int d) {
        for (; k + L <= c1; k += L) f16(seg, base + 2L * k).intoArray(dst, d + k);
        return k;
    }

    private static int decodeQ8(MemorySegment seg, long base, int k, int c1, float[] dst, int d) {
        for (; k < c1; k += 32) {
            long b = base + (k >> 5) * 34L;
            FloatVector sc = scale(seg, b);
            for (int j = 0; j < 32; j += L) q8(seg, b + 2 + j).mul(sc).intoArray(dst, d + k + j);
        }
        return k;
    }

    private static int decodeQ4(MemorySegment seg, long base, int k, int c1, float[] dst, int d) {
        for (; k < c1; k += 32) {
            long b = base + (k >> 5) * 18L;
            FloatVector sc = scale(seg, b);
            for (int j = 0; j < 16; j += L) {
                IntVector q = nibbles(seg, b + 2 + j);
                low(q).mul(sc).intoArray(dst, d + k + j);
                high(q).mul(sc).intoArray(dst, d + k + 16 + j);
            }
        }
        return k;
    }
}
