package dev.peft4j.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * The CPU backend's form of {@link Rope} on the Vector API: the same rotation with the same
 * operations per element ({@code x0·c − x1·s}, {@code x0·s + x1·c}), so the same bits; a vector of
 * pairs at a time along each head's half. The queries' and keys' rotations run in one pass over the
 * rows ({@link #forward(float[], int, float[], int, float[], float[], int, int, int, int, int)}).
 * {@link Rope} stays the plain form TornadoVM compiles.
 */
public final class RopeCpu {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();

    private RopeCpu() {}

    /** As {@link Rope#forward(float[], float[], float[], int, int, int, int, int, int)} on q [n][qHeads*hd] and k [n][kHeads*hd] together. */
    public static void forward(float[] q, int qHeads, float[] k, int kHeads, float[] cos, float[] sin, int hd, int pos0, int period,
                               int from, int to) {
        rotate(q, qHeads, cos, sin, hd, pos0, period, false, from, to);
        rotate(k, kHeads, cos, sin, hd, pos0, period, false, from, to);
    }

    /** As {@link Rope#backward}, on dq and dk together. */
    public static void backward(float[] dq, int qHeads, float[] dk, int kHeads, float[] cos, float[] sin, int hd, int pos0, int period,
                                int from, int to) {
        rotate(dq, qHeads, cos, sin, hd, pos0, period, true, from, to);
        rotate(dk, kHeads, cos, sin, hd, pos0, period, true, from, to);
    }

    private static void rotate(float[] x, int heads, float[] cos, float[] sin, int hd, int pos0, int period, boolean inverse,
                               int from, int to) {
        int half = hd / 2, width = heads * hd;
        for (int i = from; i < to; i++) {
            int t = (pos0 + i % period) * half;
            for (int j = 0; j < half; j += L) {
                VectorMask<Float> m = S.indexInRange(j, half);
                FloatVector c = FloatVector.fromArray(S, cos, t + j, m), s = FloatVector.fromArray(S, sin, t + j, m);
                if (inverse) s = s.neg();
                for (int h = 0; h < heads; h++) {
                    int base = i * width + h * hd + j;
                    FloatVector x0 = FloatVector.fromArray(S, x, base, m), x1 = FloatVector.fromArray(S, x, base + half, m);
                    x0.mul(c).sub(x1.mul(s)).intoArray(x, base, m);
                    x0.mul(s).add(x1.mul(c)).intoArray(x, base + half, m);
                }
            }
        }
    }
}
