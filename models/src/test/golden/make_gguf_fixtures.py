"""Writes tiny LLaMA GGUF files with llama.cpp's own gguf-py (GGUFWriter), and beside each the float32
model they must read as (a Hugging Face directory: config.json + model.safetensors, dequantised by
gguf-py, q/k rows back in Hugging Face order). Run with /opt/peer/bin/python from any directory;
commit the outputs under models/src/test/resources/dev/peft4j/models/io/gguf/.

  llama-spm.gguf  SentencePiece-style vocabulary ("llama": tokens, scores, token types) taken from
                  tokenizer/bpe-bytefallback.model; untied; F32 norms, F16 and Q8_0 weights.
  llama-bpe.gguf  byte-level BPE vocabulary ("gpt2", pre "llama-bpe": tokens, types, merges) from
                  tokenizer/hf-bytelevel.tokenizer.json; tied; GQA; LLaMA 3 RoPE scaling as
                  rope_freqs.weight; BF16, Q4_0, Q8_0, F16, and Q4_K / Q6_K (random blocks with valid
                  f16 scales, which gguf-py can store but not make).

The q/k rows are permuted into Meta's interleaved order exactly as llama.cpp's convert_hf_to_gguf.py
does (reshape(heads, 2, head_dim/2, in).swapaxes(1, 2)).
"""
import json
import os

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf import quants
import sentencepiece as spm
from safetensors.numpy import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
RES = os.path.join(HERE, "..", "resources")
OUT = os.path.join(RES, "dev", "peft4j", "models", "io", "gguf")
rng = np.random.default_rng(2024)


def to_meta(w, heads):
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def to_hf(w, heads):
    return w.reshape(heads, w.shape[0] // heads // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def random_k_blocks(qtype, rows, cols):
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    n = rows * cols // block
    b = rng.integers(0, 256, size=(n, size), dtype=np.uint8)
    d = (rng.standard_normal(n) * 0.002).astype(np.float16).view(np.uint8).reshape(n, 2)
    if qtype == T.Q4_K:
        b[:, 0:2] = d
        b[:, 2:4] = (rng.standard_normal(n) * 0.002).astype(np.float16).view(np.uint8).reshape(n, 2)
    else:
        b[:, size - 2:size] = d
    return b.reshape(rows, cols // block * size)


def store(writer, name, w_hf, qtype, heads=0):
    """Adds tensor `name` (PyTorch shape, HF row order) as qtype; returns what peft4j must read back."""
    w = to_meta(w_hf, heads) if heads else w_hf
    w = w.astype(np.float32)
    if qtype == T.F32:
        stored, raw = w, None
    elif qtype == T.F16:
        stored, raw = w.astype(np.float16), None
    elif qtype in (T.Q4_K, T.Q6_K):
        stored, raw = random_k_blocks(qtype, w.shape[0], w.shape[1]), qtype
    else:
        stored, raw = quants.quantize(w, qtype), qtype
    writer.add_tensor(name, stored, raw_dtype=raw)
    back = quants.dequantize(stored.view(np.uint8) if raw is not None else stored, qtype).reshape(w.shape).astype(np.float32)
    return to_hf(back, heads) if heads else back


def model(path, cfg, types, tokenizer):
    d, h, layers, heads, kv, vocab = cfg["dim"], cfg["hidden"], cfg["layers"], cfg["heads"], cfg["kv_heads"], cfg["vocab"]
    hd = d // heads
    w = gguf.GGUFWriter(os.path.join(OUT, path + ".gguf"), "llama")
    w.add_name("tiny " + path)
    w.add_context_length(cfg["ctx"])
    w.add_embedding_length(d)
    w.add_block_count(layers)
    w.add_feed_forward_length(h)
    w.add_rope_dimension_count(hd)
    w.add_head_count(heads)
    w.add_head_count_kv(kv)
    w.add_layer_norm_rms_eps(cfg["eps"])
    w.add_rope_freq_base(cfg["theta"])
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    tokenizer(w)
    ref = {}

    def normal(*shape, std=0.1):
        return (rng.standard_normal(shape) * std).astype(np.float32)

    if cfg.get("llama3_factor"):
        factor, low, high, old = cfg["llama3_factor"], 1.0, 4.0, 8192
        freqs = 1.0 / (cfg["theta"] ** (np.arange(0, hd, 2, dtype=np.float64) / hd))
        divisors = []
        for f in freqs:
            wavelen = 2 * np.pi / f
            if wavelen < old / high:
                divisors.append(1.0)
            elif wavelen > old / low:
                divisors.append(factor)
            else:
                smooth = (old / wavelen - low) / (high - low)
                divisors.append(1 / ((1 - smooth) / factor + smooth))
        w.add_tensor("rope_freqs.weight", np.array(divisors, dtype=np.float32))

    ref["model.embed_tokens.weight"] = store(w, "token_embd.weight", normal(vocab, d), types["token_embd"])
    for l in range(layers):
        p, q = f"blk.{l}.", f"model.layers.{l}."
        ref[q + "input_layernorm.weight"] = store(w, p + "attn_norm.weight", 1 + normal(d), T.F32)
        ref[q + "self_attn.q_proj.weight"] = store(w, p + "attn_q.weight", normal(d, d), types["attn_q"], heads)
        ref[q + "self_attn.k_proj.weight"] = store(w, p + "attn_k.weight", normal(kv * hd, d), types["attn_k"], kv)
        ref[q + "self_attn.v_proj.weight"] = store(w, p + "attn_v.weight", normal(kv * hd, d), types["attn_v"])
        ref[q + "self_attn.o_proj.weight"] = store(w, p + "attn_output.weight", normal(d, d), types["attn_output"])
        ref[q + "post_attention_layernorm.weight"] = store(w, p + "ffn_norm.weight", 1 + normal(d), T.F32)
        ref[q + "mlp.gate_proj.weight"] = store(w, p + "ffn_gate.weight", normal(h, d), types["ffn_gate"])
        ref[q + "mlp.up_proj.weight"] = store(w, p + "ffn_up.weight", normal(h, d), types["ffn_up"])
        ref[q + "mlp.down_proj.weight"] = store(w, p + "ffn_down.weight", normal(d, h), types["ffn_down"][l % len(types["ffn_down"])])
    ref["model.norm.weight"] = store(w, "output_norm.weight", 1 + normal(d), T.F32)
    if not cfg["tied"]:
        ref["lm_head.weight"] = store(w, "output.weight", normal(vocab, d), types["output"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    ref_dir = os.path.join(OUT, path + ".expected")
    os.makedirs(ref_dir, exist_ok=True)
    save_file({k: np.ascontiguousarray(v) for k, v in ref.items()}, os.path.join(ref_dir, "model.safetensors"), {"format": "pt"})
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": d, "intermediate_size": h,
              "num_hidden_layers": layers, "num_attention_heads": heads, "num_key_value_heads": kv, "vocab_size": vocab,
              "max_position_embeddings": cfg["ctx"], "rms_norm_eps": cfg["eps"], "rope_theta": cfg["theta"],
              "tie_word_embeddings": cfg["tied"], "hidden_act": "silu",
              "rope_scaling": None if not cfg.get("llama3_factor") else {
                  "rope_type": "llama3", "factor": cfg["llama3_factor"], "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                  "original_max_position_embeddings": 8192}}
    with open(os.path.join(ref_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    print(path, {k: v.shape for k, v in list(ref.items())[:3]}, "...")


def spm_tokenizer(w):
    sp = spm.SentencePieceProcessor(model_file=os.path.join(RES, "tokenizer", "bpe-bytefallback.model"))
    n = sp.vocab_size()
    tokens = [sp.id_to_piece(i) for i in range(n)]
    scores = [sp.get_score(i) for i in range(n)]
    types = []
    for i in range(n):
        if sp.is_unknown(i):
            types.append(gguf.TokenType.UNKNOWN)
        elif sp.is_control(i):
            types.append(gguf.TokenType.CONTROL)
        elif sp.is_byte(i):
            types.append(gguf.TokenType.BYTE)
        elif sp.is_unused(i):
            types.append(gguf.TokenType.UNUSED)
        elif tokens[i] in ("<sep>", "@@"):
            types.append(gguf.TokenType.USER_DEFINED)
        else:
            types.append(gguf.TokenType.NORMAL)
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(sp.bos_id())
    w.add_eos_token_id(sp.eos_id())
    w.add_unk_token_id(sp.unk_id())
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    return n


def bpe_tokenizer(w):
    with open(os.path.join(RES, "tokenizer", "hf-bytelevel.tokenizer.json"), encoding="utf-8") as f:
        tj = json.load(f)
    vocab = tj["model"]["vocab"]
    added = {a["id"]: a for a in tj["added_tokens"]}
    n = max(list(vocab.values()) + list(added)) + 1
    tokens = [None] * n
    types = [gguf.TokenType.NORMAL] * n
    for t, i in vocab.items():
        tokens[i] = t
    for i, a in added.items():
        tokens[i] = a["content"]
        types[i] = gguf.TokenType.CONTROL if a["special"] else gguf.TokenType.USER_DEFINED
    merges = [m if isinstance(m, str) else " ".join(m) for m in tj["model"]["merges"]]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("llama-bpe")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(vocab.get("<|begin_of_text|>", 464))
    w.add_eos_token_id(465)
    w.add_add_bos_token(True)
    return n


def main():
    os.makedirs(OUT, exist_ok=True)
    model("llama-spm", dict(dim=32, hidden=64, layers=2, heads=4, kv_heads=2, vocab=420, ctx=64, eps=1e-5, theta=10000.0, tied=False),
          dict(token_embd=T.F16, attn_q=T.Q8_0, attn_k=T.Q8_0, attn_v=T.F16, attn_output=T.Q8_0, ffn_gate=T.Q8_0,
               ffn_up=T.F16, ffn_down=[T.Q8_0], output=T.Q8_0), spm_tokenizer)
    model("llama-bpe", dict(dim=32, hidden=256, layers=2, heads=4, kv_heads=1, vocab=468, ctx=64, eps=1e-5, theta=500000.0,
                            tied=True, llama3_factor=8.0),
          dict(token_embd=T.Q8_0, attn_q=T.BF16, attn_k=T.Q4_0, attn_v=T.Q8_0, attn_output=T.F16, ffn_gate=T.Q4_0,
               ffn_up=T.BF16, ffn_down=[T.Q4_K, T.Q6_K]), bpe_tokenizer)


if __name__ == "__main__":
    main()
