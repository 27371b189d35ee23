package dev.peft4j.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The CPU backend's form of {@link CrossEntropy}: the same contract, with the three passes over a
 * row of the vocabulary (max; exp and sum; scale) on the Vector API and {@link VectorMath#exp}. The
 * row's sum is taken in a fixed order (lanes, then {@link MatmulCpu#sum}), so results do not depend
 * on the JIT. {@link CrossEntropy} stays the plain form TornadoVM compiles.
 */
public final class CrossEntropyCpu {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();

    private CrossEntropyCpu() {}

    /** As {@link CrossEntropy#forwardBackward}. */
    public static void forwardBackward(float[] logits, int[] targets, float[] weights, int rowOffset, float[] losses,
                                       int vocab, float scale, int from, int to) {
        int bound = S.loopBound(vocab);
        VectorMask<Float> tail = S.indexInRange(bound, vocab);
        boolean grad = scale != 0f;
        for (int i = from; i < to; i++) {
            int base = i * vocab;
            FloatVector mv = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
            for (int j = 0; j < bound; j += L) mv = mv.max(FloatVector.fromArray(S, logits, base + j));
            float max = mv.reduceLanes(VectorOperators.MAX); // max is exact in any order
            for (int j = bound; j < vocab; j++) max = Math.max(max, logits[base + j]);
            int target = targets[rowOffset + i];
            float zTarget = logits[base + target];
            FloatVector maxV = FloatVector.broadcast(S, max), sumV = FloatVector.zero(S);
            for (int j = 0; j < bound; j += L) {
                FloatVector e = VectorMath.exp(FloatVector.fromArray(S, logits, base + j).sub(maxV));
                sumV = sumV.add(e);
                if (grad) e.intoArray(logits, base + j);
            }
            if (bound < vocab) {
                FloatVector e = VectorMath.exp(FloatVector.fromArray(S, logits, base + bound, tail).sub(maxV)).blend(0f, tail.not());
                sumV = sumV.add(e);
                if (grad) e.intoArray(logits, base + bound, tail);
            }
            float sum = MatmulCpu.sum(sumV);
            losses[i] = max + (float) Math.log(sum) - zTarget;
            if (grad) {
                float g = weights[rowOffset + i] * scale;
                FloatVector gv = FloatVector.broadcast(S, g == 0f ? 0f : g / sum);
                for (int j = 0; j < bound; j += L) FloatVector.fromArray(S, logits, base + j).mul(gv).intoArray(logits, base + j);
                if (bound < vocab) FloatVector.fromArray(S, logits, base + bound, tail).mul(gv).intoArray(logits, base + bound, tail);
                logits[base + target] -= g;
            }
        }
    }
}
