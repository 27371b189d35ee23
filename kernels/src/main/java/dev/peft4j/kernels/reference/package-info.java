/** Plain references of every kernel: simple loops, double accumulators. Tests use them as the oracle. */
package dev.peft4j.kernels.reference;
