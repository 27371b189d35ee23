package dev.peft4j.models.train;

/**
 * A batch of B sequences of T tokens, laid end to end: the model reads {@code inputs[b*T + t]} and
 * is trained to predict {@code targets[b*T + t]} with weight {@code weights[b*T + t]} (1 for a
 * response token, 0 for a prompt or padding token).
 */
public record Batch(int batchSize, int seqLen, int[] inputs, int[] targets, float[] weights) {
    public Batch {
        int n = batchSize * seqLen;
        if (inputs.length != n || targets.length != n || weights.length != n) {
            throw new IllegalArgumentException("batch " + batchSize + " x " + seqLen + " needs " + n + " inputs, targets and weights; got "
                    + inputs.length + ", " + targets.length + ", " + weights.length);
        }
    }

    /** Sum of the weights: the number of tokens the loss averages over. */
    public double weightSum() {
        double s = 0;
        for (float w : weights) s += w;
        return s;
    }

    /** Every position weighted 1: plain language modelling. */
    public static Batch unmasked(int batchSize, int seqLen, int[] inputs, int[] targets) {
        float[] w = new float[inputs.length];
        java.util.Arrays.fill(w, 1f);
        return new Batch(batchSize, seqLen, inputs, targets, w);
    }
}
