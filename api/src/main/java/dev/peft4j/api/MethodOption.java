package dev.peft4j.api;

import java.util.List;
import java.util.Map;

/**
 * A command-line flag a method offers for one field of its config, the field named as in its config JSON
 * ({@code adapter_config.json}): LoRA's {@code --lora-r} sets {@code r}. The CLI adds the flags of every
 * discovered method (class path and {@code --plugins}) to the commands that install methods, and a flag given
 * sets its field, and {@code alsoSets}, over the method's defaults and its {@code --method-config} entry. The CLI
 * knows no method's flags.
 *
 * @param flag        the flag, with its dashes ({@code --lora-r}); unique among all methods' flags
 * @param field       the config field it sets
 * @param kind        how its value is read
 * @param paramLabel  the value's name in the help ({@code R}); unused for {@link Kind#FLAG}
 * @param description one line for the help
 * @param alsoSets    further fields set, to these values, whenever the flag is given (empty for most)
 * @param words       for {@link Kind#LIST}: values that, given alone, are set as that string rather than as a
 *                    list of one ({@code all-linear})
 */
public record MethodOption(String flag, String field, Kind kind, String paramLabel, String description, Map<String, Object> alsoSets,
                           List<String> words) {
    /** How a flag's value is read. */
    public enum Kind {
        /** An integer. */
        INT,
        /** A number. */
        DOUBLE,
        /** A string. */
        STRING,
        /** No value: the field is set to true. */
        FLAG,
        /** Comma-separated strings, set as a list. */
        LIST
    }

    public MethodOption {
        if (!flag.startsWith("--")) throw new IllegalArgumentException("a method's flag starts with --: " + flag);
        alsoSets = Map.copyOf(alsoSets);
        words = List.copyOf(words);
    }

    public static MethodOption of(String flag, String field, Kind kind, String paramLabel, String description) {
        return new MethodOption(flag, field, kind, paramLabel, description, Map.of(), List.of());
    }

    /** The same flag, also setting these fields when given. */
    public MethodOption alsoSetting(Map<String, Object> fields) {
        return new MethodOption(flag, field, kind, paramLabel, description, fields, words);
    }

    /** The same list flag, with values that alone are set as a string. */
    public MethodOption withWords(String... words) {
        return new MethodOption(flag, field, kind, paramLabel, description, alsoSets, List.of(words));
    }
}
