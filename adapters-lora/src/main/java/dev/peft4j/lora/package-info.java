/** The LoRA plugin: {@link dev.peft4j.lora.LoraMethod}, its Hugging Face PEFT-compatible config, and its linear hook. */
package dev.peft4j.lora;
