package dev.peft4j.models.data;

import dev.peft4j.api.UserException;
import dev.peft4j.api.io.AtomicFiles;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.CRC32;

/**
 * A prepared dataset on disk, so a dataset is tokenized once. Written atomically; read back with
 * every size, id and the checksum verified, so a truncated or damaged file is reported, never used.
 *
 * <p>Format, version 1, little-endian:
 * <pre>
 *   bytes   0..7   magic "PEFT4JDS"
 *   int32          version (1)
 *   int32          flags: bit 0 plain text, bit 1 maskPrompt, bit 2 skipBadLines
 *   int32          vocabSize (every token id is below it)
 *   int32          maxSeqLength      int32 valSize      float64 valFraction      int64 seed
 *   int32          examples          int32 longest      int32 truncated          int32 withoutTargets
 *   int64          skipped lines     int32 k (at most 5)     int64[k] their line numbers
 *   int32          source name length in bytes, then the name in UTF-8
 *   then twice, for the training split and then the validation split:
 *     int32 n (examples)   int32 t (tokens)   int32[n] lengths   int32[n] prompt lengths   int32[t] ids
 *   int64          CRC-32 of every byte before it
 * </pre>
 */
public final class DatasetCache {
    private static final byte[] MAGIC = "PEFT4JDS".getBytes(StandardCharsets.US_ASCII);
    public static final int VERSION = 1;
    private static final int BUFFER = 1 << 20;

    private DatasetCache() {}

    /** Writes {@code data} to {@code file}, replacing it atomically. */
    public static void write(Path file, PreparedDataset data) throws IOException {
        AtomicFiles.write(file, ch -> {
            Sink s = new Sink(ch);
            PrepareOptions o = data.options();
            DatasetSummary m = data.summary();
            s.bytes(MAGIC);
            s.i32(VERSION);
            s.i32((m.text() ? 1 : 0) | (o.maskPrompt() ? 2 : 0) | (o.skipBadLines() ? 4 : 0));
            s.i32(data.vocabSize());
            s.i32(o.maxSeqLength());
            s.i32(o.valSize());
            s.f64(o.valFraction());
            s.i64(o.seed());
            s.i32(m.examples());
            s.i32(m.longest());
            s.i32(m.truncated());
            s.i32(m.withoutTargets());
            s.i64(m.skipped().count());
            s.i32(m.skipped().firstLines().size());
            for (long line : m.skipped().firstLines()) s.i64(line);
            byte[] name = m.source().getBytes(StandardCharsets.UTF_8);
            s.i32(name.length);
            s.bytes(name);
            for (ExampleSet set : List.of(data.train(), data.val())) {
                int n = set.size();
                s.i32(n);
                s.i32((int) set.tokenCount());
                for (int i = 0; i < n; i++) s.i32(set.length(i));
                for (int i = 0; i < n; i++) s.i32(set.promptLength(i));
                s.ints(set.allTokens());
            }
            s.flush();
            s.i64Raw(s.crc.getValue());
            s.flush();
        });
    }

    /** Reads a cache written by {@link #write}; a missing, foreign, truncated or damaged file is a {@link UserException}. */
    public static PreparedDataset read(Path file) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            return read(new Source(ch), file);
        } catch (NoSuchFileException e) {
            throw new UserException("dataset cache not found: " + file);
        } catch (EOFException e) {
            throw new UserException(file + ": truncated dataset cache (" + e.getMessage() + "); prepare the dataset again");
        } catch (IOException e) {
            throw new UserException(file + ": cannot read the dataset cache: " + e.getMessage(), e);
        }
    }

    private static PreparedDataset read(Source s, Path file) throws IOException {
        byte[] magic = s.bytes(MAGIC.length, "the magic");
        if (!java.util.Arrays.equals(magic, MAGIC)) throw new UserException(file + ": not a peft4j dataset cache");
        int version = s.i32("the version");
        if (version != VERSION) {
            throw new UserException(file + ": dataset cache version " + version + "; this peft4j reads version " + VERSION
                    + ". Prepare the dataset again");
        }
        int flags = s.i32("the header");
        int vocab = s.i32("the header");
        int maxSeq = s.i32("the header");
        int valSize = s.i32("the header");
        double valFraction = s.f64("the header");
        long seed = s.i64("the header");
        int examples = s.i32("the header");
        int longest = s.i32("the header");
        int truncated = s.i32("the header");
        int withoutTargets = s.i32("the header");
        long skippedCount = s.i64("the header");
        int k = s.i32("the header");
        if ((flags & ~7) != 0 || vocab <= 0 || k < 0 || k > SkippedLines.KEPT || skippedCount < k) throw corrupt(file, "bad header");
        List<Long> lines = new ArrayList<>();
        for (int i = 0; i < k; i++) lines.add(s.i64("the header"));
        int nameLength = s.i32("the header");
        if (nameLength < 0 || nameLength > 1 << 16) throw corrupt(file, "bad header");
        String source = new String(s.bytes(nameLength, "the header"), StandardCharsets.UTF_8);
        PrepareOptions options;
        try {
            options = new PrepareOptions(maxSeq, valSize, valFraction, seed, (flags & 2) != 0, (flags & 4) != 0);
        } catch (IllegalArgumentException e) {
            throw corrupt(file, "bad header: " + e.getMessage());
        }
        ExampleSet[] sets = new ExampleSet[2];
        for (int split = 0; split < 2; split++) {
            String what = split == 0 ? "the training split" : "the validation split";
            int n = s.i32(what), t = s.i32(what);
            if (n < 0 || t < 0) throw corrupt(file, "negative sizes in " + what);
            long need = 4L * (2L * n + t);
            if (need > s.remainingInFile()) {
                throw new UserException(file + ": truncated dataset cache (" + what + " needs " + need + " more bytes, the file has "
                        + s.remainingInFile() + "); prepare the dataset again");
            }
            int[] lengths = s.ints(n, what), prompts = s.ints(n, what), ids = s.ints(t, what);
            for (int i = 0; i < t; i++) {
                if (ids[i] < 0 || ids[i] >= vocab) throw corrupt(file, "token id " + ids[i] + " outside the vocabulary of " + vocab + " in " + what);
            }
            try {
                sets[split] = ExampleSet.of(ids, lengths, prompts);
            } catch (IllegalArgumentException e) {
                throw corrupt(file, what + ": " + e.getMessage());
            }
        }
        long expected = s.crc();
        long stored = s.i64("the checksum");
        if (stored != expected) throw corrupt(file, "checksum mismatch");
        if (s.remainingInFile() != 0) throw corrupt(file, s.remainingInFile() + " unexpected bytes after the checksum");
        ExampleSet train = sets[0], val = sets[1];
        DatasetSummary summary = new DatasetSummary(source, (flags & 1) != 0, examples, train.size(), val.size(), train.tokenCount(),
                val.tokenCount(), longest, truncated, withoutTargets, skippedCount == 0 ? SkippedLines.NONE : new SkippedLines(skippedCount, lines));
        return new PreparedDataset(summary, options, vocab, train, val);
    }

    private static UserException corrupt(Path file, String what) {
        return new UserException(file + ": corrupt dataset cache (" + what + "); prepare the dataset again");
    }

    /** Buffered little-endian writes to a channel, with a running CRC-32 of what was flushed. */
    private static final class Sink {
        private final FileChannel ch;
        private final ByteBuffer buf = ByteBuffer.allocateDirect(BUFFER).order(ByteOrder.LITTLE_ENDIAN);
        final CRC32 crc = new CRC32();

        Sink(FileChannel ch) {
            this.ch = ch;
        }

        void room(int n) throws IOException {
            if (buf.remaining() < n) flush();
        }

        void bytes(byte[] b) throws IOException {
            for (int i = 0; i < b.length; ) {
                room(1);
                int n = Math.min(b.length - i, buf.remaining());
                buf.put(b, i, n);
                i += n;
            }
        }

        void i32(int v) throws IOException {
            room(4);
            buf.putInt(v);
        }

        void i64(long v) throws IOException {
            room(8);
            buf.putLong(v);
        }

        void f64(double v) throws IOException {
            room(8);
            buf.putDouble(v);
        }

        void ints(int[] a) throws IOException {
            for (int i = 0; i < a.length; ) {
                room(4);
                int n = Math.min(a.length - i, buf.remaining() / 4);
                buf.asIntBuffer().put(a, i, n);
                buf.position(buf.position() + 4 * n);
                i += n;
            }
        }

        /** Writes the checksum itself: after {@link #flush}, so it is not part of what it sums. */
        void i64Raw(long v) {
            buf.putLong(v);
        }

        void flush() throws IOException {
            buf.flip();
            crc.update(buf.duplicate());
            AtomicFiles.writeFully(ch, buf);
            buf.clear();
        }
    }

    /** Buffered little-endian reads from a channel, with a running CRC-32 of what was consumed. */
    private static final class Source {
        private final FileChannel ch;
        private final long size;
        private final ByteBuffer buf = ByteBuffer.allocateDirect(BUFFER).order(ByteOrder.LITTLE_ENDIAN);
        private final CRC32 crc = new CRC32();
        private long consumedBefore; // file offset of buf[0]
        private int crcMark;         // buf[0, crcMark) is already in crc

        Source(FileChannel ch) throws IOException {
            this.ch = ch;
            this.size = ch.size();
            buf.limit(0);
        }

        long remainingInFile() {
            return size - consumedBefore - buf.position();
        }

        /** Makes {@code n} bytes available, or fails naming what was being read. */
        private void need(int n, String what) throws IOException {
            if (buf.remaining() >= n) return;
            sum();
            consumedBefore += buf.position();
            buf.compact();
            crcMark = 0;
            while (buf.position() < n) {
                if (ch.read(buf) < 0) {
                    throw new EOFException("it ends at byte " + (consumedBefore + buf.position()) + " inside " + what);
                }
            }
            buf.flip();
        }

        private void sum() {
            crc.update(buf.duplicate().limit(buf.position()).position(crcMark));
            crcMark = buf.position();
        }

        long crc() {
            sum();
            return crc.getValue();
        }

        byte[] bytes(int n, String what) throws IOException {
            byte[] b = new byte[n];
            for (int i = 0; i < n; ) {
                need(1, what);
                int k = Math.min(n - i, buf.remaining());
                buf.get(b, i, k);
                i += k;
            }
            return b;
        }

        int i32(String what) throws IOException {
            need(4, what);
            return buf.getInt();
        }

        long i64(String what) throws IOException {
            need(8, what);
            return buf.getLong();
        }

        double f64(String what) throws IOException {
            need(8, what);
            return buf.getDouble();
        }

        int[] ints(int n, String what) throws IOException {
            int[] a = new int[n];
            for (int i = 0; i < n; ) {
                need(4, what);
                int k = Math.min(n - i, buf.remaining() / 4);
                buf.asIntBuffer().get(a, i, k);
                buf.position(buf.position() + 4 * k);
                i += k;
            }
            return a;
        }
    }
}
