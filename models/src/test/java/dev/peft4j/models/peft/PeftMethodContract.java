package dev.peft4j.models.peft;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.peft4j.api.Parameter;
import dev.peft4j.api.PeftConfig;
import dev.peft4j.api.PeftMethod;
import dev.peft4j.models.LlamaConfig;
import dev.peft4j.models.LlamaWeights;
import dev.peft4j.models.train.AdamWOptimizer;
import dev.peft4j.models.train.Batch;
import dev.peft4j.models.train.LlamaTrainer;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The contract every PEFT method's test extends (as Hugging Face PEFT's testing_common does for
 * its tuners): output unchanged at init where the method promises it, gradients of the method's
 * parameters against finite differences, the base model frozen, and a save/load round trip.
 */
public abstract class PeftMethodContract<C extends PeftConfig> {
    /** The method under test. */
    protected abstract PeftMethod<C> method();

    /** A config for {@link #config()}'s model. */
    protected abstract C config(LlamaConfig model);

    /** Whether the freshly installed method leaves the model's output exactly unchanged. */
    protected boolean unchangedAtInit() {
        return true;
    }

    /** The tiny model the contract runs on: GQA, untied, 2 layers. */
    protected LlamaConfig model() {
        return LlamaConfig.of(16, 24, 2, 4, 2, 20, 12, false);
    }

    protected final PeftMethods methods = discover();

    /**
     * Where the method is found: the class path (a plugin loaded from a jar overrides this with its plugins
     * directory). Called while the contract is constructed: an override may use only static state.
     */
    protected PeftMethods discover() {
        return PeftMethods.discover(null);
    }

    /**
     * Whether a parameter's gradient is the loss's true derivative, so finite differences can check it. DoRA's
     * A and B are not: the row norm is detached by design (its own test checks them against differences with the
     * norm held constant).
     */
    protected boolean trueGradient(Parameter p) {
        return true;
    }

    protected LlamaWeights base() {
        return LlamaWeights.random(model(), 31, 0.3f);
    }

    protected static Batch batch(LlamaConfig c, int B, int T, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] in = new int[B * T], tg = new int[B * T];
        float[] w = new float[B * T];
        for (int i = 0; i < B * T; i++) {
            in[i] = r.nextInt(c.vocabSize());
            tg[i] = r.nextInt(c.vocabSize());
            w[i] = i % T < 2 ? 0f : 1f;
        }
        return new Batch(B, T, in, tg, w);
    }

    /** Sets every parameter of the adapters to random values, so gradients reach every part. */
    protected static void randomize(PeftModel m, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        for (Parameter p : m.trainableParameters()) for (int i = 0; i < p.size(); i++) p.data()[i] = (float) (r.nextGaussian() * 0.3);
    }

    @Test
    void isDiscoveredByName() {
        assertEquals(method().getClass(), methods.get(method().name()).getClass());
    }

    @Test
    void outputIsUnchangedAtInit() {
        Assumptions.assumeTrue(unchangedAtInit(), () -> method().name() + " changes the output at init by design");
        LlamaWeights w = base();
        int[] tokens = batch(model(), 1, 10, 3).inputs();
        float[][] plain = new dev.peft4j.models.LlamaModel(w).forwardAll(tokens);
        PeftModel m = new PeftModel(w, 5);
        m.install(method(), config(model()));
        float[][] adapted = m.inferenceModel().forwardAll(tokens);
        for (int t = 0; t < tokens.length; t++) assertArrayEquals(plain[t], adapted[t], 1e-6f, "position " + t);
    }

    @Test
    void gradientsMatchFiniteDifferences() {
        LlamaWeights w = base();
        PeftModel m = new PeftModel(w, 5);
        m.install(method(), config(model()));
        randomize(m, 9);
        Batch b = batch(model(), 2, 6, 4);
        LlamaTrainer trainer = m.trainer(2, 6, false);
        trainer.forwardBackward(b);
        List<Parameter> params = m.trainableParameters();
        assertFalse(params.isEmpty());
        SplittableRandom r = new SplittableRandom(1);
        double worst = 0;
        int checked = 0;
        for (Parameter p : params) {
            if (!trueGradient(p)) continue;
            checked++;
            double gmax = 0;
            for (float g : p.grad()) gmax = Math.max(gmax, Math.abs(g));
            for (int trial = 0; trial < 4; trial++) {
                int i = r.nextInt(p.size());
                float old = p.data()[i];
                // h = 2e-2: the float32 loss's rounding (~1e-6 of ~10, divided by 2h) is what limits small gradients
                // (an adaption prompt's under one gate per layer sat at 0.9 of the tolerance with 1e-2, and over it once
                // attention summed in another order); the truncation error this h adds stays under 7e-3 (LoRA's worst)
                float h = 2e-2f;
                p.data()[i] = old + h;
                double up = trainer.loss(b);
                p.data()[i] = old - h;
                double down = trainer.loss(b);
                p.data()[i] = old;
                double fd = (up - down) / (2 * h);
                double err = Math.abs(fd - p.grad()[i]) / Math.max(gmax, 1e-4);
                worst = Math.max(worst, err);
                // float32 forward: central differences with h = 1e-2 are good to ~1e-3 of the largest gradient
                assertEquals(fd, p.grad()[i], 1e-2 * Math.max(gmax, 1e-4), p.name() + "[" + i + "]");
            }
        }
        assertTrue(checked > 0, "some parameter is checked");
        System.out.printf("%s: %d of %d parameters, gradients vs finite differences: worst %.2e of the max gradient (tol 1e-2, float32 differences)%n",
                method().name(), checked, params.size(), worst);
    }

    @Test
    void baseWeightsStayFrozen() {
        Assumptions.assumeFalse(method().exclusive(), () -> method().name() + " trains the base weights themselves");
        LlamaWeights w = base();
        List<float[]> before = w.tensors().stream().map(t -> t.data().clone()).toList();
        PeftModel m = new PeftModel(w, 5);
        m.install(method(), config(model()));
        randomize(m, 2);
        LlamaTrainer trainer = m.trainer(2, 6, false);
        assertTrue(trainer.parameters().isEmpty(), "no base tensor gets a gradient");
        AdamWOptimizer opt = new AdamWOptimizer(m.trainableParameters(), 0.9f, 0.999f, 1e-8f, 0.01f, 1.0);
        double first = 0, last = 0;
        for (int step = 0; step < 3; step++) {
            last = trainer.forwardBackward(batch(model(), 2, 6, 4));
            if (step == 0) first = last;
            opt.step(1e-2, 1);
        }
        assertTrue(last < first, "training lowers the loss: " + first + " -> " + last);
        List<LlamaWeights.Tensor> after = w.tensors();
        for (int i = 0; i < after.size(); i++) assertArrayEquals(before.get(i), after.get(i).data(), after.get(i).name() + " changed");
    }

    @Test
    void saveAndLoadRestoreTheSameModel(@TempDir Path dir) throws Exception {
        Assumptions.assumeFalse(method().exclusive(), () -> method().name() + " saves a full checkpoint, not an adapter");
        LlamaWeights w = base();
        PeftModel m = new PeftModel(w, 5);
        m.install(method(), config(model()));
        randomize(m, 8);
        int[] tokens = batch(model(), 1, 9, 6).inputs();
        float[][] want = m.inferenceModel().forwardAll(tokens);
        AdapterFiles.saveAll(m, dir, methods, "tiny-test-model");
        PeftModel loaded = new PeftModel(w, 99);
        AdapterFiles.load(loaded, dir, methods);
        float[][] got = loaded.inferenceModel().forwardAll(tokens);
        for (int t = 0; t < tokens.length; t++) assertArrayEquals(want[t], got[t], "position " + t);
    }
}
