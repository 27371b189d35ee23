package dev.peft4j.api.io;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.peft4j.api.UserException;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A safetensors file, read through a memory mapping, and the writer of such files.
 *
 * <p>Format: an unsigned little-endian int64 {@code N}, then {@code N} bytes of JSON mapping each
 * tensor name to {@code {"dtype", "shape", "data_offsets": [begin, end]}} (offsets relative to the
 * end of the header) plus an optional {@code "__metadata__"} string map, then the data. Opening a
 * file validates the whole header: every dtype is a safetensors dtype, every byte range matches
 * its shape and lies inside the file, and the ranges tile the data section without holes or
 * overlaps. Tensors are converted to float one at a time, straight from the mapping into the
 * caller's array; the file is never copied as a whole. Offsets are {@code long}, so files larger
 * than 2 GB work.
 *
 * <p>Instances are safe to read from several threads; {@link #close()} unmaps the file.
 */
public final class Safetensors implements AutoCloseable {
    /** The safetensors limit on header size; larger headers signal a corrupt or foreign file. */
    static final long MAX_HEADER_BYTES = 100_000_000L;
    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .build();
    private static final ValueLayout.OfFloat LE_FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort LE_SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final int CHUNK = 1 << 14; // elements converted per step for 16-bit dtypes

    /** Bytes per element of every dtype the safetensors format defines. */
    private static final Map<String, Integer> DTYPE_BYTES = Map.ofEntries(
            Map.entry("BOOL", 1), Map.entry("U8", 1), Map.entry("I8", 1), Map.entry("F8_E5M2", 1), Map.entry("F8_E4M3", 1),
            Map.entry("I16", 2), Map.entry("U16", 2), Map.entry("F16", 2), Map.entry("BF16", 2),
            Map.entry("I32", 4), Map.entry("U32", 4), Map.entry("F32", 4),
            Map.entry("I64", 8), Map.entry("U64", 8), Map.entry("F64", 8));

    /**
     * One tensor's header entry.
     *
     * @param dtypeName the dtype as written in the file ({@code F32}, {@code I64}, ...)
     * @param begin     absolute file offset of the first byte
     * @param end       absolute file offset one past the last byte
     */
    public record Entry(String name, String dtypeName, long[] shape, long begin, long end) {
        public long elements() {
            long n = 1;
            for (long s : shape) n *= s;
            return n;
        }

        /** The dtype if it can be read as float ({@code F32}, {@code F16}, {@code BF16}), else null. */
        public DType dtype() {
            return switch (dtypeName) {
                case "F32" -> DType.F32;
                case "F16" -> DType.F16;
                case "BF16" -> DType.BF16;
                default -> null;
            };
        }
    }

    /** A named float tensor to write; {@code data.length} must be the product of {@code shape}. */
    public record Tensor(String name, int[] shape, float[] data) {
        public Tensor {
            long n = 1;
            for (int s : shape) {
                if (s < 0) throw new IllegalArgumentException("negative dimension in shape of " + name);
                n *= s;
            }
            if (n != data.length) {
                throw new IllegalArgumentException("tensor " + name + ": shape " + Arrays.toString(shape) + " has " + n
                        + " elements but the data has " + data.length);
            }
        }
    }

    private final Path file;
    private final Arena arena;
    private final MemorySegment map;
    private final Map<String, Entry> entries;   // in header order
    private final Map<String, String> metadata;

    private Safetensors(Path file, Arena arena, MemorySegment map, Map<String, Entry> entries, Map<String, String> metadata) {
        this.file = file;
        this.arena = arena;
        this.map = map;
        this.entries = entries;
        this.metadata = metadata;
    }

    /** Maps and validates {@code file}; throws {@link UserException} naming the file if it is not a valid safetensors file. */
    public static Safetensors open(Path file) {
        return open(file, Arena.ofShared());
    }

    /**
     * Maps {@code file} for as long as any segment of it is reachable ({@link #bytes}): weights read in
     * place keep their mapping alive, and {@link #close()} leaves it to the garbage collector.
     */
    public static Safetensors openMapped(Path file) {
        return open(file, Arena.ofAuto());
    }

    private static Safetensors open(Path file, Arena arena) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) throw bad(file, "too short for a safetensors file (" + size + " bytes; the header length alone takes 8)");
            ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            while (lenBuf.hasRemaining() && ch.read(lenBuf, lenBuf.position()) >= 0) { /* read the 8 bytes */ }
            long headerLen = lenBuf.getLong(0);
            if (headerLen <= 0 || headerLen > MAX_HEADER_BYTES) {
                throw bad(file, "implausible header length " + Long.toUnsignedString(headerLen) + " (not a safetensors file?)");
            }
            if (headerLen > size - 8) {
                throw bad(file, "truncated: the header needs " + headerLen + " bytes after the first 8 but the file has " + (size - 8));
            }
            byte[] header = new byte[(int) headerLen];
            ByteBuffer hb = ByteBuffer.wrap(header);
            while (hb.hasRemaining()) ch.read(hb, 8 + hb.position());
            Map<String, String> metadata = new LinkedHashMap<>();
            Map<String, Entry> entries = parseHeader(file, header, 8 + headerLen, size, metadata);
            MemorySegment map = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            return new Safetensors(file, arena, map, entries, Collections.unmodifiableMap(metadata));
        } catch (NoSuchFileException e) {
            closeArena(arena);
            throw new UserException("safetensors file not found: " + file);
        } catch (IOException e) {
            closeArena(arena);
            throw new UserException("cannot read safetensors file " + file + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            closeArena(arena);
            throw e;
        }
    }

    private static Map<String, Entry> parseHeader(Path file, byte[] header, long dataStart, long fileSize, Map<String, String> metadata) {
        JsonNode root;
        try {
            root = JSON.readTree(header);
        } catch (JsonProcessingException e) {
            throw bad(file, "header is not valid JSON: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw bad(file, "header is not valid JSON: " + e.getMessage());
        }
        if (root == null || !root.isObject()) throw bad(file, "header is not a JSON object");
        long dataSize = fileSize - dataStart;
        Map<String, Entry> entries = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> field : root.properties()) {
            String name = field.getKey();
            JsonNode v = field.getValue();
            if (name.equals("__metadata__")) {
                if (v.isNull()) continue;
                if (!v.isObject()) throw bad(file, "__metadata__ is not a JSON object");
                for (Map.Entry<String, JsonNode> m : v.properties()) {
                    if (!m.getValue().isTextual()) throw bad(file, "__metadata__ value of '" + m.getKey() + "' is not a string");
                    metadata.put(m.getKey(), m.getValue().textValue());
                }
                continue;
            }
            if (!v.isObject()) throw bad(file, "tensor '" + name + "': entry is not a JSON object");
            JsonNode dt = v.get("dtype"), shapeNode = v.get("shape"), offs = v.get("data_offsets");
            if (dt == null || !dt.isTextual()) throw bad(file, "tensor '" + name + "': missing or non-string dtype");
            Integer elemBytes = DTYPE_BYTES.get(dt.textValue());
            if (elemBytes == null) throw bad(file, "tensor '" + name + "': unknown dtype '" + dt.textValue() + "'");
            if (shapeNode == null || !shapeNode.isArray()) throw bad(file, "tensor '" + name + "': missing shape");
            long[] shape = new long[shapeNode.size()];
            long elements = 1;
            for (int i = 0; i < shape.length; i++) {
                JsonNode s = shapeNode.get(i);
                if (!s.isIntegralNumber() || !s.canConvertToLong() || s.longValue() < 0) {
                    throw bad(file, "tensor '" + name + "': invalid shape " + shapeNode);
                }
                shape[i] = s.longValue();
                try {
                    elements = Math.multiplyExact(elements, shape[i]);
                } catch (ArithmeticException e) {
                    throw bad(file, "tensor '" + name + "': shape " + shapeNode + " overflows");
                }
            }
            if (offs == null || !offs.isArray() || offs.size() != 2 || !isNonNegativeLong(offs.get(0)) || !isNonNegativeLong(offs.get(1))) {
                throw bad(file, "tensor '" + name + "': data_offsets must be [begin, end], got " + offs);
            }
            long begin = offs.get(0).longValue(), end = offs.get(1).longValue();
            if (end < begin) throw bad(file, "tensor '" + name + "': data_offsets " + offs + " end before they begin");
            long expected;
            try {
                expected = Math.multiplyExact(elements, (long) elemBytes);
            } catch (ArithmeticException e) {
                throw bad(file, "tensor '" + name + "': shape " + shapeNode + " overflows");
            }
            if (end - begin != expected) {
                throw bad(file, "tensor '" + name + "': data_offsets " + offs + " span " + (end - begin) + " bytes but shape "
                        + shapeNode + " of " + dt.textValue() + " needs " + expected);
            }
            if (end > dataSize) {
                throw bad(file, "truncated: tensor '" + name + "' ends at data byte " + end + " but the file holds only "
                        + dataSize + " data bytes (" + fileSize + " bytes in all, expected at least " + (dataStart + end) + ")");
            }
            entries.put(name, new Entry(name, dt.textValue(), shape, dataStart + begin, dataStart + end));
        }
        // The data section must be tiled exactly: no overlaps, no holes, nothing after the last tensor.
        List<Entry> byOffset = new ArrayList<>(entries.values());
        byOffset.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        long pos = dataStart;
        for (Entry e : byOffset) {
            if (e.begin() < pos) throw bad(file, "tensor '" + e.name() + "' overlaps the previous tensor's data");
            if (e.begin() > pos) throw bad(file, "hole of " + (e.begin() - pos) + " bytes in the data before tensor '" + e.name() + "'");
            pos = e.end();
        }
        if (pos != fileSize) {
            throw bad(file, "file has " + (fileSize - pos) + " bytes after the last tensor's data (expected " + pos
                    + " bytes in all, found " + fileSize + ")");
        }
        return entries;
    }

    private static boolean isNonNegativeLong(JsonNode n) {
        return n != null && n.isIntegralNumber() && n.canConvertToLong() && n.longValue() >= 0;
    }

    private static UserException bad(Path file, String what) {
        return new UserException("safetensors file " + file + ": " + what);
    }

    public Path file() {
        return file;
    }

    /** Tensor names in header order. */
    public Set<String> names() {
        return Collections.unmodifiableSet(entries.keySet());
    }

    public boolean contains(String name) {
        return entries.containsKey(name);
    }

    /** All entries, in header order. */
    public List<Entry> entries() {
        return List.copyOf(entries.values());
    }

    /** The entry of {@code name}; a {@link UserException} naming the file if there is none. */
    public Entry entry(String name) {
        Entry e = entries.get(name);
        if (e == null) throw bad(file, "no tensor named '" + name + "'");
        return e;
    }

    public long[] shape(String name) {
        return entry(name).shape().clone();
    }

    /** The dtype name as stored ({@code F32}, {@code BF16}, {@code I64}, ...). */
    public String dtypeName(String name) {
        return entry(name).dtypeName();
    }

    /** The {@code __metadata__} map (empty when absent). */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** Reads a whole tensor as float into {@code dst}, whose length must equal the tensor's element count. */
    public void readFloats(String name, float[] dst) {
        Entry e = entry(name);
        if (e.elements() != dst.length) {
            throw new IllegalArgumentException("tensor " + name + " in " + file + " has " + e.elements()
                    + " elements, destination has " + dst.length);
        }
        readFloats(name, 0, dst, 0, dst.length);
    }

    /** Reads a whole tensor into a new array. */
    public float[] readFloats(String name) {
        Entry e = entry(name);
        if (e.elements() > Integer.MAX_VALUE - 8) throw bad(file, "tensor '" + name + "' is too large for one Java array");
        float[] dst = new float[(int) e.elements()];
        readFloats(name, 0, dst, 0, dst.length);
        return dst;
    }

    /**
     * Reads elements {@code [from, from+count)} of a tensor (flattened, row-major) as float into
     * {@code dst[dstOffset...]}, converting F16 and BF16 on the fly.
     */
    public void readFloats(String name, long from, float[] dst, int dstOffset, int count) {
        Entry e = entry(name);
        DType dt = e.dtype();
        if (dt == null) {
            throw bad(file, "tensor '" + name + "' has dtype " + e.dtypeName() + "; only F32, F16 and BF16 can be read as float");
        }
        if (from < 0 || count < 0 || from + count > e.elements()) {
            throw new IndexOutOfBoundsException("elements [" + from + ", " + (from + count) + ") of tensor " + name + " with " + e.elements());
        }
        long off = e.begin() + from * dt.bytes();
        switch (dt) {
            case F32 -> MemorySegment.copy(map, LE_FLOAT, off, dst, dstOffset, count);
            case F16, BF16 -> {
                short[] buf = new short[Math.min(count, CHUNK)];
                for (int done = 0; done < count; ) {
                    int n = Math.min(buf.length, count - done);
                    MemorySegment.copy(map, LE_SHORT, off + 2L * done, buf, 0, n);
                    if (dt == DType.F16) {
                        for (int i = 0; i < n; i++) dst[dstOffset + done + i] = Float.float16ToFloat(buf[i]);
                    } else {
                        for (int i = 0; i < n; i++) dst[dstOffset + done + i] = DType.bf16ToFloat(buf[i]);
                    }
                    done += n;
                }
            }
        }
    }

    /** The stored bytes of a tensor, in place in the mapped file (valid until {@link #close()} for {@link #open}). */
    public MemorySegment bytes(String name) {
        Entry e = entry(name);
        return map.asSlice(e.begin(), e.end() - e.begin());
    }

    /** Unmaps the file (for {@link #open}; a file from {@link #openMapped} stays mapped while its bytes are reachable). Reading afterwards fails. */
    @Override
    public void close() {
        closeArena(arena);
    }

    private static void closeArena(Arena arena) {
        try {
            arena.close();
        } catch (UnsupportedOperationException automatic) {
            // an automatic arena: unmapped by the garbage collector
        }
    }

    // ---------------------------------------------------------------- writing

    /** The number of bytes {@link #write} produces for these tensors in {@code dtype}, header included. */
    public static long fileSize(List<Tensor> tensors, DType dtype, Map<String, String> metadata) {
        byte[] header = header(tensors, dtype, metadata);
        long data = 0;
        for (Tensor t : tensors) data += (long) t.data().length * dtype.bytes();
        return 8 + header.length + data;
    }

    /**
     * Writes {@code tensors}, in order, converted to {@code dtype} (F16 and BF16 round to nearest
     * even), with optional {@code metadata} (may be null). The write is atomic: see {@link AtomicFiles}.
     */
    public static void write(Path file, List<Tensor> tensors, DType dtype, Map<String, String> metadata) throws IOException {
        byte[] header = header(tensors, dtype, metadata);
        AtomicFiles.write(file, ch -> {
            ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
            buf.putLong(header.length).put(header);
            for (Tensor t : tensors) {
                float[] a = t.data();
                for (int i = 0; i < a.length; ) {
                    if (buf.remaining() < dtype.bytes()) {
                        buf.flip();
                        AtomicFiles.writeFully(ch, buf);
                        buf.clear();
                    }
                    int n = Math.min(a.length - i, buf.remaining() / dtype.bytes());
                    switch (dtype) {
                        case F32 -> buf.asFloatBuffer().put(a, i, n);
                        case F16 -> {
                            var sb = buf.asShortBuffer();
                            for (int k = 0; k < n; k++) sb.put(Float.floatToFloat16(a[i + k]));
                        }
                        case BF16 -> {
                            var sb = buf.asShortBuffer();
                            for (int k = 0; k < n; k++) sb.put(DType.floatToBf16(a[i + k]));
                        }
                    }
                    buf.position(buf.position() + n * dtype.bytes());
                    i += n;
                }
            }
            buf.flip();
            AtomicFiles.writeFully(ch, buf);
        });
    }

    /** The JSON header, padded with spaces so that the data starts at a multiple of 8. */
    private static byte[] header(List<Tensor> tensors, DType dtype, Map<String, String> metadata) {
        ObjectNode root = JSON.createObjectNode();
        if (metadata != null && !metadata.isEmpty()) {
            ObjectNode m = root.putObject("__metadata__");
            new java.util.TreeMap<>(metadata).forEach(m::put); // sorted: equal metadata, equal bytes
        }
        Set<String> seen = new HashSet<>();
        long offset = 0;
        for (Tensor t : tensors) {
            if (t.name().equals("__metadata__") || !seen.add(t.name())) {
                throw new IllegalArgumentException("duplicate or reserved tensor name " + t.name());
            }
            ObjectNode e = root.putObject(t.name());
            e.put("dtype", dtype.name());
            ArrayNode shape = e.putArray("shape");
            for (int s : t.shape()) shape.add(s);
            long end = offset + (long) t.data().length * dtype.bytes();
            e.putArray("data_offsets").add(offset).add(end);
            offset = end;
        }
        byte[] json;
        try {
            json = JSON.writeValueAsString(root).getBytes(StandardCharsets.UTF_8);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
        int padded = (json.length + 7) & ~7; // 8 + padded is then a multiple of 8
        byte[] out = Arrays.copyOf(json, padded);
        Arrays.fill(out, json.length, padded, (byte) ' ');
        return out;
    }
}
