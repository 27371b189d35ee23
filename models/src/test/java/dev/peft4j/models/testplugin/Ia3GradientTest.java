package dev.peft4j.models.testplugin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.peft4j.api.Parameter;
import dev.peft4j.api.PeftConfig;
import dev.peft4j.api.PeftMethod;
import dev.peft4j.models.LlamaConfig;
import dev.peft4j.models.LlamaWeights;
import dev.peft4j.models.peft.PeftMethods;
import dev.peft4j.models.peft.PeftModel;
import dev.peft4j.models.train.Batch;
import dev.peft4j.models.train.DoubleLlama;
import dev.peft4j.models.train.LlamaTrainer;
import java.util.Locale;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The IA³ plugin's gradients (through the SPI's input and output maps, with and without recomputed activations)
 * against central finite differences of an independent double-precision LLaMA with the same scales
 * ({@link DoubleLlama}): every element of every vector, and the loss itself.
 */
class Ia3GradientTest {
    private static final LlamaConfig C = LlamaConfig.of(16, 24, 2, 4, 2, 20, 12, false); // GQA, untied
    private static final String PREFIX = "base_model.model.", SUFFIX = ".ia3_l";

    @SuppressWarnings("unchecked")
    private static final PeftMethod<PeftConfig> IA3 = (PeftMethod<PeftConfig>) PeftMethods.discover(Ia3Plugin.dir()).get("ia3");

    private static Batch batch(int B, int T, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] in = new int[B * T], tg = new int[B * T];
        float[] w = new float[B * T];
        for (int i = 0; i < B * T; i++) {
            in[i] = r.nextInt(C.vocabSize());
            tg[i] = r.nextInt(C.vocabSize());
            w[i] = i % T < 2 ? 0f : 1f;
        }
        return new Batch(B, T, in, tg, w);
    }

    /** The double model's scales, from the adapter's current values: [1][in] scales the input, [out][1] the output. */
    private static void scales(DoubleLlama d, PeftModel m) {
        d.inputScale.clear();
        d.outputScale.clear();
        for (Parameter p : m.trainableParameters()) {
            String path = p.name().substring(PREFIX.length(), p.name().length() - SUFFIX.length());
            double[] s = new double[p.size()];
            for (int i = 0; i < s.length; i++) s[i] = p.data()[i];
            (p.shape()[0] == 1 ? d.inputScale : d.outputScale).put(path, s);
        }
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void gradientsMatchDoublePrecisionFiniteDifferences(boolean recompute) {
        LlamaWeights w = LlamaWeights.random(C, 41, 0.3f);
        PeftModel m = new PeftModel(w, 5);
        m.install(IA3, IA3.defaultConfig());
        SplittableRandom r = new SplittableRandom(7);
        for (Parameter p : m.trainableParameters()) for (int i = 0; i < p.size(); i++) p.data()[i] = (float) (1 + 0.4 * r.nextGaussian());
        Batch b = batch(2, 6, 3);
        LlamaTrainer trainer = m.trainer(2, 6, recompute);
        double loss = trainer.forwardBackward(b);

        DoubleLlama d = new DoubleLlama(w);
        scales(d, m);
        double exact = d.loss(b);
        System.out.printf(Locale.ROOT, "ia3 (recompute %b): loss %.9f, double %.9f, relative difference %.1e (tol 1e-5)%n",
                recompute, loss, exact, Math.abs(loss - exact) / exact);
        assertEquals(exact, loss, 1e-5 * exact, "the float32 trainer's loss against the double model's");

        double h = 1e-5, worst = 0;
        int checked = 0;
        for (Parameter p : m.trainableParameters()) {
            String path = p.name().substring(PREFIX.length(), p.name().length() - SUFFIX.length());
            double[] s = (p.shape()[0] == 1 ? d.inputScale : d.outputScale).get(path);
            double gmax = 0;
            for (float g : p.grad()) gmax = Math.max(gmax, Math.abs(g));
            assertTrue(gmax > 0, p.name() + " gets a gradient");
            for (int i = 0; i < p.size(); i++) {
                double old = s[i];
                s[i] = old + h;
                double up = d.loss(b);
                s[i] = old - h;
                double down = d.loss(b);
                s[i] = old;
                double fd = (up - down) / (2 * h);
                worst = Math.max(worst, Math.abs(fd - p.grad()[i]) / gmax);
                // float32 gradients against exact differences: 1e-4 of the tensor's largest gradient
                assertEquals(fd, p.grad()[i], 1e-4 * gmax, p.name() + "[" + i + "]");
                checked++;
            }
        }
        System.out.printf(Locale.ROOT, "ia3 (recompute %b): %d elements of %d vectors vs double finite differences (h %.0e): worst %.2e "
                + "of the tensor's max gradient (tol 1e-4); first %s = %.6f%n", recompute, checked, m.trainableParameters().size(), h, worst,
                m.trainableParameters().get(0).name(), m.trainableParameters().get(0).grad()[0]);
        assertEquals(2 * (8 + 8 + 24), checked, "k_proj, v_proj [kvDim] and down_proj [hidden] in both layers");
    }
}
