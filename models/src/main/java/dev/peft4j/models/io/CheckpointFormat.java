package dev.peft4j.models.io;

/** The on-disk layouts of a full model checkpoint. */
public enum CheckpointFormat {
    /** llama2.c's legacy {@code .bin}: a 7 x int32 header, then float32 tensors (Meta RoPE layout). */
    LLAMA2C,
    /** Hugging Face: a directory with {@code config.json} and {@code model.safetensors} (or shards + index). */
    HF,
    /** llama.cpp's GGUF: one file with metadata, tokenizer and (possibly quantised) tensors ({@link GgufCheckpoint}). */
    GGUF
}
