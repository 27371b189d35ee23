package dev.peft4j.models.io;

import dev.peft4j.api.UserException;
import dev.peft4j.api.io.AtomicFiles;
import dev.peft4j.models.LlamaConfig;
import dev.peft4j.kernels.WeightMatrix;
import dev.peft4j.models.LlamaWeights;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * llama2.c's legacy ("version 0") {@code .bin} checkpoint, as written by its {@code export.py
 * --version 0} and read by {@code run.c}.
 *
 * <p>Layout: 7 little-endian int32 {@code dim, hidden_dim, n_layers, n_heads, n_kv_heads,
 * vocab_size, seq_len} (a negative {@code vocab_size} means an untied classifier is stored at the
 * end), then float32 arrays, each layer-major:
 * <pre>
 * token_embedding [vocab][dim]      rms_att [L][dim]
 * wq [L][dim][dim]   wk [L][kv_dim][dim]   wv [L][kv_dim][dim]   wo [L][dim][dim]
 * rms_ffn [L][dim]   w1 [L][hidden][dim]   w2 [L][dim][hidden]   w3 [L][hidden][dim]
 * rms_final [dim]    freq_cis_real [seq_len][head_dim/2]   freq_cis_imag [seq_len][head_dim/2]
 * wcls [vocab][dim]  (only when untied)
 * </pre>
 * The q/k rows are in Meta's interleaved RoPE order (pairs {@code 2i, 2i+1}); this class
 * permutes them to and from peft4j's Hugging Face order row by row (the mapping of
 * {@link dev.peft4j.models.RopeLayout}). The format carries no norm epsilon or RoPE base: they are
 * llama2.c's fixed 1e-5 and 10000. The RoPE tables are skipped on read (as {@code run.c} does)
 * and recomputed on write.
 *
 * <p>Reading maps the file and copies each tensor once, straight into the {@link LlamaWeights}
 * arrays; offsets are {@code long}, so files larger than 2 GB work.
 */
public final class Llama2cCheckpoint {
    /** Bytes of the header: 7 x int32. */
    public static final int HEADER_BYTES = 28;
    /** The magic number of llama2.c's newer export versions (1 and 2), which this class does not read. */
    static final int VERSIONED_MAGIC = 0x616b3432;
    private static final ValueLayout.OfFloat LE_FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private Llama2cCheckpoint() {}

    /** The seven header fields, before validation. */
    record Header(int dim, int hiddenDim, int nLayers, int nHeads, int nKvHeads, int vocabSize, int seqLen) {
        /** The config this header describes; IllegalArgumentException if the fields are inconsistent. */
        LlamaConfig toConfig() {
            if (vocabSize == 0 || vocabSize == Integer.MIN_VALUE) throw new IllegalArgumentException("vocab_size must be non-zero");
            return LlamaConfig.of(dim, hiddenDim, nLayers, nHeads, nKvHeads, Math.abs(vocabSize), seqLen, vocabSize > 0);
        }

        /**
         * Whether this looks like a real model's header: a consistent config within generous bounds
         * (text or other binary formats read as int32 give huge values).
         */
        boolean plausible() {
            try {
                toConfig();
            } catch (IllegalArgumentException e) {
                return false;
            }
            return dim <= 1 << 16 && hiddenDim <= 1 << 20 && nLayers <= 1 << 10 && Math.abs(vocabSize) <= 1 << 24 && seqLen <= 1 << 24;
        }

        @Override
        public String toString() {
            return "dim=" + dim + ", hidden_dim=" + hiddenDim + ", n_layers=" + nLayers + ", n_heads=" + nHeads
                    + ", n_kv_heads=" + nKvHeads + ", vocab_size=" + vocabSize + ", seq_len=" + seqLen;
        }
    }

    /** Reads the raw header; null when the file is shorter than a header. */
    static Header readHeader(Path file) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            if (ch.size() < HEADER_BYTES) return null;
            ByteBuffer b = ByteBuffer.allocate(HEADER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
            while (b.hasRemaining()) ch.read(b, b.position());
            return new Header(b.getInt(0), b.getInt(4), b.getInt(8), b.getInt(12), b.getInt(16), b.getInt(20), b.getInt(24));
        } catch (NoSuchFileException e) {
            throw new UserException("llama2.c checkpoint not found: " + file);
        } catch (IOException e) {
            throw new UserException("cannot read llama2.c checkpoint " + file + ": " + e.getMessage(), e);
        }
    }

    /** The config in the header of {@code file}, after checking that the file's size matches it exactly. */
    public static LlamaConfig readConfig(Path file) {
        Header h = readHeader(file);
        if (h == null) throw bad(file, "too short for a llama2.c header (" + HEADER_BYTES + " bytes)");
        if (h.dim() == VERSIONED_MAGIC) {
            throw bad(file, "this is a versioned llama2.c export (magic 'ak42'); only the legacy version 0 format is supported "
                    + "(export with --version 0)");
        }
        LlamaConfig c;
        try {
            c = h.toConfig();
        } catch (IllegalArgumentException e) {
            throw bad(file, "invalid header (" + h + "): " + e.getMessage());
        }
        long expected = expectedSize(c);
        long actual = size(file);
        if (actual != expected) {
            throw bad(file, (actual < expected ? "truncated" : "larger than its header says") + ": the header (" + h
                    + ") implies " + expected + " bytes, the file has " + actual);
        }
        return c;
    }

    /** The exact size in bytes of a llama2.c file for config {@code c}. */
    public static long expectedSize(LlamaConfig c) {
        long d = c.dim(), kv = c.kvDim(), h = c.hiddenDim(), L = c.nLayers(), v = c.vocabSize();
        long floats = v * d                                   // token_embedding
                + L * (2 * d + 2 * d * d + 2 * kv * d + 3 * h * d) // norms, wq, wo, wk, wv, w1, w2, w3
                + d                                           // rms_final
                + (long) c.maxSeqLen() * c.headDim()           // freq_cis_real + freq_cis_imag
                + (c.tiedEmbeddings() ? 0 : v * d);           // wcls
        return HEADER_BYTES + 4 * floats;
    }

    /** Reads a whole checkpoint into peft4j's canonical layout. */
    public static LlamaWeights read(Path file) {
        return read(file, 0);
    }

    /** Reads a checkpoint, replacing its context length by {@code maxSeqLen} when that is positive. */
    public static LlamaWeights read(Path file, int maxSeqLen) {
        LlamaConfig fileConfig = readConfig(file);
        LlamaWeights w = new LlamaWeights(maxSeqLen > 0 ? fileConfig.withMaxSeqLen(maxSeqLen) : fileConfig);
        LlamaConfig c = fileConfig;
        int d = c.dim(), kv = c.kvDim(), h = c.hiddenDim(), hd = c.headDim();
        try (Arena arena = Arena.ofConfined(); FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            MemorySegment map = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            Cursor in = new Cursor(map, HEADER_BYTES);
            in.read(w.tokenEmbedding.f32());
            for (float[] a : w.attnNorm) in.read(a);
            for (WeightMatrix m : w.wq) in.readMetaRows(m.f32(), d, hd, d);
            for (WeightMatrix m : w.wk) in.readMetaRows(m.f32(), kv, hd, d);
            for (WeightMatrix m : w.wv) in.read(m.f32());
            for (WeightMatrix m : w.wo) in.read(m.f32());
            for (float[] a : w.ffnNorm) in.read(a);
            for (WeightMatrix m : w.wGate) in.read(m.f32());
            for (WeightMatrix m : w.wDown) in.read(m.f32());
            for (WeightMatrix m : w.wUp) in.read(m.f32());
            in.read(w.finalNorm);
            in.skip(2L * c.maxSeqLen() * (hd / 2)); // freq_cis_real, freq_cis_imag: recomputed by the model
            if (!c.tiedEmbeddings()) in.read(w.classifier.f32());
            if (in.pos != map.byteSize()) throw new IllegalStateException("read " + in.pos + " of " + map.byteSize() + " bytes");
        } catch (IOException e) {
            throw new UserException("cannot read llama2.c checkpoint " + file + ": " + e.getMessage(), e);
        }
        return w;
    }

    /** Reads consecutive float32 arrays from the mapping. */
    private static final class Cursor {
        final MemorySegment map;
        long pos;

        Cursor(MemorySegment map, long pos) {
            this.map = map;
            this.pos = pos;
        }

        void read(float[] dst) {
            MemorySegment.copy(map, LE_FLOAT, pos, dst, 0, dst.length);
            pos += 4L * dst.length;
        }

        /** Reads {@code [rows][cols]} stored in Meta RoPE row order into Hugging Face row order. */
        void readMetaRows(float[] dst, int rows, int headDim, int cols) {
            for (int r = 0; r < rows; r++) {
                MemorySegment.copy(map, LE_FLOAT, pos + 4L * r * cols, dst, hfRow(r, headDim) * cols, cols);
            }
            pos += 4L * rows * cols;
        }

        void skip(long floats) {
            pos += 4 * floats;
        }
    }

    /** The Hugging Face row of Meta row {@code metaRow}: within a head, row {@code 2i+s} goes to {@code s*headDim/2 + i}. */
    static int hfRow(int metaRow, int headDim) {
        int head = metaRow / headDim, j = metaRow % headDim;
        return head * headDim + (j % 2) * (headDim / 2) + j / 2;
    }

    /**
     * Writes {@code w} as a legacy llama2.c file, atomically. The config must be llama2.c's
     * (norm eps 1e-5, RoPE theta 10000, no RoPE scaling): the format cannot record anything else.
     */
    public static void write(LlamaWeights w, Path file) throws IOException {
        LlamaConfig c = w.config;
        if (c.normEps() != 1e-5f || c.ropeTheta() != 10000f || c.ropeScaling() != null) {
            throw new UserException("cannot write " + file + " as llama2.c: the format fixes norm_eps=1e-5, rope_theta=10000 and no "
                    + "rope_scaling, but the model has norm_eps=" + c.normEps() + ", rope_theta=" + c.ropeTheta()
                    + ", rope_scaling=" + c.ropeScaling() + " (save it in the Hugging Face format instead)");
        }
        int d = c.dim(), kv = c.kvDim(), hd = c.headDim();
        AtomicFiles.write(file, ch -> {
            AtomicFiles.FloatSink out = new AtomicFiles.FloatSink(ch);
            out.putInt(d).putInt(c.hiddenDim()).putInt(c.nLayers()).putInt(c.nHeads()).putInt(c.nKvHeads())
                    .putInt(c.tiedEmbeddings() ? c.vocabSize() : -c.vocabSize()).putInt(c.maxSeqLen());
            out.put(w.tokenEmbedding.toF32());
            for (float[] a : w.attnNorm) out.put(a);
            for (WeightMatrix m : w.wq) putMetaRows(out, m.toF32(), d, hd, d);
            for (WeightMatrix m : w.wk) putMetaRows(out, m.toF32(), kv, hd, d);
            for (WeightMatrix m : w.wv) out.put(m.toF32());
            for (WeightMatrix m : w.wo) out.put(m.toF32());
            for (float[] a : w.ffnNorm) out.put(a);
            for (WeightMatrix m : w.wGate) out.put(m.toF32());
            for (WeightMatrix m : w.wDown) out.put(m.toF32());
            for (WeightMatrix m : w.wUp) out.put(m.toF32());
            out.put(w.finalNorm);
            float[][] cosSin = ropeTables(c.maxSeqLen(), hd);
            out.put(cosSin[0]);
            out.put(cosSin[1]);
            if (!c.tiedEmbeddings()) out.put(w.classifier.toF32());
            out.flush();
        });
    }

    private static void putMetaRows(AtomicFiles.FloatSink out, float[] a, int rows, int headDim, int cols) throws IOException {
        for (int r = 0; r < rows; r++) out.put(a, hfRow(r, headDim) * cols, cols);
    }

    /**
     * llama2.c's RoPE tables {@code [seqLen][headDim/2]}: cos and sin of {@code pos * 10000^(-2i/headDim)},
     * each step rounded to float32 as PyTorch does. PyTorch's vectorized cos/sin may differ from
     * these correctly rounded values in the last bit; readers (run.c, peft4j) ignore the tables.
     */
    static float[][] ropeTables(int seqLen, int headDim) {
        int half = headDim / 2;
        float[] cos = new float[seqLen * half], sin = new float[seqLen * half]; // [seqLen][headDim/2]
        for (int i = 0; i < half; i++) {
            float exponent = (float) (2 * i) / headDim;
            float invFreq = 1f / (float) Math.pow(10000.0, exponent);
            for (int pos = 0; pos < seqLen; pos++) {
                float angle = pos * invFreq;
                cos[pos * half + i] = (float) Math.cos(angle);
                sin[pos * half + i] = (float) Math.sin(angle);
            }
        }
        return new float[][]{cos, sin};
    }

    private static long size(Path file) {
        try {
            return java.nio.file.Files.size(file);
        } catch (IOException e) {
            throw new UserException("cannot read llama2.c checkpoint " + file + ": " + e.getMessage(), e);
        }
    }

    private static UserException bad(Path file, String what) {
        return new UserException("llama2.c checkpoint " + file + ": " + what);
    }
}
