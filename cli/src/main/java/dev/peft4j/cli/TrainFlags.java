package dev.peft4j.cli;

import dev.peft4j.api.UserException;
import dev.peft4j.models.train.TrainingRun;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** The optimisation flags shared by {@code finetune} and {@code pretrain}. */
final class TrainFlags {
    @Option(names = "--micro-batch-size", defaultValue = "4", description = "Sequences per forward/backward (default: ${DEFAULT-VALUE}).")
    int microBatchSize;

    @Option(names = "--batch-size", defaultValue = "16", description = "Sequences per optimizer step, by gradient accumulation (default: ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--steps", defaultValue = "100", description = "Optimizer steps (default: ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = "--lr", defaultValue = "3e-4", description = "Peak learning rate (default: ${DEFAULT-VALUE}).")
    double lr;

    @Option(names = "--min-lr", defaultValue = "0", description = "Learning rate at the end of the cosine decay (default: ${DEFAULT-VALUE}).")
    double minLr;

    @Option(names = "--warmup-steps", defaultValue = "10", description = "Linear warmup steps (default: ${DEFAULT-VALUE}).")
    int warmupSteps;

    @Option(names = "--weight-decay", defaultValue = "0.01", description = "AdamW decoupled weight decay (default: ${DEFAULT-VALUE}).")
    double weightDecay;

    @Option(names = "--max-grad-norm", defaultValue = "1.0", description = "Clip the global gradient norm; 0 for none (default: ${DEFAULT-VALUE}).")
    double maxGradNorm;

    @Option(names = "--seed", defaultValue = "42", description = "Seed of initialisation, data order and dropout (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--no-shuffle", description = "Keep the data in file order.")
    boolean noShuffle;

    @Option(names = "--eval-every", defaultValue = "50", description = "Validate every N steps; 0 only at the end (default: ${DEFAULT-VALUE}).")
    int evalEvery;

    @Option(names = "--save-every", defaultValue = "100", description = "Checkpoint every N steps; 0 only at the end (default: ${DEFAULT-VALUE}).")
    int saveEvery;

    @Option(names = "--out", paramLabel = "DIR", description = "Output directory: checkpoint, metrics.jsonl, the trained adapter or model.")
    Path out;

    @Option(names = "--resume", description = "Continue from the checkpoint in --out, bit for bit.")
    boolean resume;

    @Option(names = "--recompute", description = "Recompute activations in backward: less memory, about a third more compute.")
    boolean recompute;

    int accumulation() {
        if (microBatchSize <= 0) throw new UserException("--micro-batch-size must be positive, got " + microBatchSize);
        if (batchSize < microBatchSize || batchSize % microBatchSize != 0) {
            throw new UserException("--batch-size " + batchSize + " must be a multiple of --micro-batch-size " + microBatchSize);
        }
        return batchSize / microBatchSize;
    }

    TrainingRun.Options options() {
        return new TrainingRun.Options(steps, accumulation(), lr, minLr, warmupSteps, weightDecay, 0.9f, 0.95f, maxGradNorm, evalEvery, saveEvery);
    }
}
