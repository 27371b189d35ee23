package dev.peft4j.ia3;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import dev.peft4j.api.PeftConfig;
import dev.peft4j.api.UserException;
import java.util.List;

/**
 * IA³'s options, as Hugging Face PEFT 0.21's {@code IA3Config} spells them in {@code adapter_config.json}.
 * Honoured: {@code target_modules} (module names), {@code feedforward_modules} (a subset of them whose input is
 * scaled; the others' output is), {@code init_ia3_weights} (true: ones; false: N(0, 1), as PEFT's torch.randn).
 * Refused by name when set: {@code fan_in_fan_out}, {@code modules_to_save}, {@code exclude_modules},
 * {@code layers_to_transform}, and a regular expression as {@code target_modules}. Bookkeeping fields are ignored.
 */
@JsonIgnoreProperties(ignoreUnknown = true)
@JsonInclude(JsonInclude.Include.ALWAYS)
public record Ia3Config(
        @JsonProperty("peft_type") String peftType,
        @JsonProperty("target_modules") Object targetModules,
        @JsonProperty("feedforward_modules") Object feedforwardModules,
        @JsonProperty("init_ia3_weights") Boolean initIa3Weights,
        @JsonProperty("task_type") String taskType,
        @JsonProperty("base_model_name_or_path") String baseModelNameOrPath,
        @JsonProperty("inference_mode") boolean inferenceMode,
        @JsonProperty("fan_in_fan_out") boolean fanInFanOut,
        @JsonProperty("modules_to_save") List<String> modulesToSave,
        @JsonProperty("exclude_modules") Object excludeModules,
        @JsonProperty("layers_to_transform") Object layersToTransform) implements PeftConfig {

    public Ia3Config {
        if (peftType == null) peftType = "IA3";
        if (targetModules == null) targetModules = List.of("k_proj", "v_proj", "down_proj");
        if (feedforwardModules == null) feedforwardModules = List.of("down_proj");
        if (taskType == null) taskType = "CAUSAL_LM";
        if (initIa3Weights == null) initIa3Weights = true;
    }

    /** PEFT's defaults for LLaMA: k_proj, v_proj and down_proj, down_proj feed-forward, ones. */
    public static Ia3Config defaults() {
        return of(List.of("k_proj", "v_proj", "down_proj"), List.of("down_proj"));
    }

    public static Ia3Config of(List<String> targets, List<String> feedforward) {
        return new Ia3Config("IA3", targets, feedforward, true, "CAUSAL_LM", null, false, false, null, null, null);
    }

    @Override
    public String peftType() {
        return peftType;
    }

    /** The target module names, checked. */
    List<String> targets() {
        return names("target_modules", targetModules);
    }

    List<String> feedforward() {
        return names("feedforward_modules", feedforwardModules);
    }

    private static List<String> names(String field, Object value) {
        if (value instanceof String s) {
            throw new UserException("IA3 config: " + field + " \"" + s + "\" is a regular expression; this plugin takes a list of module names");
        }
        if (!(value instanceof List<?> list)) throw new UserException("IA3 config: " + field + " must be a list of module names");
        return list.stream().map(String::valueOf).toList();
    }

    /** Fails naming a field this plugin does not implement. */
    void checkSupported() {
        if (fanInFanOut) throw new UserException("IA3 config: fan_in_fan_out true is not supported (LLaMA's linears store [out][in])");
        if (modulesToSave != null && !modulesToSave.isEmpty()) throw new UserException("IA3 config: modules_to_save is not supported");
        if (excludeModules != null && !(excludeModules instanceof List<?> l && l.isEmpty())) {
            throw new UserException("IA3 config: exclude_modules is not supported");
        }
        if (layersToTransform != null) throw new UserException("IA3 config: layers_to_transform is not supported");
    }
}
