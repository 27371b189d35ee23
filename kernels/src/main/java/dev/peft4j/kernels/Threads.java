package dev.peft4j.kernels;

import java.util.stream.IntStream;

/** TEMPORARY stand-in; replaced by the matmul branch's pool. */
public final class Threads {
    private Threads() {}

    @FunctionalInterface
    public interface RangeTask {
        void run(int from, int to);
    }

    public static int threads() {
        return Runtime.getRuntime().availableProcessors();
    }

    public static void parallelFor(int n, RangeTask task) {
        int t = Math.min(threads(), n);
        if (t <= 1) { task.run(0, n); return; }
        IntStream.range(0, t).parallel().forEach(i -> task.run((int) ((long) n * i / t), (int) ((long) n * (i + 1) / t)));
    }
}
