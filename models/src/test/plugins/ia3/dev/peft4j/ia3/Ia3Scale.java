package dev.peft4j.ia3;

import dev.peft4j.api.LinearMapHook;
import dev.peft4j.api.Parameter;
import dev.peft4j.api.Pass;

/**
 * IA³'s one operation: rows scaled elementwise by a learned vector, out[r][j] = in[r][j]·l[j]. On k_proj and v_proj
 * it maps the output, on down_proj the input (a {@link LinearMapHook} either way).
 *
 * <pre>
 *   forward   out = in ⊙ l                  (l broadcast over the n rows)
 *   backward  dIn += dOut ⊙ l ;  dl += Σ_rows dOut ⊙ in
 * </pre>
 */
final class Ia3Scale implements LinearMapHook {
    private final Parameter l;   // [width] (stored [width][1] or [1][width], as PEFT saves it)
    private final int width;

    Ia3Scale(Parameter l, int width) {
        this.l = l;
        this.width = width;
    }

    @Override
    public void forward(float[] in, float[] out, int n, Pass pass) {
        float[] s = l.data();
        for (int r = 0; r < n; r++) {
            int o = r * width;
            for (int j = 0; j < width; j++) out[o + j] = in[o + j] * s[j];
        }
    }

    @Override
    public void backward(float[] in, float[] dOut, float[] dIn, int n) {
        float[] s = l.data(), g = l.grad();
        double[] acc = new double[width];
        for (int r = 0; r < n; r++) {
            int o = r * width;
            for (int j = 0; j < width; j++) {
                dIn[o + j] += dOut[o + j] * s[j];
                acc[j] += (double) dOut[o + j] * in[o + j];
            }
        }
        for (int j = 0; j < width; j++) g[j] += (float) acc[j];
    }
}
