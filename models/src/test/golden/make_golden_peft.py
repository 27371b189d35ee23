#!/usr/bin/python3
"""Makes the golden fixtures of peft4j's PEFT methods from an independent PyTorch reference.

Run from the repository root with Debian's interpreter (python3-torch 1.13):

    /usr/bin/python3 models/src/test/golden/make_golden_peft.py

It writes adapters-lora/src/test/resources/golden/ and adapters-prefix/src/test/resources/golden/
and is deterministic (fixed torch.Generator seeds, one thread): a rerun rewrites the same bytes.

The base model, its weights and the training batch are those of make_golden.py's b1_train_gqa
(imported from there, not copied). On top of the base LLaMA this file writes, from the methods'
equations, a float64 forward with three kinds of additions:

  LoRA at a linear site          y = x·Wᵀ + (alpha/r)·(x·Aᵀ)·Bᵀ          A [r][in], B [out][r]
  prefix tuning (every layer)    K = [Kp_l ; rope(x·Wkᵀ)], V = [Vp_l ; x·Wvᵀ], prefix rows not rotated,
                                 seen by every query; real token t sits at RoPE position P + t
  LLaMA-Adapter (layer >= start) out_h += gate_h · softmax_j(rope(q)_h · Kp_j,g / √hd) · Vp_g,
                                 Kp, Vp = prompt·Wkᵀ, prompt·Wvᵀ (frozen base), before o_proj

Autograd gives the gradients; torch.optim.AdamW with global-norm clipping trains the method's
parameters only. Before writing, it checks itself: with the additions switched off (B = 0, gates
0, no prefix) the forward equals make_golden.forward; a merged LoRA gives the same logits as the
unmerged one; and getting any of the conventions above wrong (rotating the prefix keys, positions
from 0, unrotated queries in the adapter, one gate per layer) moves the loss by far more than the
tolerance, so the fixtures tell them apart.
"""

import math
import shutil
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True  # no __pycache__ beside the scripts
sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_golden as mg  # noqa: E402  (the base LLaMA reference and the hand-written safetensors writer)

ROOT = Path(__file__).resolve().parents[4]
OUT_LORA = ROOT / "adapters-lora" / "src" / "test" / "resources" / "golden"
OUT_PREFIX = ROOT / "adapters-prefix" / "src" / "test" / "resources" / "golden"
F64 = torch.float64

BASE_SEED, BASE_STD = 505, 0.2     # make_golden.py's b1_train_gqa
CFG = mg.Config(dim=32, hidden=72, layers=2, heads=4, kv_heads=2, vocab=64, seq_len=32, tied=False)
B, T = 2, 8
LR, BETAS, EPS, WD, CLIP, STEPS = 1e-2, (0.9, 0.95), 1e-8, 0.1, 1.0, 5
RTOL = 1e-4
KINDS = {"q_proj": "wq", "k_proj": "wk", "v_proj": "wv", "o_proj": "wo",
         "gate_proj": "gate", "up_proj": "up", "down_proj": "down"}


# ---------------------------------------------------------------------------------------------
# The methods' parameters


def lora_name(l, module, ab):
    sub = "self_attn" if module in ("q_proj", "k_proj", "v_proj", "o_proj") else "mlp"
    return f"base_model.model.model.layers.{l}.{sub}.{module}.lora_{ab}.weight"


def adapter_name(l, what):
    return f"base_model.model.model.layers.{l}.self_attn.adaption_{what}"


def linear_shape(module):
    """(out, in) of a linear module of CFG."""
    d, kv, h = CFG.dim, CFG.kv_dim, CFG.hidden
    return {"q_proj": (d, d), "k_proj": (kv, d), "v_proj": (kv, d), "o_proj": (d, d),
            "gate_proj": (h, d), "up_proj": (h, d), "down_proj": (d, h)}[module]


class Methods:
    """The installed methods: their float32 initial values (name -> tensor) and their settings."""

    def __init__(self):
        self.init = {}        # name -> float32 tensor, the fixture's starting values
        self.lora = {}        # (layer, module) -> (A name, B name, scale)
        self.prefix = None    # name of the [P][L*2*kv] table, or None
        self.adapter = {}     # layer -> (prompt name, gate name)

    def add_lora(self, g, r, alpha, modules, std=0.1):
        for l in range(CFG.layers):
            for module in modules:
                out, inp = linear_shape(module)
                a, b = lora_name(l, module, "A"), lora_name(l, module, "B")
                self.init[a] = torch.randn(r, inp, generator=g, dtype=torch.float32) * std
                self.init[b] = torch.randn(out, r, generator=g, dtype=torch.float32) * std  # non-zero, so dA != 0
                self.lora[(l, module)] = (a, b, alpha / r)

    def add_prefix(self, g, P, std=0.5):
        self.prefix = "prompt_embeddings"
        self.init[self.prefix] = torch.randn(P, CFG.layers * 2 * CFG.kv_dim, generator=g, dtype=torch.float32) * std

    def add_adapter(self, g, length, start, gate_std=0.5):
        for l in range(start, CFG.layers):
            p, gt = adapter_name(l, "prompt"), adapter_name(l, "gate")
            self.init[p] = torch.randn(1, length, CFG.dim, generator=g, dtype=torch.float32)
            self.init[gt] = torch.randn(CFG.heads, generator=g, dtype=torch.float32) * gate_std  # non-zero gates
            self.adapter[l] = (p, gt)


# ---------------------------------------------------------------------------------------------
# The reference forward (float64)


def rope_at(x, freqs, positions):
    """HF rotate-half RoPE of x [B][T][heads][hd] at the given positions [T]."""
    angles = torch.outer(positions.to(F64), freqs)
    angles = torch.cat((angles, angles), dim=-1)[None, :, None, :]       # [1][T][1][hd]
    first, second = x.chunk(2, dim=-1)
    return x * angles.cos() + torch.cat((-second, first), dim=-1) * angles.sin()


def forward(w, p, m, tokens, variant=()):
    """Logits [B][T][vocab]. w: float64 base weights (HF layout); p: float64 method parameters by
    name; m: Methods. `variant` names deliberate mistakes, used only to show the fixture detects them."""
    Bn, Tn = tokens.shape
    H, KV, hd, kv = CFG.heads, CFG.kv_heads, CFG.head_dim, CFG.kv_dim
    group = H // KV
    freqs = mg.inverse_frequencies(CFG)
    P = p[m.prefix].shape[0] if m.prefix else 0
    positions = torch.arange(Tn) + (0 if "prefix positions from 0" in variant else P)
    # query t sees prefix rows (all) and real keys s <= t
    allowed = torch.cat((torch.ones(Tn, P, dtype=torch.bool), torch.ones(Tn, Tn, dtype=torch.bool).tril()), dim=1)  # [T][P+T]
    x = w["model.embed_tokens.weight"][tokens]                           # [B][T][dim]
    for l in range(CFG.layers):
        n = mg.layer_names(l)

        def linear(module, inp):
            y = inp @ w[n[KINDS[module]]].T
            if (l, module) in m.lora:
                a, b, s = m.lora[(l, module)]
                y = y + s * (inp @ p[a].T) @ p[b].T
            return y

        h = mg.rmsnorm(x, w[n["attn_norm"]], CFG.eps)
        q = rope_at(linear("q_proj", h).view(Bn, Tn, H, hd), freqs, positions)
        k = rope_at(linear("k_proj", h).view(Bn, Tn, KV, hd), freqs, positions)
        v = linear("v_proj", h).view(Bn, Tn, KV, hd)
        if P:
            table = p[m.prefix]                                          # [P][L*2*kv]
            pk = table[:, 2 * l * kv:(2 * l + 1) * kv].reshape(1, P, KV, hd).expand(Bn, P, KV, hd)
            pv = table[:, (2 * l + 1) * kv:(2 * l + 2) * kv].reshape(1, P, KV, hd).expand(Bn, P, KV, hd)
            if "rotated prefix keys" in variant:
                pk = rope_at(pk, freqs, torch.arange(P))
            k = torch.cat((pk, k), dim=1)                                # [B][P+T][KV][hd]
            v = torch.cat((pv, v), dim=1)
        k = k.repeat_interleave(group, dim=2)                            # query head h reads kv head h // group
        v = v.repeat_interleave(group, dim=2)
        scores = torch.einsum("bthd,bshd->bhts", q, k) / math.sqrt(hd)   # [B][H][T][P+T]
        probs = scores.masked_fill(~allowed, float("-inf")).softmax(dim=-1)
        att = torch.einsum("bhts,bshd->bthd", probs, v)                  # [B][T][H][hd]
        if l in m.adapter:
            prompt_name, gate_name = m.adapter[l]
            prompt, gate = p[prompt_name][0], p[gate_name]               # [len][dim], [H]
            if "one gate per layer" in variant:
                gate = gate.mean().expand(H)
            kp = (prompt @ w[n["wk"]].T).view(-1, KV, hd).repeat_interleave(group, dim=1)  # [len][H][hd], frozen Wk, no RoPE
            vp = (prompt @ w[n["wv"]].T).view(-1, KV, hd).repeat_interleave(group, dim=1)
            qa = linear("q_proj", h).view(Bn, Tn, H, hd) if "unrotated adapter queries" in variant else q
            pa = (torch.einsum("bthd,jhd->bhtj", qa, kp) / math.sqrt(hd)).softmax(dim=-1)  # [B][H][T][len], no mask
            att = att + gate.view(1, 1, H, 1) * torch.einsum("bhtj,jhd->bthd", pa, vp)
        x = x + linear("o_proj", att.reshape(Bn, Tn, CFG.dim))
        h = mg.rmsnorm(x, w[n["ffn_norm"]], CFG.eps)
        x = x + linear("down_proj", F.silu(linear("gate_proj", h)) * linear("up_proj", h))
    x = mg.rmsnorm(x, w["model.norm.weight"], CFG.eps)
    return x @ w["lm_head.weight"].T


# ---------------------------------------------------------------------------------------------
# The fixed base and batch (make_golden.py's b1_train_gqa)


def base_and_batch():
    hf = mg.meta_to_hf(CFG, mg.random_weights(CFG, BASE_SEED, BASE_STD))
    g = torch.Generator().manual_seed(BASE_SEED + 1)
    seq = torch.randint(CFG.vocab, (B, T + 1), generator=g)
    mask = torch.ones(B, T, dtype=F64)
    mask[0, :3] = 0  # prompt positions carry no loss
    mask[1, :5] = 0
    return hf, seq[:, :-1], seq[:, 1:], mask


def loss_of(w, p, m, inputs, targets, mask, variant=()):
    logits = forward(w, p, m, inputs, variant)
    ce = F.cross_entropy(logits.reshape(-1, CFG.vocab), targets.reshape(-1), reduction="none")
    return (ce * mask.reshape(-1)).sum() / mask.sum()


def self_checks(w, inputs, targets, mask):
    """The reference agrees with make_golden.py's model when the methods add nothing, and a merged
    LoRA equals the unmerged one."""
    g = torch.Generator().manual_seed(1)
    plain = mg.forward(CFG, w, inputs, mg.rope_hf)
    x = torch.randn(B, T, CFG.heads, CFG.head_dim, generator=g, dtype=F64)
    assert torch.allclose(rope_at(x, mg.inverse_frequencies(CFG), torch.arange(T)), mg.rope_hf(x, mg.inverse_frequencies(CFG)), rtol=0, atol=1e-14)

    off = Methods()
    off.add_lora(g, 4, 8, list(KINDS))
    off.add_adapter(g, 3, 0)
    p = {k: v.to(F64) for k, v in off.init.items()}
    for k in p:
        if k.endswith("lora_B.weight") or k.endswith("adaption_gate"):
            p[k].zero_()
    diff = mg.max_rel_diff(forward(w, p, off, inputs), plain)
    assert diff < 1e-12, f"zero LoRA B / zero gates differ from the base model by {diff}"

    lora = Methods()
    lora.add_lora(g, 4, 8, list(KINDS))
    p = {k: v.to(F64) for k, v in lora.init.items()}
    merged = dict(w)
    for (l, module), (a, b, s) in lora.lora.items():
        name = mg.layer_names(l)[KINDS[module]]
        merged[name] = merged[name] + s * p[b] @ p[a]
    diff = mg.max_rel_diff(forward(w, p, lora, inputs), mg.forward(CFG, merged, inputs, mg.rope_hf))
    assert diff < 1e-12, f"unmerged and merged LoRA differ by {diff}"
    print(f"self-checks: methods off == make_golden.forward, merged LoRA == unmerged (to {diff:.1e})")


# ---------------------------------------------------------------------------------------------
# Cases


def fresh_dir(out, name):
    d = out / name
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    return d


def write_base(out, hf):
    d = fresh_dir(out, "base")
    (d / "hf").mkdir()
    mg.write_json(d / "hf" / "config.json", CFG.hf_config("float32"))
    mg.write_safetensors(d / "hf" / "model.safetensors", hf)


def case(out, name, description, methods, settings, batch, must_tell_apart=()):
    """Loss and gradients at the fixture's initial values, then 5 AdamW steps on the methods' parameters."""
    hf, inputs, targets, mask = batch
    w = mg.widen(hf)                                                     # frozen: never requires grad
    params = {k: v.to(F64).clone().requires_grad_(True) for k, v in methods.init.items()}

    loss = loss_of(w, params, methods, inputs, targets, mask)
    loss.backward()
    grads = {k: v.grad.detach().clone() for k, v in params.items()}
    for k, gr in grads.items():
        assert gr.abs().max() > 0, f"{name}: {k} gets no gradient"

    told = {}  # variant -> the largest difference the Java test would see (loss or a gradient, relative)
    for variant in must_tell_apart:
        q = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
        wrong = loss_of(w, q, methods, inputs, targets, mask, variant=(variant,))
        wrong.backward()
        told[variant] = max([abs(wrong.item() - loss.item()) / abs(loss.item())]
                            + [((q[k].grad - grads[k]).abs().max() / grads[k].abs().max()).item() for k in grads])
        assert told[variant] > 100 * RTOL, f"{name}: '{variant}' barely changes the loss and gradients ({told[variant]:.2g})"

    opt = torch.optim.AdamW(params.values(), lr=LR, betas=BETAS, eps=EPS, weight_decay=WD)
    losses, norms = [], []
    for _ in range(STEPS):
        opt.zero_grad()
        step_loss = loss_of(w, params, methods, inputs, targets, mask)
        step_loss.backward()
        losses.append(step_loss.item())
        norms.append(torch.nn.utils.clip_grad_norm_(list(params.values()), CLIP).item())
        opt.step()
    with torch.no_grad():
        final_loss = loss_of(w, params, methods, inputs, targets, mask).item()
    assert losses[0] == loss.item()
    assert final_loss < losses[0], f"{name}: training does not reduce the loss"

    d = fresh_dir(out, name)
    expected = {"inputs": inputs.float(), "targets": targets.float(), "mask": mask.float(),
                "loss": torch.tensor([loss.item()], dtype=torch.float32)}
    expected.update({"init." + k: v for k, v in methods.init.items()})
    expected.update({"grad." + k: v.float() for k, v in grads.items()})
    expected["losses"] = torch.tensor(losses, dtype=torch.float32)
    expected["grad_norms"] = torch.tensor(norms, dtype=torch.float32)
    expected["final_loss"] = torch.tensor([final_loss], dtype=torch.float32)
    expected.update({"final." + k: v.detach().float() for k, v in params.items()})
    mg.write_safetensors(d / "expected.safetensors", expected)
    mg.write_json(d / "case.json", {
        "case": name,
        "kind": "peft training",
        "description": description,
        "methods": settings,
        "base": "../base/hf: make_golden.py's b1_train_gqa model (seed 505, std 0.2), frozen",
        "config": CFG.hf_config("float32"),
        "files": {"expected.safetensors": {
            "inputs": f"[{B}][{T}] input ids (as F32)",
            "targets": f"[{B}][{T}] target ids (as F32)",
            "mask": f"[{B}][{T}] loss mask, 1 = counted, 0 = prompt position",
            "init.<name>": "initial value of every method parameter (peft4j's / HF PEFT's names); load these after install",
            "loss": "[1] loss at the initial values",
            "grad.<name>": "gradient of the loss for every method parameter at the initial values, before clipping",
            "losses": f"[{STEPS}] loss before each AdamW step (losses[0] == loss)",
            "grad_norms": f"[{STEPS}] global gradient L2 norm over the method parameters before clipping, per step",
            "final_loss": "[1] loss after the last step",
            "final.<name>": f"every method parameter after {STEPS} steps",
        }},
        "loss": "sum over mask==1 positions of cross_entropy(logits[b][t], targets[b][t]) / sum(mask)",
        "optimizer": {
            "name": "AdamW (torch.optim.AdamW, decoupled weight decay) over the method parameters only",
            "lr": LR, "lr_schedule": "constant", "beta1": BETAS[0], "beta2": BETAS[1], "eps": EPS,
            "weight_decay": WD, "weight_decay_applies_to": "every method parameter (gates and prompts too)",
            "steps": STEPS,
            "update": "p *= 1 - lr*wd; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2; "
                      "p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)",
            "grad_clip": "global L2 norm over the method parameters; g *= min(1, max_norm / (norm + 1e-6)) before each step",
            "grad_clip_max_norm": CLIP,
        },
        "tolerance": {"max_abs_diff_over_max_abs_expected_per_tensor": RTOL},
        "largest_relative_change_of_loss_or_gradient_if_wrong": {k: float(f"{v:.3g}") for k, v in told.items()},
        "reference": "float64 PyTorch " + torch.__version__ + " autograd (make_golden_peft.py)",
    })
    print(f"{name}: loss={loss.item():.6f} losses={[round(x, 5) for x in losses]} final={final_loss:.5f} "
          f"norms={[round(x, 3) for x in norms]} params={sum(v.numel() for v in methods.init.values())}"
          + "".join(f"\n    '{k}' would move the loss or a gradient by {v:.2g} (relative)" for k, v in told.items()))


LORA_QV = ["q_proj", "v_proj"]


def main():
    if not torch.__version__.startswith("1.13"):
        print(f"warning: made with torch 1.13 (/usr/bin/python3), this is {torch.__version__}", file=sys.stderr)
    torch.set_num_threads(1)
    batch = base_and_batch()
    self_checks(mg.widen(batch[0]), *batch[1:])
    lora_settings = lambda modules: {"lora": {"r": 4, "lora_alpha": 8, "scaling": 2.0, "lora_dropout": 0.0, "target_modules": modules,
                                              "init": "A, B ~ N(0, 0.1^2) (B non-zero so that dA != 0)"}}

    write_base(OUT_LORA, batch[0])
    m = Methods()
    m.add_lora(torch.Generator().manual_seed(701), 4, 8, LORA_QV)
    case(OUT_LORA, "c1_lora_qv", "LoRA r 4, alpha 8 on q_proj and v_proj of both layers", m, lora_settings(LORA_QV), batch)
    m = Methods()
    m.add_lora(torch.Generator().manual_seed(702), 4, 8, list(KINDS))
    case(OUT_LORA, "c2_lora_all", "LoRA r 4, alpha 8 on all seven linears of both layers", m, lora_settings(list(KINDS)), batch)

    write_base(OUT_PREFIX, batch[0])
    m = Methods()
    m.add_prefix(torch.Generator().manual_seed(703), 3)
    case(OUT_PREFIX, "c3_prefix", "prefix tuning, 3 virtual tokens, no projection", m,
         {"prefix": {"num_virtual_tokens": 3, "prefix_projection": False, "init": "table ~ N(0, 0.5^2)",
                     "table": "[P][layers*2*kvDim]: row p = (K_0, V_0, K_1, V_1), kv heads head-major, HF rotate-half coordinates"}},
         batch, must_tell_apart=("rotated prefix keys", "prefix positions from 0"))
    m = Methods()
    m.add_adapter(torch.Generator().manual_seed(704), 3, 1)
    case(OUT_PREFIX, "c4_llama_adapter", "LLaMA-Adapter, 3 prompt vectors on layer 1 (start 1), a gate per head", m,
         {"llama-adapter": {"adapter_len": 3, "adapter_start_layer": 1, "init": "prompt ~ N(0, 1), gate ~ N(0, 0.5^2) (non-zero)"}},
         batch, must_tell_apart=("unrotated adapter queries", "one gate per layer"))
    m = Methods()
    g = torch.Generator().manual_seed(705)
    m.add_lora(g, 4, 8, LORA_QV)
    m.add_prefix(g, 2)
    m.add_adapter(g, 3, 0)
    case(OUT_PREFIX, "c5_combo", "LoRA (r 4, alpha 8, q/v) + prefix tuning (2 virtual tokens) + LLaMA-Adapter (len 3, start 0), one optimizer",
         m, {**lora_settings(LORA_QV), "prefix": {"num_virtual_tokens": 2, "prefix_projection": False},
             "llama-adapter": {"adapter_len": 3, "adapter_start_layer": 0},
             "composition": "LoRA changes q/v of the real tokens only; the adapter's Kp/Vp use the frozen base Wk/Wv"},
         batch, must_tell_apart=("rotated prefix keys", "prefix positions from 0", "unrotated adapter queries"))

    total = 0
    for out in (OUT_LORA, OUT_PREFIX):
        for f in sorted(out.rglob("*")):
            if f.is_file():
                total += f.stat().st_size
                assert f.stat().st_size < 300_000, f"{f} is {f.stat().st_size} bytes"
    assert total < 1_500_000, f"fixtures total {total} bytes"
    print(f"wrote {OUT_LORA} and {OUT_PREFIX} ({total} bytes)")


if __name__ == "__main__":
    main()
