package dev.peft4j.kernels;

import dev.peft4j.kernels.quant.GgmlType;
import dev.peft4j.kernels.quant.Quantize;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * A weight matrix {@code [rows][cols]} (a linear layer's {@code [out][in]}, or an embedding table's
 * {@code [vocab][dim]}) in the type it is stored in. The type is a property of the tensor, so every
 * op that reads it, on any backend, sees the same description: type, shape and bytes.
 *
 * <p>{@link GgmlType#F32} is held in a {@code float[]} (the array trainable tensors and the
 * optimizer update in place). Every other type is a {@link MemorySegment} of {@code rows} rows of
 * {@link #rowBytes()} bytes each: a slice of a memory-mapped checkpoint or off-heap memory, never
 * expanded. Quantised rows are sequences of GGUF blocks along the row (ggml-common.h): Q8_0 is 32
 * values in 34 bytes (f16 scale, 32 int8), Q4_0 32 values in 18 bytes (f16 scale, 16 bytes of
 * nibbles), Q4_K 256 values in 144 bytes, Q6_K 256 values in 210 bytes; F16 and BF16 are 2 bytes a
 * value, little-endian.
 */
public final class WeightMatrix {
    private final GgmlType type;
    private final int rows, cols;
    private final float[] f32;        // F32: [rows][cols]; null otherwise
    private final MemorySegment data; // other types: [rows][rowBytes]; null for F32
    private final long rowBytes;

    private WeightMatrix(GgmlType type, int rows, int cols, float[] f32, MemorySegment data) {
        this.type = type;
        this.rows = rows;
        this.cols = cols;
        this.f32 = f32;
        this.data = data;
        this.rowBytes = type.byteSize(cols);
    }

    /** A float32 matrix over {@code data} [rows][cols] (not copied). */
    public static WeightMatrix of(float[] data, int rows, int cols) {
        if ((long) rows * cols != data.length) {
            throw new IllegalArgumentException("a " + rows + " x " + cols + " matrix needs " + (long) rows * cols + " floats, got " + data.length);
        }
        return new WeightMatrix(GgmlType.F32, rows, cols, data, null);
    }

    /** A matrix of {@code type} over {@code data} (not copied): rows × {@link #rowBytes(GgmlType, int)} bytes. */
    public static WeightMatrix of(GgmlType type, MemorySegment data, int rows, int cols) {
        if (type == GgmlType.F32) throw new IllegalArgumentException("an F32 weight matrix is held in a float[]: use of(float[], rows, cols)");
        if (cols % type.blockSize() != 0) {
            throw new IllegalArgumentException("a " + type + " row holds whole blocks of " + type.blockSize() + " values; " + cols + " columns is not a multiple");
        }
        long bytes = rows * rowBytes(type, cols);
        if (data.byteSize() != bytes) {
            throw new IllegalArgumentException("a " + rows + " x " + cols + " " + type + " matrix is " + bytes + " bytes, got " + data.byteSize());
        }
        return new WeightMatrix(type, rows, cols, null, data);
    }

    /** Zeroed off-heap storage for a matrix of {@code type} (an automatic arena: freed when unreachable). */
    public static WeightMatrix allocate(GgmlType type, int rows, int cols) {
        if (type == GgmlType.F32) return of(new float[Math.multiplyExact(rows, cols)], rows, cols);
        return of(type, Arena.ofAuto().allocate(rows * rowBytes(type, cols), 64), rows, cols);
    }

    /** Bytes of one row of {@code cols} values of {@code type}. */
    public static long rowBytes(GgmlType type, int cols) {
        if (cols % type.blockSize() != 0) {
            throw new IllegalArgumentException("a " + type + " row holds whole blocks of " + type.blockSize() + " values; " + cols + " columns is not a multiple");
        }
        return type.byteSize(cols);
    }

    public GgmlType type() {
        return type;
    }

    public int rows() {
        return rows;
    }

    public int cols() {
        return cols;
    }

    public boolean isF32() {
        return type == GgmlType.F32;
    }

    /** The float32 values [rows][cols], the matrix's own array; only for {@link GgmlType#F32}. */
    public float[] f32() {
        if (f32 == null) throw new IllegalStateException("this " + rows + " x " + cols + " weight is stored as " + type + ", not float32");
        return f32;
    }

    /** The stored bytes, [rows][rowBytes]; only for types other than {@link GgmlType#F32}. */
    public MemorySegment data() {
        if (data == null) throw new IllegalStateException("a float32 weight has no byte segment; read f32()");
        return data;
    }

    /** Bytes of one stored row. */
    public long rowBytes() {
        return rowBytes;
    }

    /** Bytes the matrix occupies. */
    public long bytes() {
        return rows * rowBytes;
    }

    /** Rows [r0, r1), columns [c0, c1) as float32 into dst (row stride ld); see {@link FrozenMatmulCpu#decode}. */
    public void decode(int r0, int r1, int c0, int c1, float[] dst, int dstOff, int ld) {
        FrozenMatmulCpu.decode(this, r0, r1, c0, c1, dst, dstOff, ld);
    }

    /**
     * This matrix in {@code target}: itself when it is already, else its values decoded a few rows at a
     * time and rounded or quantised ({@link Quantize}), so no float32 copy of the whole matrix is made
     * unless float32 is the target.
     */
    public WeightMatrix convert(GgmlType target) {
        if (target == type) return this;
        if (target == GgmlType.F32) return of(type == GgmlType.F32 ? f32.clone() : toF32(), rows, cols);
        if (!Quantize.supports(target)) throw new IllegalArgumentException("cannot convert weights to " + target + " (no quantiser for it)");
        WeightMatrix out = allocate(target, rows, cols);
        int chunk = Math.max(1, (1 << 16) / Math.max(1, cols));
        float[] buf = new float[chunk * cols];
        for (int r0 = 0; r0 < rows; r0 += chunk) {
            int n = Math.min(chunk, rows - r0);
            decode(r0, r0 + n, 0, cols, buf, 0, cols);
            Quantize.quantize(target, buf, 0, n * cols, out.data, r0 * out.rowBytes);
        }
        return out;
    }

    /** Every value as float32 [rows][cols]: the matrix's own array for F32, a decoded copy otherwise. */
    public float[] toF32() {
        if (f32 != null) return f32;
        float[] out = new float[Math.multiplyExact(rows, cols)];
        decode(0, rows, 0, cols, out, 0, cols);
        return out;
    }
}
