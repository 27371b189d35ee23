package dev.peft4j.spark;

import dev.peft4j.api.Parameter;
import dev.peft4j.models.train.GradientReducer;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.BooleanSupplier;

/**
 * A ring all-reduce over TCP (Patarasuk and Yuan, "Bandwidth optimal all-reduce algorithms for clusters of
 * workstations", 2009; Baidu's ring-allreduce; Horovod): N ranks in a ring, each sending only to the next and
 * receiving only from the previous. The vector (every parameter's gradient, end to end) is cut into N segments.
 *
 * <pre>
 *   reduce-scatter, steps s = 0..N-2:  rank r sends segment (r - s) mod N to r+1, and adds what r-1 sends,
 *                                      segment (r - s - 1) mod N, into its own; after N-1 steps rank r holds
 *                                      segment (r + 1) mod N summed over all ranks.
 *   all-gather,     steps s = 0..N-2:  rank r sends segment (r + 1 - s) mod N, now final, and overwrites its
 *                                      segment (r - s) mod N with what it receives.
 * </pre>
 *
 * Each rank sends (and receives) 2(N-1)/N of the vector's bytes per call, whatever N is, and nothing passes through
 * a coordinator. Segment c is summed in the order ((g_c + g_c+1) + g_c+2) + ... around the ring, the same bits every
 * call, and the all-gather copies the finished sum, so every rank ends with the same bits. The scalars (loss, tokens)
 * go round the ring whole in N-1 steps and are summed in rank order 0, 1, ..., N-1 on every rank.
 *
 * <p>Failure: a read waits at most {@code timeout}; a peer that closes its socket, dies, or sends nothing for that
 * long makes the call throw, and so does {@code cancelled} turning true (the engine killing the task), checked
 * every second while waiting. The caller then closes the ring, which fails its neighbours in turn.
 */
public final class RingAllReduce implements GradientReducer, AutoCloseable {
    private static final long MAGIC = 0x7065667434_6A52L; // "peft4jR"
    /** Floats per piece on the wire: 256 KiB pieces keep both directions of the ring busy at once. */
    private static final int PIECE = 64 * 1024;

    private final int rank, size;
    private final long session;
    private final Socket toNext, fromPrev;
    private final DataOutputStream out;
    private final DataInputStream in;
    private final ExecutorService sender;
    private final long timeoutNanos;
    private final BooleanSupplier cancelled;
    private final ByteBuffer sendBuf = ByteBuffer.allocate(PIECE * 4).order(ByteOrder.LITTLE_ENDIAN);
    private final ByteBuffer recvBuf = ByteBuffer.allocate(PIECE * 4).order(ByteOrder.LITTLE_ENDIAN);
    private long bytesSent, bytesReceived, calls;

    private RingAllReduce(int rank, int size, long session, Socket toNext, Socket fromPrev, long timeoutNanos, BooleanSupplier cancelled)
            throws IOException {
        this.rank = rank;
        this.size = size;
        this.session = session;
        this.toNext = toNext;
        this.fromPrev = fromPrev;
        this.timeoutNanos = timeoutNanos;
        this.cancelled = cancelled;
        this.out = toNext == null ? null : new DataOutputStream(new BufferedOutputStream(toNext.getOutputStream(), 1 << 16));
        this.in = fromPrev == null ? null : new DataInputStream(new BufferedInputStream(new PollingInput(fromPrev.getInputStream()), 1 << 16));
        this.sender = size == 1 ? null : Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "peft4j-ring-send-" + rank);
            t.setDaemon(true);
            return t;
        });
    }

    /**
     * Joins the ring: connects to rank {@code (rank + 1) mod N} at {@code peers.get(rank + 1)} and accepts rank
     * {@code rank - 1} on {@code server} (already listening at {@code peers.get(rank)}, so the order of connecting
     * does not matter). {@code session} tells this run's connections from any other's (a stale attempt's).
     */
    public static RingAllReduce connect(int rank, List<InetSocketAddress> peers, ServerSocket server, long session, long timeoutMillis,
                                        BooleanSupplier cancelled) throws IOException {
        int n = peers.size();
        if (rank < 0 || rank >= n) throw new IllegalArgumentException("rank " + rank + " of " + n);
        long timeoutNanos = timeoutMillis * 1_000_000L;
        if (n == 1) return new RingAllReduce(0, 1, session, null, null, timeoutNanos, cancelled);
        long deadline = System.nanoTime() + timeoutNanos;
        InetSocketAddress next = peers.get((rank + 1) % n);
        Socket toNext = null;
        IOException last = null;
        while (toNext == null) {
            if (cancelled.getAsBoolean()) throw new IOException("rank " + rank + ": cancelled while connecting to " + next);
            if (System.nanoTime() > deadline) {
                throw new IOException("rank " + rank + ": cannot connect to rank " + (rank + 1) % n + " at " + next + ": " + last, last);
            }
            Socket s = new Socket();
            try {
                s.setTcpNoDelay(true);
                s.connect(next, 1000);
                toNext = s;
            } catch (IOException e) {
                s.close();
                last = e;
                sleep(50);
            }
        }
        DataOutputStream hello = new DataOutputStream(toNext.getOutputStream());
        hello.writeLong(MAGIC);
        hello.writeLong(session);
        hello.writeInt(rank);
        hello.flush();
        int prev = (rank + n - 1) % n;
        server.setSoTimeout(1000);
        Socket fromPrev = null;
        while (fromPrev == null) {
            if (cancelled.getAsBoolean()) throw new IOException("rank " + rank + ": cancelled while waiting for rank " + prev);
            if (System.nanoTime() > deadline) throw new IOException("rank " + rank + ": rank " + prev + " did not connect within " + timeoutMillis + " ms");
            Socket s;
            try {
                s = server.accept();
            } catch (SocketTimeoutException e) {
                continue;
            }
            s.setSoTimeout(5000);
            try {
                DataInputStream h = new DataInputStream(s.getInputStream());
                if (h.readLong() == MAGIC && h.readLong() == session && h.readInt() == prev) {
                    s.setTcpNoDelay(true);
                    s.setSoTimeout(1000);
                    fromPrev = s;
                    continue;
                }
            } catch (IOException e) {
                // not one of ours, or a stale attempt's: drop it
            }
            s.close();
        }
        return new RingAllReduce(rank, n, session, toNext, fromPrev, timeoutNanos, cancelled);
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int size() {
        return size;
    }

    /** Bytes this rank has sent to the next so far (payload and headers). */
    public long bytesSent() {
        return bytesSent;
    }

    public long bytesReceived() {
        return bytesReceived;
    }

    /** Calls of {@link #allReduce} so far. */
    public long calls() {
        return calls;
    }

    /**
     * The bytes rank {@code rank} of {@code n} sends per call for a vector of {@code floats} floats and {@code scalars}
     * doubles: the N-1 segments of each phase (2(N-1)/N of the vector, give or take a float per segment), a 4-byte
     * header per message and the scalars' N-1 messages.
     */
    public static long bytesSentPerCall(long floats, int n, int rank, int scalars) {
        if (n == 1) return 0;
        long bytes = 0;
        for (int s = 0; s < n - 1; s++) {
            int rs = Math.floorMod(rank - s, n), ag = Math.floorMod(rank + 1 - s, n);
            bytes += 4 + 4 * (segEnd(floats, n, rs) - segStart(floats, n, rs));
            bytes += 4 + 4 * (segEnd(floats, n, ag) - segStart(floats, n, ag));
            bytes += 4 + 8L * scalars;
        }
        return bytes;
    }

    @Override
    public void allReduce(List<Parameter> params, double[] scalars) throws IOException {
        calls++;
        if (size == 1) return;
        Vector v = new Vector(params);
        int n = size;
        try {
            // reduce-scatter
            for (int s = 0; s < n - 1; s++) {
                int send = Math.floorMod(rank - s, n), recv = Math.floorMod(rank - s - 1, n);
                exchange(v, send, recv, true, s);
            }
            // all-gather
            for (int s = 0; s < n - 1; s++) {
                int send = Math.floorMod(rank + 1 - s, n), recv = Math.floorMod(rank - s, n);
                exchange(v, send, recv, false, n - 1 + s);
            }
            // scalars: each rank's whole, passed round the ring, then summed in rank order
            double[][] all = new double[n][];
            all[rank] = scalars.clone();
            for (int s = 0; s < n - 1; s++) {
                int send = Math.floorMod(rank - s, n), recv = Math.floorMod(rank - s - 1, n);
                double[] mine = all[send];
                int tag = 2 * n - 2 + s;
                Future<?> f = sender.submit(() -> {
                    out.writeInt(tag);
                    for (double d : mine) out.writeDouble(d);
                    out.flush();
                    return null;
                });
                checkHeader(tag);
                double[] theirs = new double[scalars.length];
                for (int i = 0; i < theirs.length; i++) theirs[i] = in.readDouble();
                all[recv] = theirs;
                await(f);
                bytesSent += 4 + 8L * scalars.length;
                bytesReceived += 4 + 8L * scalars.length;
            }
            for (int i = 0; i < scalars.length; i++) {
                double sum = 0;
                for (int r = 0; r < n; r++) sum += all[r][i];
                scalars[i] = sum;
            }
        } catch (IOException | RuntimeException e) {
            close();
            throw e instanceof IOException io ? io : new IOException("rank " + rank + ": all-reduce failed: " + e, e);
        }
    }

    /** Sends segment {@code send} to the next rank while receiving segment {@code recv} from the previous one. */
    private void exchange(Vector v, int send, int recv, boolean add, int tag) throws IOException {
        long sFrom = segStart(v.length, size, send), sTo = segEnd(v.length, size, send);
        long rFrom = segStart(v.length, size, recv), rTo = segEnd(v.length, size, recv);
        Future<?> f = sender.submit(() -> {
            out.writeInt(tag);
            for (long p = sFrom; p < sTo; p += PIECE) {
                int len = (int) Math.min(PIECE, sTo - p);
                sendBuf.clear();
                v.read(p, len, sendBuf.asFloatBuffer());
                out.write(sendBuf.array(), 0, len * 4);
            }
            out.flush();
            return null;
        });
        checkHeader(tag);
        for (long p = rFrom; p < rTo; p += PIECE) {
            int len = (int) Math.min(PIECE, rTo - p);
            in.readFully(recvBuf.array(), 0, len * 4);
            v.apply(p, len, recvBuf.asFloatBuffer(), add);
        }
        await(f);
        bytesSent += 4 + 4 * (sTo - sFrom);
        bytesReceived += 4 + 4 * (rTo - rFrom);
    }

    private void checkHeader(int tag) throws IOException {
        int got = in.readInt();
        if (got != tag) throw new IOException("rank " + rank + ": out of step with rank " + Math.floorMod(rank - 1, size) + " (message " + got + ", expected " + tag + ")");
    }

    private void await(Future<?> f) throws IOException {
        try {
            f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("rank " + rank + ": interrupted", e);
        } catch (java.util.concurrent.ExecutionException e) {
            Throwable c = e.getCause();
            throw c instanceof IOException io ? io : new IOException("rank " + rank + ": sending to rank " + (rank + 1) % size + " failed: " + c, c);
        }
    }

    static long segStart(long length, int n, int c) {
        return length * c / n;
    }

    static long segEnd(long length, int n, int c) {
        return length * (c + 1) / n;
    }

    @Override
    public void close() {
        if (sender != null) sender.shutdownNow();
        for (Socket s : new Socket[]{toNext, fromPrev}) {
            if (s == null) continue;
            try {
                s.close();
            } catch (IOException ignored) {
                // closing: nothing more to do
            }
        }
    }

    private static void sleep(long millis) throws IOException {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
    }

    /** Reads that wake every second (the socket's timeout) to check for cancellation and the overall timeout. */
    private final class PollingInput extends InputStream {
        private final InputStream in;

        PollingInput(InputStream in) {
            this.in = in;
        }

        @Override
        public int read() throws IOException {
            byte[] b = new byte[1];
            return read(b, 0, 1) < 0 ? -1 : b[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            long start = System.nanoTime();
            while (true) {
                try {
                    int r = in.read(b, off, len);
                    if (r < 0) throw new EOFException("rank " + rank + ": rank " + Math.floorMod(rank - 1, size) + " closed the ring");
                    return r;
                } catch (SocketTimeoutException e) {
                    if (cancelled.getAsBoolean()) throw new IOException("rank " + rank + ": cancelled");
                    if (System.nanoTime() - start > timeoutNanos) {
                        throw new IOException("rank " + rank + ": nothing from rank " + Math.floorMod(rank - 1, size) + " for "
                                + timeoutNanos / 1_000_000_000L + " s (hung or gone)");
                    }
                }
            }
        }
    }

    /** Every parameter's gradient end to end, addressed by one index. */
    private static final class Vector {
        final float[][] parts;
        final long[] starts; // starts[i]: index of parts[i][0]
        final long length;

        Vector(List<Parameter> params) {
            parts = new float[params.size()][];
            starts = new long[params.size() + 1];
            long at = 0;
            for (int i = 0; i < parts.length; i++) {
                parts[i] = params.get(i).grad();
                starts[i] = at;
                at += parts[i].length;
            }
            starts[parts.length] = at;
            length = at;
        }

        private int partOf(long index) {
            int lo = 0, hi = parts.length - 1;
            while (lo < hi) {
                int mid = (lo + hi + 1) >>> 1;
                if (starts[mid] <= index) lo = mid;
                else hi = mid - 1;
            }
            return lo;
        }

        /** What to do with one contiguous run of a part: {@code parts[part][off, off + take)}. */
        private interface Run {
            void on(float[] part, int off, int take);
        }

        /** Visits [from, from + len) as contiguous runs of the parts, in order. */
        private void runs(long from, int len, Run run) {
            int part = partOf(from);
            long p = from;
            while (len > 0) {
                while (p >= starts[part + 1]) part++;
                int off = (int) (p - starts[part]);
                int take = (int) Math.min(len, parts[part].length - off);
                run.on(parts[part], off, take);
                p += take;
                len -= take;
            }
        }

        /** Copies [from, from + len) into {@code dst}. */
        void read(long from, int len, java.nio.FloatBuffer dst) {
            runs(from, len, (a, off, take) -> dst.put(a, off, take));
        }

        /** Adds (or writes) {@code src} into [from, from + len). */
        void apply(long from, int len, java.nio.FloatBuffer src, boolean add) {
            runs(from, len, (a, off, take) -> {
                if (add) {
                    for (int i = 0; i < take; i++) a[off + i] = src.get() + a[off + i];
                } else {
                    src.get(a, off, take);
                }
            });
        }
    }
}
