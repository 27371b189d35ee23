package dev.peft4j.cli;

import dev.peft4j.models.train.TrainingRun;
import java.io.PrintWriter;
import java.nio.file.Path;

/**
 * Shows a training run's progress: a bar redrawn in place on a terminal, plain lines otherwise
 * (logs, pipes). Quiet in --json mode except for the final object.
 */
final class Progress implements TrainingRun.Listener {
    private final PrintWriter out;
    private final boolean terminal, quiet;
    private double lastLoss = Double.NaN;
    private final java.util.List<Double> stepSeconds = new java.util.ArrayList<>();
    private long tokens;

    Progress(PrintWriter out, boolean quiet) {
        this.out = out;
        this.quiet = quiet;
        this.terminal = System.console() != null && System.console().isTerminal();
    }

    @Override
    public void step(TrainingRun.StepInfo s) {
        lastLoss = s.loss();
        stepSeconds.add(s.stepSeconds());
        tokens += s.tokens();
        if (quiet) return;
        String stats = String.format("step %d/%d  loss %.4f  lr %.2e  %,.0f tok/s  ETA %s", s.step(), s.steps(), s.loss(), s.lr(),
                s.tokensPerSecond(), duration(s.etaSeconds()));
        if (terminal) {
            int width = 24, filled = (int) Math.round(width * (double) s.step() / s.steps());
            out.print("\r[" + "#".repeat(filled) + ".".repeat(width - filled) + "] " + stats + "   ");
            if (s.step() == s.steps()) out.println();
        } else {
            out.println(stats);
        }
        out.flush();
    }

    @Override
    public void eval(TrainingRun.EvalInfo e) {
        if (quiet) return;
        if (terminal) out.println();
        out.printf("validation at step %d: loss %.4f, perplexity %.3f (%,d tokens)%n", e.step(), e.loss(), e.perplexity(), e.tokens());
        out.flush();
    }

    @Override
    public void checkpoint(int step, Path dir) {
        if (quiet) return;
        if (terminal) out.println();
        out.printf("checkpoint at step %d: %s%n", step, dir);
        out.flush();
    }

    double lastLoss() {
        return lastLoss;
    }

    /** Median seconds of the steps this run took (the first steps include JIT warm-up). */
    double medianStepSeconds() {
        double[] a = stepSeconds.stream().mapToDouble(Double::doubleValue).toArray();
        return a.length == 0 ? Double.NaN : BenchCommand.median(a);
    }

    /** Tokens per second over all steps of this run. */
    double tokensPerSecond() {
        double total = stepSeconds.stream().mapToDouble(Double::doubleValue).sum();
        return total == 0 ? 0 : tokens / total;
    }

    static String duration(double seconds) {
        if (!Double.isFinite(seconds)) return "?";
        long s = Math.round(seconds);
        return s >= 3600 ? String.format("%dh%02dm", s / 3600, s % 3600 / 60) : String.format("%dm%02ds", s / 60, s % 60);
    }
}
