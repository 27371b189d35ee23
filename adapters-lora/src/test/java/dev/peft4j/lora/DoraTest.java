package dev.peft4j.lora;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.peft4j.api.Parameter;
import dev.peft4j.api.Pass;
import dev.peft4j.api.PeftMethod;
import dev.peft4j.models.LlamaConfig;
import dev.peft4j.models.LlamaWeights;
import dev.peft4j.models.peft.PeftMethodContract;
import dev.peft4j.models.peft.PeftModel;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * DoRA (use_dora) through the method contract (unchanged at init, float32 finite differences over the model,
 * save/load), and one DoRA linear against a double-precision reference: its output, and the gradients of A, B,
 * the magnitude and x against central differences in double of that reference, with the row norm held at its
 * value (detached, as the paper and PEFT); merge and unmerge.
 */
class DoraTest extends PeftMethodContract<LoraConfig> {
    @Override protected PeftMethod<LoraConfig> method() { return new LoraMethod(); }

    @Override
    protected LoraConfig config(LlamaConfig model) {
        return LoraConfig.of(4, 8, List.of("q_proj", "v_proj", "down_proj", "lm_head")).withDora(true);
    }

    /** Over the whole model only the magnitudes' gradients are true derivatives (the norm is detached). */
    @Override
    protected boolean trueGradient(Parameter p) {
        return p.name().endsWith("lora_magnitude_vector");
    }

    /**
     * On a BF16, Q8_0 or Q4_0 base DoRA reads the adapted weights as they are stored (row norms a row at a time, W·x and
     * its input gradient through the compressed kernels): the base stays compressed, the magnitudes start at
     * exactly the row norms of the dequantised weights, and loss and gradients are those of a float32 base holding
     * the dequantised values (up to the two kernels' float32 summation orders).
     */
    @Test
    void readsACompressedBaseAsStored() {
        LlamaConfig wide = LlamaConfig.of(32, 64, 2, 4, 2, 20, 12, false); // Q8_0 blocks are 32 wide
        for (var type : List.of(dev.peft4j.kernels.quant.GgmlType.BF16, dev.peft4j.kernels.quant.GgmlType.Q8_0, dev.peft4j.kernels.quant.GgmlType.Q4_0))
        for (double dropout : new double[]{0, 0.4}) { // with dropout W·x̃ is DoRA's own product on the compressed W
            LlamaWeights stored = LlamaWeights.random(wide, 31, 0.3f).convertBase(type);
            LlamaWeights f32 = LlamaWeights.random(wide, 31, 0.3f).convertBase(type).convertBase(dev.peft4j.kernels.quant.GgmlType.F32);
            LoraConfig cfg = LoraConfig.of(4, 8, List.of("q_proj", "v_proj", "down_proj")).withDora(true).withDropout(dropout);
            PeftModel a = new PeftModel(stored, 1), b = new PeftModel(f32, 1);
            a.install(method(), cfg);
            b.install(method(), cfg);
            assertEquals(java.util.Set.of(type), stored.storedTypes(), "the base stays " + type);
            for (int i = 0; i < a.trainableParameters().size(); i++) {
                Parameter pa = a.trainableParameters().get(i);
                if (pa.name().endsWith("lora_magnitude_vector")) {
                    assertArrayEquals(b.trainableParameters().get(i).data(), pa.data(), 1e-6f, pa.name() + " starts at the row norms");
                }
            }
            randomize(a, 5);
            randomize(b, 5);
            var batch = batch(wide, 2, 6, 3);
            double la = a.trainer(2, 6, false).forwardBackward(batch), lb = b.trainer(2, 6, false).forwardBackward(batch);
            assertEquals(lb, la, 1e-5 * Math.abs(lb), type + " loss, dropout " + dropout);
            for (int i = 0; i < a.trainableParameters().size(); i++) {
                float[] ga = a.trainableParameters().get(i).grad(), gb = b.trainableParameters().get(i).grad();
                double scale = 0, diff = 0;
                for (int k = 0; k < gb.length; k++) {
                    scale = Math.max(scale, Math.abs(gb[k]));
                    diff = Math.max(diff, Math.abs(ga[k] - gb[k]));
                }
                String name = type + " " + a.trainableParameters().get(i).name();
                assertTrue(scale > 0 && diff <= 5e-5 * scale, name + ": " + diff + " of " + scale);
            }
        }
    }

    @Test
    void theMagnitudeIsNamedAsPeftAndStartsAtTheRowNorms() {
        LlamaWeights w = base();
        PeftModel m = new PeftModel(w, 3);
        m.install(method(), LoraConfig.of(4, 8, List.of("q_proj")).withDora(true));
        Parameter mag = m.trainableParameters().get(2);
        assertEquals("base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector", mag.name());
        assertArrayEquals(new int[]{16}, mag.shape());
        float[] wq = w.wq[0].f32();
        double n0 = 0;
        for (int i = 0; i < 16; i++) n0 += (double) wq[i] * wq[i];
        assertEquals(Math.sqrt(n0), mag.data()[0], 1e-6);
    }

    private static final int N = 3, IN = 32, OUT = 4, R = 2; // IN: one Q8_0 block
    private static final double S = 1.5;

    /**
     * Σ G ⊙ y for y = x·Wᵀ + (c − 1) ⊙ x̃·Wᵀ + c ⊙ s·x̃·Aᵀ·Bᵀ, x̃ = keep ⊙ x (the dropout mask), c = m / norm (norm
     * given: held constant). Without dropout (keep = 1) that is c ⊙ (x·Wᵀ + s·x·Aᵀ·Bᵀ).
     */
    private static double reference(double[] x, double[] keep, double[] w, double[] a, double[] b, double[] m, double[] norm, double[] g) {
        double loss = 0;
        for (int i = 0; i < N; i++) {
            for (int o = 0; o < OUT; o++) {
                double base = 0, dropped = 0, low = 0;
                for (int k = 0; k < IN; k++) {
                    base += x[i * IN + k] * w[o * IN + k];
                    dropped += keep[i * IN + k] * x[i * IN + k] * w[o * IN + k];
                }
                for (int q = 0; q < R; q++) {
                    double h = 0;
                    for (int k = 0; k < IN; k++) h += keep[i * IN + k] * x[i * IN + k] * a[q * IN + k];
                    low += b[o * R + q] * h;
                }
                double c = m[o] / norm[o];
                loss += g[i * OUT + o] * (base + (c - 1) * dropped + c * S * low);
            }
        }
        return loss;
    }

    private static double[] norms(double[] w, double[] a, double[] b) {
        double[] n = new double[OUT];
        for (int o = 0; o < OUT; o++) {
            double sum = 0;
            for (int k = 0; k < IN; k++) {
                double v = w[o * IN + k];
                for (int q = 0; q < R; q++) v += S * b[o * R + q] * a[q * IN + k];
                sum += v * v;
            }
            n[o] = Math.sqrt(sum);
        }
        return n;
    }

    private static float[] f(double[] d) {
        float[] out = new float[d.length];
        for (int i = 0; i < d.length; i++) out[i] = (float) d[i];
        return out;
    }

    private static double[] d(float[] f) {
        double[] out = new double[f.length];
        for (int i = 0; i < f.length; i++) out[i] = f[i];
        return out;
    }

    private static double[] random(SplittableRandom r, int n) {
        double[] v = new double[n];
        for (int i = 0; i < n; i++) v[i] = (float) r.nextGaussian(); // float-representable, so both sides see the same inputs
        return v;
    }

    /**
     * On a float32 base, and on a BF16, Q8_0 or Q4_0 base read in place (the reference then holds the dequantised
     * values in double): the same checks, so DoRA's W·x̃, its input gradient and the row norms are checked
     * against finite differences on the compressed kernels too.
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.CsvSource({"F32, 0.0", "F32, 0.4", "BF16, 0.0", "BF16, 0.4", "Q8_0, 0.0", "Q8_0, 0.4", "Q4_0, 0.0", "Q4_0, 0.4"})
    void oneLinearMatchesADoubleReferenceAndItsFiniteDifferences(dev.peft4j.kernels.quant.GgmlType type, double dropout) {
        SplittableRandom rng = new SplittableRandom(7);
        double[] x = random(rng, N * IN), w = random(rng, OUT * IN), a = random(rng, R * IN), b = random(rng, OUT * R), g = random(rng, N * OUT);
        double[] m = random(rng, OUT);
        for (int o = 0; o < OUT; o++) m[o] = 1 + Math.abs(m[o]);
        Parameter pa = new Parameter("A", new int[]{R, IN}, f(a)), pb = new Parameter("B", new int[]{OUT, R}, f(b)), pm = new Parameter("m", new int[]{OUT}, f(m));
        dev.peft4j.kernels.WeightMatrix q = dev.peft4j.kernels.WeightMatrix.of(f(w), OUT, IN).convert(type);
        assertEquals(type, q.type(), "the base stays in its stored type");
        float[] wf = q.toF32();
        w = d(wf); // the reference sees the values the kernels decode
        long salt = 1, seed = 11;
        LoraHook hook = type == dev.peft4j.kernels.quant.GgmlType.F32
                ? new LoraHook(pa, pb, pm, wf, IN, OUT, R, S, dropout, salt)
                : new LoraHook(pa, pb, pm, frozen(q), IN, OUT, R, S, dropout, salt);
        // the hook's dropout mask: the same stream it draws (seed ^ salt), 0 or 1/(1 − p) per element
        double[] keep = new double[N * IN];
        SplittableRandom masks = new SplittableRandom(seed ^ salt);
        for (int i = 0; i < keep.length; i++) keep[i] = dropout == 0 ? 1 : masks.nextFloat() < (float) dropout ? 0 : 1f / (1f - (float) dropout);
        // y = x·Wᵀ as the model's base computes it, then the hook
        float[] y = new float[N * OUT];
        for (int i = 0; i < N; i++) for (int o = 0; o < OUT; o++) {
            double s = 0;
            for (int k = 0; k < IN; k++) s += x[i * IN + k] * w[o * IN + k];
            y[i * OUT + o] = (float) s;
        }
        hook.forward(f(x), y, N, new Pass(true, seed));
        double[] norm = norms(w, a, b);
        double got = 0;
        for (int j = 0; j < N * OUT; j++) got += g[j] * y[j];
        double want = reference(x, keep, w, a, b, m, norm, g);
        assertEquals(want, got, 1e-5 * Math.abs(want), "forward");
        // backward: the base adds dy·W to dx, the hook the rest
        float[] dx = new float[N * IN];
        for (int i = 0; i < N; i++) for (int k = 0; k < IN; k++) {
            double s = 0;
            for (int o = 0; o < OUT; o++) s += g[i * OUT + o] * w[o * IN + k];
            dx[i * IN + k] = (float) s;
        }
        hook.backward(f(x), f(g), dx, N);
        double worst = 0;
        double[][] values = {a, b, m, x};
        float[][] grads = {pa.grad(), pb.grad(), pm.grad(), dx};
        String[] names = {"A", "B", "m", "x"};
        for (int p = 0; p < values.length; p++) {
            for (int i = 0; i < values[p].length; i++) {
                double old = values[p][i], h = 1e-6;
                values[p][i] = old + h;
                double up = reference(x, keep, w, a, b, m, norm, g);
                values[p][i] = old - h;
                double down = reference(x, keep, w, a, b, m, norm, g);
                values[p][i] = old;
                double fd = (up - down) / (2 * h);
                double err = Math.abs(fd - grads[p][i]) / Math.max(1, Math.abs(fd));
                worst = Math.max(worst, err);
                assertEquals(fd, grads[p][i], 1e-4 * Math.max(1, Math.abs(fd)), names[p] + "[" + i + "]");
            }
        }
        System.out.printf("DoRA linear, " + type + " base, dropout " + dropout + ": forward %.9f vs double %.9f; gradients of A, B, m, x vs double central differences (norm detached): worst %.2e (tol 1e-4)%n",
                got, want, worst);
    }

    @Test
    void mergeGivesTheUnmergedOutputAndUnmergeRestoresTheBase() {
        LlamaWeights w = base();
        float[] before = w.wv[1].f32().clone();
        PeftModel m = new PeftModel(w, 3);
        var dora = m.install(method(), LoraConfig.of(4, 8, List.of("v_proj", "down_proj")).withDora(true));
        randomize(m, 5);
        int[] tokens = batch(model(), 1, 8, 2).inputs();
        float[][] want = m.inferenceModel().forwardAll(tokens);
        dora.adapter().merge();
        float[][] got = m.inferenceModel().forwardAll(tokens);
        for (int t = 0; t < tokens.length; t++) assertArrayEquals(want[t], got[t], 2e-4f, "merged, position " + t);
        assertTrue(!java.util.Arrays.equals(before, w.wv[1].f32()), "the merge changed the weight");
        dora.adapter().unmerge();
        assertArrayEquals(before, w.wv[1].f32(), 1e-5f, "unmerged");
    }

    /**
     * Merging into a BF16 / Q8_0 / Q4_0 base: the merged site's weight becomes float32 (it holds values its stored type
     * cannot), the merged model gives the unmerged output, and unmerging restores the dequantised base.
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.EnumSource(value = dev.peft4j.kernels.quant.GgmlType.class, names = {"BF16", "Q8_0", "Q4_0"})
    void mergeAndUnmergeOnACompressedBase(dev.peft4j.kernels.quant.GgmlType type) {
        LlamaConfig wide = LlamaConfig.of(32, 64, 2, 4, 2, 20, 12, false); // Q8_0 blocks are 32 wide
        LlamaWeights w = LlamaWeights.random(wide, 41, 0.3f).convertBase(type);
        float[] before = w.toFloat32("model.layers.1.self_attn.v_proj.weight").clone(); // the dequantised values
        PeftModel m = new PeftModel(w, 3);
        var dora = m.install(method(), LoraConfig.of(4, 8, List.of("v_proj", "down_proj")).withDora(true));
        randomize(m, 5);
        int[] tokens = batch(wide, 1, 8, 2).inputs();
        float[][] want = m.inferenceModel().forwardAll(tokens);
        dora.adapter().merge();
        assertEquals(dev.peft4j.kernels.quant.GgmlType.F32, w.wv[1].type(), "a merged site is float32");
        assertEquals(type, w.wq[1].type(), "a site without the adapter stays " + type);
        float[][] got = m.inferenceModel().forwardAll(tokens);
        for (int t = 0; t < tokens.length; t++) assertArrayEquals(want[t], got[t], 2e-4f, type + " merged, position " + t);
        assertTrue(!java.util.Arrays.equals(before, w.wv[1].f32()), "the merge changed the weight");
        dora.adapter().unmerge();
        assertArrayEquals(before, w.wv[1].f32(), 1e-5f, type + " unmerged");
        float[][] again = m.inferenceModel().forwardAll(tokens);
        for (int t = 0; t < tokens.length; t++) assertArrayEquals(want[t], again[t], 1e-4f, type + " unmerged, position " + t);
    }

    /** A compressed weight as the frozen linear a DoRA hook reads (through FrozenMatmulCpu, as the model's base). */
    private static dev.peft4j.api.FrozenLinear frozen(dev.peft4j.kernels.WeightMatrix q) {
        return new dev.peft4j.api.FrozenLinear() {
            @Override public int in() { return q.cols(); }
            @Override public int out() { return q.rows(); }
            @Override public void forward(float[] y, int yOff, float[] xx, int xOff, int nn) { dev.peft4j.kernels.FrozenMatmulCpu.forward(y, yOff, xx, xOff, q, nn); }
            @Override public void backwardInput(float[] dx, int dxOff, float[] dy, int dyOff, int nn) { dev.peft4j.kernels.FrozenMatmulCpu.backwardInput(dx, dxOff, dy, dyOff, q, nn); }
            @Override public void decodeRows(int r0, int r1, float[] dst, int dstOff) { q.decode(r0, r1, 0, q.cols(), dst, dstOff, q.cols()); }
        };
    }

    /** DoRA on a BF16 / Q8_0 / Q4_0 base (read in place by FrozenMatmulCpu) = DoRA on the float32 twin holding its dequantised values. */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.EnumSource(value = dev.peft4j.kernels.quant.GgmlType.class, names = {"BF16", "Q8_0", "Q4_0"})
    void aCompressedBaseGivesTheOutputAndGradientsOfItsDequantisedFloat32Twin(dev.peft4j.kernels.quant.GgmlType type) {
        int n = 3, in = 64, out = 6, r = 2;
        SplittableRandom rng = new SplittableRandom(5);
        float[] w = f(random(rng, out * in)), a = f(random(rng, r * in)), b = f(random(rng, out * r)), x = f(random(rng, n * in)), g = f(random(rng, n * out));
        float[] m = f(random(rng, out));
        for (int o = 0; o < out; o++) m[o] = 1 + Math.abs(m[o]);
        dev.peft4j.kernels.WeightMatrix q = dev.peft4j.kernels.WeightMatrix.of(w, out, in).convert(type);
        assertEquals(type, q.type(), "the base stays in its stored type");
        float[] twin = q.toF32();
        dev.peft4j.api.FrozenLinear compressed = frozen(q);
        float[][] ys = new float[2][], dxs = new float[2][], ga = new float[2][], gb = new float[2][], gm = new float[2][];
        for (int side = 0; side < 2; side++) {
            Parameter pa = new Parameter("A", new int[]{r, in}, a.clone()), pb = new Parameter("B", new int[]{out, r}, b.clone()), pm = new Parameter("m", new int[]{out}, m.clone());
            LoraHook hook = side == 0 ? new LoraHook(pa, pb, pm, compressed, in, out, r, S, 0.0, 1)
                    : new LoraHook(pa, pb, pm, twin, in, out, r, S, 0.0, 1);
            float[] y = new float[n * out];
            dev.peft4j.kernels.MatmulCpu.forward(y, 0, x, 0, twin, 0, n, in, out);
            hook.forward(x, y, n, new Pass(true, 3));
            float[] dx = new float[n * in];
            hook.backward(x, g, dx, n);
            ys[side] = y; dxs[side] = dx; ga[side] = pa.grad(); gb[side] = pb.grad(); gm[side] = pm.grad();
        }
        float[][][] pairs = {ys, dxs, ga, gb, gm};
        String[] names = {"y", "dx", "dA", "dB", "dm"};
        for (int k = 0; k < pairs.length; k++) {
            double max = 0;
            for (float v : pairs[k][1]) max = Math.max(max, Math.abs(v));
            assertTrue(max > 0, names[k] + " is not all zero");
            for (int i = 0; i < pairs[k][0].length; i++)
                assertEquals(pairs[k][1][i], pairs[k][0][i], 1e-5 * max, type + " " + names[k] + "[" + i + "]");
        }
    }

}
