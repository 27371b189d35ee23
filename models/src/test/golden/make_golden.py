#!/usr/bin/python3
"""Makes peft4j's golden fixtures from an independent PyTorch reference.

Run from the repository root with Debian's interpreter (python3-torch 1.13):

    /usr/bin/python3 models/src/test/golden/make_golden.py

It writes models/src/test/resources/golden/<case>/ and is deterministic: every random
number comes from a torch.Generator with a fixed seed, so a rerun rewrites the same bytes.

The reference LLaMA below is written from the model's equations, twice where the two
checkpoint layouts differ:
  * the Meta / llama2.c layout rotates interleaved pairs (2i, 2i+1) of each head, as a
    complex multiplication;
  * the Hugging Face layout rotates pairs (i, i + head_dim/2) with "rotate half", and its
    q/k weights are the Meta ones under Hugging Face's conversion permutation.
Both are run on every case and must agree. All arithmetic is float64; weights are drawn in
float32 (and for one case rounded to bfloat16) and widened only for the computation.
Checkpoints and expected values are written by hand (struct + json): no safetensors package.
"""

import json
import math
import shutil
import struct
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
import torch.nn.functional as F

OUT = Path(__file__).resolve().parents[1] / "resources" / "golden"
F64 = torch.float64

FORWARD_TOKENS = 12    # logits checked at every one of these positions
PROMPT_TOKENS = 4      # greedy generation: prompt length ...
NEW_TOKENS = 16        # ... and new tokens
LOGITS_RTOL = 1e-4     # max |diff| / max |expected|, per position
MIN_GREEDY_MARGIN = 1e-3  # top-1 minus top-2 logit at each greedy step, so float32 cannot flip it
CASES = ("a1_tied", "a2_untied", "a3_gqa", "a4_llama3_rope", "a5_bf16", "b1_train_gqa", "b2_train_tied")


# ---------------------------------------------------------------------------------------------
# Configuration and weights


@dataclass(frozen=True)
class Config:
    dim: int
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    vocab: int
    seq_len: int
    tied: bool
    eps: float = 1e-5
    theta: float = 10000.0
    scaling: dict = field(default=None, compare=False)  # llama3 rope scaling, or None

    @property
    def head_dim(self):
        return self.dim // self.heads

    @property
    def kv_dim(self):
        return self.kv_heads * self.head_dim

    def hf_config(self, dtype):
        """config.json of a LlamaForCausalLM."""
        return {
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "hidden_act": "silu",
            "hidden_size": self.dim,
            "intermediate_size": self.hidden,
            "num_hidden_layers": self.layers,
            "num_attention_heads": self.heads,
            "num_key_value_heads": self.kv_heads,
            "vocab_size": self.vocab,
            "max_position_embeddings": self.seq_len,
            "rms_norm_eps": self.eps,
            "rope_theta": self.theta,
            "rope_scaling": self.scaling,
            "tie_word_embeddings": self.tied,
            "torch_dtype": dtype,
        }


def layer_names(l):
    p = f"model.layers.{l}."
    return {
        "wq": p + "self_attn.q_proj.weight",
        "wk": p + "self_attn.k_proj.weight",
        "wv": p + "self_attn.v_proj.weight",
        "wo": p + "self_attn.o_proj.weight",
        "gate": p + "mlp.gate_proj.weight",
        "up": p + "mlp.up_proj.weight",
        "down": p + "mlp.down_proj.weight",
        "attn_norm": p + "input_layernorm.weight",
        "ffn_norm": p + "post_attention_layernorm.weight",
    }


def random_weights(cfg, seed, std):
    """float32 weights in the Meta layout, keyed by Hugging Face names, in HF checkpoint order."""
    g = torch.Generator().manual_seed(seed)

    def normal(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float32) * std

    def norm_weight():
        return 1 + 0.1 * torch.randn(cfg.dim, generator=g, dtype=torch.float32)

    w = {"model.embed_tokens.weight": normal(cfg.vocab, cfg.dim)}
    for l in range(cfg.layers):
        n = layer_names(l)
        w[n["wq"]] = normal(cfg.dim, cfg.dim)
        w[n["wk"]] = normal(cfg.kv_dim, cfg.dim)
        w[n["wv"]] = normal(cfg.kv_dim, cfg.dim)
        w[n["wo"]] = normal(cfg.dim, cfg.dim)
        w[n["gate"]] = normal(cfg.hidden, cfg.dim)
        w[n["up"]] = normal(cfg.hidden, cfg.dim)
        w[n["down"]] = normal(cfg.dim, cfg.hidden)
        w[n["attn_norm"]] = norm_weight()
        w[n["ffn_norm"]] = norm_weight()
    w["model.norm.weight"] = norm_weight()
    if not cfg.tied:
        w["lm_head.weight"] = normal(cfg.vocab, cfg.dim)
    return w


def hf_permute(w, n_heads):
    """Hugging Face's conversion of a Meta q/k weight: per head, rows (2i, 2i+1) -> (i, i + hd/2)."""
    rows, cols = w.shape
    return w.view(n_heads, rows // n_heads // 2, 2, cols).transpose(1, 2).reshape(rows, cols)


def meta_to_hf(cfg, meta):
    hf = dict(meta)
    for l in range(cfg.layers):
        n = layer_names(l)
        hf[n["wq"]] = hf_permute(meta[n["wq"]], cfg.heads).contiguous()
        hf[n["wk"]] = hf_permute(meta[n["wk"]], cfg.kv_heads).contiguous()
    return hf


# ---------------------------------------------------------------------------------------------
# The reference model (float64)


def inverse_frequencies(cfg):
    """theta^(-2j/hd) for j < hd/2, then LLaMA 3.1 scaling if configured."""
    hd = cfg.head_dim
    freqs = 1.0 / cfg.theta ** (torch.arange(0, hd, 2, dtype=F64) / hd)
    if cfg.scaling is None:
        return freqs
    s = cfg.scaling
    assert s["rope_type"] == "llama3"
    old_ctx = s["original_max_position_embeddings"]
    low, high, factor = s["low_freq_factor"], s["high_freq_factor"], s["factor"]
    longest_kept = old_ctx / high    # wavelengths below this keep their frequency
    shortest_scaled = old_ctx / low  # wavelengths above this are slowed down by factor
    scaled = []
    for f in freqs.tolist():
        wavelength = 2 * math.pi / f
        if wavelength < longest_kept:
            scaled.append(f)
        elif wavelength > shortest_scaled:
            scaled.append(f / factor)
        else:
            t = (old_ctx / wavelength - low) / (high - low)
            scaled.append((1 - t) * f / factor + t * f)
    return torch.tensor(scaled, dtype=F64)


def rope_meta(x, freqs):
    """x [B][T][heads][hd]: pairs (2i, 2i+1) as complex numbers, times e^(i * pos * freq_i)."""
    T = x.shape[1]
    angles = torch.outer(torch.arange(T, dtype=F64), freqs)              # [T][hd/2]
    cis = torch.polar(torch.ones_like(angles), angles)                   # [T][hd/2] complex
    xc = torch.view_as_complex(x.reshape(*x.shape[:-1], -1, 2).contiguous())
    return torch.view_as_real(xc * cis[None, :, None, :]).flatten(-2)


def rope_hf(x, freqs):
    """x [B][T][heads][hd]: x*cos + rotate_half(x)*sin, pairs (i, i + hd/2)."""
    T = x.shape[1]
    angles = torch.outer(torch.arange(T, dtype=F64), freqs)
    angles = torch.cat((angles, angles), dim=-1)[None, :, None, :]       # [1][T][1][hd]
    first, second = x.chunk(2, dim=-1)
    rotated = torch.cat((-second, first), dim=-1)
    return x * angles.cos() + rotated * angles.sin()


def rmsnorm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps) * w


def forward(cfg, w, tokens, rope, freqs=None):
    """Logits [B][T][vocab] of tokens [B][T]; w: float64 weights in the layout `rope` expects."""
    B, T = tokens.shape
    H, KV, hd = cfg.heads, cfg.kv_heads, cfg.head_dim
    freqs = inverse_frequencies(cfg) if freqs is None else freqs
    causal = torch.ones(T, T, dtype=torch.bool).triu(1)
    x = w["model.embed_tokens.weight"][tokens]                           # [B][T][dim]
    for l in range(cfg.layers):
        n = layer_names(l)
        h = rmsnorm(x, w[n["attn_norm"]], cfg.eps)
        q = rope((h @ w[n["wq"]].T).view(B, T, H, hd), freqs)
        k = rope((h @ w[n["wk"]].T).view(B, T, KV, hd), freqs)
        v = (h @ w[n["wv"]].T).view(B, T, KV, hd)
        k = k.repeat_interleave(H // KV, dim=2)                          # query head h reads kv head h // group
        v = v.repeat_interleave(H // KV, dim=2)
        scores = torch.einsum("bthd,bshd->bhts", q, k) / math.sqrt(hd)   # [B][H][T][T]
        probs = scores.masked_fill(causal, float("-inf")).softmax(dim=-1)
        att = torch.einsum("bhts,bshd->bthd", probs, v).reshape(B, T, cfg.dim)
        x = x + att @ w[n["wo"]].T
        h = rmsnorm(x, w[n["ffn_norm"]], cfg.eps)
        x = x + (F.silu(h @ w[n["gate"]].T) * (h @ w[n["up"]].T)) @ w[n["down"]].T
    x = rmsnorm(x, w["model.norm.weight"], cfg.eps)
    classifier = w["model.embed_tokens.weight"] if cfg.tied else w["lm_head.weight"]
    return x @ classifier.T


def widen(w):
    return {k: v.to(F64) for k, v in w.items()}


def greedy(cfg, w, rope, prompt, n):
    """n argmax tokens, recomputing the whole sequence each step; also the smallest top-1/top-2 gap."""
    ids, margin = list(prompt), math.inf
    for _ in range(n):
        last = forward(cfg, w, torch.tensor([ids]), rope)[0, -1]
        top = last.topk(2)
        margin = min(margin, (top.values[0] - top.values[1]).item())
        ids.append(int(top.indices[0]))
    return ids[len(prompt):], margin


# ---------------------------------------------------------------------------------------------
# Writers


def write_safetensors(path, tensors):
    """tensors: name -> float32 / bfloat16 tensor. Header padded with spaces to 8 bytes."""
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous()
        if t.dtype == torch.float32:
            dtype, data = "F32", t.numpy().astype("<f4").tobytes()
        elif t.dtype == torch.bfloat16:
            dtype, data = "BF16", t.view(torch.int16).numpy().astype("<i2").tobytes()
        else:
            raise ValueError(f"{name}: unsupported dtype {t.dtype}")
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def write_llama2c(path, cfg, meta):
    """llama2.c's legacy .bin: 7 int32 (vocab negative when untied), float32 tensors, Meta layout."""
    assert cfg.eps == 1e-5 and cfg.theta == 10000.0 and cfg.scaling is None, "llama2.c fixes eps and theta"
    vocab = cfg.vocab if cfg.tied else -cfg.vocab
    header = struct.pack("<7i", cfg.dim, cfg.hidden, cfg.layers, cfg.heads, cfg.kv_heads, vocab, cfg.seq_len)
    L = range(cfg.layers)
    parts = [meta["model.embed_tokens.weight"]]
    for key in ("attn_norm", "wq", "wk", "wv", "wo", "ffn_norm", "gate", "down", "up"):
        parts += [meta[layer_names(l)[key]] for l in L]
    parts.append(meta["model.norm.weight"])
    angles = torch.outer(torch.arange(cfg.seq_len, dtype=F64), inverse_frequencies(cfg))  # [seq][hd/2]
    parts += [angles.cos().float(), angles.sin().float()]
    if not cfg.tied:
        parts.append(meta["lm_head.weight"])
    body = b"".join(p.contiguous().numpy().astype("<f4").tobytes() for p in parts)
    path.write_bytes(header + body)


def fresh_dir(name):
    """An empty OUT/name; other folders under OUT are left alone."""
    d = OUT / name
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    return d


def write_json(path, obj):
    path.write_text(json.dumps(obj, indent=2) + "\n")


def ints(xs):
    """Token ids as a float32 tensor (exact below 2^24), to keep readers to float dtypes."""
    return torch.tensor(xs, dtype=torch.float32)


def max_rel_diff(a, b):
    """max over positions of max|a-b| / max|b| along the last dim."""
    return ((a - b).abs().amax(-1) / b.abs().amax(-1)).max().item()


# ---------------------------------------------------------------------------------------------
# Cases


def forward_case(name, description, cfg, seed, std, layouts, bf16=False, meta=None):
    """A forward/generation case: checkpoint(s), expected logits and greedy tokens."""
    meta = random_weights(cfg, seed, std) if meta is None else meta
    if bf16:
        meta = {k: v.to(torch.bfloat16) for k, v in meta.items()}
    hf = meta_to_hf(cfg, meta)
    w_meta, w_hf = widen(meta), widen(hf)

    g = torch.Generator().manual_seed(seed + 1)
    tokens = torch.randint(cfg.vocab, (FORWARD_TOKENS,), generator=g)
    prompt = torch.randint(cfg.vocab, (PROMPT_TOKENS,), generator=g).tolist()

    logits = forward(cfg, w_hf, tokens[None], rope_hf)[0]
    logits_meta = forward(cfg, w_meta, tokens[None], rope_meta)[0]
    agree = max_rel_diff(logits_meta, logits)
    assert agree < 1e-12, f"{name}: Meta and HF references differ by {agree}"
    # The fixture must tell the two pairings apart: HF rotation on Meta rows gives other logits.
    wrong = max_rel_diff(forward(cfg, w_meta, tokens[None], rope_hf)[0], logits)
    assert wrong > 100 * LOGITS_RTOL, f"{name}: RoPE layout barely matters ({wrong})"
    if cfg.scaling is not None:
        plain = forward(cfg, w_hf, tokens[None], rope_hf, freqs=inverse_frequencies(replace(cfg, scaling=None)))[0]
        unscaled = max_rel_diff(plain, logits)
        assert unscaled > 100 * LOGITS_RTOL, f"{name}: rope scaling barely matters ({unscaled})"
        print(f"{name}: without rope scaling the logits would differ by {unscaled:.2g} (relative)")

    generated, margin = greedy(cfg, w_hf, rope_hf, prompt, NEW_TOKENS)
    generated_meta, _ = greedy(cfg, w_meta, rope_meta, prompt, NEW_TOKENS)
    assert generated == generated_meta, f"{name}: greedy differs between layouts"
    assert margin > MIN_GREEDY_MARGIN, f"{name}: greedy step too close to a tie ({margin})"

    d = fresh_dir(name)
    files = {}
    if "llama2c" in layouts:
        write_llama2c(d / "model.bin", cfg, meta)
        files["model.bin"] = "llama2.c legacy checkpoint (Meta RoPE layout, float32)"
    if "hf" in layouts:
        (d / "hf").mkdir()
        write_json(d / "hf" / "config.json", cfg.hf_config("bfloat16" if bf16 else "float32"))
        write_safetensors(d / "hf" / "model.safetensors", hf)
        files["hf/"] = "Hugging Face checkpoint: config.json + model.safetensors (" + ("BF16" if bf16 else "F32") + ")"
    write_safetensors(d / "expected.safetensors", {
        "tokens": ints(tokens.tolist()),
        "logits": logits.float(),
        "prompt": ints(prompt),
        "greedy": ints(generated),
    })
    files["expected.safetensors"] = {
        "tokens": f"[{FORWARD_TOKENS}] token ids (as F32) run from position 0",
        "logits": f"[{FORWARD_TOKENS}][{cfg.vocab}] logits at every position",
        "prompt": f"[{PROMPT_TOKENS}] prompt ids (as F32)",
        "greedy": f"[{NEW_TOKENS}] ids (as F32) of greedy generation from the prompt, no EOS",
    }
    case = {
        "case": name,
        "kind": "forward",
        "description": description,
        "config": cfg.hf_config("bfloat16" if bf16 else "float32"),
        "files": files,
        "weights": {"seed": seed, "std": std, "norm_weights": "1 + 0.1 * N(0,1)",
                    "dtype": "bfloat16 (float32 draws rounded to nearest even)" if bf16 else "float32"},
        "reference": "float64 PyTorch " + torch.__version__ + "; Meta (complex, interleaved) and HF (rotate_half) RoPE agree to "
                     + f"{agree:.1e}",
        "tolerance": {"logits_max_abs_diff_over_max_abs_expected_per_position": LOGITS_RTOL,
                      "greedy": "equal token for token"},
        "greedy_min_top2_margin": round(margin, 6),
    }
    write_json(d / "case.json", case)
    print(f"{name}: logits[0][:4]={logits[0, :4].tolist()} greedy={generated} margin={margin:.3g} layouts-agree={agree:.1e}"
          f" wrong-layout={wrong:.2g}")
    return meta


FINAL_TENSORS_OF = ("model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight",
                    "model.layers.0.self_attn.k_proj.weight", "model.layers.1.mlp.down_proj.weight",
                    "model.layers.1.input_layernorm.weight", "model.norm.weight")


def training_case(name, description, cfg, seed, std):
    """One backward (loss, logits, every gradient) and 5 AdamW steps with clipping on a fixed batch."""
    hf = meta_to_hf(cfg, random_weights(cfg, seed, std))
    B, T = 2, 8
    g = torch.Generator().manual_seed(seed + 1)
    seq = torch.randint(cfg.vocab, (B, T + 1), generator=g)
    inputs, targets = seq[:, :-1], seq[:, 1:]
    mask = torch.ones(B, T, dtype=F64)
    mask[0, :3] = 0  # prompt positions carry no loss
    mask[1, :5] = 0
    lr, betas, eps, wd, clip, steps = 1e-2, (0.9, 0.95), 1e-8, 0.1, 1.0, 5

    params = {k: v.to(F64).clone().requires_grad_(True) for k, v in hf.items()}

    def loss_of(p, rope=rope_hf):
        logits = forward(cfg, p, inputs, rope)
        ce = F.cross_entropy(logits.reshape(-1, cfg.vocab), targets.reshape(-1), reduction="none")
        return (ce * mask.reshape(-1)).sum() / mask.sum(), logits

    loss, logits = loss_of(params)
    loss.backward()
    grads = {k: p.grad.detach().clone() for k, p in params.items()}
    with torch.no_grad():
        meta_loss, _ = loss_of({k: v.to(F64) for k, v in random_weights(cfg, seed, std).items()}, rope_meta)
    assert abs(meta_loss.item() - loss.item()) < 1e-12, f"{name}: Meta and HF losses differ"

    opt = torch.optim.AdamW(params.values(), lr=lr, betas=betas, eps=eps, weight_decay=wd)
    losses, norms = [], []
    for _ in range(steps):
        opt.zero_grad()
        step_loss, _ = loss_of(params)
        step_loss.backward()
        losses.append(step_loss.item())
        norms.append(torch.nn.utils.clip_grad_norm_(list(params.values()), clip).item())
        opt.step()
    with torch.no_grad():
        final_loss = loss_of(params)[0].item()
    assert losses[0] == loss.item()
    assert final_loss < losses[0], f"{name}: training does not reduce the loss"

    d = fresh_dir(name)
    (d / "hf").mkdir()
    write_json(d / "hf" / "config.json", cfg.hf_config("float32"))
    write_safetensors(d / "hf" / "model.safetensors", hf)
    expected = {
        "inputs": inputs.float(), "targets": targets.float(), "mask": mask.float(),
        "loss": torch.tensor([loss.item()], dtype=torch.float32),
        "logits": logits.detach().float(),
    }
    expected.update({"grad." + k: v.float() for k, v in grads.items()})
    expected["losses"] = torch.tensor(losses, dtype=torch.float32)
    expected["grad_norms"] = torch.tensor(norms, dtype=torch.float32)
    expected["final_loss"] = torch.tensor([final_loss], dtype=torch.float32)
    expected.update({"final." + k: params[k].detach().float() for k in FINAL_TENSORS_OF})
    write_safetensors(d / "expected.safetensors", expected)
    case = {
        "case": name,
        "kind": "training",
        "description": description,
        "config": cfg.hf_config("float32"),
        "files": {
            "hf/": "initial weights: Hugging Face checkpoint (config.json + model.safetensors, F32)",
            "expected.safetensors": {
                "inputs": f"[{B}][{T}] input ids (as F32)",
                "targets": f"[{B}][{T}] target ids (as F32)",
                "mask": f"[{B}][{T}] loss mask, 1 = counted, 0 = prompt position",
                "loss": "[1] loss of the initial weights",
                "logits": f"[{B}][{T}][{cfg.vocab}] logits of the initial weights",
                "grad.<name>": "gradient of the loss for every parameter (HF names, HF layout) at the initial weights,"
                               " before clipping" + ("; the tied embedding's includes the classifier's share" if cfg.tied else ""),
                "losses": f"[{steps}] loss before each AdamW step (losses[0] == loss)",
                "grad_norms": f"[{steps}] global gradient L2 norm before clipping, per step",
                "final_loss": "[1] loss after the last step",
                "final.<name>": f"weights after {steps} steps, for {list(FINAL_TENSORS_OF)}",
            },
        },
        "loss": "sum over mask==1 positions of cross_entropy(logits[b][t], targets[b][t]) / sum(mask)",
        "optimizer": {
            "name": "AdamW (torch.optim.AdamW, decoupled weight decay)",
            "lr": lr, "lr_schedule": "constant", "beta1": betas[0], "beta2": betas[1], "eps": eps,
            "weight_decay": wd, "weight_decay_applies_to": "every parameter (embeddings and norm weights too)",
            "steps": steps,
            "update": "p *= 1 - lr*wd; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2; "
                      "p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)",
            "grad_clip": "global L2 norm over all parameters; g *= min(1, max_norm / (norm + 1e-6)) before each step",
            "grad_clip_max_norm": clip,
        },
        "weights": {"seed": seed, "std": std, "norm_weights": "1 + 0.1 * N(0,1)", "dtype": "float32"},
        "reference": "float64 PyTorch " + torch.__version__ + " autograd",
    }
    write_json(d / "case.json", case)
    print(f"{name}: loss={loss.item():.6f} losses={[round(x, 5) for x in losses]} final={final_loss:.5f} norms={[round(x, 3) for x in norms]}")


def main():
    if not torch.__version__.startswith("1.13"):
        print(f"warning: made with torch 1.13 (/usr/bin/python3), this is {torch.__version__}", file=sys.stderr)
    torch.set_num_threads(1)
    base = Config(dim=32, hidden=72, layers=2, heads=4, kv_heads=4, vocab=64, seq_len=32, tied=True)

    forward_case("a1_tied", "tied embeddings, multi-head attention; llama2.c and HF layouts",
                 base, seed=151, std=0.2, layouts=("llama2c", "hf"))
    forward_case("a2_untied", "untied classifier (lm_head), 2 heads of 16; llama2.c and HF layouts",
                 replace(base, heads=2, kv_heads=2, tied=False), seed=202, std=0.2, layouts=("llama2c", "hf"))
    gqa = replace(base, heads=4, kv_heads=2, tied=False)
    gqa_weights = forward_case("a3_gqa", "grouped-query attention (4 query heads, 2 kv heads), untied; llama2.c and HF layouts",
                               gqa, seed=303, std=0.2, layouts=("llama2c", "hf"))
    forward_case("a4_llama3_rope", "LLaMA 3.1 rope scaling (rope_type llama3), rope_theta 500000, eps 1e-6, "
                 "2 query heads of 16 sharing 1 kv head, tied; HF layout only",
                 replace(base, heads=2, kv_heads=1, eps=1e-6, theta=500000.0,
                         scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                  "original_max_position_embeddings": 256}),
                 seed=404, std=0.2, layouts=("hf",))
    forward_case("a5_bf16", "the weights of a3_gqa rounded to bfloat16 and stored as BF16; HF layout only",
                 gqa, seed=303, std=0.2, layouts=("hf",), bf16=True, meta=gqa_weights)

    training_case("b1_train_gqa", "training step on a GQA model (4 query heads, 2 kv heads), untied",
                  gqa, seed=505, std=0.2)
    training_case("b2_train_tied", "training step on a tied-embedding multi-head model",
                  base, seed=606, std=0.2)

    total = 0
    for f in sorted(f for case in CASES for f in (OUT / case).rglob("*")):
        if f.is_file():
            size = f.stat().st_size
            total += size
            assert size < 200_000, f"{f} is {size} bytes"
    assert total < 1_500_000, f"fixtures total {total} bytes"
    print(f"wrote {OUT} ({total} bytes)")


if __name__ == "__main__":
    main()
