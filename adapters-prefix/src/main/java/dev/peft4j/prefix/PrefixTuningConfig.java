package dev.peft4j.prefix;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import dev.peft4j.api.PeftConfig;
import dev.peft4j.api.UserException;

/**
 * Prefix tuning's options, as Hugging Face PEFT writes them ({@code PREFIX_TUNING}). The model
 * fields ({@code token_dim}, {@code num_layers}, {@code num_attention_heads}) are filled from the
 * model when absent and checked against it when present; for GQA models PEFT sets them to the
 * key/value width and key/value heads, and so does peft4j.
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record PrefixTuningConfig(
        @JsonProperty("peft_type") String peftType,
        @JsonProperty("num_virtual_tokens") int numVirtualTokens,
        @JsonProperty("prefix_projection") boolean prefixProjection,
        @JsonProperty("encoder_hidden_size") Integer encoderHiddenSize,
        @JsonProperty("token_dim") Integer tokenDim,
        @JsonProperty("num_layers") Integer numLayers,
        @JsonProperty("num_attention_heads") Integer numAttentionHeads,
        @JsonProperty("num_transformer_submodules") Integer numTransformerSubmodules,
        @JsonProperty("task_type") String taskType,
        @JsonProperty("base_model_name_or_path") String baseModelNameOrPath,
        @JsonProperty("inference_mode") boolean inferenceMode) implements PeftConfig {

    public PrefixTuningConfig {
        if (peftType == null) peftType = "PREFIX_TUNING";
        if (taskType == null) taskType = "CAUSAL_LM";
        if (numTransformerSubmodules == null) numTransformerSubmodules = 1;
        if (!"PREFIX_TUNING".equals(peftType)) throw new UserException("prefix tuning config: peft_type must be PREFIX_TUNING, got " + peftType);
        if (numVirtualTokens <= 0) throw new UserException("prefix tuning config: num_virtual_tokens must be positive, got " + numVirtualTokens);
        if (numTransformerSubmodules != 1) throw new UserException("prefix tuning config: num_transformer_submodules must be 1 for a decoder-only model");
        if (encoderHiddenSize != null && encoderHiddenSize <= 0) throw new UserException("prefix tuning config: encoder_hidden_size must be positive");
    }

    public static PrefixTuningConfig of(int numVirtualTokens) {
        return new PrefixTuningConfig("PREFIX_TUNING", numVirtualTokens, false, null, null, null, null, 1, "CAUSAL_LM", null, false);
    }

    /** With the reparameterisation embedding → linear → tanh → linear while training. */
    public static PrefixTuningConfig projected(int numVirtualTokens, int encoderHiddenSize) {
        return new PrefixTuningConfig("PREFIX_TUNING", numVirtualTokens, true, encoderHiddenSize, null, null, null, 1, "CAUSAL_LM", null, false);
    }

    /** Whether the trainable form is the MLP (a saved, folded table loads as a plain table: PEFT's inference mode). */
    public boolean trainsProjection() {
        return prefixProjection && !inferenceMode;
    }
}
