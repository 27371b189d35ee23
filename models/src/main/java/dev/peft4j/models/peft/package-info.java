/**
 * The host side of the PEFT SPI: {@link dev.peft4j.models.peft.PeftModel} implements the install context,
 * {@link dev.peft4j.models.peft.Hooks} runs the installed hooks, {@link dev.peft4j.models.peft.PeftMethods}
 * discovers plugins, {@link dev.peft4j.models.peft.AdapterFiles} reads and writes adapter-only checkpoints.
 */
package dev.peft4j.models.peft;
