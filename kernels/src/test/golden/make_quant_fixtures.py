"""Writes the GGML codec fixtures under kernels/src/test/resources/quant/ with llama.cpp's gguf-py
(the `gguf` package; run with /opt/peer/bin/python from any directory, then commit the outputs).

For each type NAME (f16, bf16, q8_0, q4_0, q4_k, q6_k) it writes
  NAME.in.f32      float32 little-endian input (quantisable types only),
  NAME.bytes       the stored blocks: gguf-py's quantisation of the input, or, for Q4_K and Q6_K
                   (which gguf-py only dequantises), random block bytes with valid f16 scales,
  NAME.out.f32     gguf-py's dequantisation of NAME.bytes.
The Java tests quantise NAME.in.f32 and dequantise NAME.bytes and compare bit for bit.
"""
import os

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import quants

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "resources", "quant")
rng = np.random.default_rng(13)


def bits(u32):
    return np.array(u32, dtype=np.uint32).view(np.float32)


def float_edges():
    """Edge values for the 16-bit float conversions: signed zeros, infinities, NaNs with payloads,
    overflow, subnormals of both targets, and exact rounding ties."""
    e = [0.0, -0.0, 1.0, -1.0, 65504.0, 65519.0, 65520.0, -65520.0, 1e-8, 6e-8, -3e-8, 5.96e-8, 6.1e-5,
         np.inf, -np.inf, 3.0e38, -3.0e38, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 1 + 2 ** -8, 1 + 3 * 2 ** -8,
         1e-40, -1e-45, 2 ** -24, 2 ** -25, 3 * 2 ** -26]
    nans = bits([0x7FC00000, 0xFFC00000, 0x7F800001, 0xFF812345, 0x7FFFFFFF, 0x7FA00000])
    return np.concatenate([np.array(e, dtype=np.float32), nans])


def blocks_q8_0():
    b = [rng.standard_normal(32) * 0.05, rng.standard_normal(32) * 3, np.zeros(32),
         rng.standard_normal(32) * 1e-9, np.full(32, -2.5), rng.standard_normal(32) * 1e4]
    ties = np.arange(32, dtype=np.float64) - 15.5  # with 127 present, d = 1 and these are exact halves
    ties[0] = 127.0
    b.append(ties)
    return np.concatenate(b).astype(np.float32)


def blocks_q4_0():
    b = [rng.standard_normal(32) * 0.05, rng.standard_normal(32) * 3, np.zeros(32), rng.standard_normal(32) * 1e-9]
    tie = rng.standard_normal(32)
    tie[3], tie[9] = -4.0, 4.0  # equal magnitudes: the first one is the block's max
    b.append(tie)
    halves = (np.arange(32) % 17 - 8) * 0.5  # max -8 gives d = 1: exact x + 8.5 values
    halves[0] = -8.0
    b.append(halves)
    b.append(np.full(32, 7.0))
    return np.concatenate(b).astype(np.float32)


def half_scales(n):
    """Valid f16 scales: random ones plus zero, negative, subnormal and the largest."""
    d = (rng.standard_normal(n) * 0.01).astype(np.float16)
    edge = np.array([0.0, -0.02, 6e-8, 65504.0], dtype=np.float16)
    d[:len(edge)] = edge[:n]
    return d


def blocks_q4_k(n=6):
    b = rng.integers(0, 256, size=(n, 144), dtype=np.uint8)
    b[:, 0:2] = half_scales(n).view(np.uint8).reshape(n, 2)
    b[:, 2:4] = half_scales(n)[::-1].copy().view(np.uint8).reshape(n, 2)
    return b


def blocks_q6_k(n=6):
    b = rng.integers(0, 256, size=(n, 210), dtype=np.uint8)
    b[:, 208:210] = half_scales(n).view(np.uint8).reshape(n, 2)
    return b


def write(name, data, stored, qtype):
    if data is not None:
        data.astype("<f4").tofile(os.path.join(OUT, name + ".in.f32"))
    stored = np.ascontiguousarray(stored).view(np.uint8)
    stored.tofile(os.path.join(OUT, name + ".bytes"))
    out = quants.dequantize(stored, qtype).astype("<f4")
    out.tofile(os.path.join(OUT, name + ".out.f32"))
    print(name, "in", 0 if data is None else data.size, "bytes", stored.size, "out", out.size)


def main():
    os.makedirs(OUT, exist_ok=True)
    floats = np.concatenate([float_edges(), (rng.standard_normal(64) * 2).astype(np.float32)])
    write("f16", floats, quants.quantize(floats, T.F16), T.F16)
    write("bf16", floats, quants.quantize(floats, T.BF16), T.BF16)
    q8 = blocks_q8_0()
    write("q8_0", q8, quants.quantize(q8.reshape(-1, 32), T.Q8_0), T.Q8_0)
    q4 = blocks_q4_0()
    write("q4_0", q4, quants.quantize(q4.reshape(-1, 32), T.Q4_0), T.Q4_0)
    write("q4_k", None, blocks_q4_k(), T.Q4_K)
    write("q6_k", None, blocks_q6_k(), T.Q6_K)


if __name__ == "__main__":
    main()
