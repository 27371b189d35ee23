package dev.peft4j.kernels.quant;

/**
 * GGML tensor types (ggml.h's {@code ggml_type} ids) that peft4j reads: the float types and the block
 * quantisations of llama.cpp's common Q8_0 and Q4_K_M files. A tensor's elements are stored in blocks
 * of {@link #blockSize()} values taking {@link #bytesPerBlock()} bytes each, along its rows.
 *
 * <pre>
 *   F32   1 value,    4 bytes
 *   F16   1 value,    2 bytes  IEEE half
 *   BF16  1 value,    2 bytes  top half of a float32
 *   Q8_0  32 values,  34 bytes f16 d, int8 q[32]                        x = q·d
 *   Q4_0  32 values,  18 bytes f16 d, 16 bytes of nibbles (low = 0..15) x = (q−8)·d
 *   Q4_K  256 values, 144 bytes f16 d, f16 dmin, 12 bytes of 6-bit scales/mins, 128 bytes of nibbles
 *   Q6_K  256 values, 210 bytes ql[128], qh[64], int8 scales[16], f16 d
 * </pre>
 */
public enum GgmlType {
    F32(0, 1, 4),
    F16(1, 1, 2),
    Q4_0(2, 32, 18),
    Q8_0(8, 32, 34),
    Q4_K(12, 256, 144),
    Q6_K(14, 256, 210),
    BF16(30, 1, 2);

    private final int id;
    private final int blockSize;
    private final int bytesPerBlock;

    GgmlType(int id, int blockSize, int bytesPerBlock) {
        this.id = id;
        this.blockSize = blockSize;
        this.bytesPerBlock = bytesPerBlock;
    }

    /** The type's id in GGUF tensor infos ({@code ggml_type}). */
    public int id() {
        return id;
    }

    /** Values per block (1 for the float types). */
    public int blockSize() {
        return blockSize;
    }

    /** Bytes one block takes. */
    public int bytesPerBlock() {
        return bytesPerBlock;
    }

    /** Whether values are stored in scaled blocks (Q8_0, Q4_0, Q4_K, Q6_K) rather than one by one. */
    public boolean isQuantized() {
        return blockSize > 1;
    }

    /**
     * Bytes that {@code elements} values take.
     *
     * @throws IllegalArgumentException when elements is negative or not a multiple of the block size
     */
    public long byteSize(long elements) {
        if (elements < 0) throw new IllegalArgumentException(name() + ": negative element count " + elements);
        if (elements % blockSize != 0) {
            throw new IllegalArgumentException(name() + " stores blocks of " + blockSize + " values; " + elements
                    + " elements is not a multiple of " + blockSize);
        }
        return Math.multiplyExact(elements / blockSize, (long) bytesPerBlock);
    }

    /** The type with this GGML id, or null when peft4j does not read it. */
    public static GgmlType ofId(int id) {
        for (GgmlType t : values()) if (t.id == id) return t;
        return null;
    }

    /** The type named as in llama.cpp and gguf-py ("f32", "q8_0", "Q4_K", ...; case-insensitive), or null. */
    public static GgmlType ofName(String name) {
        for (GgmlType t : values()) if (t.name().equalsIgnoreCase(name)) return t;
        return null;
    }
}
