package dev.peft4j.models.data;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.archivers.zip.ZipArchiveEntry;
import org.apache.commons.compress.archivers.zip.ZipArchiveOutputStream;
import org.apache.commons.compress.compressors.bzip2.BZip2CompressorOutputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorOutputStream;
import org.apache.commons.compress.compressors.xz.XZCompressorOutputStream;
import org.apache.commons.compress.compressors.zstandard.ZstdCompressorOutputStream;

/** Small datasets written in the test, plain, compressed or archived, with Commons Compress. */
final class Fixtures {
    private Fixtures() {}

    static final String ALPACA = """
            [
              {"instruction": "Say hi.", "input": "", "output": "Hi!"},
              {"instruction": "Add the numbers.", "input": "2 and 3", "output": "5"},
              {"instruction": "Name a colour.", "output": "Blue"}
            ]
            """;

    static final String DOLLY = """
            {"instruction": "Say hi.", "context": "", "response": "Hi!", "category": "open_qa"}
            {"instruction": "Add the numbers.", "context": "2 and 3", "response": "5", "category": "closed_qa"}

            {"instruction": "Name a colour.", "response": "Blue", "category": "brainstorming"}
            """;

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static Path write(Path dir, String name, String content) throws IOException {
        return write(dir, name, utf8(content));
    }

    /** Writes {@code content} compressed as {@code name}'s extension says (.gz, .xz, .bz2, .zst, or none). */
    static Path write(Path dir, String name, byte[] content) throws IOException {
        Path p = dir.resolve(name);
        Files.write(p, compress(name, content));
        return p;
    }

    static byte[] compress(String name, byte[] content) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (OutputStream out = compressor(name, bytes)) {
            out.write(content);
        }
        return bytes.toByteArray();
    }

    private static OutputStream compressor(String name, OutputStream out) throws IOException {
        if (name.endsWith(".gz") || name.endsWith(".tgz")) return new GzipCompressorOutputStream(out);
        if (name.endsWith(".xz")) return new XZCompressorOutputStream(out);
        if (name.endsWith(".bz2")) return new BZip2CompressorOutputStream(out);
        if (name.endsWith(".zst")) return new ZstdCompressorOutputStream(out);
        return out;
    }

    /** A tar (compressed as the name says) of members given as name, content, name, content, ... */
    static Path tar(Path dir, String name, String... members) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (TarArchiveOutputStream tar = new TarArchiveOutputStream(bytes)) {
            for (int i = 0; i < members.length; i += 2) {
                byte[] data = member(members[i], members[i + 1]);
                TarArchiveEntry e = new TarArchiveEntry(members[i]);
                e.setSize(data.length);
                tar.putArchiveEntry(e);
                tar.write(data);
                tar.closeArchiveEntry();
            }
        }
        return write(dir, name, bytes.toByteArray());
    }

    static Path zip(Path dir, String name, String... members) throws IOException {
        Path p = dir.resolve(name);
        try (ZipArchiveOutputStream zip = new ZipArchiveOutputStream(Files.newOutputStream(p))) {
            for (int i = 0; i < members.length; i += 2) {
                zip.putArchiveEntry(new ZipArchiveEntry(members[i]));
                zip.write(member(members[i], members[i + 1]));
                zip.closeArchiveEntry();
            }
        }
        return p;
    }

    private static byte[] member(String name, String content) throws IOException {
        return compress(name, utf8(content));
    }
}
