package dev.peft4j.models.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.peft4j.api.UserException;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Every format, plain, compressed and archived, reads to the same examples. */
class DataFileTest {
    @TempDir
    Path dir;

    private static final List<Example> EXPECTED = List.of(
            new Example("Say hi.", "", "Hi!"), new Example("Add the numbers.", "2 and 3", "5"), new Example("Name a colour.", "", "Blue"));

    private static List<Example> read(String spec) {
        List<Example> out = new ArrayList<>();
        SkippedLines skipped = Datasets.readExamples(spec, null, false, out::add);
        assertEquals(0, skipped.count());
        return out;
    }

    @ParameterizedTest
    @ValueSource(strings = {"", ".gz", ".xz", ".bz2", ".zst"})
    void alpacaAndDollyPlainAndCompressed(String compression) throws IOException {
        assertEquals(EXPECTED, read(Fixtures.write(dir, "a.json" + compression, Fixtures.ALPACA).toString()));
        assertEquals(EXPECTED, read(Fixtures.write(dir, "d.jsonl" + compression, Fixtures.DOLLY).toString()));
    }

    @ParameterizedTest
    @ValueSource(strings = {"data.tar", "data.tar.gz", "data.tgz", "data.tar.xz", "data.tar.bz2", "data.tar.zst"})
    void tarArchivesUseTheFirstDatasetMember(String name) throws IOException {
        Path tar = Fixtures.tar(dir, name, "README.md", "not data", "sub/alpaca.json", Fixtures.ALPACA, "sub/other.json", "[]");
        assertEquals(EXPECTED, read(tar.toString()));
    }

    @Test
    void zipArchivesSkipMacMetadataAndDirectories() throws IOException {
        Path zip = Fixtures.zip(dir, "data.zip", "__MACOSX/._d.jsonl", "junk", "dir/._d.jsonl", "junk", "dir/d.jsonl", Fixtures.DOLLY);
        assertEquals(EXPECTED, read(zip.toString()));
    }

    @Test
    void namedMembersAndCompressedMembers() throws IOException {
        Path tar = Fixtures.tar(dir, "data.tar.gz", "first.json", "[]", "./second.jsonl.gz", Fixtures.DOLLY);
        assertEquals(EXPECTED, read(tar + "!second.jsonl.gz"));
        Path zip = Fixtures.zip(dir, "data.zip", "a.json", "[]", "b.json.xz", Fixtures.ALPACA);
        assertEquals(EXPECTED, read(zip + "!b.json.xz"));
    }

    @Test
    void missingMemberListsTheArchive() throws IOException {
        Path tar = Fixtures.tar(dir, "data.tar", "notes.md", "x");
        UserException e = assertThrows(UserException.class, () -> read(tar.toString()));
        assertTrue(e.getMessage().contains("data.tar has no .json, .jsonl or .txt member") && e.getMessage().contains("notes.md"), e.getMessage());
        e = assertThrows(UserException.class, () -> read(tar + "!x.json"));
        assertTrue(e.getMessage().contains("no member 'x.json'"), e.getMessage());
    }

    @Test
    void missingFileAndBrokenCompression() throws IOException {
        UserException e = assertThrows(UserException.class, () -> read(dir.resolve("nope.json").toString()));
        assertTrue(e.getMessage().contains("not found") && e.getMessage().contains("nope.json"), e.getMessage());
        Path fake = java.nio.file.Files.writeString(dir.resolve("fake.json.gz"), "plain text, not gzip");
        e = assertThrows(UserException.class, () -> read(fake.toString()));
        assertTrue(e.getMessage().contains("fake.json.gz") && e.getMessage().contains("not a valid .gz file"), e.getMessage());
    }

    @Test
    void formatComesFromTheNameWithoutCompression() {
        assertEquals(DatasetFormat.ALPACA, DatasetFormat.detect("x.JSON.gz"));
        assertEquals(DatasetFormat.DOLLY, DatasetFormat.detect("databricks-dolly-15k.jsonl.zst"));
        assertEquals(DatasetFormat.TEXT, DatasetFormat.detect("input.txt.xz"));
        assertEquals(null, DatasetFormat.detect("x.csv"));
        assertEquals(DatasetFormat.DOLLY, DatasetFormat.parse("dolly"));
        assertThrows(UserException.class, () -> DatasetFormat.parse("csv"));
    }
}
