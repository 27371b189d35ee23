#!/opt/peer/bin/python
"""Makes the golden fixture of LoRA on a frozen BF16 base, from the independent PyTorch reference of
make_golden_peft.py (imported, not copied).

Run from the repository root:

    /opt/peer/bin/python models/src/test/golden/make_golden_bf16.py

It writes adapters-lora/src/test/resources/golden/base_bf16/ (make_golden_peft.py's base model with every
tensor rounded to bfloat16, stored as a BF16 safetensors checkpoint, as a Hugging Face bf16 model is)
and c6_lora_qv_bf16/ (LoRA r 4, alpha 8 on q_proj and v_proj). The reference computes in float64 from
the bfloat16 weights, so the fixture checks that peft4j reads the BF16 base as it is stored, without
changing a value, and trains LoRA on it. Deterministic: a rerun rewrites the same bytes.
"""

import json
import sys
from pathlib import Path

import torch

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_golden as mg  # noqa: E402
import make_golden_peft as mp  # noqa: E402


def main():
    torch.set_num_threads(1)
    hf, inputs, targets, mask = mp.base_and_batch()
    bf16 = {k: v.to(torch.bfloat16) for k, v in hf.items()}
    changed = max((bf16[k].float() - v).abs().max().item() for k, v in hf.items())
    assert changed > 1e-4, "rounding to bfloat16 should change the weights"

    d = mp.fresh_dir(mp.OUT_LORA, "base_bf16")
    (d / "hf").mkdir()
    mg.write_json(d / "hf" / "config.json", mp.CFG.hf_config("bfloat16"))
    mg.write_safetensors(d / "hf" / "model.safetensors", bf16)

    m = mp.Methods()
    m.add_lora(torch.Generator().manual_seed(706), 4, 8, mp.LORA_QV)
    settings = {"lora": {"r": 4, "lora_alpha": 8, "scaling": 2.0, "lora_dropout": 0.0, "target_modules": mp.LORA_QV,
                         "init": "A, B ~ N(0, 0.1^2) (B non-zero so that dA != 0)"}}
    name = "c6_lora_qv_bf16"
    mp.case(mp.OUT_LORA, name, "LoRA r 4, alpha 8 on q_proj and v_proj of both layers, on the BF16 base", m, settings,
            (bf16, inputs, targets, mask))
    case_json = mp.OUT_LORA / name / "case.json"
    info = json.loads(case_json.read_text())
    info["base"] = ("../base_bf16/hf: make_golden_peft.py's base (make_golden.py's b1_train_gqa, seed 505, std 0.2) with every "
                    f"tensor rounded to bfloat16 (largest change {changed:.3g}), stored as BF16, frozen; the reference widens "
                    "the bfloat16 values to float64")
    info["config"] = mp.CFG.hf_config("bfloat16")
    mg.write_json(case_json, info)
    print(f"wrote {d} and {mp.OUT_LORA / name} (weights moved by up to {changed:.3g} when rounded to bfloat16)")


if __name__ == "__main__":
    main()
