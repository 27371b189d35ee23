package dev.peft4j.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

class ThreadsTest {

    @Test
    void coversEveryIndexExactlyOnce() {
        for (int n : new int[] {0, 1, 2, 3, 7, 64, 1001}) {
            for (int rep = 0; rep < 50; rep++) {
                AtomicIntegerArray hits = new AtomicIntegerArray(n);
                Threads.parallelFor(n, (from, to) -> {
                    assertTrue(0 <= from && from < to && to <= n, "bad chunk [" + from + ", " + to + ")");
                    for (int i = from; i < to; i++) hits.incrementAndGet(i);
                });
                for (int i = 0; i < n; i++) assertEquals(1, hits.get(i), "n=" + n + " index " + i);
            }
        }
    }

    @Test
    void usesAtMostChunksPerThreadTimesThreads() {
        AtomicInteger chunks = new AtomicInteger();
        Threads.parallelFor(1000, (from, to) -> chunks.incrementAndGet());
        assertTrue(Threads.threads() >= 1);
        assertTrue(chunks.get() >= 1 && chunks.get() <= Threads.CHUNKS_PER_THREAD * Threads.threads(), "chunks: " + chunks.get());
    }

    @Test
    void nestedCallsRunInline() {
        int n = 10, m = 13;
        AtomicIntegerArray hits = new AtomicIntegerArray(n * m);
        Threads.parallelFor(n, (from, to) -> {
            for (int i = from; i < to; i++) {
                int row = i;
                Threads.parallelFor(m, (f, t) -> {
                    for (int j = f; j < t; j++) hits.incrementAndGet(row * m + j);
                });
            }
        });
        for (int i = 0; i < n * m; i++) assertEquals(1, hits.get(i), "index " + i);
    }

    @Test
    void concurrentCallersEachGetTheirWholeRange() throws InterruptedException {
        int callers = 4, n = 257, reps = 300;
        AtomicIntegerArray[] hits = new AtomicIntegerArray[callers];
        List<Thread> threads = new ArrayList<>();
        List<Throwable> errors = new ArrayList<>();
        for (int c = 0; c < callers; c++) {
            AtomicIntegerArray mine = hits[c] = new AtomicIntegerArray(n);
            Thread t = new Thread(() -> {
                for (int r = 0; r < reps; r++)
                    Threads.parallelFor(n, (from, to) -> {
                        for (int i = from; i < to; i++) mine.incrementAndGet(i);
                    });
            });
            t.setUncaughtExceptionHandler((th, e) -> {
                synchronized (errors) { errors.add(e); }
            });
            threads.add(t);
            t.start();
        }
        for (Thread t : threads) t.join();
        assertTrue(errors.isEmpty(), () -> "errors: " + errors);
        for (int c = 0; c < callers; c++)
            for (int i = 0; i < n; i++) assertEquals(reps, hits[c].get(i), "caller " + c + " index " + i);
    }

    @Test
    void exceptionFromAnyChunkReachesTheCaller() {
        IllegalStateException boom = new IllegalStateException("boom");
        for (int failing : new int[] {0, 999}) {
            IllegalStateException thrown = assertThrows(IllegalStateException.class,
                    () -> Threads.parallelFor(1000, (from, to) -> {
                        if (from <= failing && failing < to) throw boom;
                    }));
            assertSame(boom, thrown);
        }
        // The pool still works afterwards.
        AtomicInteger sum = new AtomicInteger();
        Threads.parallelFor(100, (from, to) -> sum.addAndGet(to - from));
        assertEquals(100, sum.get());
    }
}
