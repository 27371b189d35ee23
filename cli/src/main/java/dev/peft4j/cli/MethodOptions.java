package dev.peft4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.peft4j.api.MethodOption;
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
import java.util.LinkedHashMap;
import java.util.Map;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code --method a+b} and each method's options, as flags or as a JSON file
 * ({@code {"lora": {"r": 16, ...}, "prefix": {...}}}, field names as in adapter_config.json).
 * Flags win over the file, the file over the method's defaults. The flags are the methods' own
 * ({@link PeftMethod#options()}), added to the command by {@link #register}: nothing here knows a method.
 */
final class MethodOptions {
    @Option(names = "--method", defaultValue = "lora", paramLabel = "M[+M...]",
            description = "Methods to train together, e.g. lora, full, lora+prefix+llama-adapter (default: ${DEFAULT-VALUE}).")
    String method;

    @Option(names = "--method-config", paramLabel = "FILE.json", description = "Per-method options: {\"lora\": {\"r\": 16}, ...}.")
    Path methodConfig;

    /** finetune's spec, where {@link #register} added the methods' flags (null when built in code, as the demo does). */
    @Spec(Spec.Target.MIXEE) CommandSpec spec;

    /** Values set in code, by method name then config field (the demo's); flags win over them. */
    private final Map<String, Map<String, Object>> set = new LinkedHashMap<>();

    /** Sets a field of a method's config, as its flag would. */
    MethodOptions set(String method, String field, Object value) {
        set.computeIfAbsent(method, k -> new LinkedHashMap<>()).put(field, value);
        return this;
    }

    /**
     * Adds every discovered method's flags ({@link PeftMethod#options()}) to a command that installs methods, in
     * method-name order; a flag two methods declare, or one the command has already, is an error naming them.
     */
    static void register(CommandSpec command, PeftMethods methods) {
        Map<String, String> owner = new LinkedHashMap<>();
        for (PeftMethods.Found f : methods.all()) {
            for (MethodOption o : f.method().options()) {
                String other = owner.putIfAbsent(o.flag(), f.method().name());
                if (other != null || command.findOption(o.flag()) != null) {
                    throw new UserException("PEFT plugin '" + f.method().name() + "' (" + f.source() + ") declares the flag " + o.flag()
                            + (other != null ? ", which '" + other + "' declares too" : ", which " + command.name() + " has already"));
                }
                OptionSpec.Builder b = OptionSpec.builder(o.flag()).description(o.description()).hasInitialValue(false);
                switch (o.kind()) {
                    case INT -> b.type(Integer.class).paramLabel(o.paramLabel());
                    case DOUBLE -> b.type(Double.class).paramLabel(o.paramLabel());
                    case STRING -> b.type(String.class).paramLabel(o.paramLabel());
                    case FLAG -> b.type(Boolean.class).arity("0");
                    case LIST -> b.type(String[].class).splitRegex(",").paramLabel(o.paramLabel());
                }
                command.addOption(b.build());
            }
        }
    }

    /** The plugins directory a command line names ({@code --plugins DIR} or {@code --plugins=DIR}), or null. */
    static Path pluginsDir(String[] args) {
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--plugins") && i + 1 < args.length) return Path.of(args[i + 1]);
            if (args[i].startsWith("--plugins=")) return Path.of(args[i].substring("--plugins=".length()));
        }
        return null;
    }

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
            flags(m, cfg);
            installOne(model, methods, m, cfg);
        }
    }

    private static <C extends PeftConfig> void installOne(PeftModel model, PeftMethods methods, PeftMethod<C> m, ObjectNode cfg) {
        model.install(m, methods.readConfig(m, cfg.toString(), "options of " + m.name()));
    }

    /** Over cfg: the values set in code, then the method's flags given on the command line (which win). */
    private void flags(PeftMethod<?> m, ObjectNode cfg) {
        var mapper = new com.fasterxml.jackson.databind.ObjectMapper();
        Map<String, Object> coded = set.getOrDefault(m.name(), Map.of());
        coded.forEach((k, v) -> cfg.set(k, mapper.valueToTree(v)));
        for (MethodOption o : m.options()) {
            OptionSpec given = spec == null ? null : spec.findOption(o.flag());
            Object v = given == null ? null : given.getValue();
            if (v == null) continue;
            if (v instanceof String[] list) v = list.length == 1 && o.words().contains(list[0]) ? list[0] : Arrays.asList(list);
            cfg.set(o.field(), mapper.valueToTree(v));
            o.alsoSets().forEach((k, x) -> cfg.set(k, mapper.valueToTree(x)));
        }
    }
}
