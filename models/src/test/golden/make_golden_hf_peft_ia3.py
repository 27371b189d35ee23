#!/opt/peer/bin/python
"""Makes the Hugging Face PEFT fixtures for IA3 (the test-only plugin of models/src/test/plugins/ia3), over the base
model and batch of make_golden_hf_peft.py (cli/src/test/resources/hfpeft/base, batch.safetensors: run that first;
this script does not rewrite them), and checks the IA3 adapters peft4j writes in PEFT.

    /opt/peer/bin/python models/src/test/golden/make_golden_hf_peft_ia3.py            # writes the fixtures
    /opt/peer/bin/python models/src/test/golden/make_golden_hf_peft_ia3.py --check cli/target/peft4j-written-ia3

Writing (deterministic: fixed seeds, one thread) deletes and rewrites cli/src/test/resources/hfpeft-ia3/:

  <case>/adapter/              the adapter as PEFT's save_pretrained writes it (target_modules and
                               feedforward_modules sorted, the base's path relative)
  <case>/expected.safetensors  loss [1] and grad.<saved name> of every ia3_l: the adapter loaded back with
                               PeftModel.from_pretrained(is_trainable=True) onto the base, in float64, masked mean
                               cross-entropy over the batch

The vectors are 1 + 0.3·N(0, 1), so every scale differs from its init. The Java test (cli Ia3HfPeftTest) loads
each adapter with the IA3 plugin jar and compares the loss (1e-6 relative) and gradients (1e-4 of the largest per
tensor); it also writes adapters it trained into cli/target/peft4j-written-ia3/, with peft4j's loss, which --check
loads in PEFT and compares. Tests never run Python.
"""

import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_golden_hf_peft as g  # noqa: E402  (the base, the batch, PEFT's reference loss and gradients)

import peft  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402

OUT = g.ROOT / "cli" / "src" / "test" / "resources" / "hfpeft-ia3"


def cases():
    """name -> (config, seed): PEFT's LLaMA defaults, and other modules with a feed-forward one among them."""
    return {
        "ia3_default": (peft.IA3Config(target_modules=["k_proj", "v_proj", "down_proj"], feedforward_modules=["down_proj"],
                                       task_type="CAUSAL_LM"), 1601),
        "ia3_q_o_up": (peft.IA3Config(target_modules=["q_proj", "o_proj", "up_proj", "gate_proj"], feedforward_modules=["up_proj"],
                                      task_type="CAUSAL_LM"), 1602),
    }


def write_case(name, config, seed, inputs, targets, mask):
    d = OUT / name
    d.mkdir(parents=True)
    torch.manual_seed(seed)
    pm = peft.get_peft_model(g.load_base(), config)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for pname, p in pm.named_parameters():
            if p.requires_grad:
                p.copy_(1 + 0.3 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    pm.save_pretrained(d / "adapter")
    (d / "adapter" / "README.md").unlink()
    cfg_file = d / "adapter" / "adapter_config.json"
    cfg = json.loads(cfg_file.read_text())
    for key in ("target_modules", "feedforward_modules"):
        if isinstance(cfg.get(key), list):
            cfg[key] = sorted(cfg[key])
    cfg["base_model_name_or_path"] = "../../hfpeft/base"
    cfg_file.write_text(json.dumps(cfg, indent=2, sort_keys=True))
    loss, grads = g.reference(d, inputs, targets, mask)
    loss32, grads32 = g.reference(d, inputs, targets, mask, torch.float32)
    worst32 = max((grads32[k].double() - grads[k]).abs().max().item() / grads[k].abs().max().item() for k in grads)
    assert abs(loss32 - loss) / loss < g.LOSS_RTOL / 2 and worst32 < g.GRAD_RTOL / 10, f"{name}: float32 PyTorch is {worst32:.1e} off"
    save_file({"loss": torch.tensor([loss], dtype=torch.float32), **{k: v.float() for k, v in grads.items()}}, d / "expected.safetensors")
    keys = sorted(grads)
    print(f"{name}: loss {loss:.9f} (float32 PyTorch {abs(loss32 - loss) / loss:.1e} off; its gradients {worst32:.1e}), "
          f"{len(keys)} gradients, e.g. {keys[0]}")


def write():
    torch.set_num_threads(1)
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    bt = load_file(g.OUT / "batch.safetensors")
    inputs, targets, mask = bt["inputs"].long(), bt["targets"].long(), bt["mask"].double()
    for name, (config, seed) in cases().items():
        write_case(name, config, seed, inputs, targets, mask)
    (OUT / "README.md").write_text(
        "Made by models/src/test/golden/make_golden_hf_peft_ia3.py with transformers " + transformers.__version__
        + ", peft " + peft.__version__ + ", torch " + torch.__version__ + " over ../hfpeft/base; see that script's docstring. Do not edit.\n")
    total = sum(f.stat().st_size for f in OUT.rglob("*") if f.is_file())
    assert total < 200_000, f"fixtures total {total} bytes"
    print(f"wrote {OUT} ({total} bytes)")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        g.check(sys.argv[2])
    else:
        write()
