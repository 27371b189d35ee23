package dev.peft4j.models.train;

/**
 * Learning rate by step: linear warmup from 0 to {@code peak} over {@code warmupSteps}, then cosine
 * decay to {@code minLr} at {@code totalSteps} (constant {@code peak} when totalSteps is 0).
 */
public record LrSchedule(double peak, int warmupSteps, int totalSteps, double minLr) {
    public LrSchedule {
        if (!(peak >= 0) || warmupSteps < 0 || totalSteps < 0 || !(minLr >= 0)) {
            throw new IllegalArgumentException("invalid learning-rate schedule: lr " + peak + ", warmup " + warmupSteps
                    + ", steps " + totalSteps + ", min lr " + minLr);
        }
    }

    public static LrSchedule constant(double lr) {
        return new LrSchedule(lr, 0, 0, lr);
    }

    /** The rate for optimizer step {@code step} (0-based). */
    public double at(int step) {
        if (step < warmupSteps) return peak * (step + 1) / warmupSteps;
        if (totalSteps <= warmupSteps) return peak;
        double progress = Math.min(1.0, (step - warmupSteps) / (double) (totalSteps - warmupSteps));
        return minLr + 0.5 * (peak - minLr) * (1 + Math.cos(Math.PI * progress));
    }
}
