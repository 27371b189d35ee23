package dev.peft4j.prefix;

import dev.peft4j.api.Adapter;
import dev.peft4j.api.DeviceForm;
import dev.peft4j.api.MethodOption;
import dev.peft4j.api.InstallContext;
import dev.peft4j.api.LinearSite;
import dev.peft4j.api.ModelShape;
import dev.peft4j.api.ParamSpec;
import dev.peft4j.api.Parameter;
import dev.peft4j.api.PeftConfig;
import dev.peft4j.api.PeftMethod;
import java.util.ArrayList;
import java.util.List;

/**
 * LLaMA-Adapter v1: Zhang et al., "LLaMA-Adapter: Efficient Fine-tuning of Language Models with
 * Zero-init Attention" (2023).
 *
 * <pre>
 *   layer l ≥ start:   attn_out = softmax_causal(q·Kᵀ)·V  +  gate ⊙ softmax(q·Kpᵀ)·Vp
 *                      Kp, Vp = prompt_l·Wkᵀ, prompt_l·Wvᵀ   (the layer's frozen projections, no RoPE)
 * </pre>
 *
 * Init: prompt N(0, 1) (an embedding table, as lit-llama), gate zero, so the model is exactly
 * unchanged at the start. The gate is one per layer by default, as Hugging Face PEFT has it (the
 * files load in PEFT), or one per head (config {@code "gate": "head"}, the paper's and LitGPT's form).
 * Saved with tensors {@code base_model.model.model.layers.L.self_attn.adaption_prompt} [1][len][dim]
 * and {@code ...adaption_gate} [1], under {@code peft_type} ADAPTION_PROMPT; the per-head form saves
 * {@code adaption_gate} [nHeads] under ADAPTION_PROMPT_PER_HEAD, a type PEFT refuses by name.
 */
public final class LlamaAdapterMethod implements PeftMethod<AdaptionPromptConfig> {
    @Override public String name() { return "llama-adapter"; }
    @Override public String version() { return "1.0"; }
    @Override public String description() { return "LLaMA-Adapter: learnable prompts per layer through a zero-init gated attention"; }
    @Override public String peftType() { return AdaptionPromptConfig.PER_LAYER; }
    @Override public List<String> peftTypes() { return List.of(AdaptionPromptConfig.PER_LAYER, AdaptionPromptConfig.PER_HEAD); }
    @Override public Class<AdaptionPromptConfig> configType() { return AdaptionPromptConfig.class; }
    @Override public AdaptionPromptConfig defaultConfig() { return AdaptionPromptConfig.fromLayer(10, 2); }

    @Override
    public List<MethodOption> options() {
        return List.of(
                MethodOption.of("--adapter-len", "adapter_len", MethodOption.Kind.INT, "N", "LLaMA-Adapter: prompt vectors per layer (default 10)."),
                MethodOption.of("--adapter-start-layer", "adapter_start_layer", MethodOption.Kind.INT, "L", "LLaMA-Adapter: first adapted layer (default 2)."),
                MethodOption.of("--adapter-gate", "gate", MethodOption.Kind.STRING, "layer|head", "LLaMA-Adapter: one gate per layer (default, as Hugging Face PEFT; "
                        + "the files load there) or per head (as the paper; PEFT cannot load it)."));
    }

    @Override
    public Adapter install(AdaptionPromptConfig config, InstallContext ctx) {
        ModelShape m = ctx.model();
        int first = config.firstLayer(m.nLayers());
        List<Parameter> params = new ArrayList<>();
        for (int l = first; l < m.nLayers(); l++) {
            String prefix = "base_model.model.model.layers." + l + ".self_attn.";
            Parameter prompt = ctx.trainable(new ParamSpec(prefix + "adaption_prompt", new int[]{1, config.adapterLen(), m.dim()}, ParamSpec.normal(1.0)));
            int gates = config.gatePerHead() ? m.nHeads() : 1;
            Parameter gate = ctx.trainable(new ParamSpec(prefix + "adaption_gate", new int[]{gates}, ParamSpec.zeros()));
            params.add(prompt);
            params.add(gate);
            ctx.addGatedAttentionHook(l, new AdaptionPromptHook(prompt, gate, ctx.baseLinear(new LinearSite(l, LinearSite.Kind.K)),
                    ctx.baseLinear(new LinearSite(l, LinearSite.Kind.V)), config.adapterLen(), m.dim(), m.nHeads(), m.nKvHeads()));
        }
        AdaptionPromptConfig saved = new AdaptionPromptConfig(config.peftType(), config.adapterLen(), m.nLayers() - first, first,
                "self_attn", config.taskType(), config.baseModelNameOrPath(), config.inferenceMode(), config.gate());
        return new Adapter() {
            @Override public PeftConfig config() { return saved; }
            @Override public List<Parameter> parameters() { return params; }

            /** The gated prompt, whose device form has one gate per head. */
            @Override public List<DeviceForm> deviceForms() {
                return List.of(config.gatePerHead() ? new DeviceForm.GatedPrompt(config.adapterLen(), first)
                        : new DeviceForm.Refused("LLaMA-Adapter with one gate per layer (the device step has the per-head gate only: --adapter-gate head)"));
            }
        };
    }
}
