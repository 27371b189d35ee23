package dev.peft4j.kernels.bench;

import dev.peft4j.kernels.Matmul;
import dev.peft4j.kernels.MatmulCpu;
import java.util.Collection;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.CommandLineOptions;

/**
 * The matmuls of the stories15M shape (dim 288, hidden 768, vocab 32000): decode matvecs
 * (n = 1) and training batches (n = 2048), {@link MatmulCpu} against the plain {@link Matmul}
 * loops (single thread) as a same-run baseline on the shapes where the baseline finishes.
 *
 * <p>A case is {@code impl:op:n:in:out}. Run with the test class path, e.g.
 * <pre>
 * mvn -q -o -pl kernels test-compile dependency:build-classpath -Dmdep.outputFile=target/cp.txt -Dmdep.includeScope=test
 * java --add-modules jdk.incubator.vector -cp kernels/target/test-classes:kernels/target/classes:$(cat kernels/target/cp.txt) \
 *     dev.peft4j.kernels.bench.MatmulBench -f 1 -wi 2 -i 3 -w 1 -r 2
 * </pre>
 * This class's {@code main} takes JMH's options and adds a table of GFLOP/s and GB/s;
 * {@code org.openjdk.jmh.Main MatmulBench} runs the same benchmark with JMH's plain report.
 * GB/s counts each operand read or written once (the least traffic the op needs).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector"})
public class MatmulBench {
    @Param({
        "cpu:forward:1:288:288", "plain:forward:1:288:288",
        "cpu:forward:1:288:768", "plain:forward:1:288:768",
        "cpu:forward:1:768:288", "plain:forward:1:768:288",
        "cpu:forward:1:288:32000", "plain:forward:1:288:32000",
        "cpu:forward:2048:288:288", "plain:forward:2048:288:288",
        "cpu:forward:2048:288:768",
        "cpu:forward:2048:288:32000",
        "cpu:backwardInput:2048:288:288", "plain:backwardInput:2048:288:288",
        "cpu:backwardInput:2048:288:768",
        "cpu:backwardInput:2048:288:32000",
        "cpu:backwardWeight:2048:288:288", "plain:backwardWeight:2048:288:288",
        "cpu:backwardWeight:2048:288:768",
        "cpu:backwardWeight:2048:288:32000",
        // the classifier as the trainer calls it: chunks of 256 rows
        "cpu:forward:256:288:32000", "cpu:backwardInput:256:288:32000", "cpu:backwardWeight:256:288:32000",
        // the TinyLlama-1.1B shape at batch 1 x 256 (dim 2048, kv 256, hidden 5632)
        "cpu:forward:256:2048:2048", "cpu:forward:256:2048:5632", "cpu:backwardInput:256:2048:5632", "cpu:backwardInput:256:5632:2048",
        // the ceiling bench reports
        "cpu:forward:2048:2048:2048",
        // LoRA rank 8 on a 288-wide projection: h = x·Aᵀ, and dh = dy·B
        "cpu:forward:2048:288:8", "cpu:backwardInput:2048:8:288",
    })
    public String shape;

    private boolean cpu;
    private String op;
    private int n, in, out;
    private float[] x, w, y; // x [n][in], w [out][in], y [n][out]; backward: x is dx or x, y is dy, w is w or dw

    @Setup(Level.Trial)
    public void setup() {
        String[] p = shape.split(":");
        cpu = p[0].equals("cpu");
        op = p[1];
        n = Integer.parseInt(p[2]);
        in = Integer.parseInt(p[3]);
        out = Integer.parseInt(p[4]);
        SplittableRandom rnd = new SplittableRandom(1);
        x = random(rnd, n * in);
        w = random(rnd, out * in);
        y = random(rnd, n * out);
    }

    @Benchmark
    public float run() {
        switch (op) {
            case "forward" -> {
                if (cpu) MatmulCpu.forward(y, 0, x, 0, w, 0, n, in, out);
                else Matmul.forward(y, 0, x, 0, w, 0, n, in, out);
                return y[0];
            }
            case "backwardInput" -> {
                if (cpu) MatmulCpu.backwardInput(x, 0, y, 0, w, 0, n, in, out);
                else Matmul.backwardInput(x, 0, y, 0, w, 0, n, in, out);
                return x[0];
            }
            default -> {
                if (cpu) MatmulCpu.backwardWeight(w, 0, y, 0, x, 0, n, in, out);
                else Matmul.backwardWeight(w, 0, y, 0, x, 0, n, in, out);
                return w[0];
            }
        }
    }

    private static float[] random(SplittableRandom rnd, int len) {
        float[] a = new float[len];
        for (int i = 0; i < len; i++) a[i] = (float) (rnd.nextDouble() * 0.02 - 0.01);
        return a;
    }

    /** Runs the benchmark with JMH's command-line options, then prints GFLOP/s and GB/s per case. */
    public static void main(String[] args) throws Exception {
        CommandLineOptions options = new CommandLineOptions(args);
        Collection<RunResult> results = new Runner(options.getIncludes().isEmpty()
                ? new org.openjdk.jmh.runner.options.OptionsBuilder().parent(options)
                        .include(MatmulBench.class.getSimpleName()).build()
                : options).run();
        System.out.printf("%n%-36s %12s %10s %9s%n", "case (impl:op:n:in:out)", "time (us)", "GFLOP/s", "GB/s");
        for (RunResult r : results) {
            String c = r.getParams().getParam("shape");
            String[] p = c.split(":");
            double n = Double.parseDouble(p[2]), in = Double.parseDouble(p[3]), out = Double.parseDouble(p[4]);
            double us = r.getPrimaryResult().getScore();
            // Least traffic: read x and w once; read y (dy) once; outputs read+written for +=.
            double bytes = 4 * switch (p[1]) {
                case "forward" -> n * in + in * out + n * out;
                case "backwardInput" -> 2 * n * in + in * out + n * out;
                default -> n * in + 2 * in * out + n * out;
            };
            System.out.printf("%-36s %12.1f %10.1f %9.1f%n", c, us, 2 * n * in * out / us / 1e3, bytes / us / 1e3);
        }
    }
}
