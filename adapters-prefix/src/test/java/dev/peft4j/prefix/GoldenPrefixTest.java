package dev.peft4j.prefix;


import dev.peft4j.lora.LoraConfig;
import dev.peft4j.lora.LoraMethod;
import dev.peft4j.models.golden.Golden;
import dev.peft4j.models.io.Checkpoints;
import dev.peft4j.models.peft.PeftModel;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Prefix tuning, LLaMA-Adapter and both with LoRA against the float64 PyTorch reference of
 * {@code models/src/test/golden/make_golden_peft.py}, on a frozen 2-layer GQA model: from the
 * fixture's initial values (non-zero gates), the loss and the gradient of every method parameter
 * after one backward, then five AdamW steps (lr 1e-2, betas 0.9/0.95, weight decay 0.1, clipping at
 * global norm 1) on the methods' parameters only: the losses and gradient norms. Each within 1e-4
 * relative (max |diff| / max |expected| per tensor); every parameter after the last step within
 * 1e-3; the base weights must come out bit for bit unchanged. The fixtures tell apart rotated and
 * unrotated prefix keys, positions from 0 or from P, rotated or raw queries in the adapter.
 */
class GoldenPrefixTest {
    @Test
    void prefixTuningMatchesPyTorch() {
        PeftModel m = base();
        m.install(new PrefixTuningMethod(), PrefixTuningConfig.of(3));
        Golden.trainAndCompare(m, GoldenPrefixTest.class, "c3_prefix");
    }

    @Test
    void llamaAdapterMatchesPyTorch() {
        PeftModel m = base();
        m.install(new LlamaAdapterMethod(), AdaptionPromptConfig.fromLayer(3, 1).perHeadGate()); // the fixture has a gate per head
        Golden.trainAndCompare(m, GoldenPrefixTest.class, "c4_llama_adapter");
    }

    @Test
    void loraPrefixAndLlamaAdapterTogetherMatchPyTorch() {
        PeftModel m = base();
        m.install(new LoraMethod(), LoraConfig.of(4, 8, List.of("q_proj", "v_proj")));
        m.install(new PrefixTuningMethod(), PrefixTuningConfig.of(2));
        m.install(new LlamaAdapterMethod(), AdaptionPromptConfig.fromLayer(3, 0).perHeadGate());
        Golden.trainAndCompare(m, GoldenPrefixTest.class, "c5_combo");
    }

    private static PeftModel base() {
        return new PeftModel(Checkpoints.load(golden("base/hf")), 0);
    }

    private static java.nio.file.Path golden(String relative) {
        return Golden.resource(GoldenPrefixTest.class, relative);
    }
}
