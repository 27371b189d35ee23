package dev.peft4j.models.tokenizer;

import dev.peft4j.api.UserException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** Format detection by {@link Tokenizers#load}: by name, by directory, by content; errors name the file. */
class TokenizersTest {

    @Test
    void picksTheFormatByName() {
        assertInstanceOf(SentencePieceTokenizer.class, Tokenizers.load(Fixtures.resource("bpe-bytefallback.model")));
        assertInstanceOf(HfTokenizer.class, Tokenizers.load(Fixtures.resource("hf-bytelevel.tokenizer.json")));
    }

    @Test
    void picksTheFileInADirectory(@TempDir Path dir) throws IOException {
        Files.copy(Fixtures.resource("hf-bytelevel.tokenizer.json"), dir.resolve("tokenizer.json"));
        assertInstanceOf(HfTokenizer.class, Tokenizers.load(dir));
        Files.copy(Fixtures.resource("bpe-bytefallback.model"), dir.resolve("tokenizer.model"));
        assertInstanceOf(SentencePieceTokenizer.class, Tokenizers.load(dir), "tokenizer.model is preferred");
    }

    @Test
    void llama2cBinByName() {
        Path bin = Fixtures.llama2("tokenizer.bin");
        Tokenizer t = Tokenizers.load(bin);
        assertInstanceOf(Llama2cTokenizer.class, t);
        assertEquals(32000, t.vocabSize());
        assertArrayEquals(new int[]{1, 15043, 3186, 2}, t.encode("Hello world", true, true));
    }

    @Test
    void sniffsContentWhenTheNameSaysNothing(@TempDir Path dir) throws IOException {
        Path json = Files.copy(Fixtures.resource("hf-bytelevel.tokenizer.json"), dir.resolve("vocab-a"));
        Path model = Files.copy(Fixtures.resource("bpe-bytefallback.model"), dir.resolve("vocab-b"));
        assertInstanceOf(HfTokenizer.class, Tokenizers.load(json));
        assertInstanceOf(SentencePieceTokenizer.class, Tokenizers.load(model));
    }

    @Test
    void unknownMissingOrCorruptFilesAreUserErrors(@TempDir Path dir) throws IOException {
        Path unknown = Files.writeString(dir.resolve("vocab.txt"), "hello\nworld\n");
        Path emptyDir = Files.createDirectory(dir.resolve("empty"));
        Path missing = dir.resolve("nothing.model");
        Path badBin = Files.write(dir.resolve("tokenizer.bin"), new byte[]{27, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0, 'a'});
        for (Path p : new Path[]{unknown, emptyDir, missing, badBin}) {
            UserException e = assertThrows(UserException.class, () -> Tokenizers.load(p), p.toString());
            assertTrue(e.getMessage().startsWith(p.toString()), e.getMessage());
        }
    }
}
