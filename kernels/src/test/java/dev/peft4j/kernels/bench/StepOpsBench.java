package dev.peft4j.kernels.bench;

import dev.peft4j.kernels.Attention;
import dev.peft4j.kernels.AttentionCpu;
import dev.peft4j.kernels.CrossEntropy;
import dev.peft4j.kernels.CrossEntropyCpu;
import dev.peft4j.kernels.Threads;
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

/**
 * The training step's other hot ops at the stories15M shape, batch 8 x 256, as the trainer calls them
 * (split over {@link Threads}): cross-entropy over one chunk of 256 rows of 32000 logits (forward and
 * gradient), and causal attention forward and backward of one layer (6 heads of 48; the CPU form tiled as flash attention,
 * its backward from the saved output and log-sum-exp, the plain form through the saved probabilities). Run like
 * {@link MatmulBench}, against the plain kernels: {@code java ... org.openjdk.jmh.Main StepOpsBench -f 1 -wi 2 -i 3}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector"})
public class StepOpsBench {
    /** cpu: the CPU forms; plain: the plain kernels (TornadoVM's form) as a same-run baseline. */
    @Param({"cpu", "plain"}) public String impl;
    @Param({"8"}) public int batch;
    @Param({"256"}) public int seq;

    static final int VOCAB = 32000, ROWS = 256, HEADS = 6, HD = 48;

    private float[] logits, logitsCopy, losses, weights;
    private int[] targets;
    private float[] q, k, v, out, att, lse, dOut, dq, dk, dv, dScores;

    @Setup(Level.Trial)
    public void setup() {
        SplittableRandom r = new SplittableRandom(1);
        logitsCopy = random(r, ROWS * VOCAB, 4);
        logits = logitsCopy.clone();
        losses = new float[ROWS];
        weights = new float[ROWS];
        java.util.Arrays.fill(weights, 1f);
        targets = new int[ROWS];
        for (int i = 0; i < ROWS; i++) targets[i] = r.nextInt(VOCAB);
        int n = batch * seq, d = HEADS * HD;
        q = random(r, n * d, 1);
        k = random(r, n * d, 1);
        v = random(r, n * d, 1);
        dOut = random(r, n * d, 1);
        out = new float[n * d];
        dq = new float[n * d];
        dk = new float[n * d];
        dv = new float[n * d];
        att = new float[batch * HEADS * seq * seq];
        dScores = new float[att.length];
        lse = new float[batch * HEADS * seq];
        attentionForward();
    }

    @Benchmark
    public float crossEntropy() {
        System.arraycopy(logitsCopy, 0, logits, 0, logits.length); // the kernel overwrites logits with their gradient
        boolean cpu = impl.equals("cpu");
        Threads.parallelFor(ROWS, (from, to) -> {
            if (cpu) CrossEntropyCpu.forwardBackward(logits, targets, weights, 0, losses, VOCAB, 1f / ROWS, from, to);
            else CrossEntropy.forwardBackward(logits, targets, weights, 0, losses, VOCAB, 1f / ROWS, from, to);
        });
        return losses[0];
    }

    @Benchmark
    public float attentionForward() {
        boolean cpu = impl.equals("cpu");
        Threads.parallelFor(batch * HEADS * seq, (from, to) -> {
            if (cpu) AttentionCpu.forward(out, lse, q, k, v, HEADS, HEADS, HD, seq, 0, seq, from, to);
            else Attention.forward(out, q, k, v, att, HEADS, HEADS, HD, seq, 0, seq, seq, from, to);
        });
        return out[0];
    }

    @Benchmark
    public float attentionBackward() {
        if (impl.equals("cpu")) {
            Threads.parallelFor(batch * HEADS, (from, to) ->
                    AttentionCpu.backward(dq, dk, dv, dOut, q, k, v, out, lse, HEADS, HEADS, HD, seq, 0, seq, from, to));
            return dk[0];
        }
        Threads.parallelFor(batch * HEADS * seq, (from, to) ->
                Attention.backwardQuery(dq, dScores, dOut, k, v, att, HEADS, HEADS, HD, seq, 0, seq, seq, from, to));
        Threads.parallelFor(batch * HEADS, (from, to) ->
                Attention.backwardKeyValue(dk, dv, dScores, dOut, q, att, HEADS, HEADS, HD, seq, 0, seq, seq, from, to));
        return dk[0];
    }

    private static float[] random(SplittableRandom r, int n, double scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) ((r.nextDouble() * 2 - 1) * scale);
        return a;
    }
}
