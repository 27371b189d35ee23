package dev.peft4j.models.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import dev.peft4j.api.UserException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Golden tests against Debian's python3-sentencepiece: ids and decoded text for the prose and edge-case
 * texts (fixtures made by src/test/golden/tokenizer/make_sp_fixtures.py), on two small models trained with
 * spm_train (BPE + byte fallback + user-defined pieces; unigram + a custom normalization table) and on the
 * shared Llama 2 tokenizer, both as {@code tokenizer.model} and as llama2.c's {@code tokenizer.bin}.
 */
class SentencePieceTokenizerTest {

    @ParameterizedTest
    @ValueSource(strings = {"bpe-bytefallback", "unigram-rules"})
    void smallModelsMatchSentencePiece(String name) {
        Tokenizer t = SentencePieceTokenizer.load(Fixtures.resource(name + ".model"));
        checkAgainst(t, Fixtures.json(name + ".expected.json"));
    }

    @Test
    void llama2ModelMatchesSentencePiece() {
        Tokenizer t = SentencePieceTokenizer.load(Fixtures.llama2("tokenizer.model"));
        checkAgainst(t, Fixtures.json("llama2.expected.json"));
    }

    @Test
    void llama2cBinMatchesSentencePiece() {
        Tokenizer t = Llama2cTokenizer.load(Fixtures.llama2("tokenizer.bin"));
        checkAgainst(t, Fixtures.json("llama2.expected.json"));
    }

    @Test
    void llama2BinAndModelAgreeOnPiecesAndIds() {
        Tokenizer model = SentencePieceTokenizer.load(Fixtures.llama2("tokenizer.model"));
        Tokenizer bin = Llama2cTokenizer.load(Fixtures.llama2("tokenizer.bin"));
        assertEquals(model.vocabSize(), bin.vocabSize());
        for (int id = 0; id < model.vocabSize(); id++) assertEquals(model.piece(id), bin.piece(id), "piece " + id);
        String text = read(Fixtures.resource("prose.txt"));
        assertArrayEquals(model.encode(text, true, true), bin.encode(text, true, true));
    }

    @Test
    void bosAndEosFlags() {
        Tokenizer t = SentencePieceTokenizer.load(Fixtures.resource("bpe-bytefallback.model"));
        assertEquals(1, t.bos());
        assertEquals(2, t.eos());
        int[] plain = t.encode("Hello there", false, false);
        int[] both = t.encode("Hello there", true, true);
        assertEquals(plain.length + 2, both.length);
        assertEquals(t.bos(), both[0]);
        assertEquals(t.eos(), both[both.length - 1]);
        assertArrayEquals(plain, Arrays.copyOfRange(both, 1, both.length - 1));
        assertArrayEquals(new int[]{t.bos()}, t.encode("", true, false));
        assertEquals("Hello there", t.decode(both), "control pieces decode to nothing");
    }

    @Test
    void roundTripsText() {
        Tokenizer t = SentencePieceTokenizer.load(Fixtures.resource("bpe-bytefallback.model"));
        for (String s : new String[]{"", "plain words", " leading and trailing ", "new\nlines\r\n\ttabs",
                "\u65e5\u672c\u8a9e \uD83E\uDD99 e\u0301", read(Fixtures.resource("prose.txt"))}) {
            assertEquals(s, t.decode(t.encode(s, true, true)), Fixtures.show(s));
        }
    }

    @Test
    void streamDecoderAssemblesCharactersSplitAcrossBytePieces() {
        Tokenizer t = SentencePieceTokenizer.load(Fixtures.resource("bpe-bytefallback.model"));
        String text = "clef \uD834\uDD1E and \u20ac"; // neither is in the small vocabulary: both go to byte pieces
        int[] ids = t.encode(text, true, false);
        Tokenizer.StreamDecoder d = t.streamDecoder();
        StringBuilder all = new StringBuilder();
        int held = 0;
        for (int id : ids) {
            String s = d.accept(id);
            assertFalse(s.contains("\uFFFD"), "no partial character is ever emitted");
            if (s.isEmpty() && SentencePieceTokenizer.byteOf(t.piece(id)) >= 0) held++;
            all.append(s);
        }
        all.append(d.flush());
        assertEquals(text, all.toString());
        assertTrue(held >= 5, "the 4-byte clef and 3-byte euro are held back until complete, held " + held);
        Tokenizer.StreamDecoder broken = t.streamDecoder();
        assertEquals("", broken.accept(byteId(t, 0xF0)));
        assertEquals("", broken.accept(byteId(t, 0x9F)));
        assertEquals("\uFFFD\uFFFD", broken.flush(), "incomplete bytes become one U+FFFD each, as sentencepiece");
    }

    @Test
    void badFilesAreUserErrorsNamingTheFile(@org.junit.jupiter.api.io.TempDir Path dir) throws IOException {
        Path garbage = dir.resolve("garbage.model");
        Files.write(garbage, new byte[]{(byte) 0xFF, (byte) 0xFF, 0x01, 0x02, 0x03});
        UserException e = assertThrows(UserException.class, () -> SentencePieceTokenizer.load(garbage));
        assertTrue(e.getMessage().contains(garbage.toString()), e.getMessage());
        Path missing = dir.resolve("missing.model");
        e = assertThrows(UserException.class, () -> SentencePieceTokenizer.load(missing));
        assertTrue(e.getMessage().contains(missing.toString()), e.getMessage());
        byte[] model = Files.readAllBytes(Fixtures.resource("bpe-bytefallback.model"));
        Path truncated = dir.resolve("truncated.model");
        Files.write(truncated, Arrays.copyOf(model, model.length / 2));
        e = assertThrows(UserException.class, () -> SentencePieceTokenizer.load(truncated));
        assertTrue(e.getMessage().contains(truncated.toString()), e.getMessage());
    }

    static int byteId(Tokenizer t, int b) {
        for (int id = 0; id < t.vocabSize(); id++) if (SentencePieceTokenizer.byteOf(t.piece(id)) == b) return id;
        throw new AssertionError("no byte piece for " + b);
    }

    static void checkAgainst(Tokenizer t, JsonNode doc) {
        assertEquals(doc.get("vocab_size").asInt(), t.vocabSize());
        assertEquals(doc.get("bos").asInt(), t.bos());
        assertEquals(doc.get("eos").asInt(), t.eos());
        int n = 0, tokens = 0;
        for (Fixtures.Case c : Fixtures.cases(doc, "encode")) {
            int[] ids = t.encode(c.text(), false, false);
            assertArrayEquals(c.ids(), ids, () -> "encode " + Fixtures.show(c.text()) + "\n expected " + Arrays.toString(c.ids()) + "\n got      " + Arrays.toString(ids));
            assertEquals(c.decoded(), t.decode(c.ids()), () -> "decode of " + Fixtures.show(c.text()));
            n++;
            tokens += ids.length;
        }
        for (Fixtures.Case c : Fixtures.cases(doc, "decode")) {
            assertEquals(c.text(), t.decode(c.ids()), () -> "decode " + Arrays.toString(c.ids()));
        }
        System.out.printf("%s: %d texts, %d tokens, %d decode cases equal to %s%n", t, n, tokens,
                doc.get("decode").size(), doc.get("reference").asText());
    }

    static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
