package dev.peft4j.kernels.quant;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Scalar dequantisation of every {@link GgmlType} to float32, bit for bit what llama.cpp's gguf-py
 * computes (float32 arithmetic in its order: Q4_K is {@code (d·sc)·q − dmin·m}, Q6_K {@code (d·sc)·q}).
 * GGUF data is little-endian; segments may be unaligned (memory-mapped files).
 */
public final class Dequant {
    private Dequant() {}

    static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** IEEE half bits to float32 (exact; a NaN keeps its payload and stays signalling, as numpy's does). */
    public static float f16ToF32(short h) {
        if ((h & 0x7C00) == 0x7C00 && (h & 0x03FF) != 0) {
            return Float.intBitsToFloat(((h & 0x8000) << 16) | 0x7F800000 | ((h & 0x03FF) << 13));
        }
        return Float.float16ToFloat(h);
    }

    /** bfloat16 bits to float32 (exact: the bits become the top half). */
    public static float bf16ToF32(short b) {
        return Float.intBitsToFloat(b << 16);
    }

    /** The f16 stored little-endian at byte offset off. */
    public static float f16At(MemorySegment src, long off) {
        return f16ToF32(src.get(SHORT, off));
    }

    /**
     * dst[dstOff .. dstOff+n) = the n values of {@code type} stored from byte {@code offset} of src.
     *
     * @throws IllegalArgumentException when n is not a multiple of the type's block size
     */
    public static void dequantize(GgmlType type, MemorySegment src, long offset, float[] dst, int dstOff, int n) {
        long bytes = type.byteSize(n);
        if (offset < 0 || offset + bytes > src.byteSize()) {
            throw new IndexOutOfBoundsException(type + ": " + n + " values at byte " + offset + " need " + bytes
                    + " bytes; the segment has " + src.byteSize());
        }
        switch (type) {
            case F32 -> MemorySegment.copy(src, FLOAT, offset, dst, dstOff, n);
            case F16, BF16 -> halves(type == GgmlType.BF16, src, offset, dst, dstOff, n);
            case Q8_0, Q4_0, Q4_K, Q6_K -> blocks(type, src, offset, dst, dstOff, n);
        }
    }

    /** The n values of {@code type} from byte offset of src, as a new array. */
    public static float[] dequantize(GgmlType type, MemorySegment src, long offset, int n) {
        float[] out = new float[n];
        dequantize(type, src, offset, out, 0, n);
        return out;
    }

    /** 16-bit floats in chunks: a bulk copy to a short[], then a loop the JIT vectorises (F16C / shifts). */
    private static void halves(boolean bf16, MemorySegment src, long offset, float[] dst, int dstOff, int n) {
        short[] chunk = new short[Math.min(n, 4096)];
        for (int from = 0; from < n; from += chunk.length) {
            int m = Math.min(chunk.length, n - from);
            MemorySegment.copy(src, SHORT, offset + 2L * from, chunk, 0, m);
            int o = dstOff + from;
            if (bf16) {
                for (int i = 0; i < m; i++) dst[o + i] = Float.intBitsToFloat(chunk[i] << 16);
            } else {
                for (int i = 0; i < m; i++) dst[o + i] = Float.float16ToFloat(chunk[i]);
                for (int i = 0; i < m; i++) if ((chunk[i] & 0x7C00) == 0x7C00 && (chunk[i] & 0x03FF) != 0) dst[o + i] = f16ToF32(chunk[i]);
            }
        }
    }

    /** Blocks in chunks: a bulk copy of their bytes to a byte[], then each block decoded from it. */
    private static void blocks(GgmlType type, MemorySegment src, long offset, float[] dst, int dstOff, int n) {
        int bs = type.blockSize(), bb = type.bytesPerBlock(), count = n / bs;
        int per = Math.max(1, 16384 / bb);
        byte[] chunk = new byte[Math.min(count, per) * bb];
        MemorySegment heap = MemorySegment.ofArray(chunk);
        for (int b = 0; b < count; b += per) {
            int m = Math.min(per, count - b);
            MemorySegment.copy(src, offset + (long) b * bb, heap, 0, (long) m * bb);
            for (int j = 0; j < m; j++) {
                int at = j * bb, o = dstOff + (b + j) * bs;
                switch (type) {
                    case Q8_0 -> {
                        float d = f16ToF32((short) ((chunk[at] & 0xFF) | chunk[at + 1] << 8));
                        for (int k = 0; k < 32; k++) dst[o + k] = chunk[at + 2 + k] * d;
                    }
                    case Q4_0 -> {
                        float d = f16ToF32((short) ((chunk[at] & 0xFF) | chunk[at + 1] << 8));
                        for (int k = 0; k < 16; k++) {
                            int q = chunk[at + 2 + k] & 0xFF;
                            dst[o + k] = d * ((q & 0x0F) - 8);
                            dst[o + k + 16] = d * ((q >>> 4) - 8);
                        }
                    }
                    case Q4_K -> q4KBlock(heap, at, dst, o);
                    case Q6_K -> q6KBlock(heap, at, dst, o);
                    default -> throw new IllegalArgumentException(type.toString());
                }
            }
        }
    }

    /** One Q8_0 block (34 bytes: f16 d, int8 q[32]) to dst[off .. off+32): x = q·d. */
    public static void q8_0Block(MemorySegment src, long at, float[] dst, int off) {
        float d = f16At(src, at);
        for (int j = 0; j < 32; j++) dst[off + j] = src.get(ValueLayout.JAVA_BYTE, at + 2 + j) * d;
    }

    /** One Q4_0 block (18 bytes: f16 d, 16 bytes of nibbles; low nibbles are values 0..15): x = (q−8)·d. */
    public static void q4_0Block(MemorySegment src, long at, float[] dst, int off) {
        float d = f16At(src, at);
        for (int j = 0; j < 16; j++) {
            int q = src.get(ValueLayout.JAVA_BYTE, at + 2 + j) & 0xFF;
            dst[off + j] = d * ((q & 0x0F) - 8);
            dst[off + j + 16] = d * ((q >>> 4) - 8);
        }
    }

    /**
     * One Q4_K block (144 bytes): f16 d, f16 dmin, 12 bytes holding eight 6-bit scales and mins, 128 bytes
     * of nibbles. Sub-block s (32 values) is nibble half s%2 of bytes 32·(s/2) ..; x = (d·sc_s)·q − dmin·m_s.
     */
    public static void q4KBlock(MemorySegment src, long at, float[] dst, int off) {
        float d = f16At(src, at);
        float dmin = f16At(src, at + 2);
        long scales = at + 4;
        long qs = at + 16;
        for (int s = 0; s < 8; s++) {
            int sc;
            int m;
            if (s < 4) {
                sc = byteAt(src, scales + s) & 0x3F;
                m = byteAt(src, scales + 4 + s) & 0x3F;
            } else {
                int md = byteAt(src, scales + 8 + s - 4);
                sc = (md & 0x0F) | ((byteAt(src, scales + s - 4) >>> 2) & 0x30);
                m = (md >>> 4) | ((byteAt(src, scales + s) >>> 2) & 0x30);
            }
            float dl = d * sc;
            float ml = dmin * m;
            int shift = (s & 1) * 4;
            long group = qs + 32L * (s >>> 1);
            for (int j = 0; j < 32; j++) {
                int q = (byteAt(src, group + j) >>> shift) & 0x0F;
                dst[off + 32 * s + j] = dl * q - ml;
            }
        }
    }

    /**
     * One Q6_K block (210 bytes): ql[128] low nibbles, qh[64] high 2-bit pairs, int8 scales[16], f16 d.
     * Value e (of 256) in half h = e/128, w = e%128: low 4 bits from ql[64h + w%64] (nibble w/64), high 2
     * bits from qh[32h + w%32] (pair w/32); x = (d·scales[e/16])·(q − 32).
     */
    public static void q6KBlock(MemorySegment src, long at, float[] dst, int off) {
        float d = f16At(src, at + 208);
        for (int e = 0; e < 256; e++) {
            int h = e >>> 7;
            int w = e & 127;
            int lo = (byteAt(src, at + 64L * h + (w & 63)) >>> ((w >>> 6) * 4)) & 0x0F;
            int hi = (byteAt(src, at + 128 + 32L * h + (w & 31)) >>> ((w >>> 5) * 2)) & 0x03;
            float scale = d * src.get(ValueLayout.JAVA_BYTE, at + 192 + (e >>> 4));
            dst[off + e] = scale * ((lo | (hi << 4)) - 32);
        }
    }

    private static int byteAt(MemorySegment src, long at) {
        return src.get(ValueLayout.JAVA_BYTE, at) & 0xFF;
    }
}
