package dev.peft4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.peft4j.api.Parameter;
import dev.peft4j.api.PeftConfig;
import dev.peft4j.api.PeftMethod;
import dev.peft4j.api.io.Safetensors;
import dev.peft4j.models.LlamaWeights;
import dev.peft4j.models.io.Checkpoints;
import dev.peft4j.models.peft.AdapterFiles;
import dev.peft4j.models.peft.PeftMethods;
import dev.peft4j.models.peft.PeftModel;
import dev.peft4j.models.testplugin.Ia3Plugin;
import dev.peft4j.models.train.AdamWOptimizer;
import dev.peft4j.models.train.Batch;
import dev.peft4j.models.train.LlamaTrainer;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The IA³ plugin (a jar the tests build) against the real Hugging Face PEFT 0.21's {@code IA3}, on the tiny GQA
 * LLaMA of {@link HfPeftInteropTest}: fixtures of {@code models/src/test/golden/make_golden_hf_peft_ia3.py}. PEFT's
 * adapters load with PEFT's float64 loss (1e-6 relative) and gradients (1e-4 of the largest); the adapters peft4j
 * trains are written to {@code target/peft4j-written-ia3/} with peft4j's loss for that script's {@code --check}.
 */
class Ia3HfPeftTest {
    private static final double LOSS_RTOL = 1e-6, GRAD_RTOL = 1e-4;
    private static final PeftMethods METHODS = PeftMethods.discover(Ia3Plugin.dir());

    private static Path fixture(String relative) {
        try {
            return Path.of(Ia3HfPeftTest.class.getResource("/" + relative).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    private static Batch batch() {
        try (Safetensors st = Safetensors.open(fixture("hfpeft/batch.safetensors"))) {
            float[] in = st.readFloats("inputs"), tg = st.readFloats("targets"), mask = st.readFloats("mask");
            int[] inputs = new int[in.length], targets = new int[tg.length];
            for (int i = 0; i < in.length; i++) {
                inputs[i] = Math.round(in[i]);
                targets[i] = Math.round(tg[i]);
            }
            return new Batch(2, 8, inputs, targets, mask);
        }
    }

    private static LlamaWeights base() {
        return Checkpoints.load(fixture("hfpeft/base"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"ia3_default", "ia3_q_o_up"})
    void peftsIa3AdaptersLoadWithPeftsLossAndGradients(String name) {
        PeftModel m = new PeftModel(base(), 0);
        AdapterFiles.load(m, fixture("hfpeft-ia3/" + name + "/adapter"), METHODS);
        assertEquals("ia3", m.adapters().values().iterator().next().method().name(), "found by peft_type IA3 in the plugin jar");
        LlamaTrainer trainer = m.trainer(2, 8, false);
        double loss = trainer.forwardBackward(batch());
        try (Safetensors want = Safetensors.open(fixture("hfpeft-ia3/" + name + "/expected.safetensors"))) {
            double expected = want.readFloats("loss")[0];
            double rel = Math.abs(loss - expected) / Math.abs(expected);
            long grads = want.names().stream().filter(n -> n.startsWith("grad.")).count();
            assertEquals(grads, m.trainableParameters().size(), "PEFT and peft4j train the same vectors");
            double worst = 0;
            String worstName = null;
            for (Parameter p : m.trainableParameters()) {
                assertTrue(want.names().contains("grad." + p.name()), name + ": PEFT has no gradient for " + p.name());
                float[] g = want.readFloats("grad." + p.name());
                assertEquals(g.length, p.size(), p.name());
                double max = 0, diff = 0;
                for (int i = 0; i < g.length; i++) {
                    max = Math.max(max, Math.abs(g[i]));
                    diff = Math.max(diff, Math.abs(g[i] - p.grad()[i]));
                }
                if (diff / max > worst) worstName = p.name();
                worst = Math.max(worst, diff / max);
            }
            System.out.printf("%s: loss %.9f vs PEFT %.9f (relative %.1e, tol %.0e); %d gradients, worst %.1e of the max (%s; tol %.0e)%n",
                    name, loss, expected, rel, LOSS_RTOL, grads, worst, worstName, GRAD_RTOL);
            assertTrue(rel <= LOSS_RTOL, name + ": loss " + loss + " vs PEFT's " + expected);
            assertTrue(worst <= GRAD_RTOL, name + ": gradient of " + worstName + " differs by " + worst + " of its largest value");
        }
    }

    @SuppressWarnings("unchecked")
    @Test
    void writesIa3AdaptersThatPeftLoads() throws Exception {
        Batch b = batch();
        for (String name : new String[]{"ia3_default", "w1_peft4j_ia3"}) {
            PeftModel m = new PeftModel(base(), 4);
            if (name.startsWith("w")) {
                PeftMethod<PeftConfig> ia3 = (PeftMethod<PeftConfig>) METHODS.get("ia3");
                m.install(ia3, METHODS.readConfig(ia3, "{\"peft_type\": \"IA3\", \"target_modules\": [\"v_proj\", \"gate_proj\", \"down_proj\"],"
                        + " \"feedforward_modules\": [\"gate_proj\", \"down_proj\"]}", "test"));
                SplittableRandom r = new SplittableRandom(3);
                for (Parameter p : m.trainableParameters()) for (int i = 0; i < p.size(); i++) p.data()[i] = (float) (1 + 0.3 * r.nextGaussian());
            } else {
                AdapterFiles.load(m, fixture("hfpeft-ia3/" + name + "/adapter"), METHODS);
            }
            LlamaTrainer trainer = m.trainer(2, 8, false);
            AdamWOptimizer opt = new AdamWOptimizer(m.trainableParameters(), 0.9f, 0.999f, 1e-8f, 0.0f, 1.0);
            double first = 0;
            for (int step = 0; step < 2; step++) {
                double l = trainer.forwardBackward(b);
                if (step == 0) first = l;
                opt.step(1e-2, 1);
            }
            double loss = trainer.loss(b);
            assertTrue(loss < first, name + ": training lowers the loss " + first + " -> " + loss);
            Path dir = Path.of("target", "peft4j-written-ia3", name);
            AdapterFiles.saveAll(m, dir.resolve("adapter"), METHODS, null);
            Files.writeString(dir.resolve("peft4j.json"), "{\"loss\": " + loss + ", \"peft_must_refuse\": false}\n");
            PeftModel again = new PeftModel(base(), 3);
            AdapterFiles.load(again, dir.resolve("adapter"), METHODS);
            assertEquals(loss, again.trainer(2, 8, false).loss(b), 1e-6 * loss, name + " read back");
        }
    }
}
