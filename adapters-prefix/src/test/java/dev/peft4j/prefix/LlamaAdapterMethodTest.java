package dev.peft4j.prefix;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.peft4j.api.PeftMethod;
import dev.peft4j.api.UserException;
import dev.peft4j.lora.LoraConfig;
import dev.peft4j.lora.LoraMethod;
import dev.peft4j.models.LlamaConfig;
import dev.peft4j.models.LlamaWeights;
import dev.peft4j.models.generate.Generator;
import dev.peft4j.models.generate.Sampler;
import dev.peft4j.models.generate.Sampling;
import dev.peft4j.models.peft.AdapterFiles;
import dev.peft4j.models.peft.PeftMethodContract;
import dev.peft4j.models.peft.PeftModel;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LlamaAdapterMethodTest extends PeftMethodContract<AdaptionPromptConfig> {
    @Override protected PeftMethod<AdaptionPromptConfig> method() { return new LlamaAdapterMethod(); }
    @Override protected AdaptionPromptConfig config(LlamaConfig model) { return AdaptionPromptConfig.fromLayer(3, 1); }

    @Test
    void adaptsTheLayersAskedForWithAGatePerLayerOrPerHead() {
        PeftModel m = new PeftModel(base(), 1);
        m.install(method(), AdaptionPromptConfig.topLayers(3, 1));
        var p = m.trainableParameters();
        assertEquals(2, p.size());
        assertEquals("base_model.model.model.layers.1.self_attn.adaption_prompt", p.get(0).name());
        assertArrayEquals(new int[]{1, 3, 16}, p.get(0).shape());
        assertArrayEquals(new int[]{1}, p.get(1).shape(), "PEFT's one gate per layer by default");
        PeftModel heads = new PeftModel(base(), 1);
        heads.install(method(), AdaptionPromptConfig.topLayers(3, 1).perHeadGate());
        assertArrayEquals(new int[]{4}, heads.trainableParameters().get(1).shape(), "the paper's gate per head");
        assertEquals("ADAPTION_PROMPT_PER_HEAD", heads.adapters().get("llama-adapter").adapter().config().peftType());
        var e = assertThrows(UserException.class, () -> new PeftModel(base(), 1).install(method(), AdaptionPromptConfig.fromLayer(3, 2)));
        assertEquals("LLaMA-Adapter config: adapter_start_layer 2 does not fit a model with 2 layers", e.getMessage());
    }

    /**
     * On a BF16 base the prompts' k/v projections read the BF16 weights as they are stored (the base is not
     * turned into float32) and give the loss and gradients of a float32 base holding the same values. Prompts
     * of 3 rows (the few-row path) and 6 (the packed GEMM).
     */
    @Test
    void readsACompressedBaseAsStored() {
        for (int len : new int[]{3, 6}) {
            LlamaWeights bf16 = base().convertBase(dev.peft4j.kernels.quant.GgmlType.BF16);
            LlamaWeights f32 = base().convertBase(dev.peft4j.kernels.quant.GgmlType.BF16).convertBase(dev.peft4j.kernels.quant.GgmlType.F32);
            PeftModel a = new PeftModel(bf16, 1), b = new PeftModel(f32, 1);
            a.install(method(), AdaptionPromptConfig.fromLayer(len, 0));
            b.install(method(), AdaptionPromptConfig.fromLayer(len, 0));
            randomize(a, 5);
            randomize(b, 5);
            var batch = batch(bf16.config, 2, 6, 3);
            double la = a.trainer(2, 6, false).forwardBackward(batch), lb = b.trainer(2, 6, false).forwardBackward(batch);
            System.out.printf("LLaMA-Adapter on BF16 vs float32 base, %d prompt rows: loss %.7f vs %.7f%n", len, la, lb);
            assertEquals(lb, la, 1e-6 * Math.abs(lb));
            assertEquals(java.util.Set.of(dev.peft4j.kernels.quant.GgmlType.BF16), bf16.storedTypes(), "the base stays BF16");
            for (int i = 0; i < a.trainableParameters().size(); i++) {
                float[] ga = a.trainableParameters().get(i).grad(), gb = b.trainableParameters().get(i).grad();
                double scale = 0, diff = 0;
                for (int k = 0; k < gb.length; k++) {
                    scale = Math.max(scale, Math.abs(gb[k]));
                    diff = Math.max(diff, Math.abs(ga[k] - gb[k]));
                }
                System.out.printf("  %s: gradient max diff %.2e of max %.2e%n", a.trainableParameters().get(i).name(), diff, scale);
                // every linear of the two models sums in a different order (BF16 and float32 kernels): float32 rounding
                assertTrue(scale > 0 && diff <= 5e-5 * scale, a.trainableParameters().get(i).name() + ": " + diff + " of " + scale);
            }
        }
    }

    /** LoRA + prefix + LLaMA-Adapter on one model: one trainer, cached generation, save and load of the combination. */
    @Test
    void composesWithLoraAndPrefix(@TempDir Path dir) throws Exception {
        LlamaWeights w = base();
        PeftModel m = new PeftModel(w, 1);
        m.install(new LoraMethod(), LoraConfig.of(2, 4, List.of("q_proj", "v_proj", "down_proj")));
        m.install(new PrefixTuningMethod(), PrefixTuningConfig.of(2));
        m.install(method(), AdaptionPromptConfig.fromLayer(3, 0));
        randomize(m, 12);
        var model = m.inferenceModel();
        Generator.Result r = new Generator(model).generate(new int[]{1, 4, 9}, 5, Sampling.greedy(), -1, null);
        int[] seq = {1, 4, 9};
        for (int i = 0; i < 5; i++) {
            int next = Sampler.argmax(model.forwardAll(seq)[seq.length - 1]);
            assertEquals(next, r.generatedIds()[i], "token " + i);
            seq = java.util.Arrays.copyOf(seq, seq.length + 1);
            seq[seq.length - 1] = next;
        }
        AdapterFiles.saveAll(m, dir, methods, null);
        PeftModel loaded = new PeftModel(w, 7);
        assertEquals(3, AdapterFiles.load(loaded, dir, methods).size());
        float[][] want = model.forwardAll(seq), got = loaded.inferenceModel().forwardAll(seq);
        for (int t = 0; t < seq.length; t++) assertArrayEquals(want[t], got[t], "position " + t);
        var e = assertThrows(UserException.class, () -> m.install("second", new PrefixTuningMethod(), PrefixTuningConfig.of(2)));
        assertEquals("method 'prefix' is already installed (as adapter 'prefix') and cannot be stacked twice on one model", e.getMessage());
    }
}
