package dev.peft4j.models.io;

import dev.peft4j.api.UserException;
import dev.peft4j.models.LlamaConfig;
import dev.peft4j.models.LlamaWeights;
import dev.peft4j.models.RopeLayout;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class Llama2cCheckpointTest {
    @TempDir
    Path dir;

    static final LlamaConfig TIED = LlamaConfig.of(16, 24, 2, 4, 4, 11, 7, true);
    static final LlamaConfig UNTIED_GQA = LlamaConfig.of(16, 24, 2, 4, 2, 11, 7, false);

    static void assertSameWeights(LlamaWeights a, LlamaWeights b) {
        assertEquals(a.config, b.config);
        List<LlamaWeights.Tensor> ta = a.tensors(), tb = b.tensors();
        assertEquals(ta.size(), tb.size());
        for (int i = 0; i < ta.size(); i++) {
            assertEquals(ta.get(i).name(), tb.get(i).name());
            assertArrayEquals(ta.get(i).data(), tb.get(i).data(), ta.get(i).name());
        }
    }

    @Test
    void roundTripsByteForByte() throws IOException {
        for (LlamaConfig c : List.of(TIED, UNTIED_GQA)) {
            LlamaWeights w = LlamaWeights.random(c, 42, 0.5f);
            Path first = dir.resolve("first.bin"), second = dir.resolve("second.bin");
            Llama2cCheckpoint.write(w, first);
            assertEquals(Llama2cCheckpoint.expectedSize(c), Files.size(first));
            LlamaWeights back = Llama2cCheckpoint.read(first);
            assertSameWeights(w, back);
            assertEquals(c.tiedEmbeddings(), back.classifier.toF32() == back.tokenEmbedding.toF32());
            Llama2cCheckpoint.write(back, second);
            assertArrayEquals(Files.readAllBytes(first), Files.readAllBytes(second), c.toString());
            assertEquals(c, Llama2cCheckpoint.readConfig(first));
            assertEquals(c.withMaxSeqLen(99), Llama2cCheckpoint.read(first, 99).config);
        }
    }

    /**
     * A file built by hand, every tensor filled with its own marker; q/k rows carry their row
     * number so the RoPE permutation can be checked against a hand-computed order.
     */
    @Test
    void readsAHandBuiltFileWithMetaRowOrder() throws IOException {
        int dim = 8, hidden = 4, layers = 1, heads = 2, kvHeads = 1, vocab = 3, seq = 2; // head_dim 4, kv_dim 4
        ByteBuffer b = ByteBuffer.allocate(28 + 4 * 1000).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(dim).putInt(hidden).putInt(layers).putInt(heads).putInt(kvHeads).putInt(-vocab).putInt(seq);
        fill(b, vocab * dim, 1f);                    // token_embedding
        fill(b, dim, 2f);                            // rms_att
        for (int r = 0; r < dim; r++) fill(b, dim, 100 + r);  // wq, meta row r = 100 + r
        for (int r = 0; r < 4; r++) fill(b, dim, 200 + r);    // wk
        fill(b, 4 * dim, 3f);                        // wv
        fill(b, dim * dim, 4f);                      // wo
        fill(b, dim, 5f);                            // rms_ffn
        fill(b, hidden * dim, 6f);                   // w1
        fill(b, dim * hidden, 7f);                   // w2
        fill(b, hidden * dim, 8f);                   // w3
        fill(b, dim, 9f);                            // rms_final
        fill(b, 2 * seq * 2, -1f);                   // freq tables: ignored
        fill(b, vocab * dim, 10f);                   // wcls
        Path p = dir.resolve("hand.bin");
        Files.write(p, Arrays.copyOf(b.array(), b.position()));

        LlamaWeights w = Llama2cCheckpoint.read(p);
        assertEquals(LlamaConfig.of(dim, hidden, layers, heads, kvHeads, vocab, seq, false), w.config);
        // Within each head of 4 rows, Meta pairs (0,1),(2,3) become HF pairs (0,2),(1,3): HF row k = Meta row [0,2,1,3][k].
        int[] wqRows = {0, 2, 1, 3, 4, 6, 5, 7};
        for (int k = 0; k < dim; k++) assertRow(w.wq[0].toF32(), k, dim, 100 + wqRows[k]);
        int[] wkRows = {0, 2, 1, 3};
        for (int k = 0; k < 4; k++) assertRow(w.wk[0].toF32(), k, dim, 200 + wkRows[k]);
        float[][] plain = {w.tokenEmbedding.toF32(), w.attnNorm[0], w.wv[0].toF32(), w.wo[0].toF32(), w.ffnNorm[0], w.wGate[0].toF32(), w.wDown[0].toF32(), w.wUp[0].toF32(), w.finalNorm, w.classifier.toF32()};
        float[] marks = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
        for (int i = 0; i < plain.length; i++) for (float v : plain[i]) assertEquals(marks[i], v, "tensor " + i);
        // the same permutation as RopeLayout's
        float[] meta = new float[dim * dim];
        for (int r = 0; r < dim; r++) Arrays.fill(meta, r * dim, (r + 1) * dim, 100 + r);
        assertArrayEquals(RopeLayout.metaToHf(meta, heads, 4, dim), w.wq[0].toF32());
    }

    private static void fill(ByteBuffer b, int n, float v) {
        for (int i = 0; i < n; i++) b.putFloat(v);
    }

    private static void assertRow(float[] w, int row, int cols, float expected) {
        for (int c = 0; c < cols; c++) assertEquals(expected, w[row * cols + c], "row " + row);
    }

    @Test
    void storedQkRowsAreRopeLayoutsMetaOrder() throws IOException {
        LlamaConfig c = UNTIED_GQA;
        LlamaWeights w = LlamaWeights.random(c, 7, 1f);
        Path p = dir.resolve("m.bin");
        Llama2cCheckpoint.write(w, p);
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(p)).order(ByteOrder.LITTLE_ENDIAN);
        int d = c.dim(), L = c.nLayers();
        long wqAt = 28 + 4L * ((long) c.vocabSize() * d + (long) L * d);
        float[] storedWq0 = new float[d * d];
        b.position((int) wqAt);
        b.asFloatBuffer().get(storedWq0);
        assertArrayEquals(RopeLayout.hfToMeta(w.wq[0].toF32(), c.nHeads(), c.headDim(), d), storedWq0);
        float[] storedWk0 = new float[c.kvDim() * d];
        b.position((int) (wqAt + 4L * L * d * d));
        b.asFloatBuffer().get(storedWk0);
        assertArrayEquals(RopeLayout.hfToMeta(w.wk[0].toF32(), c.nKvHeads(), c.headDim(), d), storedWk0);
    }

    @Test
    void writesLlama2cRopeTables() throws IOException {
        LlamaConfig c = TIED; // head_dim 4, seq 7
        Path p = dir.resolve("t.bin");
        Llama2cCheckpoint.write(LlamaWeights.random(c, 1, 1f), p);
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(p)).order(ByteOrder.LITTLE_ENDIAN);
        long tables = Files.size(p) - 4L * 2 * c.maxSeqLen() * 2;
        for (int pos = 0; pos < c.maxSeqLen(); pos++) {
            for (int i = 0; i < 2; i++) {
                double angle = pos * Math.pow(10000, -2.0 * i / 4);
                assertEquals(Math.cos(angle), b.getFloat((int) (tables + 4L * (pos * 2 + i))), 1e-6);
                assertEquals(Math.sin(angle), b.getFloat((int) (tables + 4L * (c.maxSeqLen() * 2 + pos * 2 + i))), 1e-6);
            }
        }
    }

    @Test
    void rejectsFilesWhoseSizeDisagreesWithTheHeader() throws IOException {
        Path p = dir.resolve("x.bin");
        Llama2cCheckpoint.write(LlamaWeights.random(UNTIED_GQA, 3, 1f), p);
        byte[] good = Files.readAllBytes(p);
        long expected = good.length;

        Files.write(p, Arrays.copyOf(good, good.length - 4));
        UserException e = assertThrows(UserException.class, () -> Llama2cCheckpoint.read(p));
        assertMessage(e, p.toString(), "truncated", expected + " bytes", (expected - 4) + "");

        Files.write(p, Arrays.copyOf(good, good.length + 8));
        e = assertThrows(UserException.class, () -> Llama2cCheckpoint.read(p));
        assertMessage(e, p.toString(), "larger than its header says", expected + " bytes", (expected + 8) + "");

        // header claims the classifier is tied (positive vocab) but the file still carries it
        byte[] tiedHeader = good.clone();
        ByteBuffer.wrap(tiedHeader).order(ByteOrder.LITTLE_ENDIAN).putInt(20, UNTIED_GQA.vocabSize());
        Files.write(p, tiedHeader);
        e = assertThrows(UserException.class, () -> Llama2cCheckpoint.read(p));
        assertMessage(e, p.toString(), "vocab_size=11", "larger than its header says");

        byte[] badHeads = good.clone();
        ByteBuffer.wrap(badHeads).order(ByteOrder.LITTLE_ENDIAN).putInt(12, 3); // 16 % 3 != 0
        Files.write(p, badHeads);
        e = assertThrows(UserException.class, () -> Llama2cCheckpoint.read(p));
        assertMessage(e, p.toString(), "invalid header", "n_heads=3");

        byte[] versioned = good.clone();
        ByteBuffer.wrap(versioned).order(ByteOrder.LITTLE_ENDIAN).putInt(0, 0x616b3432);
        Files.write(p, versioned);
        e = assertThrows(UserException.class, () -> Llama2cCheckpoint.readConfig(p));
        assertMessage(e, p.toString(), "version 0");

        Files.write(p, new byte[10]);
        e = assertThrows(UserException.class, () -> Llama2cCheckpoint.read(p));
        assertMessage(e, p.toString(), "too short");
    }

    @Test
    void refusesConfigsTheFormatCannotRecord() {
        LlamaConfig c = TIED;
        LlamaConfig theta = new LlamaConfig(c.dim(), c.hiddenDim(), c.nLayers(), c.nHeads(), c.nKvHeads(), c.vocabSize(), c.maxSeqLen(),
                1e-5f, 500000f, null, true);
        Path p = dir.resolve("theta.bin");
        UserException e = assertThrows(UserException.class, () -> Llama2cCheckpoint.write(new LlamaWeights(theta), p));
        assertMessage(e, p.toString(), "rope_theta=500000");
        assertFalse(Files.exists(p));
    }

    static void assertMessage(Exception e, String... parts) {
        for (String s : parts) assertTrue(e.getMessage().contains(s), "'" + s + "' in: " + e.getMessage());
    }
}
