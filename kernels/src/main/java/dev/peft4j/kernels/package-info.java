/**
 * The LLaMA kernel set. Every op is a static forward (and, for training, backward) over flat
 * {@code float[]} buffers with explicit offsets and dimensions, in the style TornadoVM compiles:
 * no objects, no exceptions, loops over primitive arrays.
 */
package dev.peft4j.kernels;
