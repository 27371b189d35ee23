package dev.peft4j.models.train;

import dev.peft4j.models.LlamaWeights;
import dev.peft4j.models.peft.Hooks;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Loss and perplexity of a token stream (BOS then a text's tokens) in non-overlapping windows of
 * the context length, through the training loss code path ({@link LlamaTrainer#loss}). Every
 * token after the first is predicted exactly once; a last, shorter window is padded with
 * weight-0 positions.
 */
public final class TextEvaluator {
    private TextEvaluator() {}

    /** @param tokens predicted tokens; loss is the mean cross-entropy in nats */
    public record Result(long tokens, double loss, double seconds) {
        public double perplexity() {
            return Math.exp(loss);
        }
    }

    public static Result evaluate(LlamaWeights weights, int[] ids, int seqLen, int batchSize) {
        return evaluate(weights, Hooks.none(weights.config.nLayers()), ids, seqLen, batchSize);
    }

    /** The same with PEFT hooks (installed adapters) active. */
    public static Result evaluate(LlamaWeights weights, Hooks hooks, int[] ids, int seqLen, int batchSize) {
        if (ids.length < 2) throw new IllegalArgumentException("need at least two tokens to evaluate, got " + ids.length);
        int windows = (ids.length - 1 + seqLen - 1) / seqLen;
        int B = Math.min(batchSize, windows);
        LlamaTrainer trainer = new LlamaTrainer(weights, hooks, B, seqLen, true, 0, java.util.List.of());
        long t0 = System.nanoTime();
        List<Batch> batches = new ArrayList<>();
        for (int w0 = 0; w0 < windows; w0 += B) {
            int[] in = new int[B * seqLen], tg = new int[B * seqLen];
            float[] wt = new float[B * seqLen];
            for (int b = 0; b < B && w0 + b < windows; b++) {
                int start = (w0 + b) * seqLen;
                int len = Math.min(seqLen, ids.length - 1 - start);
                System.arraycopy(ids, start, in, b * seqLen, len);
                System.arraycopy(ids, start + 1, tg, b * seqLen, len);
                Arrays.fill(wt, b * seqLen, b * seqLen + len, 1f);
            }
            batches.add(new Batch(B, seqLen, in, tg, wt));
        }
        LlamaTrainer.MeanLoss m = trainer.meanLoss(batches);
        return new Result(m.tokens(), m.loss(), (System.nanoTime() - t0) / 1e9);
    }
}
