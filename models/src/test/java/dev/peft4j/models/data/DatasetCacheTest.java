package dev.peft4j.models.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.peft4j.api.UserException;
import dev.peft4j.models.tokenizer.ByteTokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The binary cache gives back exactly what was prepared, and refuses damaged files by name. */
class DatasetCacheTest {
    @TempDir
    Path dir;

    private PreparedDataset data;
    private Path cache;

    @BeforeEach
    void prepare() throws IOException {
        Path f = Fixtures.write(dir, "d.jsonl.gz", Fixtures.DOLLY + "{\"instruction\": 1}\n");
        data = Datasets.prepare(f.toString(), null, new ByteTokenizer(),
                PrepareOptions.defaults().withValSize(1).withMaxSeqLength(150).withSkipBadLines(true).withSeed(5));
        cache = dir.resolve("cache/d.bin");
        DatasetCache.write(cache, data);
    }

    @Test
    void roundTripKeepsEverything() {
        PreparedDataset back = DatasetCache.read(cache);
        assertEquals(data.summary(), back.summary());
        assertEquals(data.options(), back.options());
        assertEquals(259, back.vocabSize());
        assertSame(data.train(), back.train());
        assertSame(data.val(), back.val());
        assertEquals(new SkippedLines(1, List.of(5L)), back.summary().skipped());
        assertTrue(back.summary().truncated() > 0);
    }

    @Test
    void plainTextRoundTrip() throws IOException {
        Path f = Fixtures.write(dir, "t.txt", "hello world\n".repeat(10));
        PreparedDataset text = Datasets.prepare(f.toString(), null, new ByteTokenizer(), PrepareOptions.defaults());
        DatasetCache.write(dir.resolve("t.bin"), text);
        PreparedDataset back = DatasetCache.read(dir.resolve("t.bin"));
        assertTrue(back.isText());
        assertEquals(text.summary(), back.summary());
        assertSame(text.train(), back.train());
        assertSame(text.val(), back.val());
    }

    private static void assertSame(ExampleSet a, ExampleSet b) {
        assertEquals(a.size(), b.size());
        for (int i = 0; i < a.size(); i++) {
            assertArrayEquals(a.tokens(i), b.tokens(i));
            assertEquals(a.promptLength(i), b.promptLength(i));
        }
    }

    @Test
    void truncatedFilesAreReported() throws IOException {
        byte[] bytes = Files.readAllBytes(cache);
        for (int keep : new int[] {0, 6, 40, bytes.length / 2, bytes.length - 1}) {
            Files.write(cache, Arrays.copyOf(bytes, keep));
            UserException e = assertThrows(UserException.class, () -> DatasetCache.read(cache));
            String m = e.getMessage();
            assertTrue(m.startsWith(cache.toString()) && (m.contains("truncated dataset cache") || (keep < 8 && m.contains("not a peft4j"))),
                    keep + " bytes: " + m);
        }
    }

    @Test
    void damagedFilesAreReported() throws IOException {
        byte[] bytes = Files.readAllBytes(cache);
        byte[] flipped = bytes.clone();
        flipped[bytes.length - 20] ^= 0x01; // a token id near the end: still in the vocabulary, so only the checksum sees it
        Files.write(cache, flipped);
        assertMessage("corrupt dataset cache (checksum mismatch)");

        byte[] magic = bytes.clone();
        magic[0] = 'X';
        Files.write(cache, magic);
        assertMessage("not a peft4j dataset cache");

        byte[] version = bytes.clone();
        version[8] = 9;
        Files.write(cache, version);
        assertMessage("dataset cache version 9; this peft4j reads version 1");

        byte[] longer = Arrays.copyOf(bytes, bytes.length + 3);
        Files.write(cache, longer);
        assertMessage("3 unexpected bytes after the checksum");

        Files.delete(cache);
        assertMessage("dataset cache not found");
    }

    private void assertMessage(String part) {
        UserException e = assertThrows(UserException.class, () -> DatasetCache.read(cache));
        assertTrue(e.getMessage().contains(cache.toString()) && e.getMessage().contains(part), e.getMessage());
    }
}
