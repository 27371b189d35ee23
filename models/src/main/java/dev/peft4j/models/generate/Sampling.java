package dev.peft4j.models.generate;

/**
 * How the next token is chosen from the logits.
 *
 * @param temperature 0 for greedy (argmax); otherwise logits are divided by it before softmax
 * @param topK        keep only the k most likely tokens (0: no limit)
 * @param topP        keep the smallest set of most likely tokens whose mass reaches p (1: no limit)
 * @param seed        seed of the sampler's random numbers
 */
public record Sampling(float temperature, int topK, float topP, long seed) {
    public Sampling {
        if (!(temperature >= 0) || Float.isInfinite(temperature)) throw new IllegalArgumentException("--temperature must be >= 0, got " + temperature);
        if (topK < 0) throw new IllegalArgumentException("--top-k must be >= 0, got " + topK);
        if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("--top-p must be in (0, 1], got " + topP);
    }

    public static Sampling greedy() {
        return new Sampling(0f, 0, 1f, 0L);
    }

    public boolean isGreedy() {
        return temperature == 0f || topK == 1;
    }
}
