package dev.peft4j.models.data;

import java.util.Random;

/** Seeded permutations, the same on every JVM ({@link Random}'s algorithm is specified). */
final class Shuffle {
    private Shuffle() {}

    /** A permutation of {@code [0, n)} by Fisher-Yates with {@code new Random(seed)}. */
    static int[] permutation(int n, long seed) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) p[i] = i;
        Random r = new Random(seed);
        for (int i = n - 1; i > 0; i--) {
            int j = r.nextInt(i + 1);
            int t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }

    /** A seed for stream {@code k} of {@code seed} (SplitMix64's finalizer), so nearby k give unrelated streams. */
    static long mix(long seed, long k) {
        long z = seed + (k + 1) * 0x9E3779B97F4A7C15L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
