/**
 * The GGML tensor types a frozen base can be stored in, and their scalar codec: {@link
 * dev.peft4j.kernels.quant.GgmlType} (type ids, block sizes), {@link dev.peft4j.kernels.quant.Dequant}
 * (every type to float32) and {@link dev.peft4j.kernels.quant.Quantize} (float32 to F16, BF16, Q8_0,
 * Q4_0 with the rounding of llama.cpp's gguf-py). These are the plain references the compressed
 * matmul kernels are tested against; block layouts follow ggml-common.h.
 */
package dev.peft4j.kernels.quant;
