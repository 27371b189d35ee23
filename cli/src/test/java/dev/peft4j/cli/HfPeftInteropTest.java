package dev.peft4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.peft4j.api.Parameter;
import dev.peft4j.api.io.Safetensors;
import dev.peft4j.lora.LoraConfig;
import dev.peft4j.lora.LoraMethod;
import dev.peft4j.models.LlamaWeights;
import dev.peft4j.models.io.Checkpoints;
import dev.peft4j.models.peft.AdapterFiles;
import dev.peft4j.models.peft.PeftMethods;
import dev.peft4j.models.peft.PeftModel;
import dev.peft4j.models.train.AdamWOptimizer;
import dev.peft4j.models.train.Batch;
import dev.peft4j.models.train.LlamaTrainer;
import dev.peft4j.prefix.AdaptionPromptConfig;
import dev.peft4j.prefix.LlamaAdapterMethod;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Adapters both ways with the real Hugging Face PEFT 0.21 (fixtures of {@code models/src/test/golden/make_golden_hf_peft.py}:
 * a tiny GQA LlamaForCausalLM written by transformers 5.18's save_pretrained, adapters by PEFT's): peft4j loads each
 * adapter and matches PEFT's float64 loss within 1e-6 relative and every gradient within 1e-4 of its largest
 * value. The other way, it trains each kind for two steps and writes the adapter with peft4j's loss into
 * {@code target/peft4j-written/}, which that script's {@code --check} loads in {@code PeftModel.from_pretrained}
 * (the per-head LLaMA-Adapter must be refused there); here those files are read back by peft4j.
 */
class HfPeftInteropTest {
    private static final double LOSS_RTOL = 1e-6, GRAD_RTOL = 1e-4;
    private final PeftMethods methods = PeftMethods.discover(null);

    private static Path fixture(String relative) {
        try {
            return Path.of(HfPeftInteropTest.class.getResource("/hfpeft/" + relative).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    private static Batch batch() {
        try (Safetensors st = Safetensors.open(fixture("batch.safetensors"))) {
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
        return Checkpoints.load(fixture("base"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"l1_init_false", "l2_init_orthogonal", "l3_init_eva_named", "l4_patterns_rslora", "l5_layers_exclude",
            "l6_regex_bias_all", "l7_dora", "l8_dora_patterns", "p1_adaption_prompt", "p2_prefix"})
    void peftAdaptersLoadWithPeftsLossAndGradients(String name) {
        PeftModel m = new PeftModel(base(), 0);
        AdapterFiles.load(m, fixture(name + "/adapter"), methods);
        Batch b = batch();
        LlamaTrainer trainer = m.trainer(2, 8, false);
        double loss = trainer.forwardBackward(b);
        try (Safetensors want = Safetensors.open(fixture(name + "/expected.safetensors"))) {
            double expected = want.readFloats("loss")[0];
            double rel = Math.abs(loss - expected) / Math.abs(expected);
            long grads = want.names().stream().filter(n -> n.startsWith("grad.")).count();
            assertEquals(grads, m.trainableParameters().size(), "PEFT and peft4j train the same tensors");
            double worst = 0;
            String worstName = null;
            for (Parameter p : m.trainableParameters()) {
                assertTrue(want.names().contains("grad." + p.name()), name + ": PEFT has no gradient for " + p.name());
                float[] g = want.readFloats("grad." + p.name());
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

    /** Trains two AdamW steps from the loaded values (so the file holds peft4j's numbers), then writes the adapter and its loss. */
    private void writeForPeft(PeftModel m, String name, boolean peftMustRefuse) throws IOException {
        Batch b = batch();
        LlamaTrainer trainer = m.trainer(2, 8, false);
        AdamWOptimizer opt = new AdamWOptimizer(m.trainableParameters(), 0.9f, 0.999f, 1e-8f, 0.0f, 1.0);
        for (int step = 0; step < 2; step++) {
            trainer.forwardBackward(b);
            opt.step(1e-2, 1);
        }
        double loss = trainer.loss(b);
        Path dir = Path.of("target", "peft4j-written", name);
        AdapterFiles.saveAll(m, dir.resolve("adapter"), methods, null);
        Files.writeString(dir.resolve("peft4j.json"), "{\"loss\": " + loss + ", \"peft_must_refuse\": " + peftMustRefuse + "}\n");
        // peft4j reads its own file back to the same loss
        PeftModel again = new PeftModel(base(), 3);
        AdapterFiles.load(again, dir.resolve("adapter"), methods);
        assertEquals(loss, again.trainer(2, 8, false).loss(b), 1e-6 * loss, name + " read back");
    }

    @Test
    void writesAdaptersThatPeftLoads() throws IOException {
        for (String name : List.of("l4_patterns_rslora", "l5_layers_exclude", "l7_dora", "l8_dora_patterns", "p1_adaption_prompt", "p2_prefix")) {
            PeftModel m = new PeftModel(base(), 0);
            AdapterFiles.load(m, fixture(name + "/adapter"), methods);
            writeForPeft(m, name, false);
        }
        // fresh adapters of peft4j's own making: DoRA with patterns, and LLaMA-Adapter with its default gate and the per-head one
        PeftModel dora = new PeftModel(base(), 5);
        dora.install(new LoraMethod(), LoraConfig.of(4, 8, List.of("q_proj", "v_proj", "gate_proj")).withDora(true).withRslora(true)
                .withPatterns(java.util.Map.of("v_proj", 2), java.util.Map.of("gate_proj", 32.0)));
        writeForPeft(dora, "w1_peft4j_dora", false);
        for (boolean perHead : new boolean[]{false, true}) {
            PeftModel la = new PeftModel(base(), 6);
            AdaptionPromptConfig c = AdaptionPromptConfig.fromLayer(3, 1);
            la.install(new LlamaAdapterMethod(), perHead ? c.perHeadGate() : c);
            SplittableRandom r = new SplittableRandom(8);
            for (Parameter p : la.trainableParameters()) for (int i = 0; i < p.size(); i++) p.data()[i] = (float) (0.3 * r.nextGaussian());
            writeForPeft(la, perHead ? "w3_peft4j_llama_adapter_per_head" : "w2_peft4j_llama_adapter", perHead);
            String cfg = Files.readString(Path.of("target", "peft4j-written", perHead ? "w3_peft4j_llama_adapter_per_head" : "w2_peft4j_llama_adapter",
                    "adapter", "adapter_config.json"));
            assertTrue(cfg.contains(perHead ? "\"peft_type\" : \"ADAPTION_PROMPT_PER_HEAD\"" : "\"peft_type\" : \"ADAPTION_PROMPT\""), cfg);
        }
    }
}
