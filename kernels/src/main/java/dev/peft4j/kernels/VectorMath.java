package dev.peft4j.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

/**
 * exp on vectors, from lane-wise multiply-adds only, so it rounds the same in the interpreter and in
 * every JIT tier (the Vector API's own {@code EXP} may call a native library whose results differ
 * from its Java fallback, which would break bit-for-bit reproducible runs).
 *
 * <pre>
 *   exp(x) = 2^n · e^r,  n = round(x / ln 2),  r = x − n·ln 2 (two-part ln 2),  |r| ≤ ln 2 / 2
 *   e^r    ≈ 1 + r + r²·(c2 + c3 r + c4 r² + c5 r³ + c6 r⁴ + c7 r⁵)     (Cephes' expf coefficients)
 * </pre>
 * Accurate to about 2 ulp; below −87.3 the result is 0, above 88 it is clamped to e^88.
 */
final class VectorMath {
    private VectorMath() {}

    private static final float LOG2E = 1.44269504088896341f;
    /** 1.5·2²³: adding and subtracting it rounds a float of magnitude below 2²² to the nearest integer. */
    private static final float ROUND = 12582912f;
    private static final float LN2_HI = 0.693359375f, LN2_LO = -2.12194440e-4f;
    private static final float C7 = 1.9875691500e-4f, C6 = 1.3981999507e-3f, C5 = 8.3334519073e-3f,
            C4 = 4.1665795894e-2f, C3 = 1.6666665459e-1f, C2 = 5.0000001201e-1f;
    private static final float LOW = -87.33654f, HIGH = 88f;

    static FloatVector exp(FloatVector x) {
        FloatVector xc = x.max(LOW).min(HIGH);
        FloatVector n = xc.fma(LOG2E, ROUND).sub(ROUND);
        FloatVector r = n.fma(-LN2_HI, 0f).add(xc);
        r = n.fma(-LN2_LO, 0f).add(r);
        FloatVector p = r.fma(C7, C6);
        p = p.fma(r, x.broadcast(C5));
        p = p.fma(r, x.broadcast(C4));
        p = p.fma(r, x.broadcast(C3));
        p = p.fma(r, x.broadcast(C2));
        p = p.fma(r.mul(r), r.add(1f));
        IntVector bits = ((IntVector) n.convert(VectorOperators.F2I, 0)).add(127).lanewise(VectorOperators.LSHL, 23);
        FloatVector e = p.mul(bits.reinterpretAsFloats());
        return e.blend(0f, x.lt(LOW));
    }
}
