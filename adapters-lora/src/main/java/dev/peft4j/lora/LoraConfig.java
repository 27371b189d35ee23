package dev.peft4j.lora;

import com.fasterxml.jackson.annotation.JsonFormat;
import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import dev.peft4j.api.PeftConfig;
import dev.peft4j.api.UserException;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * LoRA's options, as Hugging Face PEFT 0.21's {@code LoraConfig} spells them in {@code adapter_config.json}
 * (so the file reads and writes both ways). Every field of PEFT's that changes the computation is either
 * honoured here or refused by name; fields that do not (bookkeeping, and how fresh weights were initialised:
 * loftq/eva/corda/lora-ga configs) are ignored on reading.
 *
 * <p>Honoured: {@code r}, {@code lora_alpha}, {@code lora_dropout}, {@code target_modules} (names, module path
 * suffixes, "all-linear" or one regular expression matched against the whole module path),
 * {@code exclude_modules}, {@code layers_to_transform} (an index or a list) with {@code layers_pattern},
 * {@code rank_pattern} and {@code alpha_pattern} (per-module r and alpha: the first key, in file order, that
 * matches the end of the module path at a dot boundary, as PEFT's {@code get_pattern_key}), {@code use_rslora},
 * {@code use_dora} (DoRA), {@code bias} ("none"; "all" and "lora_only" train the linears' biases, and LLaMA's
 * linears have none, so they compute the same), {@code init_lora_weights} (any value loads; a fresh
 * adapter can start from true, "gaussian" or false). Refused by name: {@code modules_to_save},
 * {@code lora_bias}, {@code fan_in_fan_out}, and PEFT's other variants ({@link #REFUSED}).
 *
 * @param r              rank (the default of modules without a rank_pattern entry)
 * @param loraAlpha      alpha: the update is scaled by alpha/r (alpha/sqrt(r) with rsLoRA)
 * @param loraDropout    dropout on the adapter's input while training
 * @param targetModules  module names (q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj, lm_head),
 *                       or one string: "all-linear" or a regular expression over module paths
 * @param layersToTransform layer indices to adapt (null: all); not applied to a regular-expression target, as PEFT
 * @param initLoraWeights how fresh weights start: true (A kaiming-uniform, B zero), "gaussian" (A ~ N(0, 1/r²), B
 *                       zero), false (A and B both as nn.Linear's default); other PEFT values ("pissa", "olora",
 *                       "loftq", "eva", ...) load but cannot start a fresh adapter here
 */
@JsonIgnoreProperties(ignoreUnknown = true)
@JsonInclude(JsonInclude.Include.ALWAYS)
public record LoraConfig(
        @JsonProperty("peft_type") String peftType,
        @JsonProperty("r") int r,
        @JsonProperty("lora_alpha") double loraAlpha,
        @JsonProperty("lora_dropout") double loraDropout,
        @JsonProperty("target_modules") Object targetModules,
        @JsonProperty("layers_to_transform") @JsonFormat(with = JsonFormat.Feature.ACCEPT_SINGLE_VALUE_AS_ARRAY) List<Integer> layersToTransform,
        @JsonProperty("use_rslora") boolean useRslora,
        @JsonProperty("init_lora_weights") Object initLoraWeights,
        @JsonProperty("bias") String bias,
        @JsonProperty("task_type") String taskType,
        @JsonProperty("base_model_name_or_path") String baseModelNameOrPath,
        @JsonProperty("fan_in_fan_out") boolean fanInFanOut,
        @JsonProperty("use_dora") boolean useDora,
        @JsonProperty("modules_to_save") List<String> modulesToSave,
        @JsonProperty("inference_mode") boolean inferenceMode,
        @JsonProperty("exclude_modules") Object excludeModules,
        @JsonProperty("layers_pattern") Object layersPattern,
        @JsonProperty("rank_pattern") Map<String, Integer> rankPattern,
        @JsonProperty("alpha_pattern") Map<String, Double> alphaPattern,
        @JsonProperty("lora_bias") boolean loraBias,
        @JsonProperty("peft4j_refused") @JsonInclude(JsonInclude.Include.NON_NULL) Map<String, Object> refused) implements PeftConfig {

    /**
     * PEFT's LoraConfig fields that change the computation in ways peft4j does not implement, with the reason; a file
     * that sets any of them (to anything but its default) is refused naming it.
     */
    static final Map<String, String> REFUSED = Map.ofEntries(
            Map.entry("trainable_token_indices", "trains selected embedding rows"),
            Map.entry("alora_invocation_tokens", "activated LoRA (aLoRA) switches the adapter on per token"),
            Map.entry("use_qalora", "QA-LoRA pools the input for quantized bases"),
            Map.entry("monteclora_config", "MonteCLoRA samples the adapter"),
            Map.entry("layer_replication", "replicates base layers"),
            Map.entry("target_parameters", "adapts raw parameters (e.g. MoE experts), not linear modules"),
            Map.entry("use_bdlora", "BD-LoRA has block-diagonal factors"),
            Map.entry("arrow_config", "Arrow routes between several LoRA experts"),
            Map.entry("kasa_config", "KaSA changes the base weight's singular values"),
            Map.entry("velora_config", "VeLoRA compresses the activations in backward"),
            Map.entry("megatron_config", "Megatron's parallel linears"));

    public LoraConfig {
        if (peftType == null) peftType = "LORA";
        if (targetModules == null) targetModules = List.of("q_proj", "v_proj");
        if (initLoraWeights == null) initLoraWeights = Boolean.TRUE;
        if (bias == null) bias = "none";
        if (taskType == null) taskType = "CAUSAL_LM";
        rankPattern = rankPattern == null ? Map.of() : java.util.Collections.unmodifiableMap(new LinkedHashMap<>(rankPattern));
        alphaPattern = alphaPattern == null ? Map.of() : java.util.Collections.unmodifiableMap(new LinkedHashMap<>(alphaPattern));
        if (refused != null && refused.isEmpty()) refused = null;
        if (!"LORA".equals(peftType)) throw new UserException("LoRA config: peft_type must be LORA, got " + peftType);
        if (r <= 0) throw new UserException("LoRA config: r must be positive, got " + r);
        if (!(loraDropout >= 0 && loraDropout < 1)) throw new UserException("LoRA config: lora_dropout must be in [0, 1), got " + loraDropout);
        if (!bias.equals("none") && !bias.equals("all") && !bias.equals("lora_only")) {
            throw new UserException("LoRA config: bias must be \"none\", \"all\" or \"lora_only\", got '" + bias + "'");
        }
        if (fanInFanOut) throw new UserException("LoRA config: fan_in_fan_out (GPT-2 Conv1D layouts) does not apply to LLaMA");
        if (loraBias) throw new UserException("LoRA config: lora_bias (a trainable bias on lora_B) is not supported");
        if (modulesToSave != null && !modulesToSave.isEmpty()) {
            throw new UserException("LoRA config: modules_to_save " + modulesToSave + " is not supported (it trains full copies of those modules)");
        }
        if (refused != null) {
            String name = refused.keySet().iterator().next();
            throw new UserException("LoRA config: " + name + " is not supported (" + REFUSED.getOrDefault(name, "a PEFT variant") + ")");
        }
        if (!(targetModules instanceof String || targetModules instanceof List<?>)) {
            throw new UserException("LoRA config: target_modules must be a list of module names or a string, got " + targetModules);
        }
        if (!(excludeModules == null || excludeModules instanceof String || excludeModules instanceof List<?>)) {
            throw new UserException("LoRA config: exclude_modules must be a list of module names or a string, got " + excludeModules);
        }
        if (!(layersPattern == null || layersPattern instanceof String || layersPattern instanceof List<?>)) {
            throw new UserException("LoRA config: layers_pattern must be a string or a list of strings, got " + layersPattern);
        }
        rankPattern.forEach((k, v) -> {
            if (v == null || v <= 0) throw new UserException("LoRA config: rank_pattern '" + k + "' must be a positive rank, got " + v);
        });
        alphaPattern.forEach((k, v) -> {
            if (v == null) throw new UserException("LoRA config: alpha_pattern '" + k + "' has no value");
        });
        if (!(initLoraWeights instanceof Boolean || initLoraWeights instanceof String)) {
            throw new UserException("LoRA config: init_lora_weights must be true, false or a string such as \"gaussian\", got " + initLoraWeights);
        }
    }

    /** Reads the refused fields from the file (Jackson passes unknown fields here), keeping those set to something. */
    @com.fasterxml.jackson.annotation.JsonCreator
    static LoraConfig read(
            @JsonProperty("peft_type") String peftType, @JsonProperty("r") Integer r, @JsonProperty("lora_alpha") Double loraAlpha,
            @JsonProperty("lora_dropout") Double loraDropout, @JsonProperty("target_modules") Object targetModules,
            @JsonProperty("layers_to_transform") @JsonFormat(with = JsonFormat.Feature.ACCEPT_SINGLE_VALUE_AS_ARRAY) List<Integer> layersToTransform,
            @JsonProperty("use_rslora") Boolean useRslora, @JsonProperty("init_lora_weights") Object initLoraWeights,
            @JsonProperty("bias") String bias, @JsonProperty("task_type") String taskType,
            @JsonProperty("base_model_name_or_path") String baseModelNameOrPath, @JsonProperty("fan_in_fan_out") Boolean fanInFanOut,
            @JsonProperty("use_dora") Boolean useDora, @JsonProperty("modules_to_save") List<String> modulesToSave,
            @JsonProperty("inference_mode") Boolean inferenceMode, @JsonProperty("exclude_modules") Object excludeModules,
            @JsonProperty("layers_pattern") Object layersPattern, @JsonProperty("rank_pattern") Map<String, Integer> rankPattern,
            @JsonProperty("alpha_pattern") Map<String, Double> alphaPattern, @JsonProperty("lora_bias") Boolean loraBias,
            @JsonProperty("trainable_token_indices") Object trainableTokenIndices, @JsonProperty("alora_invocation_tokens") Object aloraInvocationTokens,
            @JsonProperty("use_qalora") Object useQalora, @JsonProperty("monteclora_config") Object montecloraConfig,
            @JsonProperty("layer_replication") Object layerReplication, @JsonProperty("target_parameters") Object targetParameters,
            @JsonProperty("use_bdlora") Object useBdlora, @JsonProperty("arrow_config") Object arrowConfig,
            @JsonProperty("kasa_config") Object kasaConfig, @JsonProperty("velora_config") Object veloraConfig,
            @JsonProperty("megatron_config") Object megatronConfig) {
        Map<String, Object> refused = new LinkedHashMap<>();
        Object[] values = {trainableTokenIndices, aloraInvocationTokens, useQalora, montecloraConfig, layerReplication, targetParameters,
                useBdlora, arrowConfig, kasaConfig, veloraConfig, megatronConfig};
        String[] names = {"trainable_token_indices", "alora_invocation_tokens", "use_qalora", "monteclora_config", "layer_replication",
                "target_parameters", "use_bdlora", "arrow_config", "kasa_config", "velora_config", "megatron_config"};
        for (int i = 0; i < names.length; i++) if (isSet(values[i])) refused.put(names[i], values[i]);
        return new LoraConfig(peftType, r == null ? 8 : r, loraAlpha == null ? 8 : loraAlpha, loraDropout == null ? 0 : loraDropout,
                targetModules, layersToTransform, Boolean.TRUE.equals(useRslora), initLoraWeights, bias, taskType, baseModelNameOrPath,
                Boolean.TRUE.equals(fanInFanOut), Boolean.TRUE.equals(useDora), modulesToSave, Boolean.TRUE.equals(inferenceMode),
                excludeModules, layersPattern, rankPattern, alphaPattern, Boolean.TRUE.equals(loraBias), refused);
    }

    private static boolean isSet(Object v) {
        if (v == null || Boolean.FALSE.equals(v)) return false;
        if (v instanceof Collection<?> c) return !c.isEmpty();
        if (v instanceof Map<?, ?> m) return !m.isEmpty();
        return true;
    }

    /** r, alpha and target modules; the rest as Hugging Face PEFT's defaults. */
    public static LoraConfig of(int r, double alpha, List<String> targetModules) {
        return new LoraConfig("LORA", r, alpha, 0.0, targetModules, null, false, true, "none", "CAUSAL_LM", null, false, false, null, false,
                null, null, null, null, false, null);
    }

    /** r, alpha and one target string: "all-linear" or a regular expression over module paths. */
    public static LoraConfig matching(int r, double alpha, String targetModules) {
        return new LoraConfig("LORA", r, alpha, 0.0, targetModules, null, false, true, "none", "CAUSAL_LM", null, false, false, null, false,
                null, null, null, null, false, null);
    }

    public LoraConfig withDropout(double p) {
        return new LoraConfig(peftType, r, loraAlpha, p, targetModules, layersToTransform, useRslora, initLoraWeights, bias, taskType,
                baseModelNameOrPath, fanInFanOut, useDora, modulesToSave, inferenceMode, excludeModules, layersPattern, rankPattern, alphaPattern, loraBias, refused);
    }

    public LoraConfig withRslora(boolean rs) {
        return new LoraConfig(peftType, r, loraAlpha, loraDropout, targetModules, layersToTransform, rs, initLoraWeights, bias, taskType,
                baseModelNameOrPath, fanInFanOut, useDora, modulesToSave, inferenceMode, excludeModules, layersPattern, rankPattern, alphaPattern, loraBias, refused);
    }

    public LoraConfig withGaussianInit() {
        return withInit("gaussian");
    }

    /** How fresh weights start: true, false or "gaussian" (other PEFT values load, but cannot start training here). */
    public LoraConfig withInit(Object init) {
        return new LoraConfig(peftType, r, loraAlpha, loraDropout, targetModules, layersToTransform, useRslora, init, bias, taskType,
                baseModelNameOrPath, fanInFanOut, useDora, modulesToSave, inferenceMode, excludeModules, layersPattern, rankPattern, alphaPattern, loraBias, refused);
    }

    public LoraConfig withLayers(List<Integer> layers) {
        return new LoraConfig(peftType, r, loraAlpha, loraDropout, targetModules, layers, useRslora, initLoraWeights, bias, taskType,
                baseModelNameOrPath, fanInFanOut, useDora, modulesToSave, inferenceMode, excludeModules, layersPattern, rankPattern, alphaPattern, loraBias, refused);
    }

    public LoraConfig withBaseModel(String name) {
        return new LoraConfig(peftType, r, loraAlpha, loraDropout, targetModules, layersToTransform, useRslora, initLoraWeights, bias, taskType,
                name, fanInFanOut, useDora, modulesToSave, inferenceMode, excludeModules, layersPattern, rankPattern, alphaPattern, loraBias, refused);
    }

    /** DoRA: the update is decomposed into a trained magnitude per output row and a direction. */
    public LoraConfig withDora(boolean dora) {
        return new LoraConfig(peftType, r, loraAlpha, loraDropout, targetModules, layersToTransform, useRslora, initLoraWeights, bias, taskType,
                baseModelNameOrPath, fanInFanOut, dora, modulesToSave, inferenceMode, excludeModules, layersPattern, rankPattern, alphaPattern, loraBias, refused);
    }

    /** Per-module ranks and alphas (keys as PEFT's rank_pattern / alpha_pattern, matched in this map's order). */
    public LoraConfig withPatterns(Map<String, Integer> ranks, Map<String, Double> alphas) {
        return new LoraConfig(peftType, r, loraAlpha, loraDropout, targetModules, layersToTransform, useRslora, initLoraWeights, bias, taskType,
                baseModelNameOrPath, fanInFanOut, useDora, modulesToSave, inferenceMode, excludeModules, layersPattern, ranks, alphas, loraBias, refused);
    }

    /** The factor of B·A: alpha/r, or alpha/sqrt(r) with rsLoRA. */
    public double scaling() {
        return scaling(r, loraAlpha);
    }

    double scaling(int rank, double alpha) {
        return useRslora ? alpha / Math.sqrt(rank) : alpha / rank;
    }

    public boolean gaussianInit() {
        return initName().equals("gaussian");
    }

    /** init_lora_weights as a lower-case word: "true", "false", "gaussian", "pissa", ... */
    String initName() {
        return String.valueOf(initLoraWeights).toLowerCase(Locale.ROOT);
    }
}
