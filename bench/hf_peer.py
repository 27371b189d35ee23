"""Hugging Face peer for `peft4j bench`: transformers' LlamaForCausalLM + PEFT, the stack a Python user runs.

Run with a current PyTorch CPU build, transformers and peft (`pip install torch transformers peft`), e.g.

    OMP_WAIT_POLICY=PASSIVE /opt/peer/bin/python bench/hf_peer.py train --method lora
    OMP_WAIT_POLICY=PASSIVE /opt/peer/bin/python bench/hf_peer.py train --method lora --shape tinyllama --batch 1 --steps 2
    OMP_WAIT_POLICY=PASSIVE /opt/peer/bin/python bench/hf_peer.py generate
    OMP_WAIT_POLICY=PASSIVE /opt/peer/bin/python bench/hf_peer.py sgemm

Random weights at the shapes of `peft4j bench train --shape` (stories15M: dim 288, 6 layers, 6 heads,
hidden 768, vocab 32000, tied; tinyllama: dim 2048, 22 layers, 32 heads, 4 kv heads, hidden 5632,
untied). Methods through `get_peft_model` with the configs peft4j's defaults match: LoRA r 8, alpha 16
on q_proj, v_proj, no dropout; prefix tuning with 10 virtual tokens; adaption prompt (LLaMA-Adapter)
with 10 prompts on the top 4 layers (peft4j's default starts at layer 2 of 6); full fine-tuning
trains every weight. AdamW (betas 0.9, 0.95, weight decay 0.1), clipping to norm 1, as `bench train`.
Prints one JSON line with the fields of `peft4j bench train --json` (or `bench generate --json`).
"""
import argparse, json, os, resource, statistics, time
import torch
import torch.nn.functional as F

SHAPES = {
    "stories15m": dict(hidden_size=288, intermediate_size=768, num_hidden_layers=6, num_attention_heads=6,
                       num_key_value_heads=6, vocab_size=32000, max_position_embeddings=256, tie_word_embeddings=True),
    "tinyllama": dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32,
                      num_key_value_heads=4, vocab_size=32000, max_position_embeddings=2048, tie_word_embeddings=False),
}


def peak_rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def build(shape, seq):
    from transformers import LlamaConfig, LlamaForCausalLM
    kw = dict(SHAPES[shape])
    kw["max_position_embeddings"] = max(kw["max_position_embeddings"], seq + 16)
    cfg = LlamaConfig(rms_norm_eps=1e-5, initializer_range=0.02, **kw)
    torch.manual_seed(0)
    return LlamaForCausalLM(cfg), cfg


def train_flops(cfg, batch, seq, weight_grads):
    """The FLOP count of `peft4j bench train` (BenchTrain.trainFlops), so GFLOP/s compare."""
    d, kv = cfg.hidden_size, cfg.hidden_size // cfg.num_attention_heads * cfg.num_key_value_heads
    n = batch * seq
    per_layer = d * d * 2 + 2.0 * d * kv + 3.0 * d * cfg.intermediate_size
    linear = 2 * n * (cfg.num_hidden_layers * per_layer + cfg.vocab_size * d)
    attention = cfg.num_hidden_layers * 2.0 * 2 * batch * (seq * (seq + 1) / 2.0) * d
    return linear * (3 if weight_grads else 2) + attention * 3


def with_method(model, method, adapter_layers):
    import peft
    if method == "full":
        return model
    if method == "lora":
        c = peft.LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    elif method == "prefix":
        c = peft.PrefixTuningConfig(num_virtual_tokens=10, task_type="CAUSAL_LM")
    elif method == "llama-adapter":
        c = peft.AdaptionPromptConfig(adapter_len=10, adapter_layers=adapter_layers, task_type="CAUSAL_LM")
    else:
        raise SystemExit("--method: unknown method " + method)
    return peft.get_peft_model(model, c)


def train(a):
    model, cfg = build(a.shape, a.seq)
    model = with_method(model, a.method, a.adapter_layers)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
    g = torch.Generator().manual_seed(7)
    data = torch.randint(0, cfg.vocab_size, (a.batch, a.seq + 1), generator=g)
    x, y = data[:, :-1], data[:, 1:]
    times, loss = [], None
    for step in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        logits = model(input_ids=x).logits
        loss = F.cross_entropy(logits.reshape(-1, cfg.vocab_size), y.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        del logits
        if step >= a.warmup:
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    flops = train_flops(cfg, a.batch, a.seq, a.method == "full")
    print(json.dumps({"peer": f"transformers {__import__('transformers').__version__} + peft {__import__('peft').__version__}"
                                f" on pytorch {torch.__version__}",
                      "bench": "train", "method": a.method, "shape": a.shape, "batch": a.batch, "seq": a.seq, "device": "cpu",
                      "threads": torch.get_num_threads(), "trainable_params": sum(p.numel() for p in params),
                      "step_s": med, "tokens_per_s": a.batch * a.seq / med, "gflops_per_s": flops / med / 1e9,
                      "steps": times, "loss": float(loss.detach()), "peak_rss_bytes": peak_rss()}))


@torch.no_grad()
def generate(a):
    model, cfg = build(a.shape, a.tokens)
    model.eval()
    rates = []
    idx = torch.ones(1, 1, dtype=torch.long)
    for run in range(a.warmup + a.runs):
        t0 = time.perf_counter()
        out = model.generate(idx, attention_mask=torch.ones_like(idx), max_new_tokens=a.tokens, min_new_tokens=a.tokens,
                             do_sample=False, pad_token_id=0)
        s = time.perf_counter() - t0
        if run >= a.warmup:
            rates.append((out.shape[1] - 1) / s)
    print(json.dumps({"peer": "transformers generate on pytorch " + torch.__version__, "bench": "generate",
                      "threads": torch.get_num_threads(), "tokens": a.tokens, "runs": rates,
                      "tokens_per_s": statistics.median(rates), "peak_rss_bytes": peak_rss()}))


def sgemm(a):
    n = a.size
    x, w = torch.randn(n, n), torch.randn(n, n)
    rates = []
    for run in range(a.warmup + a.runs):
        t0 = time.perf_counter()
        torch.mm(x, w)
        s = time.perf_counter() - t0
        if run >= a.warmup:
            rates.append(2.0 * n * n * n / s / 1e9)
    print(json.dumps({"peer": "torch.mm on pytorch " + torch.__version__, "bench": "sgemm", "size": n,
                      "threads": torch.get_num_threads(), "runs": rates, "gflops_per_s": statistics.median(rates)}))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["train", "generate", "sgemm"])
    ap.add_argument("--method", choices=["lora", "prefix", "llama-adapter", "full"], default="full")
    ap.add_argument("--shape", type=str.lower, choices=list(SHAPES), default="stories15m")
    ap.add_argument("--adapter-layers", type=int, default=4)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=255)
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    if os.environ.get("OMP_WAIT_POLICY", "").upper() != "PASSIVE":
        print("hf_peer: set OMP_WAIT_POLICY=PASSIVE (without it OpenMP threads spin against each other on a small machine)",
              file=__import__("sys").stderr)
    torch.set_num_threads(a.threads)
    {"train": train, "generate": generate, "sgemm": sgemm}[a.what](a)
