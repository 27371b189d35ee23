package dev.peft4j.models.peft;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.peft4j.api.Adapter;
import dev.peft4j.api.InstallContext;
import dev.peft4j.api.LinearMapHook;
import dev.peft4j.api.LinearSite;
import dev.peft4j.api.LinearSite.Kind;
import dev.peft4j.api.ParamSpec;
import dev.peft4j.api.Parameter;
import dev.peft4j.api.Pass;
import dev.peft4j.api.PeftConfig;
import dev.peft4j.api.PeftMethod;
import dev.peft4j.models.LlamaConfig;
import dev.peft4j.models.LlamaWeights;
import dev.peft4j.models.train.Batch;
import dev.peft4j.models.train.DoubleLlama;
import dev.peft4j.models.train.LlamaTrainer;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The SPI's input and output maps ({@link LinearMapHook}) as the trainer and the inference model run them, where a
 * method stacks them: two output maps at one site, two input maps at one site, an input and an output map at one
 * site. Scales compose to one scale per site, which {@link DoubleLlama} computes in double: the loss of the trainer
 * and of the inference model, and every gradient against central differences of that model (the chain rule through
 * the product of the two scales).
 */
class LinearMapsTest {
    private static final LlamaConfig C = LlamaConfig.of(16, 24, 2, 4, 2, 20, 12, false);

    /** k0 = ((x·Wkᵀ) ⊙ a) ⊙ b ;  up0 = (x ⊙ e ⊙ f)·Wupᵀ ;  down1 = ((h ⊙ c)·Wdownᵀ) ⊙ d. */
    static final class Stacked implements PeftMethod<Stacked.Config> {
        record Config(String peftType) implements PeftConfig {}

        @Override public String name() { return "stacked-maps"; }
        @Override public String version() { return "test"; }
        @Override public String description() { return "maps stacked at linear sites"; }
        @Override public String peftType() { return "STACKED_MAPS"; }
        @Override public Class<Config> configType() { return Config.class; }
        @Override public Config defaultConfig() { return new Config("STACKED_MAPS"); }

        @Override
        public Adapter install(Config config, InstallContext ctx) {
            List<Parameter> ps = new ArrayList<>();
            LinearSite k0 = new LinearSite(0, Kind.K), up0 = new LinearSite(0, Kind.UP), down1 = new LinearSite(1, Kind.DOWN);
            ctx.addLinearOutputHook(k0, scale(ctx, ps, "a", k0.out(ctx.model())));
            ctx.addLinearOutputHook(k0, scale(ctx, ps, "b", k0.out(ctx.model())));
            ctx.addLinearInputHook(up0, scale(ctx, ps, "e", up0.in(ctx.model())));
            ctx.addLinearInputHook(up0, scale(ctx, ps, "f", up0.in(ctx.model())));
            ctx.addLinearInputHook(down1, scale(ctx, ps, "c", down1.in(ctx.model())));
            ctx.addLinearOutputHook(down1, scale(ctx, ps, "d", down1.out(ctx.model())));
            return new Adapter() {
                @Override public PeftConfig config() { return config; }
                @Override public List<Parameter> parameters() { return ps; }
            };
        }

        private static LinearMapHook scale(InstallContext ctx, List<Parameter> ps, String name, int width) {
            Parameter l = ctx.trainable(new ParamSpec(name, new int[]{width}, new ParamSpec.Init.Constant(1f)));
            ps.add(l);
            return new LinearMapHook() {
                @Override public void forward(float[] in, float[] out, int n, Pass pass) {
                    for (int i = 0; i < n * width; i++) out[i] = in[i] * l.data()[i % width];
                }

                @Override public void backward(float[] in, float[] dOut, float[] dIn, int n) {
                    for (int i = 0; i < n * width; i++) {
                        dIn[i] += dOut[i] * l.data()[i % width];
                        l.grad()[i % width] += dOut[i] * in[i];
                    }
                }
            };
        }
    }

    private static Batch batch() {
        SplittableRandom r = new SplittableRandom(5);
        int B = 2, T = 6;
        int[] in = new int[B * T], tg = new int[B * T];
        float[] w = new float[B * T];
        for (int i = 0; i < B * T; i++) {
            in[i] = r.nextInt(C.vocabSize());
            tg[i] = r.nextInt(C.vocabSize());
            w[i] = i % T < 1 ? 0f : 1f;
        }
        return new Batch(B, T, in, tg, w);
    }

    private static double[] product(Parameter x, Parameter y) {
        double[] s = new double[x.size()];
        for (int i = 0; i < s.length; i++) s[i] = (double) x.data()[i] * y.data()[i];
        return s;
    }

    private static double[] of(Parameter x) {
        double[] s = new double[x.size()];
        for (int i = 0; i < s.length; i++) s[i] = x.data()[i];
        return s;
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void stackedMapsMatchTheDoubleModelAndItsDifferences(boolean recompute) {
        LlamaWeights w = LlamaWeights.random(C, 13, 0.3f);
        PeftModel m = new PeftModel(w, 1);
        m.install(new Stacked(), new Stacked().defaultConfig());
        SplittableRandom r = new SplittableRandom(2);
        for (Parameter p : m.trainableParameters()) for (int i = 0; i < p.size(); i++) p.data()[i] = (float) (1 + 0.4 * r.nextGaussian());
        Parameter a = m.trainableParameters().get(0), b = m.trainableParameters().get(1), e = m.trainableParameters().get(2),
                f = m.trainableParameters().get(3), c = m.trainableParameters().get(4), d = m.trainableParameters().get(5);
        Batch batch = batch();
        double loss = m.trainer(2, 6, recompute).forwardBackward(batch);

        DoubleLlama dl = new DoubleLlama(w);
        String k0 = "model.layers.0.self_attn.k_proj", up0 = "model.layers.0.mlp.up_proj", down1 = "model.layers.1.mlp.down_proj";
        dl.outputScale.put(k0, product(a, b));
        dl.inputScale.put(up0, product(e, f));
        dl.inputScale.put(down1, of(c));
        dl.outputScale.put(down1, of(d));
        double exact = dl.loss(batch);
        assertEquals(exact, loss, 1e-5 * exact, "trainer loss against the double model");

        // the inference model's logits give the same loss
        double sum = 0, weights = 0;
        for (int s = 0; s < 2; s++) {
            float[][] logits = m.inferenceModel().forwardAll(java.util.Arrays.copyOfRange(batch.inputs(), s * 6, s * 6 + 6));
            for (int t = 0; t < 6; t++) {
                double max = Double.NEGATIVE_INFINITY, z = 0;
                for (float v : logits[t]) max = Math.max(max, v);
                for (float v : logits[t]) z += Math.exp(v - max);
                double wt = batch.weights()[s * 6 + t];
                sum += wt * (max + Math.log(z) - logits[t][batch.targets()[s * 6 + t]]);
                weights += wt;
            }
        }
        assertEquals(exact, sum / weights, 1e-5 * exact, "inference model loss against the double model");

        // d loss / d a_j = d loss / d s_j · b_j where s = a ⊙ b (and the same for e, f); c and d directly
        double h = 1e-5, worst = 0;
        Object[][] checks = {{k0, true, a, b}, {k0, true, b, a}, {up0, false, e, f}, {up0, false, f, e}, {down1, false, c, null}, {down1, true, d, null}};
        for (Object[] ch : checks) {
            double[] s = ((Boolean) ch[1] ? dl.outputScale : dl.inputScale).get((String) ch[0]);
            Parameter p = (Parameter) ch[2], other = (Parameter) ch[3];
            double gmax = 0;
            for (float g : p.grad()) gmax = Math.max(gmax, Math.abs(g));
            for (int j = 0; j < s.length; j++) {
                double old = s[j];
                s[j] = old + h;
                double up = dl.loss(batch);
                s[j] = old - h;
                double down = dl.loss(batch);
                s[j] = old;
                double fd = (up - down) / (2 * h) * (other == null ? 1 : other.data()[j]);
                worst = Math.max(worst, Math.abs(fd - p.grad()[j]) / gmax);
                assertEquals(fd, p.grad()[j], 1e-4 * gmax, p.name() + "[" + j + "] at " + ch[0]);
            }
        }
        System.out.printf(Locale.ROOT, "stacked maps (recompute %b): loss %.9f vs double %.9f; gradients vs double differences: worst %.2e of the max (tol 1e-4)%n",
                recompute, loss, exact, worst);
    }
}
