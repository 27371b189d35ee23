package dev.peft4j.kernels.quant;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Scalar float32 to F32, F16, BF16, Q8_0 and Q4_0, bit for bit what llama.cpp's gguf-py writes (its
 * float32 arithmetic, its rounding):
 *
 * <pre>
 *   F16   round to nearest even (NaN: sign, 0x7c00 | top 10 payload bits, never 0 payload)
 *   BF16  NaN made quiet; otherwise round to nearest even on the top 16 bits
 *   Q8_0  d = amax/127, id = 1/d (0 when d = 0), q = round-half-away(x·id); stores f16(d), int8 q
 *   Q4_0  m = the value of largest |x| (first one), d = m/−8, id = 1/d (0 when d = 0),
 *         q = clamp(trunc(x·id + 8.5), 0, 15); stores f16(d), nibbles (values 0..15 low, 16..31 high)
 * </pre>
 *
 * Q4_K and Q6_K are read only (gguf-py does not quantise them either).
 */
public final class Quantize {
    private Quantize() {}

    /** Whether peft4j can write this type. */
    public static boolean supports(GgmlType type) {
        return switch (type) {
            case F32, F16, BF16, Q8_0, Q4_0 -> true;
            case Q4_K, Q6_K -> false;
        };
    }

    /** float32 to IEEE half bits, round to nearest even; NaN keeps its sign and top payload bits as numpy does. */
    public static short f32ToF16(float x) {
        int bits = Float.floatToRawIntBits(x);
        if ((bits & 0x7FFFFFFF) > 0x7F800000) {
            int payload = (bits & 0x007FFFFF) >>> 13;
            return (short) (((bits >>> 16) & 0x8000) | 0x7C00 | (payload == 0 ? 1 : payload));
        }
        return Float.floatToFloat16(x);
    }

    /** float32 to bfloat16 bits as ggml_compute_fp32_to_bf16: NaN made quiet, else round to nearest even. */
    public static short f32ToBf16(float x) {
        int n = Float.floatToRawIntBits(x);
        if ((n & 0x7FFFFFFF) > 0x7F800000) return (short) (((n & 0xFFFF0000) | 0x00400000) >>> 16);
        long r = (n & 0xFFFFFFFFL) + (0x7FFF + ((n >>> 16) & 1));
        return (short) (r >>> 16);
    }

    /**
     * Writes src[srcOff .. srcOff+n) as {@code type} to dst from byte dstOff ({@code type.byteSize(n)} bytes).
     *
     * @throws IllegalArgumentException when n is not a multiple of the block size
     * @throws UnsupportedOperationException for Q4_K and Q6_K
     */
    public static void quantize(GgmlType type, float[] src, int srcOff, int n, MemorySegment dst, long dstOff) {
        long bytes = type.byteSize(n);
        if (dstOff < 0 || dstOff + bytes > dst.byteSize()) {
            throw new IndexOutOfBoundsException(type + ": " + n + " values need " + bytes + " bytes at byte " + dstOff
                    + "; the segment has " + dst.byteSize());
        }
        switch (type) {
            case F32 -> MemorySegment.copy(src, srcOff, dst, Dequant.FLOAT, dstOff, n);
            case F16 -> {
                for (int i = 0; i < n; i++) dst.set(Dequant.SHORT, dstOff + 2L * i, f32ToF16(src[srcOff + i]));
            }
            case BF16 -> {
                for (int i = 0; i < n; i++) dst.set(Dequant.SHORT, dstOff + 2L * i, f32ToBf16(src[srcOff + i]));
            }
            case Q8_0 -> {
                for (int b = 0; b < n / 32; b++) q8_0Block(src, srcOff + 32 * b, dst, dstOff + 34L * b);
            }
            case Q4_0 -> {
                for (int b = 0; b < n / 32; b++) q4_0Block(src, srcOff + 32 * b, dst, dstOff + 18L * b);
            }
            case Q4_K, Q6_K -> throw new UnsupportedOperationException(
                    "quantising to " + type + " is not supported (only F32, F16, BF16, Q8_0, Q4_0)");
        }
    }

    /** src[srcOff .. srcOff+n) as {@code type}, in a new byte array. */
    public static byte[] quantize(GgmlType type, float[] src, int srcOff, int n) {
        byte[] out = new byte[Math.toIntExact(type.byteSize(n))];
        quantize(type, src, srcOff, n, MemorySegment.ofArray(out), 0);
        return out;
    }

    /** One Q8_0 block of src[off .. off+32) to 34 bytes at dst[at]. */
    public static void q8_0Block(float[] src, int off, MemorySegment dst, long at) {
        float amax = 0f;
        for (int j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(src[off + j]));
        float d = amax / 127f;
        float id = d == 0f ? 0f : 1f / d;
        dst.set(Dequant.SHORT, at, f32ToF16(d));
        for (int j = 0; j < 32; j++) dst.set(ValueLayout.JAVA_BYTE, at + 2 + j, (byte) (int) roundHalfAway(src[off + j] * id));
    }

    /** One Q4_0 block of src[off .. off+32) to 18 bytes at dst[at]. */
    public static void q4_0Block(float[] src, int off, MemorySegment dst, long at) {
        float max = src[off];
        float amax = Math.abs(max);
        for (int j = 1; j < 32; j++) {
            float a = Math.abs(src[off + j]);
            if (a > amax) {
                amax = a;
                max = src[off + j];
            }
        }
        float d = max / -8f;
        float id = d == 0f ? 0f : 1f / d;
        dst.set(Dequant.SHORT, at, f32ToF16(d));
        for (int j = 0; j < 16; j++) {
            int lo = Math.clamp((int) (src[off + j] * id + 8.5f), 0, 15);
            int hi = Math.clamp((int) (src[off + j + 16] * id + 8.5f), 0, 15);
            dst.set(ValueLayout.JAVA_BYTE, at + 2 + j, (byte) (lo | (hi << 4)));
        }
    }

    /** Rounds half away from zero in float32, as gguf-py's np_roundf: sign(x)·(⌊|x|⌋ + ⌊2(|x| − ⌊|x|⌋)⌋). */
    static float roundHalfAway(float x) {
        float a = Math.abs(x);
        float floored = (float) Math.floor(a);
        float b = floored + (float) Math.floor(2f * (a - floored));
        return Math.signum(x) * b;
    }
}
