/**
 * LLaMA models: {@link dev.peft4j.models.LlamaConfig}, {@link dev.peft4j.models.LlamaWeights} (float32, canonical
 * layout) and {@link dev.peft4j.models.LlamaModel}, the inference forward over a KV cache.
 */
package dev.peft4j.models;
