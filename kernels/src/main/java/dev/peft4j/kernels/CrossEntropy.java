package dev.peft4j.kernels;

/**
 * Softmax + cross-entropy over the vocabulary, one row of logits at a time, with a per-token
 * weight (0 masks a prompt token). Callers run it on chunks of rows so that the full
 * [tokens][vocab] logits are never held at once.
 *
 * <pre>
 *   loss_i   = logsumexp(z_i) − z_i[target_i]
 *   dz_i     = (softmax(z_i) − onehot(target_i)) · weight_i · scale
 * </pre>
 */
public final class CrossEntropy {
    private CrossEntropy() {}

    /**
     * For rows from..to of logits [rows][vocab]: losses[i] = the row's cross-entropy (unweighted),
     * and, when {@code scale != 0}, the row is overwritten in place by its gradient
     * {@code (softmax − onehot) · weights[i] · scale} (a row of weight 0 becomes zeros).
     * {@code targets}/{@code weights} are read at {@code rowOffset + i}.
     */
    public static void forwardBackward(float[] logits, int[] targets, float[] weights, int rowOffset, float[] losses,
                                       int vocab, float scale, int from, int to) {
        for (@Parallel int i = from; i < to; i++) {
            int base = i * vocab;
            float max = Float.NEGATIVE_INFINITY;
            for (int j = 0; j < vocab; j++) max = Math.max(max, logits[base + j]);
            // exp(z − max) once per logit: kept in place when the gradient is wanted
            boolean grad = scale != 0f;
            int target = targets[rowOffset + i];
            float zTarget = logits[base + target];
            float sum = 0f;
            for (int j = 0; j < vocab; j++) {
                float e = (float) Math.exp(logits[base + j] - max);
                sum += e;
                if (grad) logits[base + j] = e;
            }
            losses[i] = max + (float) Math.log(sum) - zTarget;
            if (grad) {
                // softmax as exp(z − max) / sum: exact to a float at any logit size
                float g = weights[rowOffset + i] * scale, gOverSum = g / sum;
                for (int j = 0; j < vocab; j++) logits[base + j] = g == 0f ? 0f : logits[base + j] * gOverSum;
                logits[base + target] -= g;
            }
        }
    }
}
