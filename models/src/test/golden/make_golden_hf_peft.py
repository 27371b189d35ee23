#!/opt/peer/bin/python
"""Makes the Hugging Face PEFT interoperability fixtures with the real transformers and peft, and checks the
adapters peft4j writes in PEFT.

Run from the repository root with the venv that has transformers 5.18 and peft 0.21:

    /opt/peer/bin/python models/src/test/golden/make_golden_hf_peft.py            # writes the fixtures
    /opt/peer/bin/python models/src/test/golden/make_golden_hf_peft.py --check cli/target/peft4j-written

Writing (deterministic: fixed seeds, one thread, a rerun rewrites the same bytes) deletes and rewrites
cli/src/test/resources/hfpeft/:

  base/                      a tiny GQA LlamaForCausalLM (dim 32, 4 heads, 2 kv heads, hidden 72, 3 layers, vocab 64,
                             untied), float32, written by save_pretrained
  batch.safetensors          inputs, targets, mask [2][8] (ids as F32; mask 0 on prompt positions)
  <case>/adapter/            the adapter as PEFT's save_pretrained writes it (adapter_config.json + adapter_model.safetensors)
  <case>/expected.safetensors  loss [1] and grad.<saved name> for every trainable tensor: the adapter loaded back with
                             PeftModel.from_pretrained(is_trainable=True) onto the base, all in float64, masked mean
                             cross-entropy over the batch

Every adapter's values are random and non-zero (B, gates, magnitudes too), so every gradient path is exercised.
The Java test (cli HfPeftInteropTest) loads each adapter with peft4j and compares loss (1e-6 relative) and
gradients (1e-4 of the largest per tensor); it also writes adapters of its own into cli/target/peft4j-written/,
each with peft4j's loss on the same batch, which --check loads in PeftModel.from_pretrained and compares.
Tests never run Python.
"""

import json
import math
import shutil
import sys
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
import transformers
import peft
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parents[4]
OUT = ROOT / "cli" / "src" / "test" / "resources" / "hfpeft"
B, T, VOCAB = 2, 8, 64
LOSS_RTOL, GRAD_RTOL = 1e-6, 1e-4


def base_config():
    return transformers.LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=72, num_hidden_layers=3,
                                    num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                                    rms_norm_eps=1e-5, tie_word_embeddings=False, attention_bias=False, mlp_bias=False)


def make_base():
    torch.manual_seed(1401)
    model = transformers.LlamaForCausalLM(base_config())
    g = torch.Generator().manual_seed(1402)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.2 * torch.randn(p.shape, generator=g))
    return model.eval()


def batch():
    g = torch.Generator().manual_seed(1403)
    seq = torch.randint(VOCAB, (B, T + 1), generator=g)
    mask = torch.ones(B, T, dtype=torch.float64)
    mask[0, :3] = 0
    mask[1, :5] = 0
    return seq[:, :-1], seq[:, 1:], mask


def masked_loss(model, inputs, targets, mask):
    logits = model(input_ids=inputs).logits.to(torch.float64)
    ce = F.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1), reduction="none")
    return (ce * mask.reshape(-1)).sum() / mask.sum()


def load_base():
    return transformers.LlamaForCausalLM.from_pretrained(OUT / "base", dtype=torch.float32).eval()


def randomize(pm, g, std):
    """Non-zero random values for every trainable tensor (magnitudes near their initial row norms)."""
    with torch.no_grad():
        for name, p in pm.named_parameters():
            if not p.requires_grad:
                continue
            noise = torch.randn(p.shape, generator=g, dtype=p.dtype)
            if "lora_magnitude_vector" in name:
                p.mul_(1 + 0.2 * noise)
            else:
                p.copy_(std * noise)


def saved_name(pm, param_name):
    """The tensor name PEFT's save_pretrained gives a trainable parameter."""
    if pm.peft_config["default"].is_prompt_learning:
        return "prompt_embeddings"
    sd = peft.get_peft_model_state_dict(pm, state_dict={param_name: torch.zeros(1)})
    (key,) = sd.keys()
    return key


def reference(case_dir, inputs, targets, mask, dtype=torch.float64):
    """PEFT's loss and gradients of the adapter in case_dir/adapter, loaded as a user would, in float64."""
    base = load_base().to(dtype)
    trainable = not json.loads((case_dir / "adapter" / "adapter_config.json").read_text()).get("num_virtual_tokens")
    pm = peft.PeftModel.from_pretrained(base, case_dir / "adapter", is_trainable=trainable)
    if not trainable:  # PEFT refuses is_trainable for prompt learning; the table is still a parameter
        for p in pm.prompt_encoder.parameters():
            p.requires_grad_(True)
    pm.to(dtype)
    loss = masked_loss(pm, inputs, targets, mask)
    loss.backward()
    grads = {}
    for name, p in pm.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and p.grad.abs().max() > 0, f"{case_dir.name}: {name} gets no gradient"
            grads["grad." + saved_name(pm, name)] = p.grad.detach().to(dtype).contiguous()
    return loss.item(), grads


def write_case(name, config, inputs, targets, mask, seed, prepare=None, std=0.3):
    d = OUT / name
    d.mkdir(parents=True)
    torch.manual_seed(seed)
    pm = peft.get_peft_model(load_base(), config)
    randomize(pm, torch.Generator().manual_seed(seed), std)
    if prepare:
        prepare(pm)
    pm.save_pretrained(d / "adapter")
    (d / "adapter" / "README.md").unlink()  # PEFT's model-card template: not part of the adapter
    # PEFT keeps target_modules in a set (its order changes with Python's hash seed) and the base's absolute path:
    # the same file with the list sorted and the path relative, in PEFT's own layout (sorted keys, indent 2)
    cfg_file = d / "adapter" / "adapter_config.json"
    cfg = json.loads(cfg_file.read_text())
    if isinstance(cfg.get("target_modules"), list):
        cfg["target_modules"] = sorted(cfg["target_modules"])
    cfg["base_model_name_or_path"] = "../../base"
    cfg_file.write_text(json.dumps(cfg, indent=2, sort_keys=True))
    loss, grads = reference(d, inputs, targets, mask)
    # well-conditioned: PyTorch itself in float32 stays within half the loss tolerance and a tenth of the gradients'
    loss32, grads32 = reference(d, inputs, targets, mask, torch.float32)
    worst32 = max((grads32[k].double() - grads[k]).abs().max().item() / grads[k].abs().max().item() for k in grads)
    assert abs(loss32 - loss) / loss < LOSS_RTOL / 2 and worst32 < GRAD_RTOL / 10, f"{name}: float32 PyTorch is {worst32:.1e} off"
    save_file({"loss": torch.tensor([loss], dtype=torch.float32), **{k: v.float() for k, v in grads.items()}}, d / "expected.safetensors")
    keys = sorted(grads)
    print(f"{name}: loss {loss:.9f} (float32 PyTorch {abs(loss32 - loss) / loss:.1e} off; its gradients {worst32:.1e}), "
          f"{len(keys)} gradients, e.g. {keys[0]}")


LORA = dict(task_type="CAUSAL_LM", lora_dropout=0.0)
ALL = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def cases():
    """name -> (config, seed, prepare): each a field of LoraConfig that changes the computation, DoRA, and the
    prompt methods."""
    def init_value(value):
        def set_it(pm):
            pm.peft_config["default"].init_lora_weights = value  # how the values were made; they are random here
        return set_it

    return {
        "l1_init_false": (peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False, **LORA), 1501, None),
        "l2_init_orthogonal": (peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights="orthogonal", **LORA), 1502, None),
        "l3_init_eva_named": (peft.LoraConfig(r=4, lora_alpha=8, target_modules=["k_proj", "o_proj"], **LORA), 1503, init_value("eva")),
        "l4_patterns_rslora": (peft.LoraConfig(r=4, lora_alpha=8, target_modules=ALL, use_rslora=True,
                                               rank_pattern={"q_proj": 2, "layers.1.mlp.down_proj": 6},
                                               alpha_pattern={"v_proj": 4, r"model\.layers\.2\..*proj": 24}, **LORA), 1504, None),
        "l5_layers_exclude": (peft.LoraConfig(r=4, lora_alpha=16, target_modules=["q_proj", "v_proj", "down_proj"], layers_to_transform=[0, 2],
                                              layers_pattern="layers", exclude_modules=["model.layers.2.self_attn.v_proj"], **LORA), 1505, None),
        "l6_regex_bias_all": (peft.LoraConfig(r=3, lora_alpha=6, target_modules=r"model\.layers\.[01]\.mlp\.(gate|up)_proj", bias="all", **LORA), 1506, None),
        "l7_dora": (peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj", "lm_head"], use_dora=True, **LORA), 1507, None),
        "l8_dora_patterns": (peft.LoraConfig(r=4, lora_alpha=8, target_modules=["k_proj", "up_proj"], use_dora=True, use_rslora=True,
                                             rank_pattern={"up_proj": 2}, layers_to_transform=[1, 2], **LORA), 1508, None),
        "p1_adaption_prompt": (peft.AdaptionPromptConfig(adapter_len=3, adapter_layers=2, task_type="CAUSAL_LM"), 1509, None),
        "p2_prefix": (peft.PrefixTuningConfig(num_virtual_tokens=3, task_type="CAUSAL_LM"), 1510, None),
    }


def write():
    torch.set_num_threads(1)
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    make_base().save_pretrained(OUT / "base")
    inputs, targets, mask = batch()
    save_file({"inputs": inputs.float(), "targets": targets.float(), "mask": mask.float()}, OUT / "batch.safetensors")
    for name, (config, seed, prepare) in cases().items():
        # all seven linears of three layers: smaller values keep the case well-conditioned in float32
        write_case(name, config, inputs, targets, mask, seed, prepare, std=0.1 if name == "l4_patterns_rslora" else 0.3)
    (OUT / "README.md").write_text(
        "Made by models/src/test/golden/make_golden_hf_peft.py with transformers " + transformers.__version__
        + ", peft " + peft.__version__ + ", torch " + torch.__version__ + "; see that script's docstring. Do not edit.\n")
    total = sum(f.stat().st_size for f in OUT.rglob("*") if f.is_file())
    assert total < 1_500_000, f"fixtures total {total} bytes"
    print(f"wrote {OUT} ({total} bytes)")


def check(written):
    """Loads every adapter peft4j wrote (written/<case>/adapter + peft4j.json) in PEFT and compares the loss."""
    torch.set_num_threads(1)
    from safetensors.torch import load_file
    bt = load_file(OUT / "batch.safetensors")
    inputs, targets, mask = bt["inputs"].long(), bt["targets"].long(), bt["mask"].double()
    failures = 0
    for d in sorted(p for p in Path(written).iterdir() if (p / "peft4j.json").is_file()):
        want = json.loads((d / "peft4j.json").read_text())
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # peft4j's own fields (peft4j_method, gate) are unknown to PEFT
                pm = peft.PeftModel.from_pretrained(load_base().double(), d / "adapter").double()
            with torch.no_grad():
                loss = masked_loss(pm, inputs, targets, mask).item()
        except Exception as e:  # noqa: BLE001 (the per-head gate must fail, with its reason)
            if want.get("peft_must_refuse"):
                print(f"{d.name}: PEFT refuses it, as it must: {type(e).__name__}: {e}")
                continue
            print(f"{d.name}: FAILED to load in PEFT: {type(e).__name__}: {e}")
            failures += 1
            continue
        if want.get("peft_must_refuse"):
            print(f"{d.name}: FAILED: PEFT loaded an adapter it must refuse")
            failures += 1
            continue
        rel = abs(loss - want["loss"]) / abs(loss)
        ok = rel <= LOSS_RTOL
        failures += not ok
        print(f"{d.name}: PEFT loss {loss:.9f}, peft4j {want['loss']:.9f}, relative difference {rel:.1e} "
              f"({'ok' if ok else 'FAILED'}, tolerance {LOSS_RTOL:g})")
    if failures:
        sys.exit(f"{failures} adapter(s) failed")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        check(sys.argv[2])
    else:
        write()
