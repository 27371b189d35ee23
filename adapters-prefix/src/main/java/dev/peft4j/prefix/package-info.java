/** Prefix tuning ({@link dev.peft4j.prefix.PrefixTuningMethod}) and LLaMA-Adapter ({@link dev.peft4j.prefix.LlamaAdapterMethod}) plugins. */
package dev.peft4j.prefix;
