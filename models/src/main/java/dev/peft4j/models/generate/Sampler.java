package dev.peft4j.models.generate;

import java.util.SplittableRandom;

/**
 * Picks the next token from logits: greedy (argmax), or sampling with temperature, then top-k,
 * then top-p (nucleus), in that order, as Hugging Face's generation does. Deterministic in the seed.
 */
public final class Sampler {
    private final Sampling sampling;
    private final SplittableRandom random;
    private int[] order = new int[0];     // [vocab] candidate ids, most likely first
    private float[] probs = new float[0]; // [vocab]

    public Sampler(Sampling sampling) {
        this.sampling = sampling;
        this.random = new SplittableRandom(sampling.seed());
    }

    /** The next token for logits [vocab] (not modified). */
    public int sample(float[] logits) {
        if (sampling.isGreedy()) return argmax(logits);
        int V = logits.length;
        if (probs.length != V) {
            probs = new float[V];
            order = new int[V];
        }
        float max = logits[argmax(logits)];
        double sum = 0;
        float invT = 1f / sampling.temperature();
        for (int i = 0; i < V; i++) {
            probs[i] = (float) Math.exp((logits[i] - max) * invT);
            sum += probs[i];
        }
        // Candidates: all, or the top k; then sorted by probability, most likely first.
        int k = sampling.topK() > 0 ? Math.min(sampling.topK(), V) : V;
        int n = 0;
        if (k == V && sampling.topP() < 1f) {
            // Tokens below (1-p)/(V-1) of the mass can never be inside the nucleus: skip them before sorting.
            double cutoff = (1 - sampling.topP()) / (V - 1) * sum;
            for (int i = 0; i < V; i++) if (probs[i] >= cutoff) order[n++] = i;
        } else {
            for (int i = 0; i < V; i++) order[n++] = i;
        }
        n = sortTop(order, n, Math.min(k, n), probs);
        double kept = 0;
        for (int i = 0; i < n; i++) kept += probs[order[i]];
        if (sampling.topP() < 1f) {
            double cum = 0;
            int m = 0;
            while (m < n) {
                cum += probs[order[m++]];
                if (cum >= sampling.topP() * sum) break;
            }
            n = m;
            kept = cum;
        }
        double r = random.nextDouble() * kept, acc = 0;
        for (int i = 0; i < n; i++) {
            acc += probs[order[i]];
            if (r < acc) return order[i];
        }
        return order[n - 1];
    }

    /** Index of the largest value; the lowest index among equals. */
    public static int argmax(float[] x) {
        int best = 0;
        for (int i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
        return best;
    }

    /**
     * Moves the {@code k} most probable of {@code ids[0..n)} to the front, sorted descending (ties by
     * lower id); returns k. A partial selection keeps it O(n log k).
     */
    private static int sortTop(int[] ids, int n, int k, float[] p) {
        // min-heap of the best k seen so far in ids[0..k)
        for (int i = k / 2 - 1; i >= 0; i--) siftDown(ids, i, k, p);
        for (int i = k; i < n; i++) {
            if (better(ids[i], ids[0], p)) {
                ids[0] = ids[i];
                siftDown(ids, 0, k, p);
            }
        }
        // heap sort ascending by "worse first" then reverse: pop the worst to the end
        for (int end = k - 1; end > 0; end--) {
            int t = ids[0]; ids[0] = ids[end]; ids[end] = t;
            siftDown(ids, 0, end, p);
        }
        return k;
    }

    private static boolean better(int a, int b, float[] p) {
        return p[a] > p[b] || (p[a] == p[b] && a < b);
    }

    private static void siftDown(int[] h, int i, int size, float[] p) {
        while (true) {
            int l = 2 * i + 1, r = l + 1, worst = i;
            if (l < size && better(h[worst], h[l], p)) worst = l;
            if (r < size && better(h[worst], h[r], p)) worst = r;
            if (worst == i) return;
            int t = h[i]; h[i] = h[worst]; h[worst] = t;
            i = worst;
        }
    }
}
