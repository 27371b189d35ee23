package dev.peft4j.kernels.bench;

import dev.peft4j.kernels.FrozenMatmulCpu;
import dev.peft4j.kernels.Threads;
import dev.peft4j.kernels.WeightMatrix;
import dev.peft4j.kernels.quant.GgmlType;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * The frozen linear on a compressed base against the same linear in float32, in one process, the
 * types taken in turn (f32, bf16, q8_0, q4_0, f32, ...) so that a machine whose speed drifts (other
 * jobs on a shared machine) moves every type alike; medians and the ratio to float32 per shape.
 * Shapes are the TinyLlama-1.1B step's (dim 2048, hidden 5632, vocab 32000) at n = 256 rows
 * (training, batch 1 x 256) and n = 1 (decoding). Not a timed test: run it by hand,
 * <pre>
 * mvn -q -o -pl kernels test-compile dependency:build-classpath -Dmdep.outputFile=target/cp.txt -Dmdep.includeScope=test
 * java --add-modules jdk.incubator.vector -cp kernels/target/test-classes:kernels/target/classes \
 *     dev.peft4j.kernels.bench.FrozenMatmulBench [rounds] [case ...]
 * </pre>
 * A case is {@code op:n:in:out} with op forward or backwardInput (default: the TinyLlama set).
 */
public final class FrozenMatmulBench {
    /** The types compared, float32 first (-Dtypes=F32,Q8_0 to choose). */
    private static final GgmlType[] TYPES = Arrays.stream(System.getProperty("types", "F32,BF16,Q8_0,Q4_0").split(","))
            .map(t -> GgmlType.valueOf(t.trim().toUpperCase(Locale.ROOT))).toArray(GgmlType[]::new);

    public static void main(String[] args) {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 7;
        List<String> cases = new ArrayList<>(Arrays.asList(args).subList(Math.min(1, args.length), args.length));
        if (cases.isEmpty()) {
            cases.addAll(List.of("forward:256:2048:2048", "forward:256:2048:5632", "forward:256:5632:2048", "forward:256:2048:32000",
                    "backwardInput:256:2048:2048", "backwardInput:256:2048:5632", "backwardInput:256:5632:2048", "backwardInput:256:2048:32000",
                    "forward:1:2048:2048", "forward:1:2048:5632", "forward:1:5632:2048", "forward:1:2048:32000"));
        }
        System.out.printf("FrozenMatmulBench: %d threads, %d rounds, types taken in turn; median ms (median of the rounds' ratios to f32)%n", Threads.threads(), rounds);
        System.out.printf("%-30s %s%n", "case", String.join("  ", Arrays.stream(TYPES).map(t -> String.format("%-18s", t)).toList()));
        for (String cs : cases) {
            String[] p = cs.split(":");
            boolean fwd = p[0].equals("forward");
            int n = Integer.parseInt(p[1]), in = Integer.parseInt(p[2]), out = Integer.parseInt(p[3]);
            SplittableRandom r = new SplittableRandom(42);
            float[] wf = new float[in * out];
            for (int i = 0; i < wf.length; i++) wf[i] = (float) (r.nextGaussian() * 0.02);
            WeightMatrix f32 = WeightMatrix.of(wf, out, in);
            WeightMatrix[] ws = new WeightMatrix[TYPES.length];
            for (int t = 0; t < TYPES.length; t++) ws[t] = f32.convert(TYPES[t]);
            float[] x = new float[n * (fwd ? in : out)];
            for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
            float[] y = new float[n * (fwd ? out : in)];
            int reps = (int) Math.max(1, Math.min(50, 2e9 / ((double) n * in * out) / (n == 1 ? 1 : 8)));
            double[][] ms = new double[TYPES.length][rounds];
            for (int round = -2; round < rounds; round++) { // two warm-up rounds
                for (int t = 0; t < TYPES.length; t++) {
                    long t0 = System.nanoTime();
                    for (int k = 0; k < reps; k++) {
                        if (fwd) FrozenMatmulCpu.forward(y, 0, x, 0, ws[t], n);
                        else FrozenMatmulCpu.backwardInput(y, 0, x, 0, ws[t], n);
                    }
                    if (round >= 0) ms[t][round] = (System.nanoTime() - t0) / 1e6 / reps;
                }
            }
            StringBuilder line = new StringBuilder(String.format(Locale.ROOT, "%-30s", cs));
            double base = median(ms[0]);
            for (int t = 0; t < TYPES.length; t++) {
                double[] ratio = new double[rounds];
                for (int k = 0; k < rounds; k++) ratio[k] = ms[t][k] / ms[0][k]; // round by round
                line.append(String.format(Locale.ROOT, " %8.3f (%5.2fx)  ", median(ms[t]), median(ratio)));
            }
            double gflop = 2.0 * n * in * out / 1e9;
            line.append(String.format(Locale.ROOT, " f32 %.1f GFLOP/s", gflop / (base / 1e3)));
            System.out.println(line);
        }
    }

    private static double median(double[] xs) {
        double[] s = xs.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }
}
