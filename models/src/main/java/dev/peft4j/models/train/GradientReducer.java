package dev.peft4j.models.train;

import dev.peft4j.api.Parameter;
import java.io.IOException;
import java.util.List;

/**
 * Data-parallel training: {@code size()} processes (ranks) each run the same {@link TrainingRun} over the same data,
 * each computing the gradients of its share of every optimizer step's micro-batches (rank r takes micro-batches r,
 * r + size, r + 2·size, ... of the accumulation), and this sums the gradients across them once per step, before the
 * optimizer, so that every rank holds the gradients one process would have accumulated over all the micro-batches and
 * takes the same AdamW step.
 *
 * <p>Accumulation weights each micro-batch's gradient (the gradient of its token-weighted mean loss) by one and the
 * optimizer divides the sum by the number of micro-batches; the sum across ranks keeps exactly that weighting. The
 * summation order must be fixed (the same bits on every run) and every rank must end with the same bits.
 */
public interface GradientReducer {
    /** This process's index, 0 ≤ rank &lt; size; rank 0 alone writes metrics, checkpoints and results. */
    int rank();

    /** The number of processes. */
    int size();

    /**
     * Replaces every parameter's gradient, and each of {@code scalars}, with its sum over all ranks; every rank ends
     * with the same values. Blocks until every rank has called it; an I/O failure (a rank gone) is thrown.
     */
    void allReduce(List<Parameter> params, double[] scalars) throws IOException;
}
