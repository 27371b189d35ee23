package dev.peft4j.models.data;

import dev.peft4j.api.UserException;
import java.io.BufferedInputStream;
import java.io.Closeable;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.List;
import java.util.Locale;
import java.util.function.Predicate;
import org.apache.commons.compress.archivers.ArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.apache.commons.compress.archivers.zip.ZipArchiveEntry;
import org.apache.commons.compress.archivers.zip.ZipFile;
import org.apache.commons.compress.compressors.bzip2.BZip2CompressorInputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorInputStream;
import org.apache.commons.compress.compressors.xz.XZCompressorInputStream;
import org.apache.commons.compress.compressors.xz.XZUtils;
import org.apache.commons.compress.compressors.zstandard.ZstdCompressorInputStream;
import org.apache.commons.compress.compressors.zstandard.ZstdUtils;

/**
 * An open dataset file: the decompressed bytes of a plain or compressed file, or of one member of
 * a tar or zip archive. What to undo is read from the names: {@code .gz}, {@code .xz},
 * {@code .bz2}, {@code .zst}; {@code .tar} (also {@code .tar.gz}, {@code .tgz}, {@code .tar.xz},
 * {@code .tar.bz2}, {@code .tar.zst}) and {@code .zip}. A member may itself be compressed.
 *
 * <p>In an archive, {@code archive.tar.gz!dir/train.json} names the member; without {@code !} the
 * first member whose name is a dataset ({@code .json}, {@code .jsonl}, {@code .txt}, perhaps
 * compressed; of the requested format when one is given) is used, skipping directories and macOS
 * metadata ({@code __MACOSX/}, {@code ._*}).
 *
 * @param name    the name for messages: the path, plus {@code !member} for an archive member
 * @param dataName the name that says the format: the file or member name
 * @param stream  the decompressed bytes; closing this record closes it (and the archive)
 */
public record DataFile(String name, String dataName, InputStream stream) implements Closeable {

    /** Opens {@code spec} (a path, or {@code archive!member}); {@code format} may be null. */
    public static DataFile open(String spec, DatasetFormat format) {
        Path path = Path.of(spec);
        String member = null;
        if (!Files.exists(path)) {
            int bang = spec.lastIndexOf('!');
            if (bang > 0 && Files.isRegularFile(Path.of(spec.substring(0, bang)))) {
                path = Path.of(spec.substring(0, bang));
                member = spec.substring(bang + 1);
            }
        }
        if (!Files.isRegularFile(path)) throw new UserException("dataset file not found: " + spec);
        String file = path.toString();
        String lower = path.getFileName().toString().toLowerCase(Locale.ROOT);
        try {
            if (lower.endsWith(".zip")) return openZip(path, member, format);
            if (isTar(lower)) return openTar(path, member, format);
            if (member != null) throw new UserException(file + " is not a .tar or .zip archive, so it has no member '" + member + "'");
            InputStream raw = new BufferedInputStream(Files.newInputStream(path), 1 << 16);
            try {
                return new DataFile(file, path.getFileName().toString(), decompress(raw, path.getFileName().toString(), file));
            } catch (RuntimeException e) {
                raw.close();
                throw e;
            }
        } catch (IOException e) {
            throw new UserException(file + ": cannot open: " + e.getMessage(), e);
        }
    }

    @Override
    public void close() throws IOException {
        stream.close();
    }

    private static boolean isTar(String lower) {
        return lower.endsWith(".tgz") || lower.endsWith(".tbz2") || lower.endsWith(".txz") || DatasetFormat.stripCompression(lower).endsWith(".tar");
    }

    private static Predicate<String> wanted(String member, DatasetFormat format) {
        if (member != null) {
            String m = stripDotSlash(member);
            return n -> stripDotSlash(n).equals(m);
        }
        return n -> {
            String base = n.substring(n.lastIndexOf('/') + 1);
            if (n.startsWith("__MACOSX/") || n.contains("/__MACOSX/") || base.startsWith("._")) return false;
            return format != null ? format.matches(base) : DatasetFormat.detect(base) != null;
        };
    }

    private static String stripDotSlash(String n) {
        return n.startsWith("./") ? n.substring(2) : n;
    }

    private static DataFile openTar(Path path, String member, DatasetFormat format) throws IOException {
        String file = path.toString();
        String lower = path.getFileName().toString().toLowerCase(Locale.ROOT);
        String outer = lower.endsWith(".tgz") ? "x.gz" : lower.endsWith(".tbz2") ? "x.bz2" : lower.endsWith(".txz") ? "x.xz" : lower;
        InputStream raw = new BufferedInputStream(Files.newInputStream(path), 1 << 16);
        boolean done = false;
        try {
            TarArchiveInputStream tar = new TarArchiveInputStream(decompress(raw, outer, file));
            Predicate<String> want = wanted(member, format);
            List<String> seen = new ArrayList<>();
            for (ArchiveEntry e = tar.getNextEntry(); e != null; e = tar.getNextEntry()) {
                if (e.isDirectory()) continue;
                if (want.test(e.getName())) {
                    String name = file + "!" + e.getName();
                    String base = baseName(e.getName());
                    DataFile opened = new DataFile(name, base, decompress(new BufferedInputStream(tar, 1 << 16), base, name));
                    done = true;
                    return opened;
                }
                if (seen.size() < 10) seen.add(e.getName());
            }
            throw noMember(file, member, format, seen);
        } finally {
            if (!done) raw.close();
        }
    }

    private static DataFile openZip(Path path, String member, DatasetFormat format) throws IOException {
        String file = path.toString();
        ZipFile zip = ZipFile.builder().setPath(path).get();
        boolean done = false;
        try {
            Predicate<String> want = wanted(member, format);
            List<String> seen = new ArrayList<>();
            for (Enumeration<ZipArchiveEntry> en = zip.getEntries(); en.hasMoreElements(); ) {
                ZipArchiveEntry e = en.nextElement();
                if (e.isDirectory()) continue;
                if (want.test(e.getName())) {
                    String name = file + "!" + e.getName();
                    String base = baseName(e.getName());
                    InputStream in = new FilterInputStream(new BufferedInputStream(zip.getInputStream(e), 1 << 16)) {
                        @Override
                        public void close() throws IOException {
                            try (zip) {
                                super.close();
                            }
                        }
                    };
                    DataFile opened = new DataFile(name, base, decompress(in, base, name));
                    done = true;
                    return opened;
                }
                if (seen.size() < 10) seen.add(e.getName());
            }
            throw noMember(file, member, format, seen);
        } finally {
            if (!done) zip.close();
        }
    }

    private static String baseName(String entry) {
        return entry.substring(entry.lastIndexOf('/') + 1);
    }

    private static UserException noMember(String file, String member, DatasetFormat format, List<String> seen) {
        String what = member != null ? "no member '" + member + "'"
                : format != null ? "no " + format.extension() + " member" : "no .json, .jsonl or .txt member";
        return new UserException(file + " has " + what + (seen.isEmpty() ? " (it has no files)" : "; it has " + String.join(", ", seen)
                + (seen.size() == 10 ? ", ..." : "")) + ". Name one as " + file + "!member");
    }

    /** Wraps {@code in} in the decompressor its {@code name} calls for (none for other names). */
    static InputStream decompress(InputStream in, String name, String display) throws IOException {
        String lower = name.toLowerCase(Locale.ROOT);
        try {
            if (lower.endsWith(".gz")) {
                return GzipCompressorInputStream.builder().setInputStream(in).setDecompressConcatenated(true).get();
            }
            if (lower.endsWith(".bz2")) return new BZip2CompressorInputStream(in, true);
            if (lower.endsWith(".xz")) {
                if (!XZUtils.isXZCompressionAvailable()) {
                    throw new UserException(display + ": reading .xz needs the XZ for Java library (org.tukaani:xz) on the class path");
                }
                return XZCompressorInputStream.builder().setInputStream(in).setDecompressConcatenated(true).get();
            }
            if (lower.endsWith(".zst")) {
                if (!ZstdUtils.isZstdCompressionAvailable()) {
                    throw new UserException(display + ": reading .zst needs zstd-jni (com.github.luben:zstd-jni) on the class path");
                }
                return new ZstdCompressorInputStream(in);
            }
            return in;
        } catch (IOException e) {
            throw new UserException(display + ": not a valid " + lower.substring(lower.lastIndexOf('.')) + " file: " + e.getMessage(), e);
        }
    }
}
