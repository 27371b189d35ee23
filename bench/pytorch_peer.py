"""PyTorch peer for `peft4j bench`: the same LLaMA shapes, the same step, timed the same way.

Run with Debian's python3 (torch 1.13 from python3-torch), not the first python3 on PATH:

    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/pytorch_peer.py train --method lora
    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/pytorch_peer.py train --method full
    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/pytorch_peer.py generate

Prints one JSON line with median seconds a step (or tokens/s of decoding) and peak RSS, like
`peft4j bench ... --json`. The model is a plain LLaMA written here (RMSNorm, rotate-half RoPE,
SwiGLU, tied classifier), LoRA as in PEFT (x A^T B^T * alpha/r on q and v), AdamW.
"""
import argparse, json, math, resource, statistics, time
import torch
import torch.nn as nn
import torch.nn.functional as F


class Lora(nn.Module):
    def __init__(self, base, r, alpha):
        super().__init__()
        self.base, self.scale = base, alpha / r
        self.a = nn.Parameter(torch.empty(r, base.in_features))
        nn.init.kaiming_uniform_(self.a, a=math.sqrt(5))
        self.b = nn.Parameter(torch.zeros(base.out_features, r))

    def forward(self, x):
        return self.base(x) + (x @ self.a.t() @ self.b.t()) * self.scale


class Block(nn.Module):
    def __init__(self, d, hidden, heads):
        super().__init__()
        self.heads = heads
        self.n1, self.n2 = nn.Parameter(torch.ones(d)), nn.Parameter(torch.ones(d))
        self.q, self.k, self.v, self.o = (nn.Linear(d, d, bias=False) for _ in range(4))
        self.gate, self.up = nn.Linear(d, hidden, bias=False), nn.Linear(d, hidden, bias=False)
        self.down = nn.Linear(hidden, d, bias=False)

    @staticmethod
    def norm(x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * w

    def forward(self, x, cos, sin, mask):
        B, T, D = x.shape
        hd = D // self.heads
        h = self.norm(x, self.n1)
        q, k, v = (m(h).view(B, T, self.heads, hd).transpose(1, 2) for m in (self.q, self.k, self.v))

        def rope(t):
            t1, t2 = t[..., : hd // 2], t[..., hd // 2:]
            return t * cos + torch.cat((-t2, t1), -1) * sin

        q, k = rope(q), rope(k)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(hd) + mask
        y = (att.softmax(-1) @ v).transpose(1, 2).reshape(B, T, D)
        x = x + self.o(y)
        h = self.norm(x, self.n2)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Llama(nn.Module):
    def __init__(self, d=288, hidden=768, layers=6, heads=6, vocab=32000, ctx=256):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.blocks = nn.ModuleList(Block(d, hidden, heads) for _ in range(layers))
        self.norm = nn.Parameter(torch.ones(d))
        hd = d // heads
        inv = 10000.0 ** (-torch.arange(0, hd, 2).float() / hd)
        ang = torch.arange(ctx).float()[:, None] * inv[None, :]
        self.register_buffer("cos", torch.cat((ang.cos(), ang.cos()), -1))
        self.register_buffer("sin", torch.cat((ang.sin(), ang.sin()), -1))

    def forward(self, idx):
        T = idx.shape[1]
        mask = torch.full((T, T), float("-inf")).triu(1)
        x = self.emb(idx)
        for b in self.blocks:
            x = b(x, self.cos[:T], self.sin[:T], mask)
        return Block.norm(x, self.norm) @ self.emb.weight.t()


def peak_rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def train(args):
    torch.manual_seed(0)
    model = Llama()
    if args.method == "lora":
        for p in model.parameters():
            p.requires_grad_(False)
        for b in model.blocks:
            b.q, b.v = Lora(b.q, 8, 16), Lora(b.v, 8, 16)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1)
    data = torch.randint(0, 32000, (args.batch, args.seq + 1))
    times = []
    for step in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        logits = model(data[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, 32000), data[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if step >= args.warmup:
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(json.dumps({"peer": "pytorch " + torch.__version__, "bench": "train", "method": args.method, "step_s": med,
                      "tokens_per_s": args.batch * args.seq / med, "steps": times,
                      "trainable_params": sum(p.numel() for p in params), "peak_rss_bytes": peak_rss()}))


@torch.no_grad()
def generate(args):
    torch.manual_seed(0)
    model = Llama()
    rates = []
    for run in range(args.warmup + args.runs):
        idx = torch.ones(1, 1, dtype=torch.long)
        t0 = time.perf_counter()
        for _ in range(args.tokens):  # no KV cache in this peer: each step re-runs the sequence, as a plain PyTorch loop does
            nxt = model(idx)[:, -1].argmax(-1, keepdim=True)
            idx = torch.cat((idx, nxt), 1)
        if run >= args.warmup:
            rates.append(args.tokens / (time.perf_counter() - t0))
    print(json.dumps({"peer": "pytorch " + torch.__version__, "bench": "generate", "tokens_per_s": statistics.median(rates),
                      "runs": rates, "peak_rss_bytes": peak_rss()}))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["train", "generate"])
    ap.add_argument("--method", choices=["lora", "full"], default="lora")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=255)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    train(a) if a.what == "train" else generate(a)
