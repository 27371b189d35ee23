package dev.peft4j.api.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/**
 * Writes files so that readers see either the old content or the complete new one, never a
 * partial file: the bytes go to a temporary file in the target's directory, are forced to disk,
 * and the temporary file is renamed over the target with {@code ATOMIC_MOVE}. A failure (a full disk,
 * say) leaves the target as it was, removes the temporary file, and is reported as an
 * {@link IOException} whose message names the target: {@code "<file>: no space left on device"}.
 */
public final class AtomicFiles {
    private AtomicFiles() {}

    /** Writes the content of one file to an open channel. */
    @FunctionalInterface
    public interface Body {
        void writeTo(FileChannel channel) throws IOException;
    }

    /** Replaces {@code target} atomically with what {@code body} writes. */
    public static void write(Path target, Body body) throws IOException {
        Path abs = target.toAbsolutePath();
        Path dir = abs.getParent();
        Files.createDirectories(dir);
        Path tmp = null;
        boolean done = false;
        try {
            tmp = Files.createTempFile(dir, "." + abs.getFileName() + ".", ".tmp");
            readableLikeAPlainFile(tmp, abs);
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                body.writeTo(ch);
                ch.force(true);
            }
            Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            done = true;
            syncDirectory(dir);
        } catch (IOException e) {
            throw failure(abs, e);
        } finally {
            if (!done && tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // the write already failed; that error is the one to report
                }
            }
        }
    }

    private static final java.util.Set<java.nio.file.attribute.PosixFilePermission> RW_R_R =
            java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--");

    /**
     * A temporary file is created owner-only (0600); the file it becomes gets the target's permissions when it exists,
     * else rw-r--r-- as a plain new file has under the usual umask (so another user's llama.cpp or Ollama can read it).
     */
    private static void readableLikeAPlainFile(Path tmp, Path target) throws IOException {
        if (!tmp.getFileSystem().supportedFileAttributeViews().contains("posix")) return;
        var perms = Files.exists(target) ? Files.getPosixFilePermissions(target) : RW_R_R;
        Files.setPosixFilePermissions(tmp, perms);
    }

    /** An exception whose message names the file that could not be written, and why, in one line. */
    public static IOException failure(Path file, IOException e) {
        if (e instanceof WriteFailure) return e;
        return new WriteFailure(file + ": " + reason(e), e);
    }

    /** Why a write failed, in words: "no space left on device" for a full disk. */
    private static String reason(IOException e) {
        String m = String.valueOf(e.getMessage());
        if (m.toLowerCase(java.util.Locale.ROOT).contains("no space left on device")) return "no space left on device";
        if (e instanceof java.nio.file.AccessDeniedException) return "permission denied";
        if (e instanceof java.nio.file.NoSuchFileException) return "no such file or directory";
        if (e instanceof java.nio.file.FileSystemException fse && fse.getReason() != null) return "cannot write: " + fse.getReason();
        return "cannot write: " + m;
    }

    /** A failed write, already described with its file: {@link #failure} does not wrap it twice. */
    public static final class WriteFailure extends IOException {
        WriteFailure(String message, IOException cause) {
            super(message, cause);
        }
    }

    /** Replaces {@code target} atomically with {@code bytes}. */
    public static void write(Path target, byte[] bytes) throws IOException {
        write(target, ch -> writeFully(ch, ByteBuffer.wrap(bytes)));
    }

    /** Writes all remaining bytes of {@code buf}. */
    public static void writeFully(FileChannel ch, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) ch.write(buf);
    }

    /**
     * Streams float arrays to a channel as little-endian float32, through one reusable buffer.
     * Used by writers of raw float tensors (llama2.c {@code .bin}).
     */
    public static final class FloatSink {
        private final FileChannel ch;
        private final ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20).order(ByteOrder.LITTLE_ENDIAN);

        public FloatSink(FileChannel ch) {
            this.ch = ch;
        }

        public FloatSink putInt(int v) throws IOException {
            if (buf.remaining() < 4) flush();
            buf.putInt(v);
            return this;
        }

        /** Appends {@code a[from, from+count)}. */
        public FloatSink put(float[] a, int from, int count) throws IOException {
            int i = from, end = from + count;
            while (i < end) {
                if (buf.remaining() < 4) flush();
                int n = Math.min(end - i, buf.remaining() / 4);
                buf.asFloatBuffer().put(a, i, n);
                buf.position(buf.position() + 4 * n);
                i += n;
            }
            return this;
        }

        public FloatSink put(float[] a) throws IOException {
            return put(a, 0, a.length);
        }

        /** Writes out what is buffered; call once at the end. */
        public void flush() throws IOException {
            buf.flip();
            writeFully(ch, buf);
            buf.clear();
        }
    }

    /** Forces the directory entry of a rename to disk, where the platform allows opening a directory. */
    private static void syncDirectory(Path dir) {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException | UnsupportedOperationException e) {
            // Not supported on every file system (e.g. Windows): the rename itself is still atomic.
        }
    }
}
