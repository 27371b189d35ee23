package dev.peft4j.cli.scaleout;

import dev.peft4j.cli.Main;
import dev.peft4j.models.train.GradientReducer;
import java.util.List;

/** The worker's side of {@link ScaleOut}: one rank of a data-parallel {@code finetune}. */
public final class Worker {
    private Worker() {}

    /** What a worker's command printed and returned. */
    public record Result(int exitCode, String out, String err) {}

    /**
     * Runs {@code peft4j finetune args} as rank {@code reducer.rank()} of {@code reducer.size()}: the same model,
     * methods, seed and data as the others, its share of each step's micro-batches, gradients summed by
     * {@code reducer}; rank 0 alone writes metrics, checkpoints and the adapter. {@code relaunch}: this is a new
     * attempt after a failure, so it continues from the checkpoint in {@code --out} if there is one (as
     * {@code --resume} would) and starts afresh if none was written yet.
     *
     * <p>Bad input comes back as exit code 2 with the message in {@link Result#err}; any other failure (a peer gone,
     * a socket that times out) is thrown, so that the engine fails the task and relaunches the stage.
     */
    public static Result finetune(List<String> args, GradientReducer reducer, boolean relaunch) {
        return Main.runWorker(args, reducer, relaunch);
    }
}
