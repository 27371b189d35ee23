/** Tokenizers: SentencePiece {@code .model}, llama2.c {@code tokenizer.bin}, Hugging Face {@code tokenizer.json}. */
package dev.peft4j.models.tokenizer;
