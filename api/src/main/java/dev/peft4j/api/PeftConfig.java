package dev.peft4j.api;

import com.fasterxml.jackson.annotation.JsonTypeInfo;

/**
 * A method's configuration: a Jackson record, polymorphic on {@code peft_type} (Hugging Face
 * PEFT's field, e.g. "LORA"). The registry binds each discovered method's config type to its
 * {@link PeftMethod#peftType()}.
 */
@JsonTypeInfo(use = JsonTypeInfo.Id.NAME, include = JsonTypeInfo.As.EXISTING_PROPERTY, property = "peft_type", visible = true)
public interface PeftConfig {
    /** The {@code peft_type} this config is saved under. */
    String peftType();
}
