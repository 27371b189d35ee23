package dev.peft4j.cli;

import dev.peft4j.kernels.MatmulCpu;
import dev.peft4j.kernels.Threads;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * What `bench` says about the machine it ran on: the CPU model, and its measured sgemm ceiling,
 * a large square matmul through {@link MatmulCpu} and, when a peer Python with PyTorch is named,
 * through {@code torch.mm} on the same number of threads.
 */
final class Machine {
    private Machine() {}

    /** e.g. "AMD EPYC (family 26, model 2), 2 cores, 512-bit vectors"; /proc/cpuinfo's fields where Linux has them. */
    static String cpu() {
        String model = null, family = null, number = null;
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                int colon = line.indexOf(':');
                if (colon < 0) continue;
                String k = line.substring(0, colon).trim(), v = line.substring(colon + 1).trim();
                if (model == null && k.equals("model name")) model = v;
                else if (family == null && k.equals("cpu family")) family = v;
                else if (number == null && k.equals("model")) number = v;
            }
        } catch (IOException | RuntimeException e) {
            // not Linux
        }
        String name = model != null ? model : System.getProperty("os.arch");
        if (family != null && number != null) name += " (family " + family + ", model " + number + ")";
        return name + ", " + Runtime.getRuntime().availableProcessors() + " cores, " + MatmulCpu.vectorBits() + "-bit vectors";
    }

    /** GFLOP/s of y = x·wᵀ at size³ through MatmulCpu on {@link Threads#threads()} threads: the median of 5 runs after 2. */
    static double sgemmGflops(int size) {
        SplittableRandom r = new SplittableRandom(3);
        float[] x = new float[size * size], w = new float[size * size], y = new float[size * size];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextDouble(-1, 1);
            w[i] = (float) r.nextDouble(-1, 1);
        }
        double[] rates = new double[5];
        for (int run = -2; run < rates.length; run++) {
            long t0 = System.nanoTime();
            MatmulCpu.forward(y, 0, x, 0, w, 0, size, size, size);
            double s = (System.nanoTime() - t0) / 1e9;
            if (run >= 0) rates[run] = 2.0 * size * size * size / s / 1e9;
        }
        return BenchCommand.median(rates);
    }

    /**
     * GFLOP/s of torch.mm at size³ in {@code python} with {@code threads} threads (median of 5 after 2), or NaN
     * when that python cannot run it (no torch, no such file) within a minute.
     */
    static double peerSgemmGflops(String python, int size, int threads) {
        String script = String.join("\n",
                "import statistics, time, torch",
                "torch.set_num_threads(" + threads + ")",
                "x, w, r = torch.randn(" + size + ", " + size + "), torch.randn(" + size + ", " + size + "), []",
                "for i in range(7):",
                "    t = time.perf_counter(); torch.mm(x, w); s = time.perf_counter() - t",
                "    r.append(2.0 * " + size + " ** 3 / s / 1e9)",
                "print(statistics.median(r[2:]))");
        try {
            ProcessBuilder pb = new ProcessBuilder(python, "-c", script).redirectErrorStream(false);
            pb.environment().putIfAbsent("OMP_WAIT_POLICY", "PASSIVE");
            pb.redirectError(ProcessBuilder.Redirect.DISCARD);
            Process p = pb.start();
            byte[] out = p.getInputStream().readAllBytes();
            if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
                p.destroyForcibly();
                return Double.NaN;
            }
            String[] lines = new String(out, StandardCharsets.UTF_8).trim().split("\n");
            return Double.parseDouble(lines[lines.length - 1].trim());
        } catch (IOException | RuntimeException e) {
            return Double.NaN;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Double.NaN;
        }
    }
}
