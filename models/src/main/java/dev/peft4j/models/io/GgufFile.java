package dev.peft4j.models.io;

import dev.peft4j.api.UserException;
import dev.peft4j.kernels.quant.GgmlType;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A GGUF file (llama.cpp's {@code gguf.md}, versions 2 and 3, little-endian), memory-mapped: its metadata
 * key/values and its tensors as slices of the mapping, not copied.
 *
 * <pre>
 *   "GGUF"  u32 version  u64 tensor_count  u64 kv_count
 *   kv_count ×     string key, u32 value_type, value        (string = u64 length + UTF-8 bytes)
 *   tensor_count × string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset
 *   padding to general.alignment (default 32), then the tensor data; each offset is relative to it
 *   and a multiple of the alignment. ne[0] is the innermost (row) length: a PyTorch [out][in]
 *   weight is stored with ne = {in, out}.
 * </pre>
 *
 * Every read is bounds-checked: a truncated or inconsistent file is a {@link UserException} naming the
 * file and the field. The mapping lives until {@link #close()}; tensor segments are invalid after it.
 */
public final class GgufFile implements AutoCloseable {
    public static final int MAGIC = 0x46554747; // "GGUF" little-endian
    public static final int DEFAULT_ALIGNMENT = 32;
    static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfDouble DOUBLE = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** GGUF metadata value types, by their id in the file. */
    public enum ValueType {
        UINT8(1), INT8(1), UINT16(2), INT16(2), UINT32(4), INT32(4), FLOAT32(4), BOOL(1), STRING(8), ARRAY(12),
        UINT64(8), INT64(8), FLOAT64(8);

        /** The fewest bytes a value of this type takes (for sanity checks of counts). */
        final int minBytes;

        ValueType(int minBytes) {
            this.minBytes = minBytes;
        }

        public int id() {
            return ordinal();
        }

        static ValueType ofId(int id) {
            return id >= 0 && id < values().length ? values()[id] : null;
        }

        boolean isInteger() {
            return switch (this) {
                case UINT8, INT8, UINT16, INT16, UINT32, INT32, UINT64, INT64 -> true;
                default -> false;
            };
        }
    }

    /**
     * One metadata value. Scalars: integers as {@link Long} (UINT64 as its bits), FLOAT32 as {@link Float},
     * FLOAT64 as {@link Double}, BOOL as {@link Boolean}, STRING as {@link String}. Arrays ({@code type}
     * ARRAY, {@code elementType} set): long[] for integers, float[], double[], boolean[], String[], or
     * Value[] for arrays of arrays.
     */
    public record Value(ValueType type, ValueType elementType, Object value) {
        public static Value of(ValueType type, Object value) {
            return new Value(type, null, value);
        }

        public static Value array(ValueType elementType, Object values) {
            return new Value(ValueType.ARRAY, elementType, values);
        }

        /** Elements of an array value. */
        public int length() {
            return java.lang.reflect.Array.getLength(value);
        }

        @Override
        public String toString() {
            if (type != ValueType.ARRAY) return type + " " + value;
            return "ARRAY of " + length() + " " + elementType;
        }
    }

    /**
     * One tensor: name, type, dims (GGUF order, ne[0] innermost), offset within the data section, and its
     * bytes as a slice of the mapping.
     */
    public record Tensor(String name, GgmlType type, long[] dims, long offset, MemorySegment data) {
        public long elements() {
            long n = 1;
            for (long d : dims) n *= d;
            return n;
        }

        /** Row length (ne[0]). */
        public long rowLength() {
            return dims[0];
        }

        /** Rows: the product of ne[1..]. */
        public long rows() {
            return elements() / dims[0];
        }

        /** Bytes of one row. */
        public long rowBytes() {
            return type.byteSize(dims[0]);
        }

        /** Dims in PyTorch order (outermost first), e.g. {out, in}. */
        public long[] shape() {
            long[] s = new long[dims.length];
            for (int i = 0; i < dims.length; i++) s[i] = dims[dims.length - 1 - i];
            return s;
        }
    }

    private final Path file;
    private final Arena arena;
    private final MemorySegment map;
    private final int version;
    private final Map<String, Value> metadata;
    private final Map<String, Tensor> tensors;
    private final int alignment;
    private final long dataOffset;

    private GgufFile(Path file, Arena arena, MemorySegment map, int version, Map<String, Value> metadata,
                     Map<String, Tensor> tensors, int alignment, long dataOffset) {
        this.file = file;
        this.arena = arena;
        this.map = map;
        this.version = version;
        this.metadata = metadata;
        this.tensors = tensors;
        this.alignment = alignment;
        this.dataOffset = dataOffset;
    }

    /** Whether {@code file} starts with the GGUF magic. */
    public static boolean isGguf(Path file) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
            while (b.hasRemaining() && ch.read(b) > 0) { /* fill */ }
            return b.position() == 4 && b.getInt(0) == MAGIC;
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * Maps and parses {@code file}. The mapping is held by a shared arena (tensors may be read from any
     * thread) until {@link #close()}.
     */
    public static GgufFile open(Path file) {
        return open(file, Arena.ofShared());
    }

    /**
     * Maps and parses {@code file} with an automatic arena: the mapping stays while any tensor segment is
     * reachable (weights kept in their stored types), and {@link #close()} does nothing.
     */
    public static GgufFile openMapped(Path file) {
        return open(file, Arena.ofAuto());
    }

    private static GgufFile open(Path file, Arena arena) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            MemorySegment map = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            GgufFile g = parse(file, arena, map);
            arena = null;
            return g;
        } catch (NoSuchFileException e) {
            throw new UserException("GGUF file not found: " + file);
        } catch (IOException e) {
            throw new UserException("cannot read GGUF file " + file + ": " + e.getMessage(), e);
        } finally {
            if (arena != null) closeArena(arena);
        }
    }

    private static GgufFile parse(Path file, Arena arena, MemorySegment map) {
        Reader in = new Reader(file, map);
        int magic = in.i32("magic");
        if (magic != MAGIC) throw in.bad("magic", "not a GGUF file (the first 4 bytes are not \"GGUF\")");
        int version = in.i32("version");
        if (version == 1) throw in.bad("version", "GGUF version 1 is not supported (only 2 and 3; convert it with a newer llama.cpp)");
        if (version != 2 && version != 3) {
            throw in.bad("version", version + " is not a GGUF version peft4j reads (2 or 3)"
                    + (Integer.reverseBytes(version) == 2 || Integer.reverseBytes(version) == 3 ? "; the file is big-endian" : ""));
        }
        long tensorCount = in.count("tensor_count", 8 + 4 + 8 + 4 + 8);
        long kvCount = in.count("metadata_kv_count", 8 + 4);
        Map<String, Value> meta = new LinkedHashMap<>();
        for (long i = 0; i < kvCount; i++) {
            String key = in.string("metadata key " + i);
            if (meta.containsKey(key)) throw in.bad(key, "the metadata key appears twice");
            int typeId = in.i32(key + " (value type)");
            ValueType type = ValueType.ofId(typeId);
            if (type == null) throw in.bad(key, "unknown metadata value type " + typeId);
            meta.put(key, in.value(key, type));
        }
        int alignment = DEFAULT_ALIGNMENT;
        Value a = meta.get("general.alignment");
        if (a != null) {
            if (a.type() != ValueType.UINT32) throw in.bad("general.alignment", "must be a UINT32, got " + a);
            long v = (Long) a.value();
            if (v <= 0 || (v & (v - 1)) != 0 || v > 1 << 20) throw in.bad("general.alignment", v + " is not a power of two (up to 2^20)");
            alignment = (int) v;
        }
        Map<String, Tensor> byName = new LinkedHashMap<>();
        java.util.Set<String> seen = new java.util.HashSet<>();
        record Info(String name, GgmlType type, long[] dims, long offset, long bytes) {}
        List<Info> raw = new ArrayList<>();
        for (long i = 0; i < tensorCount; i++) {
            String name = in.string("tensor name " + i);
            String where = "tensor '" + name + "'";
            int nDims = in.i32(where + " n_dims");
            if (nDims < 1 || nDims > 4) throw in.bad(where, "n_dims is " + nDims + " (1 to 4)");
            long[] dims = new long[nDims];
            long elements = 1;
            for (int d = 0; d < nDims; d++) {
                dims[d] = in.i64(where + " ne[" + d + "]");
                if (dims[d] <= 0) throw in.bad(where, "ne[" + d + "] is " + dims[d]);
                elements = Math.multiplyHigh(elements, dims[d]) != 0 ? -1 : elements * dims[d];
                if (elements < 0) throw in.bad(where, "has more elements than fit in 64 bits");
            }
            int typeId = in.i32(where + " type");
            GgmlType type = GgmlType.ofId(typeId);
            if (type == null) {
                throw in.bad(where, "tensor type " + typeId + " (" + ggmlName(typeId) + ") is not supported; peft4j reads "
                        + java.util.Arrays.toString(GgmlType.values()));
            }
            if (dims[0] % type.blockSize() != 0) {
                throw in.bad(where, "row length ne[0] = " + dims[0] + " is not a multiple of " + type + "'s block of " + type.blockSize());
            }
            long offset = in.i64(where + " offset");
            if (offset < 0 || offset % alignment != 0) {
                throw in.bad(where, "data offset " + offset + " is not a multiple of the alignment " + alignment + " (misaligned)");
            }
            if (!seen.add(name)) throw in.bad(where, "appears twice");
            raw.add(new Info(name, type, dims, offset, type.byteSize(elements)));
        }
        long dataOffset = align(in.pos, alignment);
        for (Info r : raw) {
            long end = dataOffset + r.offset() + r.bytes();
            if (r.offset() + r.bytes() < 0 || end > map.byteSize()) {
                throw new UserException("GGUF file " + file + ": tensor '" + r.name() + "': its data (" + r.bytes() + " bytes at data offset "
                        + r.offset() + ") ends at byte " + end + " but the file has " + map.byteSize() + " bytes (truncated)");
            }
            Tensor t = new Tensor(r.name(), r.type(), r.dims(), r.offset(), map.asSlice(dataOffset + r.offset(), r.bytes()));
            byName.put(r.name(), t);
        }
        checkOverlaps(file, raw.stream().map(r -> new long[]{r.offset(), r.offset() + r.bytes()}).toList(),
                raw.stream().map(Info::name).toList());
        return new GgufFile(file, arena, map, version, Collections.unmodifiableMap(meta), Collections.unmodifiableMap(byName),
                alignment, dataOffset);
    }

    private static void checkOverlaps(Path file, List<long[]> ranges, List<String> names) {
        Integer[] order = new Integer[ranges.size()];
        for (int i = 0; i < order.length; i++) order[i] = i;
        java.util.Arrays.sort(order, (x, y) -> Long.compare(ranges.get(x)[0], ranges.get(y)[0]));
        for (int i = 1; i < order.length; i++) {
            if (ranges.get(order[i])[0] < ranges.get(order[i - 1])[1]) {
                throw new UserException("GGUF file " + file + ": tensor '" + names.get(order[i]) + "' overlaps tensor '"
                        + names.get(order[i - 1]) + "' in the data section");
            }
        }
    }

    static long align(long pos, int alignment) {
        return (pos + alignment - 1) / alignment * alignment;
    }

    /** ggml's names of the type ids peft4j does not read, for error messages. */
    static String ggmlName(int id) {
        String[] names = {"F32", "F16", "Q4_0", "Q4_1", "Q4_2 (removed)", "Q4_3 (removed)", "Q5_0", "Q5_1", "Q8_0", "Q8_1",
                "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K", "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S",
                "IQ2_S", "IQ4_XS", "I8", "I16", "I32", "I64", "F64", "IQ1_M", "BF16", "Q4_0_4_4 (removed)",
                "Q4_0_4_8 (removed)", "Q4_0_8_8 (removed)", "TQ1_0", "TQ2_0", "IQ4_NL_4_4 (removed)", "IQ4_NL_4_8 (removed)",
                "IQ4_NL_8_8 (removed)", "MXFP4"};
        return id >= 0 && id < names.length ? names[id] : "unknown";
    }

    // ---------------------------------------------------------------- accessors

    public Path file() {
        return file;
    }

    public int version() {
        return version;
    }

    public int alignment() {
        return alignment;
    }

    /** Byte offset of the data section in the file. */
    public long dataOffset() {
        return dataOffset;
    }

    /** All metadata, in file order. */
    public Map<String, Value> metadata() {
        return metadata;
    }

    /** All tensors by name, in file order. */
    public Map<String, Tensor> tensors() {
        return tensors;
    }

    /** The tensor called {@code name}, or null. */
    public Tensor tensor(String name) {
        return tensors.get(name);
    }

    /** Whether the metadata has {@code key}. */
    public boolean has(String key) {
        return metadata.containsKey(key);
    }

    /** A string value; {@code dflt} when absent (null: required). */
    public String string(String key, String dflt) {
        Value v = get(key, dflt == null);
        if (v == null) return dflt;
        if (v.type() != ValueType.STRING) throw bad(key, "must be a STRING, got " + v);
        return (String) v.value();
    }

    /** An integer value of any integer type, as a long; {@code dflt} when absent (null: required). */
    public Long integer(String key, Long dflt) {
        Value v = get(key, dflt == null);
        if (v == null) return dflt;
        if (!v.type().isInteger()) throw bad(key, "must be an integer, got " + v);
        return (Long) v.value();
    }

    /** A positive integer that fits an int; {@code dflt} when absent (null: required). */
    public int positiveInt(String key, Integer dflt) {
        Long v = integer(key, dflt == null ? null : (long) dflt);
        if (v <= 0 || v > Integer.MAX_VALUE) throw bad(key, "must be a positive integer, got " + v);
        return (int) (long) v;
    }

    /** A FLOAT32 or FLOAT64 value (integers accepted), as a double; {@code dflt} when absent (null: required). */
    public Double number(String key, Double dflt) {
        Value v = get(key, dflt == null);
        if (v == null) return dflt;
        return switch (v.type()) {
            case FLOAT32 -> (double) (Float) v.value();
            case FLOAT64 -> (Double) v.value();
            default -> {
                if (v.type().isInteger()) yield (double) (Long) v.value();
                throw bad(key, "must be a number, got " + v);
            }
        };
    }

    /** A BOOL value; {@code dflt} when absent. */
    public boolean bool(String key, boolean dflt) {
        Value v = get(key, false);
        if (v == null) return dflt;
        if (v.type() != ValueType.BOOL) throw bad(key, "must be a BOOL, got " + v);
        return (Boolean) v.value();
    }

    /** An array value with elements of {@code element} (null: any); null when absent and not required. */
    public Value array(String key, ValueType element, boolean required) {
        Value v = get(key, required);
        if (v == null) return null;
        if (v.type() != ValueType.ARRAY || (element != null && v.elementType() != element)) {
            throw bad(key, "must be an ARRAY" + (element == null ? "" : " of " + element) + ", got " + v);
        }
        return v;
    }

    private Value get(String key, boolean required) {
        Value v = metadata.get(key);
        if (v == null && required) throw bad(key, "missing metadata key");
        return v;
    }

    /** A {@link UserException} naming this file and {@code field}. */
    public UserException bad(String field, String what) {
        return new UserException("GGUF file " + file + ": " + field + ": " + what);
    }

    /** Unmaps the file (after {@link #open}; a file from {@link #openMapped} is unmapped by the garbage collector). */
    @Override
    public void close() {
        closeArena(arena);
    }

    private static void closeArena(Arena arena) {
        try {
            arena.close();
        } catch (UnsupportedOperationException automatic) {
            // an automatic arena
        }
    }

    // ---------------------------------------------------------------- parsing

    /** A bounds-checked little-endian cursor over the mapping. */
    private static final class Reader {
        final Path file;
        final MemorySegment map;
        long pos;

        Reader(Path file, MemorySegment map) {
            this.file = file;
            this.map = map;
        }

        UserException bad(String field, String what) {
            return new UserException("GGUF file " + file + ": " + field + ": " + what);
        }

        void need(long bytes, String field) {
            if (bytes < 0 || pos + bytes > map.byteSize()) {
                throw bad(field, "truncated: " + bytes + " bytes needed at byte " + pos + " but the file has " + map.byteSize());
            }
        }

        int i32(String field) {
            need(4, field);
            int v = map.get(INT, pos);
            pos += 4;
            return v;
        }

        long i64(String field) {
            need(8, field);
            long v = map.get(LONG, pos);
            pos += 8;
            return v;
        }

        /** A u64 count of entries that take at least {@code minBytes} each: more than the file can hold is an error. */
        long count(String field, long minBytes) {
            long n = i64(field);
            if (n < 0 || n > (map.byteSize() - pos) / minBytes) {
                throw bad(field, Long.toUnsignedString(n) + " entries cannot fit in the " + (map.byteSize() - pos) + " bytes left (truncated or corrupt)");
            }
            return n;
        }

        String string(String field) {
            long len = i64(field + " (string length)");
            if (len < 0 || len > map.byteSize() - pos) {
                throw bad(field, "string of " + Long.toUnsignedString(len) + " bytes at byte " + (pos - 8) + " runs past the end of the file ("
                        + map.byteSize() + " bytes; truncated)");
            }
            if (len > Integer.MAX_VALUE - 8) throw bad(field, "string of " + len + " bytes is too long");
            byte[] b = map.asSlice(pos, len).toArray(ValueLayout.JAVA_BYTE);
            pos += len;
            return new String(b, StandardCharsets.UTF_8);
        }

        Value value(String key, ValueType type) {
            if (type == ValueType.ARRAY) {
                int elemId = i32(key + " (array element type)");
                ValueType elem = ValueType.ofId(elemId);
                if (elem == null) throw bad(key, "unknown array element type " + elemId);
                long n = count(key + " (array length)", elem.minBytes);
                if (n > Integer.MAX_VALUE - 8) throw bad(key, "array of " + n + " elements is too long");
                int len = (int) n;
                return Value.array(elem, switch (elem) {
                    case STRING -> {
                        String[] s = new String[len];
                        for (int i = 0; i < len; i++) s[i] = string(key + "[" + i + "]");
                        yield s;
                    }
                    case FLOAT32 -> {
                        need(4L * len, key);
                        float[] f = new float[len];
                        MemorySegment.copy(map, FLOAT, pos, f, 0, len);
                        pos += 4L * len;
                        yield f;
                    }
                    case FLOAT64 -> {
                        need(8L * len, key);
                        double[] d = new double[len];
                        MemorySegment.copy(map, DOUBLE, pos, d, 0, len);
                        pos += 8L * len;
                        yield d;
                    }
                    case BOOL -> {
                        boolean[] b = new boolean[len];
                        for (int i = 0; i < len; i++) b[i] = bool(key + "[" + i + "]");
                        yield b;
                    }
                    case ARRAY -> {
                        Value[] v = new Value[len];
                        for (int i = 0; i < len; i++) v[i] = value(key + "[" + i + "]", ValueType.ARRAY);
                        yield v;
                    }
                    default -> {
                        long[] l = new long[len];
                        for (int i = 0; i < len; i++) l[i] = integer(key, elem);
                        yield l;
                    }
                });
            }
            return Value.of(type, switch (type) {
                case STRING -> string(key);
                case FLOAT32 -> {
                    need(4, key);
                    float f = map.get(FLOAT, pos);
                    pos += 4;
                    yield f;
                }
                case FLOAT64 -> {
                    need(8, key);
                    double d = map.get(DOUBLE, pos);
                    pos += 8;
                    yield d;
                }
                case BOOL -> bool(key);
                default -> integer(key, type);
            });
        }

        boolean bool(String key) {
            need(1, key);
            byte b = map.get(ValueLayout.JAVA_BYTE, pos++);
            if (b != 0 && b != 1) throw bad(key, "BOOL byte is " + b + " (0 or 1)");
            return b == 1;
        }

        long integer(String key, ValueType type) {
            need(type.minBytes, key);
            long v = switch (type) {
                case UINT8 -> map.get(ValueLayout.JAVA_BYTE, pos) & 0xFFL;
                case INT8 -> map.get(ValueLayout.JAVA_BYTE, pos);
                case UINT16 -> map.get(SHORT, pos) & 0xFFFFL;
                case INT16 -> map.get(SHORT, pos);
                case UINT32 -> map.get(INT, pos) & 0xFFFFFFFFL;
                case INT32 -> map.get(INT, pos);
                case UINT64, INT64 -> map.get(LONG, pos);
                default -> throw new IllegalArgumentException(type.toString());
            };
            pos += type.minBytes;
            return v;
        }
    }
}
