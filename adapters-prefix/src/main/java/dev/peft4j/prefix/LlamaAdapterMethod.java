package dev.peft4j.prefix;

import dev.peft4j.api.Adapter;
import dev.peft4j.api.InstallContext;
import dev.peft4j.api.LinearSite;
import dev.peft4j.api.ModelShape;
import dev.peft4j.api.ParamSpec;
import dev.peft4j.api.Parameter;
import dev.peft4j.api.PeftConfig;
import dev.peft4j.api.PeftMethod;
import dev.peft4j.api.UserException;
import dev.peft4j.api.io.Safetensors;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * LLaMA-Adapter v1: Zhang et al., "LLaMA-Adapter: Efficient Fine-tuning of Language Models with
 * Zero-init Attention" (2023).
 *
 * <pre>
 *   layer l ≥ start:   attn_out = softmax_causal(q·Kᵀ)·V  +  gate ⊙ softmax(q·Kpᵀ)·Vp
 *                      Kp, Vp = prompt_l·Wkᵀ, prompt_l·Wvᵀ   (the layer's frozen projections, no RoPE)
 * </pre>
 *
 * Init: prompt N(0, 1) (an embedding table, as lit-llama), gate zero per head, so the model is
 * exactly unchanged at the start. Saved as {@code ADAPTION_PROMPT} with tensors
 * {@code base_model.model.model.layers.L.self_attn.adaption_prompt} [1][len][dim] and
 * {@code ...adaption_gate} [nHeads]; Hugging Face PEFT's one-gate-per-layer files load with the
 * gate shared by every head.
 */
public final class LlamaAdapterMethod implements PeftMethod<AdaptionPromptConfig> {
    @Override public String name() { return "llama-adapter"; }
    @Override public String version() { return "1.0"; }
    @Override public String description() { return "LLaMA-Adapter: learnable prompts per layer through a zero-init gated attention"; }
    @Override public String peftType() { return "ADAPTION_PROMPT"; }
    @Override public Class<AdaptionPromptConfig> configType() { return AdaptionPromptConfig.class; }
    @Override public AdaptionPromptConfig defaultConfig() { return AdaptionPromptConfig.fromLayer(10, 2); }

    @Override
    public Adapter install(AdaptionPromptConfig config, InstallContext ctx) {
        ModelShape m = ctx.model();
        int first = config.firstLayer(m.nLayers());
        List<Parameter> params = new ArrayList<>();
        for (int l = first; l < m.nLayers(); l++) {
            String prefix = "base_model.model.model.layers." + l + ".self_attn.";
            Parameter prompt = ctx.trainable(new ParamSpec(prefix + "adaption_prompt", new int[]{1, config.adapterLen(), m.dim()}, ParamSpec.normal(1.0)));
            Parameter gate = ctx.trainable(new ParamSpec(prefix + "adaption_gate", new int[]{m.nHeads()}, ParamSpec.zeros()));
            params.add(prompt);
            params.add(gate);
            ctx.addGatedAttentionHook(l, new AdaptionPromptHook(prompt, gate, ctx.baseWeight(new LinearSite(l, LinearSite.Kind.K)),
                    ctx.baseWeight(new LinearSite(l, LinearSite.Kind.V)), config.adapterLen(), m.dim(), m.nHeads(), m.nKvHeads()));
        }
        AdaptionPromptConfig saved = new AdaptionPromptConfig("ADAPTION_PROMPT", config.adapterLen(), m.nLayers() - first, first,
                "self_attn", config.taskType(), config.baseModelNameOrPath(), config.inferenceMode());
        return new Adapter() {
            @Override public PeftConfig config() { return saved; }
            @Override public List<Parameter> parameters() { return params; }

            @Override
            public void loadState(Map<String, Safetensors.Tensor> tensors, String source) {
                for (Parameter p : params) {
                    Safetensors.Tensor t = tensors.get(p.name());
                    if (t != null && p.name().endsWith("adaption_gate") && t.data().length == 1) {
                        java.util.Arrays.fill(p.data(), t.data()[0]); // PEFT's one gate per layer: every head gets it
                    } else if (t == null) {
                        throw new UserException(source + ": tensor " + p.name() + " is missing");
                    } else if (!java.util.Arrays.equals(t.shape(), p.shape())) {
                        throw new UserException(source + ": tensor " + p.name() + " has shape " + java.util.Arrays.toString(t.shape())
                                + " but this model needs " + java.util.Arrays.toString(p.shape()));
                    } else {
                        System.arraycopy(t.data(), 0, p.data(), 0, p.size());
                    }
                }
            }
        };
    }
}
