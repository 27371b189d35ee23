package dev.peft4j.api.io;

import dev.peft4j.api.UserException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

class SafetensorsTest {
    @TempDir
    Path dir;

    /** Builds a safetensors file by hand: 8-byte length, JSON, then the given data bytes. */
    private Path handMade(String name, String json, byte[] data) throws IOException {
        byte[] h = json.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h).put(data);
        Path p = dir.resolve(name);
        Files.write(p, b.array());
        return p;
    }

    private static byte[] le(Object... values) {
        ByteBuffer b = ByteBuffer.allocate(64).order(ByteOrder.LITTLE_ENDIAN);
        for (Object v : values) {
            if (v instanceof Float f) b.putFloat(f);
            else if (v instanceof Short s) b.putShort(s);
            else if (v instanceof Long l) b.putLong(l);
        }
        byte[] out = new byte[b.position()];
        b.flip().get(out);
        return out;
    }

    private static byte[] concat(byte[]... parts) {
        ByteBuffer b = ByteBuffer.allocate(Stream.of(parts).mapToInt(p -> p.length).sum());
        for (byte[] p : parts) b.put(p);
        return b.array();
    }

    @Test
    void parsesAHandMadeFile() throws IOException {
        // a: F32 [2][2], b: F16 [3], c: BF16 [2], ids: I64 [1]
        byte[] a = le(1.5f, -2f, 0.25f, 3e-3f);
        byte[] b = le((short) 0x3C00, (short) 0xC000, (short) 0x7BFF);   // 1, -2, 65504
        byte[] c = le((short) 0x3F80, (short) 0xC0A0);                   // 1, -5
        byte[] ids = le(7L);
        String json = """
                {"__metadata__":{"format":"pt","note":"hand"},
                 "a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},
                 "b":{"dtype":"F16","shape":[3],"data_offsets":[16,22]},
                 "c":{"dtype":"BF16","shape":[2],"data_offsets":[22,26]},
                 "ids":{"dtype":"I64","shape":[1],"data_offsets":[26,34]}}""";
        Path p = handMade("hand.safetensors", json, concat(a, b, c, ids));
        try (Safetensors st = Safetensors.open(p)) {
            assertEquals(List.of("a", "b", "c", "ids"), List.copyOf(st.names()));
            assertEquals(Map.of("format", "pt", "note", "hand"), st.metadata());
            assertArrayEquals(new long[]{2, 2}, st.shape("a"));
            assertEquals("F16", st.dtypeName("b"));
            assertEquals(DType.BF16, st.entry("c").dtype());
            assertNull(st.entry("ids").dtype());
            assertArrayEquals(new float[]{1.5f, -2f, 0.25f, 3e-3f}, st.readFloats("a"));
            assertArrayEquals(new float[]{1f, -2f, 65504f}, st.readFloats("b"));
            float[] cc = new float[2];
            st.readFloats("c", cc);
            assertArrayEquals(new float[]{1f, -5f}, cc);
            float[] part = new float[3];
            st.readFloats("a", 1, part, 1, 2);
            assertArrayEquals(new float[]{0f, -2f, 0.25f}, part);
            UserException e = assertThrows(UserException.class, () -> st.readFloats("ids"));
            assertTrue(e.getMessage().contains(p.toString()) && e.getMessage().contains("'ids'") && e.getMessage().contains("I64"), e.getMessage());
            e = assertThrows(UserException.class, () -> st.readFloats("nope"));
            assertTrue(e.getMessage().contains("'nope'") && e.getMessage().contains(p.toString()), e.getMessage());
        }
    }

    @Test
    void roundTripsExactlyInF32AndWithinRoundingIn16Bit() throws IOException {
        SplittableRandom r = new SplittableRandom(1);
        float[] x = new float[3 * 5];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        float[] y = {0f, -0f, 1f, Float.MIN_NORMAL, 1e30f, Float.POSITIVE_INFINITY, 1.00390625f /* 1 + 2^-8: a bf16 tie */};
        List<Safetensors.Tensor> ts = List.of(new Safetensors.Tensor("x", new int[]{3, 5}, x), new Safetensors.Tensor("y", new int[]{7}, y));
        for (DType dt : DType.values()) {
            Path p = dir.resolve(dt + ".safetensors");
            Safetensors.write(p, ts, dt, Map.of("format", "pt"));
            assertEquals(Safetensors.fileSize(ts, dt, Map.of("format", "pt")), Files.size(p));
            long headerLen = ByteBuffer.wrap(Files.readAllBytes(p), 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
            assertEquals(0, (8 + headerLen) % 8, "data must start 8-aligned");
            try (Safetensors st = Safetensors.open(p)) {
                assertEquals(Map.of("format", "pt"), st.metadata());
                assertEquals(dt.name(), st.dtypeName("x"));
                float[] xs = st.readFloats("x"), ys = st.readFloats("y");
                for (int i = 0; i < x.length; i++) assertEquals(rounded(x[i], dt), xs[i], 0f, dt + " x[" + i + "]");
                for (int i = 0; i < y.length; i++) assertEquals(rounded(y[i], dt), ys[i], 0f, dt + " y[" + i + "]");
                if (dt == DType.BF16) assertEquals(1f, ys[6], 0f, "ties round to even");
                if (dt == DType.F16) assertEquals(Float.POSITIVE_INFINITY, ys[4], 0f, "1e30 overflows f16");
            }
        }
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(3, files.count(), "no temporary files left behind");
        }
    }

    private static float rounded(float f, DType dt) {
        return switch (dt) {
            case F32 -> f;
            case F16 -> Float.float16ToFloat(Float.floatToFloat16(f));
            case BF16 -> DType.bf16ToFloat(DType.floatToBf16(f));
        };
    }

    @Test
    void bf16RoundsToNearestEven() {
        assertEquals((short) 0x3F80, DType.floatToBf16(Float.intBitsToFloat(0x3F808000))); // tie, even below
        assertEquals((short) 0x3F82, DType.floatToBf16(Float.intBitsToFloat(0x3F818000))); // tie, even above
        assertEquals((short) 0x3F81, DType.floatToBf16(Float.intBitsToFloat(0x3F808001))); // above the tie
    }

    private void assertBad(String json, byte[] data, String... mustContain) throws IOException {
        Path p = handMade("bad.safetensors", json, data);
        UserException e = assertThrows(UserException.class, () -> Safetensors.open(p).close());
        assertTrue(e.getMessage().contains(p.toString()), e.getMessage());
        for (String s : mustContain) assertTrue(e.getMessage().contains(s), "'" + s + "' in: " + e.getMessage());
    }

    @Test
    void rejectsBrokenFiles() throws IOException {
        byte[] f2 = le(1f, 2f);
        assertBad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]", f2, "not valid JSON");
        assertBad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}} xx", f2, "not valid JSON");
        assertBad("[1,2]", new byte[0], "not a JSON object");
        assertBad("{\"a\":{\"dtype\":\"Q7\",\"shape\":[2],\"data_offsets\":[0,8]}}", f2, "'a'", "unknown dtype 'Q7'");
        assertBad("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", f2, "'a'", "needs 12");
        assertBad("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", f2, "truncated", "'a'");
        assertBad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", f2, "4 bytes after the last tensor");
        assertBad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                f2, "overlaps");
        assertBad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", f2, "hole of 4 bytes");
        assertBad("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,8]}}", f2, "invalid shape");
        assertBad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", f2, "data_offsets");
        assertBad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"a\":{}}", f2, "not valid JSON"); // duplicate name
    }

    @Test
    void rejectsTruncatedAndForeignFiles() throws IOException {
        Path p = dir.resolve("t.safetensors");
        Safetensors.write(p, List.of(new Safetensors.Tensor("w", new int[]{4, 4}, new float[16])), DType.F32, null);
        byte[] all = Files.readAllBytes(p);
        for (int cut : new int[]{all.length - 1, all.length - 40, 20, 5}) {
            Files.write(p, java.util.Arrays.copyOf(all, cut));
            UserException e = assertThrows(UserException.class, () -> Safetensors.open(p).close());
            assertTrue(e.getMessage().contains(p.toString()) && (e.getMessage().contains("truncated") || e.getMessage().contains("too short")),
                    cut + ": " + e.getMessage());
        }
        Files.writeString(p, "GGUF this is not safetensors at all");
        UserException e = assertThrows(UserException.class, () -> Safetensors.open(p).close());
        assertTrue(e.getMessage().contains("implausible header length"), e.getMessage());
        e = assertThrows(UserException.class, () -> Safetensors.open(dir.resolve("missing.safetensors")));
        assertTrue(e.getMessage().contains("not found") && e.getMessage().contains("missing.safetensors"), e.getMessage());
    }

    @Test
    void failedWriteLeavesTheOldFileAndNoTemporary() throws IOException {
        Path p = dir.resolve("keep.bin");
        Files.writeString(p, "old");
        assertThrows(IOException.class, () -> AtomicFiles.write(p, ch -> {
            AtomicFiles.writeFully(ch, ByteBuffer.wrap(new byte[]{1, 2, 3}));
            throw new IOException("disk full");
        }));
        assertEquals("old", Files.readString(p));
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of(p), files.toList());
        }
    }

    /** A sparse 3 GB file: offsets past 2^31 must read correctly (the mapping is addressed with longs). */
    @Test
    void readsBeyondTwoGigabytes() throws IOException {
        long n = 1_600_000_000L; // F16 elements: 3.2 GB of data
        String json = "{\"big\":{\"dtype\":\"F16\",\"shape\":[" + n + "],\"data_offsets\":[0," + 2 * n + "]}}";
        json = json + " ".repeat((8 - json.length() % 8) % 8);
        Path p = dir.resolve("big.safetensors");
        byte[] h = json.getBytes(StandardCharsets.UTF_8);
        long dataStart = 8 + h.length;
        long at = 1_500_000_000L; // element index, byte offset ~3.0e9
        try (RandomAccessFile raf = new RandomAccessFile(p.toFile(), "rw")) {
            raf.write(le((long) h.length));
            raf.write(h);
            raf.setLength(dataStart + 2 * n);
            raf.seek(dataStart + 2 * at);
            raf.write(le((short) 0x3C00, (short) 0xC000)); // 1, -2
        }
        try (Safetensors st = Safetensors.open(p)) {
            float[] dst = new float[3];
            st.readFloats("big", at - 1, dst, 0, 3);
            assertArrayEquals(new float[]{0f, 1f, -2f}, dst);
        }
    }
}
