package dev.peft4j.kernels;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * The CPU backend's thread pool: a fixed set of daemon workers that split a range of indices
 * into contiguous chunks, one per thread, with the calling thread taking the first chunk.
 *
 * <p>Built for many short jobs (a decoded token runs about fifty matmuls of a few tens of
 * microseconds each), so a call allocates nothing and idle workers spin briefly before
 * parking. The thread count is {@code -Dpeft4j.threads} (default: available processors).
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
    private static final long SPIN_NANOS = 200_000;

    private static final AtomicBoolean BUSY = new AtomicBoolean();
    private static final AtomicInteger PENDING = new AtomicInteger();
    private static final Worker[] WORKERS = new Worker[THREADS - 1];

    // The current job; written by the submitting thread before it bumps the generation.
    private static RangeTask job;
    private static int jobSize, jobChunks;
    private static volatile long generation;
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
     * Runs {@code task} over {@code [0, n)} split into at most {@link #threads()} contiguous
     * chunks, and returns when all are done. An exception thrown by any chunk is rethrown here.
     */
    public static void parallelFor(int n, RangeTask task) {
        if (n <= 0) return;
        if (n == 1 || THREADS == 1 || !BUSY.compareAndSet(false, true)) {
            task.run(0, n);
            return;
        }
        try {
            int chunks = Math.min(THREADS, n);
            job = task;
            jobSize = n;
            jobChunks = chunks;
            failure = null;
            // Every worker acknowledges every job, even one with fewer chunks than threads, so
            // none can still be reading this job's fields when the next one is published.
            PENDING.set(WORKERS.length);
            generation = generation + 1; // publishes the job fields above
            for (Worker worker : WORKERS)
                if (worker.parked) LockSupport.unpark(worker);
            Throwable mine = null;
            try {
                task.run(0, chunkEnd(0, n, chunks));
            } catch (Throwable t) {
                mine = t;
            }
            awaitWorkers();
            job = null;
            Throwable theirs = failure;
            if (mine == null) mine = theirs;
            if (mine instanceof RuntimeException e) throw e;
            if (mine instanceof Error e) throw e;
        } finally {
            BUSY.set(false);
        }
    }

    private static int chunkEnd(int c, int n, int chunks) {
        return (int) ((long) n * (c + 1) / chunks);
    }

    private static void awaitWorkers() {
        long start = 0;
        int spins = 0;
        while (PENDING.get() != 0) {
            Thread.onSpinWait();
            if (++spins == 1 << 12) {
                spins = 0;
                long now = System.nanoTime();
                if (start == 0) start = now;
                else if (now - start > SPIN_NANOS) Thread.yield();
            }
        }
    }

    /** Worker {@code index} runs chunk {@code index} of each job that has more chunks than that. */
    private static final class Worker extends Thread {
        private final int index;
        volatile boolean parked;

        Worker(int index) {
            super("peft4j-worker-" + index);
            this.index = index;
            setDaemon(true);
        }

        @Override
        public void run() {
            long seen = 0;
            while (true) {
                seen = awaitJob(seen);
                int chunks = jobChunks, n = jobSize;
                try {
                    if (index < chunks) job.run(chunkEnd(index - 1, n, chunks), chunkEnd(index, n, chunks));
                } catch (Throwable t) {
                    failure = t;
                } finally {
                    PENDING.decrementAndGet();
                }
            }
        }

        /** Spins, then parks, until the generation moves past {@code seen}; returns the new one. */
        private long awaitJob(long seen) {
            long start = System.nanoTime();
            int spins = 0;
            while (true) {
                long g = generation;
                if (g != seen) return g;
                Thread.onSpinWait();
                if (++spins < 1 << 8) continue;
                spins = 0;
                if (System.nanoTime() - start < SPIN_NANOS) continue;
                parked = true; // then re-check: the submitter writes generation, then reads parked
                if (generation == seen) LockSupport.park(this);
                parked = false;
            }
        }
    }
}
