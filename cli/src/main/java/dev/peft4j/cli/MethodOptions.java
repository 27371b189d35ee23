package dev.peft4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.peft4j.api.PeftConfig;
import dev.peft4j.api.PeftMethod;
import dev.peft4j.api.UserException;
import dev.peft4j.models.peft.PeftMethods;
import dev.peft4j.models.peft.PeftModel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Iterator;
import java.util.Map;
import picocli.CommandLine.Option;

/**
 * {@code --method a+b} and each method's options, as flags or as a JSON file
 * ({@code {"lora": {"r": 16, ...}, "prefix": {...}}}, field names as in adapter_config.json).
 * Flags win over the file, the file over the method's defaults.
 */
final class MethodOptions {
    @Option(names = "--method", defaultValue = "lora", paramLabel = "M[+M...]",
            description = "Methods to train together, e.g. lora, full, lora+prefix+llama-adapter (default: ${DEFAULT-VALUE}).")
    String method;

    @Option(names = "--method-config", paramLabel = "FILE.json", description = "Per-method options: {\"lora\": {\"r\": 16}, ...}.")
    Path methodConfig;

    @Option(names = "--lora-r", paramLabel = "R", description = "LoRA rank (default 8).") Integer loraR;
    @Option(names = "--lora-alpha", paramLabel = "A", description = "LoRA alpha (default 16).") Double loraAlpha;
    @Option(names = "--lora-dropout", paramLabel = "P", description = "LoRA dropout (default 0).") Double loraDropout;
    @Option(names = "--lora-targets", split = ",", paramLabel = "NAMES", description = "LoRA target modules (default q_proj,v_proj; or all-linear).") String[] loraTargets;
    @Option(names = "--rslora", description = "Scale LoRA by alpha/sqrt(r).") Boolean rslora;
    @Option(names = "--dora", description = "LoRA as DoRA (weight-decomposed: a trained magnitude per output row).") Boolean dora;
    @Option(names = "--prefix-tokens", paramLabel = "N", description = "Prefix tuning: virtual tokens (default 10).") Integer prefixTokens;
    @Option(names = "--prefix-projection", paramLabel = "HIDDEN", description = "Prefix tuning: train through an MLP of this width.") Integer prefixProjection;
    @Option(names = "--adapter-len", paramLabel = "N", description = "LLaMA-Adapter: prompt vectors per layer (default 10).") Integer adapterLen;
    @Option(names = "--adapter-start-layer", paramLabel = "L", description = "LLaMA-Adapter: first adapted layer (default 2).") Integer adapterStartLayer;
    @Option(names = "--adapter-gate", paramLabel = "layer|head", description = "LLaMA-Adapter: one gate per layer (default, as Hugging Face PEFT; "
            + "the files load there) or per head (as the paper; PEFT cannot load it).") String adapterGate;

    /** Installs every method of {@code --method} on the model. */
    void install(PeftModel model, PeftMethods methods) {
        JsonNode file = null;
        if (methodConfig != null) {
            try {
                file = methods.json().readTree(Files.readString(methodConfig));
            } catch (IOException e) {
                throw new UserException("--method-config: cannot read " + methodConfig + ": " + e.getMessage(), e);
            }
            if (file == null || !file.isObject()) throw new UserException("--method-config: " + methodConfig + " must hold a JSON object keyed by method name");
            for (Iterator<String> it = file.fieldNames(); it.hasNext(); ) {
                String name = it.next();
                if (!Arrays.asList(method.split("\\+")).contains(name)) {
                    throw new UserException("--method-config: " + methodConfig + " configures '" + name + "', which --method " + method + " does not use");
                }
            }
        }
        for (String name : method.split("\\+")) {
            PeftMethod<?> m = methods.get(name.trim());
            ObjectNode cfg = methods.json().valueToTree(m.defaultConfig());
            if (file != null && file.has(name)) {
                if (!file.get(name).isObject()) throw new UserException("--method-config: \"" + name + "\" must be an object");
                cfg.setAll((ObjectNode) file.get(name));
            }
            flags(name, cfg);
            installOne(model, methods, m, cfg);
        }
    }

    private static <C extends PeftConfig> void installOne(PeftModel model, PeftMethods methods, PeftMethod<C> m, ObjectNode cfg) {
        model.install(m, methods.readConfig(m, cfg.toString(), "options of " + m.name()));
    }

    private void flags(String name, ObjectNode cfg) {
        Map<String, Object> set = new java.util.LinkedHashMap<>();
        switch (name) {
            case "lora" -> {
                set.put("r", loraR);
                set.put("lora_alpha", loraAlpha);
                set.put("lora_dropout", loraDropout);
                set.put("use_rslora", rslora);
                set.put("use_dora", dora);
                if (loraTargets != null) {
                    set.put("target_modules", loraTargets.length == 1 && loraTargets[0].equals("all-linear") ? "all-linear" : Arrays.asList(loraTargets));
                }
            }
            case "prefix" -> {
                set.put("num_virtual_tokens", prefixTokens);
                if (prefixProjection != null) {
                    set.put("prefix_projection", true);
                    set.put("encoder_hidden_size", prefixProjection);
                }
            }
            case "llama-adapter" -> {
                set.put("adapter_len", adapterLen);
                set.put("adapter_start_layer", adapterStartLayer);
                set.put("gate", adapterGate);
            }
            default -> { }
        }
        var mapper = new com.fasterxml.jackson.databind.ObjectMapper();
        set.forEach((k, v) -> {
            if (v != null) cfg.set(k, mapper.valueToTree(v));
        });
    }
}
