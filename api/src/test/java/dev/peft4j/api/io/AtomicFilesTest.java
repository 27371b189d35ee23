package dev.peft4j.api.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Atomic writes under a failing channel (a full disk, simulated), and equal writes giving equal bytes. */
class AtomicFilesTest {
    @Test
    void aFullDiskKeepsTheOldFileRemovesTheTemporaryOneAndNamesTheFile(@TempDir Path dir) throws IOException {
        Path target = dir.resolve("adapter_model.safetensors");
        byte[] old = "the previous, complete content".getBytes(StandardCharsets.UTF_8);
        AtomicFiles.write(target, old);

        IOException e = assertThrows(IOException.class, () -> AtomicFiles.write(target, ch -> {
            AtomicFiles.writeFully(ch, ByteBuffer.wrap(new byte[100])); // half written ...
            throw new IOException("No space left on device");          // ... as the kernel reports ENOSPC
        }));
        assertEquals(target.toAbsolutePath() + ": no space left on device", e.getMessage());
        assertArrayEquals(old, Files.readAllBytes(target), "the previous file stays whole");
        try (Stream<Path> s = Files.list(dir)) {
            assertEquals(List.of(target), s.toList(), "no temporary file is left behind");
        }
        // a failure described once is not wrapped again
        assertEquals(e, AtomicFiles.failure(dir.resolve("other"), e));
    }

    @Test
    void equalTensorsAndMetadataGiveEqualBytesWhateverTheMapOrder(@TempDir Path dir) throws IOException {
        List<Safetensors.Tensor> t = List.of(new Safetensors.Tensor("b", new int[]{2}, new float[]{1, 2}),
                new Safetensors.Tensor("a", new int[]{1}, new float[]{3}));
        Map<String, String> m1 = new LinkedHashMap<>(), m2 = new LinkedHashMap<>();
        m1.put("format", "pt");
        m1.put("peft4j_method", "lora");
        m2.put("peft4j_method", "lora");
        m2.put("format", "pt");
        Safetensors.write(dir.resolve("1.safetensors"), t, DType.F32, m1);
        Safetensors.write(dir.resolve("2.safetensors"), t, DType.F32, m2);
        assertArrayEquals(Files.readAllBytes(dir.resolve("1.safetensors")), Files.readAllBytes(dir.resolve("2.safetensors")));
        String header = new String(Files.readAllBytes(dir.resolve("1.safetensors")), 8, 60, StandardCharsets.UTF_8);
        assertEquals(0, header.indexOf("{\"__metadata__\":{\"format\":\"pt\",\"peft4j_method\":\"lora\"}"), header);
    }

    @Test
    void aNewFileIsReadableByOthersAndAReplacedOneKeepsItsPermissions(@TempDir Path dir) throws IOException {
        org.junit.jupiter.api.Assumptions.assumeTrue(dir.getFileSystem().supportedFileAttributeViews().contains("posix"),
                "POSIX permissions only (this file system has none)");
        Path target = dir.resolve("report.md");
        AtomicFiles.write(target, "a".getBytes(StandardCharsets.UTF_8));
        assertEquals("rw-r--r--", java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(target)),
                "not the temporary file's owner-only 0600");
        Files.setPosixFilePermissions(target, java.nio.file.attribute.PosixFilePermissions.fromString("rw-rw----"));
        AtomicFiles.write(target, "b".getBytes(StandardCharsets.UTF_8));
        assertEquals("rw-rw----", java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(target)));
    }
}
