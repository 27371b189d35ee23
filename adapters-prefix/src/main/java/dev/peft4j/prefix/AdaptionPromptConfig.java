package dev.peft4j.prefix;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import dev.peft4j.api.PeftConfig;
import dev.peft4j.api.UserException;

/**
 * LLaMA-Adapter's options, in Hugging Face PEFT's {@code ADAPTION_PROMPT} spelling.
 *
 * @param adapterLen        learnable prompt vectors per adapted layer (default 10)
 * @param adapterLayers     adapt the top this-many layers (PEFT's convention); null: use {@code adapterStartLayer}
 * @param adapterStartLayer adapt layers from this one up (lit-llama's convention, default 2)
 * @param gate              "layer" (default): one gate per adapted layer, shape [1], as Hugging Face PEFT has;
 *                          "head": one gate per attention head, shape [nHeads], as the paper and LitGPT have.
 *                          A per-head adapter is saved with {@code peft_type} {@value #PER_HEAD}, which PEFT does not
 *                          know, so PEFT refuses the file up front (its config lookup fails on that name) instead of
 *                          loading a gate of the wrong shape.
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record AdaptionPromptConfig(
        @JsonProperty("peft_type") String peftType,
        @JsonProperty("adapter_len") int adapterLen,
        @JsonProperty("adapter_layers") Integer adapterLayers,
        @JsonProperty("adapter_start_layer") Integer adapterStartLayer,
        @JsonProperty("target_modules") String targetModules,
        @JsonProperty("task_type") String taskType,
        @JsonProperty("base_model_name_or_path") String baseModelNameOrPath,
        @JsonProperty("inference_mode") boolean inferenceMode,
        @JsonProperty("gate") String gate) implements PeftConfig {

    /** Hugging Face PEFT's peft_type: one gate per layer. */
    public static final String PER_LAYER = "ADAPTION_PROMPT";
    /** peft4j's peft_type for the per-head gate, unknown to PEFT on purpose. */
    public static final String PER_HEAD = "ADAPTION_PROMPT_PER_HEAD";

    public AdaptionPromptConfig {
        if (peftType == null) peftType = PER_LAYER;
        if (gate == null) gate = PER_HEAD.equals(peftType) ? "head" : "layer";
        if (!gate.equals("layer") && !gate.equals("head")) {
            throw new UserException("LLaMA-Adapter config: gate must be \"layer\" (one per layer, as PEFT) or \"head\" (one per head, as the paper), got " + gate);
        }
        if (PER_HEAD.equals(peftType) && gate.equals("layer")) {
            throw new UserException("LLaMA-Adapter config: peft_type " + PER_HEAD + " is the per-head gate, but gate is \"layer\"");
        }
        if (gate.equals("head")) peftType = PER_HEAD;
        if (targetModules == null) targetModules = "self_attn";
        if (taskType == null) taskType = "CAUSAL_LM";
        if (!PER_LAYER.equals(peftType) && !PER_HEAD.equals(peftType)) {
            throw new UserException("LLaMA-Adapter config: peft_type must be " + PER_LAYER + " or " + PER_HEAD + ", got " + peftType);
        }
        if (adapterLen <= 0) throw new UserException("LLaMA-Adapter config: adapter_len must be positive, got " + adapterLen);
        if (adapterLayers != null && adapterLayers <= 0) throw new UserException("LLaMA-Adapter config: adapter_layers must be positive, got " + adapterLayers);
        if (adapterStartLayer != null && adapterStartLayer < 0) throw new UserException("LLaMA-Adapter config: adapter_start_layer must be >= 0, got " + adapterStartLayer);
        if (!"self_attn".equals(targetModules)) throw new UserException("LLaMA-Adapter config: target_modules must be self_attn for LLaMA, got " + targetModules);
    }

    /** {@code len} prompt vectors on layers from {@code startLayer} up, one gate per layer. */
    public static AdaptionPromptConfig fromLayer(int len, int startLayer) {
        return new AdaptionPromptConfig(PER_LAYER, len, null, startLayer, "self_attn", "CAUSAL_LM", null, false, "layer");
    }

    /** {@code len} prompt vectors on the top {@code layers} layers, one gate per layer. */
    public static AdaptionPromptConfig topLayers(int len, int layers) {
        return new AdaptionPromptConfig(PER_LAYER, len, layers, null, "self_attn", "CAUSAL_LM", null, false, "layer");
    }

    /** The same with one gate per attention head (the paper's and LitGPT's form; saved as {@value #PER_HEAD}). */
    public AdaptionPromptConfig perHeadGate() {
        return new AdaptionPromptConfig(PER_HEAD, adapterLen, adapterLayers, adapterStartLayer, targetModules, taskType, baseModelNameOrPath, inferenceMode, "head");
    }

    public boolean gatePerHead() {
        return gate.equals("head");
    }

    /** The first adapted layer of a model with {@code nLayers} layers; refuses configs that do not fit. */
    public int firstLayer(int nLayers) {
        int first = adapterLayers != null ? nLayers - adapterLayers : (adapterStartLayer == null ? 2 : adapterStartLayer);
        if (adapterLayers != null && adapterStartLayer != null && adapterStartLayer != first) {
            throw new UserException("LLaMA-Adapter config: adapter_layers " + adapterLayers + " and adapter_start_layer " + adapterStartLayer
                    + " disagree for a model with " + nLayers + " layers");
        }
        if (first < 0 || first >= nLayers) {
            throw new UserException("LLaMA-Adapter config: " + (adapterLayers != null ? "adapter_layers " + adapterLayers : "adapter_start_layer " + first)
                    + " does not fit a model with " + nLayers + " layers");
        }
        return first;
    }
}
