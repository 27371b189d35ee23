package dev.peft4j.models.io;

import dev.peft4j.api.io.AtomicFiles;
import dev.peft4j.kernels.quant.GgmlType;
import dev.peft4j.models.io.GgufFile.Value;
import dev.peft4j.models.io.GgufFile.ValueType;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Writes a GGUF version 3 file (little-endian): metadata in insertion order, then tensor infos, then the
 * data of each tensor at an offset that is a multiple of the alignment, zero-padded. The same input gives
 * the same bytes; the file is replaced atomically ({@link AtomicFiles}). Tensor data is asked for one
 * tensor at a time, so a model is never held twice.
 */
public final class GgufWriter {
    private final Map<String, Value> metadata = new LinkedHashMap<>();
    private final List<Pending> tensors = new ArrayList<>();
    private int alignment = GgufFile.DEFAULT_ALIGNMENT;

    /** A tensor to write: dims in GGUF order (ne[0] innermost); data gives exactly {@code type.byteSize(elements)} bytes. */
    private record Pending(String name, GgmlType type, long[] dims, long bytes, Supplier<MemorySegment> data) {}

    /** Sets {@code key}; writing general.alignment (UINT32) also sets the alignment used. */
    public GgufWriter put(String key, Value v) {
        if (key.equals("general.alignment")) {
            if (v.type() != ValueType.UINT32) throw new IllegalArgumentException("general.alignment must be UINT32");
            long a = (Long) v.value();
            if (a <= 0 || (a & (a - 1)) != 0) throw new IllegalArgumentException("alignment " + a + " is not a power of two");
            alignment = (int) a;
        }
        metadata.put(key, v);
        return this;
    }

    public GgufWriter putString(String key, String v) {
        return put(key, Value.of(ValueType.STRING, v));
    }

    public GgufWriter putUint32(String key, long v) {
        return put(key, Value.of(ValueType.UINT32, v));
    }

    public GgufWriter putFloat32(String key, float v) {
        return put(key, Value.of(ValueType.FLOAT32, v));
    }

    public GgufWriter putBool(String key, boolean v) {
        return put(key, Value.of(ValueType.BOOL, v));
    }

    /** Adds a tensor; {@code dims} in GGUF order. The data supplier is called once, while writing. */
    public GgufWriter tensor(String name, GgmlType type, long[] dims, Supplier<MemorySegment> data) {
        long n = 1;
        for (long d : dims) n *= d;
        tensors.add(new Pending(name, type, dims.clone(), type.byteSize(n), data));
        return this;
    }

    /** Writes the file atomically. */
    public void write(Path file) throws IOException {
        Bytes head = new Bytes();
        head.i32(GgufFile.MAGIC).i32(3).i64(tensors.size()).i64(metadata.size());
        for (Map.Entry<String, Value> e : metadata.entrySet()) {
            head.string(e.getKey()).i32(e.getValue().type().id());
            head.value(e.getValue());
        }
        long offset = 0;
        long[] offsets = new long[tensors.size()];
        for (int i = 0; i < tensors.size(); i++) {
            Pending t = tensors.get(i);
            head.string(t.name()).i32(t.dims().length);
            for (long d : t.dims()) head.i64(d);
            head.i32(t.type().id()).i64(offset);
            offsets[i] = offset;
            offset = GgufFile.align(offset + t.bytes(), alignment);
        }
        head.pad(alignment);
        AtomicFiles.write(file, ch -> {
            AtomicFiles.writeFully(ch, ByteBuffer.wrap(head.out.toByteArray()));
            long written = 0;
            for (int i = 0; i < tensors.size(); i++) {
                Pending t = tensors.get(i);
                MemorySegment data = t.data().get();
                if (data.byteSize() != t.bytes()) {
                    throw new IllegalStateException("tensor " + t.name() + ": " + data.byteSize() + " bytes given, " + t.bytes() + " expected");
                }
                for (long at = 0; at < data.byteSize(); at += 1 << 30) { // a ByteBuffer holds at most 2 GB
                    AtomicFiles.writeFully(ch, data.asSlice(at, Math.min(1 << 30, data.byteSize() - at)).asByteBuffer());
                }
                written = offsets[i] + t.bytes();
                long next = GgufFile.align(written, alignment);
                if (next > written) AtomicFiles.writeFully(ch, ByteBuffer.allocate((int) (next - written)));
            }
        });
    }

    /** A little-endian byte builder for the header. */
    private static final class Bytes {
        final ByteArrayOutputStream out = new ByteArrayOutputStream(1 << 16);
        private final ByteBuffer scratch = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);

        Bytes i32(int v) {
            scratch.clear();
            out.write(scratch.putInt(v).array(), 0, 4);
            return this;
        }

        Bytes i64(long v) {
            scratch.clear();
            out.write(scratch.putLong(v).array(), 0, 8);
            return this;
        }

        Bytes string(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            i64(b.length);
            out.write(b, 0, b.length);
            return this;
        }

        void pad(int alignment) {
            while (out.size() % alignment != 0) out.write(0);
        }

        void value(Value v) {
            if (v.type() == ValueType.ARRAY) {
                ValueType e = v.elementType();
                int n = v.length();
                i32(e.id()).i64(n);
                switch (e) {
                    case STRING -> {
                        for (String s : (String[]) v.value()) string(s);
                    }
                    case FLOAT32 -> {
                        for (float f : (float[]) v.value()) i32(Float.floatToRawIntBits(f));
                    }
                    case FLOAT64 -> {
                        for (double d : (double[]) v.value()) i64(Double.doubleToRawLongBits(d));
                    }
                    case BOOL -> {
                        for (boolean b : (boolean[]) v.value()) out.write(b ? 1 : 0);
                    }
                    case ARRAY -> {
                        for (Value inner : (Value[]) v.value()) value(inner); // nested: element type, count, elements
                    }
                    default -> {
                        for (long l : (long[]) v.value()) integer(e, l);
                    }
                }
                return;
            }
            switch (v.type()) {
                case STRING -> string((String) v.value());
                case FLOAT32 -> i32(Float.floatToRawIntBits((Float) v.value()));
                case FLOAT64 -> i64(Double.doubleToRawLongBits((Double) v.value()));
                case BOOL -> out.write((Boolean) v.value() ? 1 : 0);
                default -> integer(v.type(), (Long) v.value());
            }
        }

        void integer(ValueType t, long v) {
            switch (t) {
                case UINT8, INT8 -> out.write((int) v);
                case UINT16, INT16 -> {
                    out.write((int) v);
                    out.write((int) (v >>> 8));
                }
                case UINT32, INT32 -> i32((int) v);
                default -> i64(v);
            }
        }
    }
}
