"""Makes the golden checkpoint pair used by GoldenCheckpointTest.

One tiny random LLaMA (untied, GQA) saved twice with PyTorch (Debian's /usr/bin/python3, torch 1.13):
  hf/config.json + hf/model.safetensors  Hugging Face layout (q/k rows in rotate-half order)
  model.bin                              llama2.c legacy v0 layout: q/k rows permuted back to Meta's
                                         interleaved order, RoPE tables from torch in float32
The safetensors file is written by hand (the format is 8 bytes + JSON + raw data), so no extra
packages are needed. Run from this directory: /usr/bin/python3 make_golden.py
"""
import json
import os
import struct

import torch

torch.manual_seed(1234)
dim, hidden, layers, heads, kv_heads, vocab, seq = 8, 12, 2, 2, 1, 5, 4
hd = dim // heads
kv_dim = kv_heads * hd

def r(*shape):
    return torch.randn(*shape, dtype=torch.float32)

hf = {"model.embed_tokens.weight": r(vocab, dim)}
for l in range(layers):
    p = f"model.layers.{l}."
    hf[p + "self_attn.q_proj.weight"] = r(dim, dim)
    hf[p + "self_attn.k_proj.weight"] = r(kv_dim, dim)
    hf[p + "self_attn.v_proj.weight"] = r(kv_dim, dim)
    hf[p + "self_attn.o_proj.weight"] = r(dim, dim)
    hf[p + "mlp.gate_proj.weight"] = r(hidden, dim)
    hf[p + "mlp.up_proj.weight"] = r(hidden, dim)
    hf[p + "mlp.down_proj.weight"] = r(dim, hidden)
    hf[p + "input_layernorm.weight"] = 1 + 0.1 * r(dim)
    hf[p + "post_attention_layernorm.weight"] = 1 + 0.1 * r(dim)
hf["model.norm.weight"] = 1 + 0.1 * r(dim)
hf["lm_head.weight"] = r(vocab, dim)

# --- Hugging Face directory
os.makedirs("hf", exist_ok=True)
header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
for name, t in hf.items():
    b = t.contiguous().numpy().astype("<f4").tobytes()
    header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
    blobs.append(b)
    off += len(b)
hj = json.dumps(header).encode()
hj += b" " * ((8 - len(hj) % 8) % 8)
with open("hf/model.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(hj)) + hj + b"".join(blobs))
config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": dim, "intermediate_size": hidden,
          "num_hidden_layers": layers, "num_attention_heads": heads, "num_key_value_heads": kv_heads, "vocab_size": vocab,
          "max_position_embeddings": seq, "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "rope_scaling": None,
          "tie_word_embeddings": False, "torch_dtype": "float32", "bos_token_id": 1, "eos_token_id": 2}
with open("hf/config.json", "w") as f:
    json.dump(config, f, indent=2)

# --- llama2.c legacy .bin
def to_meta(w, n_heads):
    # HF row (head, s*hd/2 + i) -> Meta row (head, 2i + s)
    d1, d2 = w.shape
    return w.view(n_heads, 2, d1 // n_heads // 2, d2).transpose(1, 2).reshape(d1, d2)

freqs = 1.0 / (10000.0 ** (torch.arange(0, hd, 2)[: hd // 2].float() / hd))
angles = torch.outer(torch.arange(seq * 2), freqs).float()
cos, sin = torch.cos(angles)[:seq], torch.sin(angles)[:seq]

L = lambda key: [hf[f"model.layers.{l}.{key}"] for l in range(layers)]
order = [hf["model.embed_tokens.weight"]] + L("input_layernorm.weight") \
    + [to_meta(w, heads) for w in L("self_attn.q_proj.weight")] + [to_meta(w, kv_heads) for w in L("self_attn.k_proj.weight")] \
    + L("self_attn.v_proj.weight") + L("self_attn.o_proj.weight") + L("post_attention_layernorm.weight") \
    + L("mlp.gate_proj.weight") + L("mlp.down_proj.weight") + L("mlp.up_proj.weight") \
    + [hf["model.norm.weight"], cos, sin, hf["lm_head.weight"]]
with open("model.bin", "wb") as f:
    f.write(struct.pack("<7i", dim, hidden, layers, heads, kv_heads, -vocab, seq))
    for t in order:
        f.write(t.contiguous().numpy().astype("<f4").tobytes())
