package dev.peft4j.lora;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import dev.peft4j.api.PeftConfig;
import dev.peft4j.api.UserException;
import java.util.List;

/**
 * LoRA's options, as Hugging Face PEFT's {@code adapter_config.json} spells them (so the file
 * reads and writes both ways). Fields PEFT writes that peft4j does not use are ignored on reading;
 * features peft4j does not implement (DoRA, biases, Conv1D layouts, modules_to_save) are refused.
 *
 * @param r              rank
 * @param loraAlpha      alpha: the update is scaled by alpha/r (alpha/sqrt(r) with rsLoRA)
 * @param loraDropout    dropout on the adapter's input while training
 * @param targetModules  module names (q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj, lm_head),
 *                       or one string: "all-linear" or a regular expression over module paths
 * @param layersToTransform layer indices to adapt (null: all)
 * @param initLoraWeights "true" (A kaiming-uniform, B zero) or "gaussian" (A ~ N(0, 1/r²), B zero)
 */
@JsonIgnoreProperties(ignoreUnknown = true)
@JsonInclude(JsonInclude.Include.ALWAYS)
public record LoraConfig(
        @JsonProperty("peft_type") String peftType,
        @JsonProperty("r") int r,
        @JsonProperty("lora_alpha") double loraAlpha,
        @JsonProperty("lora_dropout") double loraDropout,
        @JsonProperty("target_modules") Object targetModules,
        @JsonProperty("layers_to_transform") List<Integer> layersToTransform,
        @JsonProperty("use_rslora") boolean useRslora,
        @JsonProperty("init_lora_weights") Object initLoraWeights,
        @JsonProperty("bias") String bias,
        @JsonProperty("task_type") String taskType,
        @JsonProperty("base_model_name_or_path") String baseModelNameOrPath,
        @JsonProperty("fan_in_fan_out") boolean fanInFanOut,
        @JsonProperty("use_dora") boolean useDora,
        @JsonProperty("modules_to_save") List<String> modulesToSave,
        @JsonProperty("inference_mode") boolean inferenceMode) implements PeftConfig {

    public LoraConfig {
        if (peftType == null) peftType = "LORA";
        if (targetModules == null) targetModules = List.of("q_proj", "v_proj");
        if (initLoraWeights == null) initLoraWeights = Boolean.TRUE;
        if (bias == null) bias = "none";
        if (taskType == null) taskType = "CAUSAL_LM";
        if (!"LORA".equals(peftType)) throw new UserException("LoRA config: peft_type must be LORA, got " + peftType);
        if (r <= 0) throw new UserException("LoRA config: r must be positive, got " + r);
        if (!(loraDropout >= 0 && loraDropout < 1)) throw new UserException("LoRA config: lora_dropout must be in [0, 1), got " + loraDropout);
        if (!"none".equals(bias)) throw new UserException("LoRA config: bias '" + bias + "' is not supported (only \"none\")");
        if (fanInFanOut) throw new UserException("LoRA config: fan_in_fan_out (GPT-2 Conv1D layouts) does not apply to LLaMA");
        if (useDora) throw new UserException("LoRA config: use_dora (DoRA) is not supported");
        if (modulesToSave != null && !modulesToSave.isEmpty()) throw new UserException("LoRA config: modules_to_save is not supported: " + modulesToSave);
        if (!(targetModules instanceof String || targetModules instanceof List<?>)) {
            throw new UserException("LoRA config: target_modules must be a list of module names or a string, got " + targetModules);
        }
        String init = String.valueOf(initLoraWeights).toLowerCase(java.util.Locale.ROOT);
        if (!init.equals("true") && !init.equals("gaussian")) {
            throw new UserException("LoRA config: init_lora_weights must be true or \"gaussian\", got " + initLoraWeights);
        }
    }

    /** r, alpha and target modules; the rest as Hugging Face PEFT's defaults. */
    public static LoraConfig of(int r, double alpha, List<String> targetModules) {
        return new LoraConfig("LORA", r, alpha, 0.0, targetModules, null, false, true, "none", "CAUSAL_LM", null, false, false, null, false);
    }

    public LoraConfig withDropout(double p) {
        return new LoraConfig(peftType, r, loraAlpha, p, targetModules, layersToTransform, useRslora, initLoraWeights, bias, taskType,
                baseModelNameOrPath, fanInFanOut, useDora, modulesToSave, inferenceMode);
    }

    public LoraConfig withRslora(boolean rs) {
        return new LoraConfig(peftType, r, loraAlpha, loraDropout, targetModules, layersToTransform, rs, initLoraWeights, bias, taskType,
                baseModelNameOrPath, fanInFanOut, useDora, modulesToSave, inferenceMode);
    }

    public LoraConfig withGaussianInit() {
        return new LoraConfig(peftType, r, loraAlpha, loraDropout, targetModules, layersToTransform, useRslora, "gaussian", bias, taskType,
                baseModelNameOrPath, fanInFanOut, useDora, modulesToSave, inferenceMode);
    }

    public LoraConfig withLayers(List<Integer> layers) {
        return new LoraConfig(peftType, r, loraAlpha, loraDropout, targetModules, layers, useRslora, initLoraWeights, bias, taskType,
                baseModelNameOrPath, fanInFanOut, useDora, modulesToSave, inferenceMode);
    }

    public LoraConfig withBaseModel(String name) {
        return new LoraConfig(peftType, r, loraAlpha, loraDropout, targetModules, layersToTransform, useRslora, initLoraWeights, bias, taskType,
                name, fanInFanOut, useDora, modulesToSave, inferenceMode);
    }

    /** The factor of B·A: alpha/r, or alpha/sqrt(r) with rsLoRA. */
    public double scaling() {
        return useRslora ? loraAlpha / Math.sqrt(r) : loraAlpha / r;
    }

    public boolean gaussianInit() {
        return String.valueOf(initLoraWeights).equalsIgnoreCase("gaussian");
    }
}
