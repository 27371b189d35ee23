package dev.peft4j.kernels;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * The CPU backend's thread pool: a fixed set of daemon workers that split a range of indices
 * into contiguous chunks, one per thread.
 *
 * <p>Built for many short jobs (a decoded token runs about fifty matmuls of a few tens of
 * microseconds each), so a call allocates nothing and idle workers spin briefly (50 µs) before
 * parking. A job is cut into up to {@link #CHUNKS_PER_THREAD} chunks per thread, and chunks are
 * claimed, not assigned: the calling thread takes the first and then any chunk no worker has
 * picked up yet, so on a shared machine a worker that is parked or descheduled delays a job by
 * nothing more than the small chunk it already holds. The caller, once no chunk is left, spins
 * briefly and then parks until the last chunk's thread wakes it, so it never holds a core that a
 * worker with work needs. The thread count is {@code -Dpeft4j.threads} (default: available
 * processors).
 *
 * <p>One job runs at a time. A call made while another is in flight, from any thread,
 * including a nested call from inside a task, runs inline on the calling thread, so nesting
 * cannot deadlock and concurrent callers stay correct.
 */
public final class Threads {
    /** A task over the index range {@code [from, to)}. */
    @FunctionalInterface
    public interface RangeTask {
        void run(int from, int to);
    }

    private static final int THREADS = Math.max(1, Integer.getInteger("peft4j.threads",
            Runtime.getRuntime().availableProcessors()));
    /** How long an idle worker spins before parking; covers the gaps between a token's matmuls. */
    private static final long SPIN_NANOS = 50_000;
    /** How long the caller spins for the last chunks before it parks. */
    private static final long WAIT_SPIN_NANOS = 20_000;
    /** Chunks per thread: enough that the others absorb a descheduled thread's share, few enough to stay cheap. */
    public static final int CHUNKS_PER_THREAD = 4;
    /** The caller parked in {@link #awaitDone}, or null. */
    private static volatile Thread waiter;

    private static final AtomicBoolean BUSY = new AtomicBoolean();
    /** The job's generation (high 32 bits) and its next unclaimed chunk (low 32 bits). */
    private static final AtomicLong STATE = new AtomicLong();
    /** The chunk index of a finished job: above any real chunk count. */
    private static final int CLOSED = Integer.MAX_VALUE;
    /** Chunks of the current job that have finished. */
    private static final AtomicInteger DONE = new AtomicInteger();
    private static final Worker[] WORKERS = new Worker[THREADS - 1];

    // The current job; written by the submitting thread before it publishes STATE.
    private static RangeTask job;
    private static int jobSize, jobChunks;
    private static volatile Throwable failure;

    static {
        for (int w = 0; w < WORKERS.length; w++) {
            WORKERS[w] = new Worker(w + 1);
            WORKERS[w].start();
        }
    }

    private Threads() {}

    /** The number of threads a job is split over, the caller included. */
    public static int threads() {
        return THREADS;
    }

    /**
     * Runs {@code task} over {@code [0, n)} split into at most {@link #CHUNKS_PER_THREAD} ·
     * {@link #threads()} contiguous chunks (fixed by n and the thread count), and returns when all are
     * done. A task that must run once per thread (a per-thread buffer filled once) passes n ≤
     * {@link #threads()} and maps its indices to ranges itself. An exception thrown by any chunk is rethrown here.
     */
    public static void parallelFor(int n, RangeTask task) {
        if (n <= 0) return;
        if (n == 1 || THREADS == 1 || !BUSY.compareAndSet(false, true)) {
            task.run(0, n);
            return;
        }
        try {
            int chunks = Math.min(THREADS * CHUNKS_PER_THREAD, n);
            job = task;
            jobSize = n;
            jobChunks = chunks;
            failure = null;
            DONE.set(0);
            int gen = (int) (STATE.get() >>> 32) + 1;
            STATE.set((long) gen << 32); // publishes the job fields above
            for (Worker worker : WORKERS)
                if (worker.parked) LockSupport.unpark(worker);
            runChunks(gen, task, n, chunks);
            awaitDone(chunks);
            // Close the job before its fields are reused: a late worker holding this generation
            // then finds no chunk to claim, whatever chunk count the next job has.
            STATE.getAndSet((long) gen << 32 | CLOSED);
            job = null;
            Throwable t = failure;
            if (t instanceof RuntimeException e) throw e;
            if (t instanceof Error e) throw e;
        } finally {
            BUSY.set(false);
        }
    }

    /** Claims and runs chunks of job {@code gen} until none is left; records a chunk's exception. */
    private static void runChunks(int gen, RangeTask task, int n, int chunks) {
        while (true) {
            long s = STATE.get();
            int c = (int) s;
            if ((int) (s >>> 32) != gen || c >= chunks) return;
            if (!STATE.compareAndSet(s, s + 1)) continue;
            // A successful claim proves the job is still gen, so task, n and chunks are its own.
            try {
                task.run((int) ((long) n * c / chunks), (int) ((long) n * (c + 1) / chunks));
            } catch (Throwable t) {
                if (failure == null) failure = t; // before DONE, so the caller sees it
            }
            if (DONE.incrementAndGet() == chunks) {
                Thread w = waiter;
                if (w != null) LockSupport.unpark(w);
            }
        }
    }

    private static void awaitDone(int chunks) {
        long start = System.nanoTime();
        int spins = 0;
        while (DONE.get() != chunks) {
            Thread.onSpinWait();
            if (++spins < 1 << 6) continue;
            spins = 0;
            if (System.nanoTime() - start < WAIT_SPIN_NANOS) continue;
            waiter = Thread.currentThread(); // then re-check: the last chunk counts DONE, then reads waiter
            if (DONE.get() != chunks) LockSupport.parkNanos(1_000_000);
            waiter = null;
        }
    }

    /** A worker joins each new job and claims chunks until none is left. */
    private static final class Worker extends Thread {
        volatile boolean parked;

        Worker(int index) {
            super("peft4j-worker-" + index);
            setDaemon(true);
        }

        @Override
        public void run() {
            int seen = 0;
            while (true) {
                seen = awaitJob(seen);
                // Read after STATE showed generation `seen`: these are that job's fields or a later one's,
                // and runChunks only uses them after a claim that proves the job is still `seen`.
                runChunks(seen, job, jobSize, jobChunks);
            }
        }

        /** Spins, then parks, until a generation other than {@code seen} is published; returns it. */
        private int awaitJob(int seen) {
            long start = System.nanoTime();
            int spins = 0;
            while (true) {
                int g = (int) (STATE.get() >>> 32);
                if (g != seen) return g;
                Thread.onSpinWait();
                if (++spins < 1 << 8) continue;
                spins = 0;
                if (System.nanoTime() - start < SPIN_NANOS) continue;
                parked = true; // then re-check: the submitter publishes STATE, then reads parked
                if ((int) (STATE.get() >>> 32) == seen) LockSupport.park(this);
                parked = false;
            }
        }
    }
}
