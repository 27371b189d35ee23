"""Reads GGUF files that peft4j wrote with llama.cpp's gguf-py (GGUFReader) and checks them: llama
metadata, tokenizer arrays, every tensor's type/shape/alignment, and gguf-py's dequantisation of each
tensor against the float32 weights it was written from (the fixtures' .expected directories; q/k rows
permuted to Meta order as llama.cpp's converter does), within the storage type's rounding.

Make the files with the GGUF test, then run this with /opt/peer/bin/python:
  mvn -B -o -q -pl models -am test -Dtest=GgufCheckpointTest -Dpeft4j.gguf.out=/tmp/peft4j-gguf-out
  /opt/peer/bin/python models/src/test/golden/check_gguf_with_gguf_py.py /tmp/peft4j-gguf-out
"""
import os
import sys

import numpy as np
from gguf import GGUFReader, GGMLQuantizationType as T
from gguf import quants
from safetensors.numpy import load_file

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "resources", "dev", "peft4j", "models", "io", "gguf")
HF = {"token_embd": "model.embed_tokens.weight", "output_norm": "model.norm.weight", "output": "lm_head.weight"}
PART = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj",
        "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj", "attn_norm": "input_layernorm",
        "ffn_norm": "post_attention_layernorm"}
TOL = {T.F32: 0, T.F16: 2 ** -11, T.BF16: 2 ** -8, T.Q8_0: 1 / 127, T.Q4_0: 1 / 7}


def hf_name(name):
    base = name[:-len(".weight")]
    if base in HF:
        return HF[base]
    _, layer, part = base.split(".")
    return f"model.layers.{layer}.{PART[part]}.weight"


def to_meta(w, heads):
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def field(r, key):
    f = r.fields[key]
    return f.contents()


def check(path, expected_dir):
    r = GGUFReader(path)
    assert field(r, "general.architecture") == "llama"
    heads = field(r, "llama.attention.head_count")
    kv = field(r, "llama.attention.head_count_kv")
    tokens = field(r, "tokenizer.ggml.tokens")
    ref = load_file(os.path.join(expected_dir, "model.safetensors"))
    worst = {}
    for t in r.tensors:
        assert t.data_offset % r.alignment == 0, t.name
        if t.name == "rope_freqs.weight":
            continue
        values = quants.dequantize(t.data, t.tensor_type).reshape(ref[hf_name(t.name)].shape)
        want = ref[hf_name(t.name)]
        if t.name.endswith("attn_q.weight"):
            want = to_meta(want, heads)
        if t.name.endswith("attn_k.weight"):
            want = to_meta(want, kv)
        scale = np.abs(want).max()
        err = np.abs(values - want).max() / scale
        assert err <= TOL[t.tensor_type] + 1e-7, (t.name, t.tensor_type.name, err)
        worst[t.tensor_type.name] = max(worst.get(t.tensor_type.name, 0), err)
    assert len(tokens) == [t for t in r.tensors if t.name == "token_embd.weight"][0].shape[1]
    print(f"{os.path.basename(path)}: GGUF v{field(r, 'GGUF.version')}, {len(r.fields)} fields, {len(r.tensors)} tensors, "
          f"tokenizer {field(r, 'tokenizer.ggml.model')} with {len(tokens)} tokens (first {tokens[:3]}), "
          f"bos {field(r, 'tokenizer.ggml.bos_token_id')}; worst error / max|w| by type {worst}")


def main():
    out = sys.argv[1]
    check(os.path.join(out, "peft4j-spm-q8_0.gguf"), os.path.join(FIX, "llama-spm.expected"))
    check(os.path.join(out, "peft4j-bpe-f16.gguf"), os.path.join(FIX, "llama-bpe.expected"))


if __name__ == "__main__":
    main()
