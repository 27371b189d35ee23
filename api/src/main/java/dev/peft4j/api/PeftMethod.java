package dev.peft4j.api;

/**
 * A parameter-efficient fine-tuning method: a plugin found with {@link java.util.ServiceLoader}.
 * It installs itself through the narrow {@link InstallContext} and never sees the model.
 *
 * @param <C> its config record
 */
public interface PeftMethod<C extends PeftConfig> {
    /** The name users ask for: "lora", "llama-adapter", "prefix", "full". */
    String name();

    String version();

    /** One line for {@code peft4j plugins}. */
    String description();

    /** Hugging Face PEFT's {@code peft_type} of its adapter files, e.g. "LORA". */
    String peftType();

    /** Every {@code peft_type} its files may carry (a method with variants saved under their own type); {@link #peftType()} first. */
    default java.util.List<String> peftTypes() {
        return java.util.List.of(peftType());
    }

    Class<C> configType();

    /** The config used when the user gives no options. */
    C defaultConfig();

    /** Whether two instances may be installed on one model in the same run (false for most). */
    default boolean stackable() {
        return false;
    }

    /** Whether it must be the only method on a model (full fine-tuning). */
    default boolean exclusive() {
        return false;
    }

    /** The command-line flags it offers for its config's fields ({@code --lora-r}); none by default. */
    default java.util.List<MethodOption> options() {
        return java.util.List.of();
    }

    /** Installs one instance on a model; throws {@link UserException} if the config does not fit the model. */
    Adapter install(C config, InstallContext context);
}
