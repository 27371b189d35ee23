package dev.peft4j.models.io;

import dev.peft4j.api.UserException;
import dev.peft4j.kernels.quant.Dequant;
import dev.peft4j.kernels.quant.GgmlType;
import dev.peft4j.kernels.quant.Quantize;
import dev.peft4j.models.LlamaConfig;
import dev.peft4j.models.LlamaModel;
import dev.peft4j.models.LlamaWeights;
import dev.peft4j.models.RopeScaling;
import dev.peft4j.models.generate.Generator;
import dev.peft4j.models.generate.Sampling;
import dev.peft4j.models.tokenizer.HfTokenizer;
import dev.peft4j.models.tokenizer.SentencePieceTokenizer;
import dev.peft4j.models.tokenizer.Tokenizer;
import dev.peft4j.models.tokenizer.Tokenizers;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.net.URISyntaxException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.*;

/**
 * GGUF in and out. Fixtures written by llama.cpp's gguf-py (golden/make_gguf_fixtures.py): two tiny LLaMA
 * files (a SentencePiece-style and a byte-level BPE vocabulary; F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K
 * tensors) and beside each the float32 model gguf-py dequantises them to, in the Hugging Face layout.
 */
class GgufCheckpointTest {
    @TempDir
    Path dir;

    static Path fixture(String name) {
        try {
            return Path.of(GgufCheckpointTest.class.getResource("gguf/" + name).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Same config, and every tensor decodes to the same float32 values (whatever types they are held in). */
    static void assertSameWeights(LlamaWeights a, LlamaWeights b) {
        assertEquals(a.config, b.config);
        List<LlamaWeights.Tensor> ta = a.tensors(), tb = b.tensors();
        assertEquals(ta.size(), tb.size());
        for (int i = 0; i < ta.size(); i++) {
            assertEquals(ta.get(i).name(), tb.get(i).name());
            assertArrayEquals(ta.get(i).weight().toF32(), tb.get(i).weight().toF32(), ta.get(i).name());
        }
    }

    static Path tokenizerFixture(String name) {
        try {
            return Path.of(GgufCheckpointTest.class.getResource("/tokenizer/" + name).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    static List<String> prose() throws IOException {
        List<String> lines = Files.readAllLines(tokenizerFixture("prose.txt"));
        return List.of(String.join("\n", lines), lines.getFirst(), "  two  spaces, caf\u00e9 \u65e5\u672c 123456 <s> [[note]] \uD83E\uDD99", "");
    }

    @Test
    void readsGgufPysFilesAsItsDequantisedWeights() {
        for (String name : List.of("llama-spm", "llama-bpe")) {
            LlamaWeights fromGguf = Checkpoints.load(fixture(name + ".gguf"));
            LlamaWeights expected = HfCheckpoint.read(fixture(name + ".expected"));
            assertSameWeights(expected, fromGguf);
            System.out.printf(Locale.ROOT, "%s: %s; wq[0] first %s, wk[1] first %s; every tensor bit-equal to gguf-py's dequantisation%n",
                    name, fromGguf.config, Arrays.toString(Arrays.copyOf(fromGguf.wq[0].toF32(), 3)), Arrays.toString(Arrays.copyOf(fromGguf.wk[1].toF32(), 3)));
        }
        assertEquals(new RopeScaling(8f, 1f, 4f, 8192), Checkpoints.readConfig(fixture("llama-bpe.gguf")).ropeScaling());
        assertEquals(CheckpointFormat.GGUF, Checkpoints.detect(fixture("llama-spm.gguf")));
    }

    @Test
    void exposesRawTensorsAsSlicesOfTheMapping() {
        try (GgufFile g = GgufFile.open(fixture("llama-bpe.gguf"))) {
            assertEquals(3, g.version());
            assertEquals(32, g.alignment());
            GgufFile.Tensor down = g.tensor("blk.0.ffn_down.weight");
            assertEquals(GgmlType.Q4_K, down.type());
            assertArrayEquals(new long[]{256, 32}, down.dims());
            assertArrayEquals(new long[]{32, 256}, down.shape());
            assertEquals(32 * 144, down.data().byteSize());
            assertEquals(GgmlType.Q6_K, g.tensor("blk.1.ffn_down.weight").type());
            assertEquals(0, (g.dataOffset() + down.offset()) % 32);
            assertEquals("llama-bpe", g.string("tokenizer.ggml.pre", null));
            assertEquals(468, g.array("tokenizer.ggml.tokens", GgufFile.ValueType.STRING, true).length());
        }
    }

    @Test
    void metadataOfEveryTypeAndACustomAlignmentRoundTrip() throws IOException {
        GgufWriter w = new GgufWriter();
        w.putUint32("general.alignment", 64);
        w.put("u8", GgufFile.Value.of(GgufFile.ValueType.UINT8, 255L)).put("i8", GgufFile.Value.of(GgufFile.ValueType.INT8, -128L))
                .put("u16", GgufFile.Value.of(GgufFile.ValueType.UINT16, 65535L)).put("i16", GgufFile.Value.of(GgufFile.ValueType.INT16, -32768L))
                .put("u32", GgufFile.Value.of(GgufFile.ValueType.UINT32, 4294967295L)).put("i32", GgufFile.Value.of(GgufFile.ValueType.INT32, -7L))
                .put("u64", GgufFile.Value.of(GgufFile.ValueType.UINT64, -1L)).put("i64", GgufFile.Value.of(GgufFile.ValueType.INT64, Long.MIN_VALUE))
                .put("f32", GgufFile.Value.of(GgufFile.ValueType.FLOAT32, 1.5f)).put("f64", GgufFile.Value.of(GgufFile.ValueType.FLOAT64, -2.25))
                .put("bool", GgufFile.Value.of(GgufFile.ValueType.BOOL, true)).put("str", GgufFile.Value.of(GgufFile.ValueType.STRING, "caf\u00e9 \uD83E\uDD99"))
                .put("a.i16", GgufFile.Value.array(GgufFile.ValueType.INT16, new long[]{-1, 2, 3}))
                .put("a.f32", GgufFile.Value.array(GgufFile.ValueType.FLOAT32, new float[]{1f, -0f, Float.NaN}))
                .put("a.f64", GgufFile.Value.array(GgufFile.ValueType.FLOAT64, new double[]{1e300}))
                .put("a.bool", GgufFile.Value.array(GgufFile.ValueType.BOOL, new boolean[]{true, false}))
                .put("a.str", GgufFile.Value.array(GgufFile.ValueType.STRING, new String[]{"", "x y"}))
                .put("a.arr", GgufFile.Value.array(GgufFile.ValueType.ARRAY, new GgufFile.Value[]{
                        GgufFile.Value.array(GgufFile.ValueType.UINT8, new long[]{1, 2}), GgufFile.Value.array(GgufFile.ValueType.STRING, new String[]{"z"})}));
        float[] x = {1, 2, 3};
        w.tensor("a", GgmlType.F32, new long[]{3}, () -> MemorySegment.ofArray(Quantize.quantize(GgmlType.F32, x, 0, 3)));
        w.tensor("b", GgmlType.F16, new long[]{3}, () -> MemorySegment.ofArray(Quantize.quantize(GgmlType.F16, x, 0, 3)));
        Path file = dir.resolve("types.gguf");
        w.write(file);
        byte[] bytes = Files.readAllBytes(file);
        for (int version : new int[]{3, 2}) {
            ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putInt(4, version);
            Path v = copy(bytes, "types-v" + version + ".gguf");
            try (GgufFile g = GgufFile.open(v)) {
                assertEquals(version, g.version());
                assertEquals(64, g.alignment());
                assertEquals(0, g.dataOffset() % 64);
                assertEquals(64, g.tensor("b").offset(), "the second tensor starts at the next multiple of 64");
                assertEquals(255L, g.integer("u8", null));
                assertEquals(-128L, g.integer("i8", null));
                assertEquals(65535L, g.integer("u16", null));
                assertEquals(-32768L, g.integer("i16", null));
                assertEquals(4294967295L, g.integer("u32", null));
                assertEquals(-1L, g.integer("u64", null));
                assertEquals(Long.MIN_VALUE, g.integer("i64", null));
                assertEquals(1.5, g.number("f32", null));
                assertEquals(-2.25, g.number("f64", null));
                assertTrue(g.bool("bool", false));
                assertEquals("caf\u00e9 \uD83E\uDD99", g.string("str", null));
                assertArrayEquals(new long[]{-1, 2, 3}, (long[]) g.array("a.i16", GgufFile.ValueType.INT16, true).value());
                assertArrayEquals(new float[]{1f, -0f, Float.NaN}, (float[]) g.array("a.f32", GgufFile.ValueType.FLOAT32, true).value());
                assertArrayEquals(new double[]{1e300}, (double[]) g.array("a.f64", GgufFile.ValueType.FLOAT64, true).value());
                assertArrayEquals(new boolean[]{true, false}, (boolean[]) g.array("a.bool", GgufFile.ValueType.BOOL, true).value());
                assertArrayEquals(new String[]{"", "x y"}, (String[]) g.array("a.str", GgufFile.ValueType.STRING, true).value());
                GgufFile.Value[] nested = (GgufFile.Value[]) g.array("a.arr", GgufFile.ValueType.ARRAY, true).value();
                assertArrayEquals(new long[]{1, 2}, (long[]) nested[0].value());
                assertArrayEquals(new String[]{"z"}, (String[]) nested[1].value());
                assertArrayEquals(x, Dequant.dequantize(GgmlType.F16, g.tensor("b").data(), 0, 3));
                var e = assertThrows(UserException.class, () -> g.string("u8", null));
                assertTrue(e.getMessage().contains(v.toString()) && e.getMessage().contains("u8") && e.getMessage().contains("STRING"), e.getMessage());
            }
        }
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putInt(4, 1);
        Path v1 = copy(bytes, "types-v1.gguf");
        assertRefused(v1, () -> GgufFile.open(v1).close(), "version", "version 1 is not supported");
    }

    @Test
    void weightsStayCompressedAsSlicesOfTheMappingExceptPermutedQAndK() throws IOException {
        LlamaWeights w = Checkpoints.load(fixture("llama-bpe.gguf"));
        int mapped = 0, matrices = 0;
        try (GgufFile g = GgufFile.open(fixture("llama-bpe.gguf"))) {
            for (LlamaWeights.Tensor t : w.tensors()) {
                if (t.shape().length != 2) continue;
                matrices++;
                dev.peft4j.kernels.WeightMatrix m = t.weight();
                assertEquals(g.tensor(GgufCheckpoint.ggufName(t.name())).type(), m.type(), t.name() + " keeps its stored type");
                boolean qk = t.name().contains("q_proj") || t.name().contains("k_proj");
                if (!m.isF32()) assertEquals(!qk, m.data().isMapped(), t.name() + " is a slice of the mapping unless permuted");
                if (!m.isF32() && m.data().isMapped()) mapped++;
            }
        }
        assertEquals(1 + 2 * 7, matrices, "embedding + 7 linears per layer (tied: no lm_head)");
        assertEquals(GgmlType.Q4_K, w.wDown[0].type());
        assertEquals(GgmlType.Q6_K, w.wDown[1].type());
        assertEquals(GgmlType.Q4_0, w.wk[1].type());
        assertTrue(w.classifier == w.tokenEmbedding, "tied");
        // Written back as they are held ("keep"): the stored blocks are copied, not re-quantised.
        Path out = dir.resolve("keep.gguf");
        GgufCheckpoint.write(w, Tokenizers.load(fixture("llama-bpe.gguf")), out, null);
        try (GgufFile a = GgufFile.open(fixture("llama-bpe.gguf")); GgufFile b = GgufFile.open(out)) {
            for (GgufFile.Tensor t : a.tensors().values()) {
                GgufFile.Tensor u = b.tensor(t.name());
                assertEquals(t.type(), u.type(), t.name());
                assertEquals(-1L, t.data().mismatch(u.data()), t.name() + ": the same bytes");
            }
        }
        System.out.printf(Locale.ROOT, "llama-bpe.gguf: %d weight matrices in their stored types %s, %d of them mapped (not copied); "
                + "written back with --dtype keep byte for byte%n", matrices, w.storedTypes(), mapped);
    }

    @Test
    void tokenizersStoredInTheFileEncodeAsTheOriginals() throws IOException {
        Tokenizer spGguf = Tokenizers.load(fixture("llama-spm.gguf"));
        Tokenizer sp = SentencePieceTokenizer.load(tokenizerFixture("bpe-bytefallback.model"));
        Tokenizer bpeGguf = Tokenizers.load(fixture("llama-bpe.gguf"));
        Tokenizer bpe = HfTokenizer.load(tokenizerFixture("hf-bytelevel.tokenizer.json"));
        for (Tokenizer[] pair : new Tokenizer[][]{{sp, spGguf}, {bpe, bpeGguf}}) {
            assertEquals(pair[0].vocabSize(), pair[1].vocabSize());
            assertEquals(pair[0].bos(), pair[1].bos(), "bos");
            assertEquals(pair[0].eos(), pair[1].eos(), "eos");
            int total = 0;
            for (String text : prose()) {
                int[] want = pair[0].encode(text, true, false);
                assertArrayEquals(want, pair[1].encode(text, true, false), text);
                assertEquals(pair[0].decode(want), pair[1].decode(want));
                total += want.length;
            }
            System.out.printf(Locale.ROOT, "%s from GGUF: %d ids equal to %s's, bos %d eos %d%n", pair[1], total, pair[0], pair[1].bos(), pair[1].eos());
        }
    }

    @Test
    void whatPeft4jWritesReadsBackEqual() throws IOException {
        LlamaWeights w = Checkpoints.load(fixture("llama-spm.gguf"));
        Tokenizer tok = Tokenizers.load(fixture("llama-spm.gguf"));
        for (GgmlType type : List.of(GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0)) {
            Path out = dir.resolve("x-" + type + ".gguf");
            GgufCheckpoint.write(w, tok, out, type);
            LlamaWeights back = Checkpoints.load(out);
            LlamaWeights expected = roundTrip(w, type);
            assertSameWeights(expected, back);
            Tokenizer tokBack = Tokenizers.load(out);
            for (String text : prose()) assertArrayEquals(tok.encode(text, true, false), tokBack.encode(text, true, false));
            Path again = dir.resolve("again.gguf");
            GgufCheckpoint.write(w, tok, again, type);
            assertArrayEquals(Files.readAllBytes(out), Files.readAllBytes(again), "deterministic bytes");
            try (GgufFile g = GgufFile.open(out)) {
                assertEquals(type, g.tensor("blk.0.attn_q.weight").type());
                assertEquals(GgmlType.F32, g.tensor("blk.0.attn_norm.weight").type());
                for (GgufFile.Tensor t : g.tensors().values()) assertEquals(0, (g.dataOffset() + t.offset()) % g.alignment(), t.name());
            }
            System.out.printf(Locale.ROOT, "wrote %s (%d bytes): reads back equal to quantise+dequantise of every weight%n", type, Files.size(out));
        }
        // The BPE model: tied, GQA, LLaMA 3 RoPE scaling, byte-level tokenizer.
        LlamaWeights b = Checkpoints.load(fixture("llama-bpe.gguf"));
        Tokenizer bt = Tokenizers.load(fixture("llama-bpe.gguf"));
        Path out = dir.resolve("bpe.gguf");
        GgufCheckpoint.write(b, bt, out, GgmlType.F32);
        assertSameWeights(b, Checkpoints.load(out));
        try (GgufFile g = GgufFile.open(out); GgufFile orig = GgufFile.open(fixture("llama-bpe.gguf"))) {
            assertNull(g.tensor("output.weight"));
            for (String key : List.of("tokenizer.ggml.tokens", "tokenizer.ggml.merges", "tokenizer.ggml.token_type")) {
                Object x = orig.metadata().get(key).value(), y = g.metadata().get(key).value();
                assertTrue(x instanceof String[] s ? Arrays.equals(s, (String[]) y) : Arrays.equals((long[]) x, (long[]) y), key);
            }
            float[] f0 = Dequant.dequantize(GgmlType.F32, orig.tensor("rope_freqs.weight").data(), 0, 4);
            float[] f1 = Dequant.dequantize(GgmlType.F32, g.tensor("rope_freqs.weight").data(), 0, 4);
            assertArrayEquals(f0, f1, 1e-6f, "rope_freqs as llama.cpp's converter computes them");
        }
        String envOut = System.getProperty("peft4j.gguf.out"); // for checking with gguf-py by hand: -Dpeft4j.gguf.out=DIR
        if (envOut != null) {
            GgufCheckpoint.write(w, tok, Path.of(envOut, "peft4j-spm-q8_0.gguf"), GgmlType.Q8_0);
            GgufCheckpoint.write(b, bt, Path.of(envOut, "peft4j-bpe-f16.gguf"), GgmlType.F16);
        }
    }

    /**
     * w as peft4j must read it back after writing 2-D weights as {@code type}: a weight already held in that
     * type as it is, any other quantised from its float32 values (a row that is not whole blocks: F16).
     */
    static LlamaWeights roundTrip(LlamaWeights w, GgmlType type) {
        LlamaWeights out = new LlamaWeights(w.config);
        List<LlamaWeights.Tensor> src = w.tensors(), dst = out.tensors();
        for (int i = 0; i < src.size(); i++) {
            LlamaWeights.Tensor t = src.get(i);
            int cols = t.shape()[t.shape().length - 1];
            GgmlType tt = t.shape().length == 1 ? GgmlType.F32 : cols % type.blockSize() == 0 ? type : GgmlType.F16;
            float[] x = t.weight().toF32();
            if (t.weight().type() == tt) {
                System.arraycopy(x, 0, dst.get(i).data(), 0, x.length);
                continue;
            }
            byte[] q = Quantize.quantize(tt, x, 0, x.length);
            Dequant.dequantize(tt, MemorySegment.ofArray(q), 0, dst.get(i).data(), 0, x.length);
        }
        return out;
    }

    @Test
    void aQ8_0ModelGivesTheLogitsAndTokensOfItsDequantisedFloat32Twin() throws IOException {
        LlamaConfig c = new LlamaConfig(64, 96, 2, 4, 2, 420, 48, 1e-5f, 10000f, null, false);
        LlamaWeights w = LlamaWeights.random(c, 5, 0.08f);
        Path file = dir.resolve("q8.gguf");
        GgufCheckpoint.write(w, Tokenizers.load(fixture("llama-spm.gguf")), file, GgmlType.Q8_0);
        LlamaWeights fromGguf = Checkpoints.load(file);
        LlamaWeights twin = roundTrip(w, GgmlType.Q8_0); // built here from the codec, in peft4j's row order
        LlamaModel a = new LlamaModel(fromGguf), b = new LlamaModel(twin);
        int[] prompt = {1, 17, 250, 3, 99, 400, 7};
        float[][] la = a.forwardAll(prompt), lb = b.forwardAll(prompt);
        double worst = 0;
        for (int t = 0; t < la.length; t++) {
            for (int v = 0; v < la[t].length; v++) {
                double rel = Math.abs(la[t][v] - lb[t][v]) / Math.max(1e-6, Math.abs(lb[t][v]));
                worst = Math.max(worst, rel);
                assertTrue(Math.abs(la[t][v] - lb[t][v]) <= 1e-5 * Math.max(1e-3, Math.abs(lb[t][v])), "logit " + t + "," + v);
            }
        }
        int[] ga = new Generator(a).generate(prompt, 30, Sampling.greedy(), -1, null).generatedIds();
        int[] gb = new Generator(b).generate(prompt, 30, Sampling.greedy(), -1, null).generatedIds();
        assertArrayEquals(gb, ga);
        System.out.printf(Locale.ROOT, "Q8_0 GGUF vs float32 twin: logits first %s, max relative diff %.2g (tolerance 1e-5); greedy %s%n",
                Arrays.toString(Arrays.copyOf(la[0], 3)), worst, Arrays.toString(Arrays.copyOf(ga, 10)));
    }

    // ---------------------------------------------------------------- bad input

    private Path copy(byte[] bytes, String name) throws IOException {
        Path p = dir.resolve(name);
        Files.write(p, bytes);
        return p;
    }

    /** Byte position of the tensor info that follows the tensor name {@code name} (its n_dims field). */
    static int infoAfterName(byte[] file, String name) {
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(n.length);
        byte[] needle = new byte[8 + n.length];
        System.arraycopy(len.array(), 0, needle, 0, 8);
        System.arraycopy(n, 0, needle, 8, n.length);
        outer:
        for (int i = 0; i + needle.length <= file.length; i++) {
            for (int j = 0; j < needle.length; j++) if (file[i + j] != needle[j]) continue outer;
            return i + needle.length;
        }
        throw new AssertionError(name + " not found");
    }

    private static void assertRefused(Path file, Runnable read, String... parts) {
        UserException e = assertThrows(UserException.class, read::run);
        System.out.println("refused: " + e.getMessage());
        assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
        for (String p : parts) assertTrue(e.getMessage().contains(p), "message lacks '" + p + "': " + e.getMessage());
    }

    @Test
    void truncatedFilesAreRefusedNamingWhatIsMissing() throws IOException {
        byte[] good = Files.readAllBytes(fixture("llama-spm.gguf"));
        Path cutData = copy(Arrays.copyOf(good, good.length - 100), "cut-data.gguf");
        assertRefused(cutData, () -> Checkpoints.load(cutData), "output.weight", "truncated");
        Path cutHeader = copy(Arrays.copyOf(good, 2000), "cut-header.gguf");
        assertRefused(cutHeader, () -> Checkpoints.load(cutHeader), "truncated", "tokenizer.ggml");
        Path tiny = copy(Arrays.copyOf(good, 6), "tiny.gguf");
        assertRefused(tiny, () -> Checkpoints.load(tiny), "version", "truncated");
    }

    @Test
    void unknownTensorTypesAndMisalignedOffsetsAreRefused() throws IOException {
        byte[] good = Files.readAllBytes(fixture("llama-spm.gguf"));
        int info = infoAfterName(good, "blk.0.attn_v.weight"); // n_dims u32, ne[2] u64, type u32, offset u64
        ByteBuffer b = ByteBuffer.wrap(good.clone()).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(2, b.getInt(info));
        assertEquals(GgmlType.F16.id(), b.getInt(info + 4 + 16));
        b.putInt(info + 4 + 16, 3); // Q4_1
        Path unknown = copy(b.array(), "unknown-type.gguf");
        assertRefused(unknown, () -> Checkpoints.load(unknown), "blk.0.attn_v.weight", "tensor type 3", "Q4_1");

        ByteBuffer m = ByteBuffer.wrap(good.clone()).order(ByteOrder.LITTLE_ENDIAN);
        long offset = m.getLong(info + 4 + 16 + 4);
        m.putLong(info + 4 + 16 + 4, offset + 4);
        Path misaligned = copy(m.array(), "misaligned.gguf");
        assertRefused(misaligned, () -> Checkpoints.load(misaligned), "blk.0.attn_v.weight", "offset " + (offset + 4), "misaligned");
    }

    /** A GGUF like llama-spm.gguf with one metadata value replaced (or removed when v is null). */
    private Path rewrite(String name, String key, GgufFile.Value v) throws IOException {
        Path out = dir.resolve(name);
        try (GgufFile g = GgufFile.open(fixture("llama-spm.gguf"))) {
            GgufWriter w = new GgufWriter();
            g.metadata().forEach((k, val) -> {
                if (!k.equals(key)) w.put(k, val);
                else if (v != null) w.put(k, v);
            });
            for (GgufFile.Tensor t : g.tensors().values()) w.tensor(t.name(), t.type(), t.dims(), t::data);
            w.write(out);
        }
        return out;
    }

    @Test
    void otherArchitecturesAndMismatchedVocabulariesAreRefused() throws IOException {
        Path same = rewrite("same.gguf", "none", null);
        assertSameWeights(Checkpoints.load(fixture("llama-spm.gguf")), Checkpoints.load(same));
        Path qwen = rewrite("qwen.gguf", "general.architecture", GgufFile.Value.of(GgufFile.ValueType.STRING, "qwen2"));
        assertRefused(qwen, () -> Checkpoints.load(qwen), "general.architecture", "qwen2");
        String[] tokens;
        try (GgufFile g = GgufFile.open(fixture("llama-spm.gguf"))) {
            tokens = (String[]) g.metadata().get("tokenizer.ggml.tokens").value();
        }
        Path shortVocab = rewrite("vocab.gguf", "tokenizer.ggml.tokens",
                GgufFile.Value.array(GgufFile.ValueType.STRING, Arrays.copyOf(tokens, 400)));
        assertRefused(shortVocab, () -> Checkpoints.load(shortVocab), "tokenizer.ggml.tokens", "400", "420");
        Path noEps = rewrite("eps.gguf", "llama.attention.layer_norm_rms_epsilon", null);
        assertRefused(noEps, () -> Checkpoints.load(noEps), "llama.attention.layer_norm_rms_epsilon", "missing");
        Path badDims = rewrite("dims.gguf", "llama.feed_forward_length", GgufFile.Value.of(GgufFile.ValueType.UINT32, 128L));
        assertRefused(badDims, () -> Checkpoints.load(badDims), "blk.0.ffn_gate.weight", "dims");
    }
}
