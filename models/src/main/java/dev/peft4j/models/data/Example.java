package dev.peft4j.models.data;

import java.util.Objects;

/**
 * One instruction-tuning example as the dataset gives it: an instruction, an optional input (the
 * Alpaca {@code input}, Dolly's {@code context}; empty when absent) and the expected output (the
 * Alpaca {@code output}, Dolly's {@code response}).
 */
public record Example(String instruction, String input, String output) {
    public Example {
        Objects.requireNonNull(instruction, "instruction");
        Objects.requireNonNull(output, "output");
        if (input == null) input = "";
    }

    /** The Alpaca prompt of this example: everything the model reads before the output. */
    public String prompt() {
        return AlpacaTemplate.prompt(instruction, input);
    }
}
