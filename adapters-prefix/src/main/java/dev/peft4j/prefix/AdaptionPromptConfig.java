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
        @JsonProperty("inference_mode") boolean inferenceMode) implements PeftConfig {

    public AdaptionPromptConfig {
        if (peftType == null) peftType = "ADAPTION_PROMPT";
        if (targetModules == null) targetModules = "self_attn";
        if (taskType == null) taskType = "CAUSAL_LM";
        if (!"ADAPTION_PROMPT".equals(peftType)) throw new UserException("LLaMA-Adapter config: peft_type must be ADAPTION_PROMPT, got " + peftType);
        if (adapterLen <= 0) throw new UserException("LLaMA-Adapter config: adapter_len must be positive, got " + adapterLen);
        if (adapterLayers != null && adapterLayers <= 0) throw new UserException("LLaMA-Adapter config: adapter_layers must be positive, got " + adapterLayers);
        if (adapterStartLayer != null && adapterStartLayer < 0) throw new UserException("LLaMA-Adapter config: adapter_start_layer must be >= 0, got " + adapterStartLayer);
        if (!"self_attn".equals(targetModules)) throw new UserException("LLaMA-Adapter config: target_modules must be self_attn for LLaMA, got " + targetModules);
    }

    /** {@code len} prompt vectors on layers from {@code startLayer} up. */
    public static AdaptionPromptConfig fromLayer(int len, int startLayer) {
        return new AdaptionPromptConfig("ADAPTION_PROMPT", len, null, startLayer, "self_attn", "CAUSAL_LM", null, false);
    }

    /** {@code len} prompt vectors on the top {@code layers} layers. */
    public static AdaptionPromptConfig topLayers(int len, int layers) {
        return new AdaptionPromptConfig("ADAPTION_PROMPT", len, layers, null, "self_attn", "CAUSAL_LM", null, false);
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
