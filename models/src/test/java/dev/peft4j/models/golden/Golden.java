package dev.peft4j.models.golden;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.peft4j.api.Parameter;
import dev.peft4j.api.io.Safetensors;
import dev.peft4j.models.LlamaWeights;
import dev.peft4j.models.peft.PeftModel;
import dev.peft4j.models.train.AdamWOptimizer;
import dev.peft4j.models.train.Batch;
import dev.peft4j.models.train.LlamaTrainer;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;

/**
 * What the golden tests share (in the models test-jar, so the plugin modules' golden tests use it
 * too): fixtures by resource path, ids stored as floats, the llm.c-style evidence check, and the
 * PEFT training comparison against {@code make_golden_peft.py}'s fixtures.
 */
public final class Golden {
    /** The tolerance of losses, gradients and norms: max |diff| / max |expected| per tensor. */
    public static final double RTOL = 1e-4;
    /**
     * The parameters after five steps: Adam divides by √v, so an element whose gradient is near zero
     * at some step turns float32 rounding of that gradient into a visible change of its update.
     */
    public static final double FINAL_RTOL = 1e-3;

    private Golden() {}

    /** A fixture under {@code /golden/} of the test resources next to {@code anchor}. */
    public static Path resource(Class<?> anchor, String relative) {
        try {
            return Path.of(anchor.getResource("/golden/" + relative).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Token ids stored as F32. */
    public static int[] ids(float[] f) {
        int[] out = new int[f.length];
        for (int i = 0; i < f.length; i++) out[i] = (int) f[i];
        return out;
    }

    /** Prints the evidence and checks max |got − want| / max |want| ≤ tol. */
    public static void check(String what, float[] got, float[] want, double tol) {
        assertEquals(want.length, got.length, what + ": sizes");
        double scale = 0, diff = 0;
        for (int i = 0; i < want.length; i++) {
            scale = Math.max(scale, Math.abs(want[i]));
            diff = Math.max(diff, Math.abs(got[i] - want[i]));
        }
        double rel = diff / Math.max(scale, 1e-30);
        System.out.printf("  %-72s first %+.6f vs %+.6f  max diff %.2e  rel %.2e  (tol %.0e) %s%n",
                what, got[0], want[0], diff, rel, tol, rel <= tol ? "OK" : "NOT OK");
        assertTrue(rel <= tol, what + ": relative difference " + rel + " > " + tol);
    }

    /**
     * Loads the fixture's initial values into the model's trainable parameters, then checks one
     * backward and five AdamW steps against the fixture, and that the base did not move.
     */
    public static void trainAndCompare(PeftModel m, Class<?> anchor, String name) {
        LlamaWeights base = m.base();
        List<float[]> before = base.tensors().stream().map(t -> t.weight().toF32().clone()).toList();
        try (Safetensors exp = Safetensors.open(resource(anchor, name + "/expected.safetensors"))) {
            long[] shape = exp.shape("inputs");
            int B = (int) shape[0], T = (int) shape[1];
            Batch batch = new Batch(B, T, ids(exp.readFloats("inputs")), ids(exp.readFloats("targets")), exp.readFloats("mask"));
            System.out.printf("golden PEFT training %s (%d x %d):%n", name, B, T);

            List<Parameter> params = m.trainableParameters();
            Set<String> fixture = exp.names().stream().filter(n -> n.startsWith("init.")).map(n -> n.substring("init.".length()))
                    .collect(Collectors.toCollection(TreeSet::new));
            Set<String> installed = params.stream().map(Parameter::name).collect(Collectors.toCollection(TreeSet::new));
            assertEquals(fixture, installed, "the installed methods' parameters are exactly the fixture's");
            for (Parameter p : params) {
                assertArrayEquals(exp.shape("init." + p.name()), Arrays.stream(p.shape()).asLongStream().toArray(), p.name());
                exp.readFloats("init." + p.name(), p.data());
            }

            LlamaTrainer trainer = m.trainer(B, T, false);
            assertTrue(trainer.parameters().isEmpty(), "the base is frozen");
            check("loss", new float[]{(float) trainer.forwardBackward(batch)}, exp.readFloats("loss"), RTOL);
            for (Parameter p : params) check("grad." + p.name(), p.grad(), exp.readFloats("grad." + p.name()), RTOL);

            for (Parameter p : params) p.zeroGrad();
            AdamWOptimizer opt = new AdamWOptimizer(params, 0.9f, 0.95f, 1e-8f, 0.1f, 1.0);
            float[] losses = new float[5], norms = new float[5];
            for (int step = 0; step < 5; step++) {
                losses[step] = (float) trainer.forwardBackward(batch);
                norms[step] = (float) opt.step(1e-2, 1);
            }
            check("losses before each of 5 steps", losses, exp.readFloats("losses"), RTOL);
            check("gradient norms before clipping", norms, exp.readFloats("grad_norms"), RTOL);
            check("final loss", new float[]{(float) trainer.loss(batch)}, exp.readFloats("final_loss"), RTOL);
            for (Parameter p : params) check("final." + p.name(), p.data(), exp.readFloats("final." + p.name()), FINAL_RTOL);
        }
        List<LlamaWeights.Tensor> after = base.tensors();
        for (int i = 0; i < after.size(); i++) assertArrayEquals(before.get(i), after.get(i).weight().toF32(), "base tensor " + after.get(i).name() + " moved");
        System.out.printf("  base weights: %d tensors bit-for-bit unchanged%n", after.size());
    }

}
