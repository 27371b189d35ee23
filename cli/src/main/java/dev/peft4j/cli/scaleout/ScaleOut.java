package dev.peft4j.cli.scaleout;

import java.io.PrintWriter;
import java.util.List;

/**
 * Runs {@code peft4j finetune} data parallel on a distributed engine: {@code peft4j finetune ... --spark MASTER
 * --workers N} hands the command's arguments (without those two flags) to the ScaleOut found by
 * {@link java.util.ServiceLoader} (the {@code peft4j-spark} artifact provides one), which starts N workers; each runs
 * {@link Worker#finetune} with a {@link dev.peft4j.models.train.GradientReducer} that connects it to the others.
 * Without such an artifact on the class path {@code --spark} is an error that says so.
 */
public interface ScaleOut {
    /** The engine's name, as {@code --spark} names it: "spark". */
    String name();

    /**
     * Runs {@code finetune args} on {@code workers} workers of {@code master}; prints rank 0's output to {@code out}.
     * Bad input (an unreachable master, more workers than slots or batches, a path a worker cannot read) is a
     * {@link dev.peft4j.api.UserException} thrown before training starts. Returns the command's exit code.
     */
    int finetune(String master, int workers, List<String> args, PrintWriter out, PrintWriter err) throws Exception;
}
