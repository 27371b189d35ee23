/** Checkpoint readers and writers: llama2.c {@code .bin} and Hugging Face safetensors. */
package dev.peft4j.models.io;
