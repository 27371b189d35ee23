package dev.peft4j.models.data;

/**
 * The Stanford Alpaca prompt template, word for word, in its two variants: with an input (for
 * examples that carry context) and without. The expected response follows the prompt directly.
 */
public final class AlpacaTemplate {
    private static final String WITH_INPUT = "Below is an instruction that describes a task, paired with an input that provides further context. "
            + "Write a response that appropriately completes the request.\n\n";
    private static final String NO_INPUT = "Below is an instruction that describes a task. "
            + "Write a response that appropriately completes the request.\n\n";

    private AlpacaTemplate() {}

    /**
     * The prompt for {@code instruction} and {@code input}: the no-input variant when {@code input}
     * is null or empty (as Stanford Alpaca decides: only the empty string counts as no input).
     */
    public static String prompt(String instruction, String input) {
        if (input == null || input.isEmpty()) {
            return NO_INPUT + "### Instruction:\n" + instruction + "\n\n### Response:\n";
        }
        return WITH_INPUT + "### Instruction:\n" + instruction + "\n\n### Input:\n" + input + "\n\n### Response:\n";
    }
}
