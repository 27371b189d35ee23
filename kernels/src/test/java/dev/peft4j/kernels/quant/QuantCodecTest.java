package dev.peft4j.kernels.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Locale;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.Test;

/**
 * The codec against llama.cpp's gguf-py, bit for bit: fixtures under src/test/resources/quant/ made by
 * src/test/golden/make_quant_fixtures.py (random data with edge values; for Q4_K and Q6_K random block
 * bytes with valid f16 scales).
 */
class QuantCodecTest {

    @ParameterizedTest
    @EnumSource(value = GgmlType.class, names = {"F16", "BF16", "Q8_0", "Q4_0", "Q4_K", "Q6_K"})
    void dequantisesAsGgufPy(GgmlType type) {
        byte[] stored = resource(type, ".bytes");
        float[] expected = floats(resource(type, ".out.f32"));
        float[] got = Dequant.dequantize(type, MemorySegment.ofArray(stored), 0, expected.length);
        assertBitsEqual(type + " dequantise", expected, got);
    }

    @ParameterizedTest
    @EnumSource(value = GgmlType.class, names = {"F16", "BF16", "Q8_0", "Q4_0"})
    void quantisesAsGgufPy(GgmlType type) {
        float[] in = floats(resource(type, ".in.f32"));
        byte[] expected = resource(type, ".bytes");
        byte[] got = Quantize.quantize(type, in, 0, in.length);
        int mismatches = 0;
        int first = -1;
        for (int i = 0; i < expected.length; i++) {
            if (expected[i] != got[i]) {
                mismatches++;
                if (first < 0) first = i;
            }
        }
        System.out.printf(Locale.ROOT, "%s quantise: %d values -> %d bytes, first bytes %s, mismatching bytes %d (tolerance 0)%n",
                type, in.length, got.length, hex(got, 8), mismatches);
        assertEquals(expected.length, got.length, type + " byte count");
        assertEquals(0, mismatches, type + ": first mismatch at byte " + first);
    }

    @Test
    void dequantisesFromAnUnalignedOffsetOfAMappedStyleSegment() {
        byte[] stored = resource(GgmlType.Q6_K, ".bytes");
        float[] expected = floats(resource(GgmlType.Q6_K, ".out.f32"));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(stored.length + 3);
            MemorySegment.copy(MemorySegment.ofArray(stored), 0, seg, 3, stored.length);
            float[] got = new float[expected.length + 5];
            Dequant.dequantize(GgmlType.Q6_K, seg, 3, got, 5, expected.length);
            float[] tail = java.util.Arrays.copyOfRange(got, 5, got.length);
            assertBitsEqual("Q6_K at byte 3", expected, tail);
        }
    }

    @ParameterizedTest
    @EnumSource(value = GgmlType.class, names = {"F32", "F16", "BF16", "Q8_0", "Q4_0"})
    void roundTripStaysWithinHalfAStep(GgmlType type) {
        SplittableRandom r = new SplittableRandom(7);
        float[] x = new float[256];
        for (int i = 0; i < x.length; i++) x[i] = (float) (r.nextGaussian() * 0.5);
        float[] y = Dequant.dequantize(type, MemorySegment.ofArray(Quantize.quantize(type, x, 0, x.length)), 0, x.length);
        double worst = 0;
        for (int b = 0; b < x.length; b += 32) {
            double amax = 0;
            for (int j = b; j < b + 32; j++) amax = Math.max(amax, Math.abs(x[j]));
            for (int j = b; j < b + 32; j++) {
                // Half a step of the type, plus what rounding the block's scale to f16 adds (127 or 8 steps of it).
                double bound = switch (type) {
                    case F32 -> 0;
                    case F16 -> Math.abs(x[j]) * 0x1p-11;
                    case BF16 -> Math.abs(x[j]) * 0x1p-8;
                    case Q8_0 -> amax / 127 * (0.5 + 127 * 0x1p-11);
                    case Q4_0 -> amax / 8 * (1 + 8 * 0x1p-11);
                    default -> throw new AssertionError(type);
                };
                double err = Math.abs(x[j] - y[j]);
                worst = Math.max(worst, bound == 0 ? err : err / bound);
                assertTrue(err <= bound, type + " value " + j + ": " + x[j] + " came back as " + y[j] + ", bound " + bound);
            }
        }
        System.out.printf(Locale.ROOT, "%s round trip: worst error %.3f of the bound%n", type, worst);
    }

    @Test
    void halfConversionsAgreeWithTheJdkOnOrdinaryValues() {
        for (int h = 0; h < 0x10000; h++) {
            short bits = (short) h;
            float f = Dequant.f16ToF32(bits);
            if (Float.isNaN(f)) continue;
            assertEquals(bits, Quantize.f32ToF16(f), "f16 " + Integer.toHexString(h));
            short b = Quantize.f32ToBf16(Dequant.bf16ToF32(bits));
            if (!Float.isNaN(Dequant.bf16ToF32(bits))) assertEquals(bits, b, "bf16 " + Integer.toHexString(h));
        }
    }

    @Test
    void sizesAndIds() {
        assertEquals(34 * 3, GgmlType.Q8_0.byteSize(96));
        assertEquals(144, GgmlType.Q4_K.byteSize(256));
        assertEquals(210 * 2, GgmlType.Q6_K.byteSize(512));
        assertEquals(18, GgmlType.Q4_0.byteSize(32));
        assertEquals(6, GgmlType.BF16.byteSize(3));
        var e = assertThrows(IllegalArgumentException.class, () -> GgmlType.Q8_0.byteSize(33));
        assertTrue(e.getMessage().contains("Q8_0") && e.getMessage().contains("33") && e.getMessage().contains("32"), e.getMessage());
        assertEquals(GgmlType.BF16, GgmlType.ofId(30));
        assertEquals(GgmlType.Q6_K, GgmlType.ofId(14));
        assertNull(GgmlType.ofId(3));
        assertEquals(GgmlType.Q4_K, GgmlType.ofName("q4_k"));
        assertThrows(UnsupportedOperationException.class, () -> Quantize.quantize(GgmlType.Q4_K, new float[256], 0, 256));
        assertThrows(IndexOutOfBoundsException.class,
                () -> Dequant.dequantize(GgmlType.Q8_0, MemorySegment.ofArray(new byte[33]), 0, 32));
    }

    private static void assertBitsEqual(String what, float[] expected, float[] got) {
        double maxDiff = 0;
        int mismatches = 0;
        for (int i = 0; i < expected.length; i++) {
            if (Float.floatToRawIntBits(expected[i]) != Float.floatToRawIntBits(got[i])) mismatches++;
            if (Float.isFinite(expected[i])) maxDiff = Math.max(maxDiff, Math.abs(expected[i] - got[i]));
        }
        System.out.printf(Locale.ROOT, "%s: %d values, first %s, max abs diff %.3g, bit mismatches %d (tolerance 0)%n",
                what, expected.length, java.util.Arrays.toString(java.util.Arrays.copyOf(got, 4)), maxDiff, mismatches);
        int[] e = new int[expected.length];
        int[] g = new int[got.length];
        for (int i = 0; i < e.length; i++) {
            e[i] = Float.floatToRawIntBits(expected[i]);
            g[i] = Float.floatToRawIntBits(got[i]);
        }
        assertArrayEquals(e, g, what + " bits");
    }

    private static byte[] resource(GgmlType type, String suffix) {
        String name = "/quant/" + type.name().toLowerCase(Locale.ROOT) + suffix;
        try (InputStream in = QuantCodecTest.class.getResourceAsStream(name)) {
            if (in == null) throw new IllegalStateException("missing fixture " + name);
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static float[] floats(byte[] bytes) {
        float[] f = new float[bytes.length / 4];
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(f);
        return f;
    }

    private static String hex(byte[] b, int n) {
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < Math.min(n, b.length); i++) s.append(String.format(Locale.ROOT, "%02x", b[i]));
        return s.toString();
    }
}
