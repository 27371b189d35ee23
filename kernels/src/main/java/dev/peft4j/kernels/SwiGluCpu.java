package dev.peft4j.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * The CPU backend's form of {@link SwiGlu}: the same contract on the Vector API, σ(g) from
 * {@link VectorMath#exp}. {@link SwiGlu} stays the plain form TornadoVM compiles.
 */
public final class SwiGluCpu {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();

    private SwiGluCpu() {}

    /** As {@link SwiGlu#forward(float[], int, float[], int, float[], int, int, int)}. */
    public static void forward(float[] out, int outOff, float[] gate, int gateOff, float[] up, int upOff, int from, int to) {
        int i = from;
        for (int bound = from + S.loopBound(to - from); i < bound; i += L) {
            FloatVector g = FloatVector.fromArray(S, gate, gateOff + i);
            silu(g).mul(FloatVector.fromArray(S, up, upOff + i)).intoArray(out, outOff + i);
        }
        if (i < to) {
            VectorMask<Float> m = S.indexInRange(i, to);
            FloatVector g = FloatVector.fromArray(S, gate, gateOff + i, m);
            silu(g).mul(FloatVector.fromArray(S, up, upOff + i, m)).intoArray(out, outOff + i, m);
        }
    }

    /** As {@link SwiGlu#backward(float[], float[], float[], float[], int, float[], int, int, int)}. */
    public static void backward(float[] dGate, float[] dUp, float[] dOut, float[] gate, int gateOff, float[] up, int upOff,
                                int from, int to) {
        int i = from;
        for (int bound = from + S.loopBound(to - from); i < bound; i += L) backwardLanes(dGate, dUp, dOut, gate, gateOff, up, upOff, i, null);
        if (i < to) backwardLanes(dGate, dUp, dOut, gate, gateOff, up, upOff, i, S.indexInRange(i, to));
    }

    /** One vector of {@link #backward}, at i; {@code m} masks the tail (null: all lanes). */
    private static void backwardLanes(float[] dGate, float[] dUp, float[] dOut, float[] gate, int gateOff, float[] up, int upOff,
                                      int i, VectorMask<Float> m) {
        FloatVector g = load(gate, gateOff + i, m), d = load(dOut, i, m), u = load(up, upOff + i, m);
        FloatVector sig = sigmoid(g);
        // dGate += dOut · up · σ · (1 + g (1 − σ)),  dUp += dOut · g σ
        FloatVector slope = sig.mul(g.mul(sig.neg().add(1f)).add(1f));
        FloatVector dg = d.mul(u).mul(slope).add(load(dGate, i, m)), du = d.mul(g.mul(sig)).add(load(dUp, i, m));
        if (m == null) {
            dg.intoArray(dGate, i);
            du.intoArray(dUp, i);
        } else {
            dg.intoArray(dGate, i, m);
            du.intoArray(dUp, i, m);
        }
    }

    private static FloatVector load(float[] a, int off, VectorMask<Float> m) {
        return m == null ? FloatVector.fromArray(S, a, off) : FloatVector.fromArray(S, a, off, m);
    }

    private static FloatVector sigmoid(FloatVector g) {
        return FloatVector.broadcast(S, 1f).div(VectorMath.exp(g.neg()).add(1f));
    }

    private static FloatVector silu(FloatVector g) {
        return g.div(VectorMath.exp(g.neg()).add(1f));
    }
}
