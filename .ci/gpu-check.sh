#!/usr/bin/env bash
# GPU check for the TornadoVM backend, for a machine that reaches no registry (one command, ~10 min).
# It builds nothing: it expects carried, compressed archives under .ci/carry/:
#   jdk25.tar.xz        a JDK 25 runtime (with jdk.internal.vm.ci), unpacking to jdk25/
#   tornadovm.tar.xz    an installed TornadoVM SDK (PTX and/or OpenCL backend), unpacking to tornadovm/
#   peft4j-kernels.jar  kernels built with the `tornado` profile (mvn -pl kernels package with TORNADOVM_HOME)
# Steps: LoRA training steps on a TinyLlama-1.1B-shaped random model through TornadoVM, then the same
# step in PyTorch + Hugging Face PEFT on the same GPU, and the ratio of tokens/s.
set -euo pipefail
cd "$(dirname "$0")/carry"
WORK=${TMPDIR:-/tmp}/peft4j-gpu && mkdir -p "$WORK"
tar -xJf jdk25.tar.xz -C "$WORK" && tar -xJf tornadovm.tar.xz -C "$WORK"
export JAVA_HOME=$WORK/jdk25 TORNADOVM_HOME=$WORK/tornadovm PATH=$WORK/jdk25/bin:$PATH
"$TORNADOVM_HOME/bin/tornado" --devices || true
../tornado-flags.sh > "$WORK/tornado.args"
nvidia-smi --query-gpu=name,memory.total --format=csv || true

# TinyLlama-1.1B shape: dim 2048, 22 layers, 32 heads, 4 kv heads, hidden 5632, vocab 32000; batch 4 x 256, LoRA r 8.
# LoraStep packs each kind of per-layer buffer into one array, so its graphs hand on 51 buffers at any
# depth (under TornadoVM 5.2.0's 1024-node cap) and its own bytecode-size default suffices.
SHAPE="2048 22 32 4 5632 32000 4 256 8"
STEPS=5
(nvidia-smi --query-gpu=memory.used --format=csv,noheader -l 1 > "$WORK/tornado-mem.txt") & MON=$!
timeout 360 java @"$WORK/tornado.args" -Dtornado.load.annotation.parallel=dev.peft4j.kernels.Parallel \
  -Dtornado.recover.bailout=false -Xmx100g \
  -Dtornado.device.memory=60GB -cp peft4j-kernels.jar dev.peft4j.kernels.tornado.LoraStepBench $SHAPE $STEPS \
  | tee "$WORK/tornado.txt" || echo "TornadoVM run failed or timed out"
kill $MON || true
echo "TornadoVM peak GPU memory (MiB): $(sort -n "$WORK/tornado-mem.txt" | tail -1)"

python3 - $SHAPE $STEPS <<'PY' | tee "$WORK/torch.txt"
import sys, time, torch
from transformers import LlamaConfig, LlamaForCausalLM
from peft import LoraConfig, get_peft_model
d, L, H, KV, hid, V, B, T, r, steps = map(int, sys.argv[1:])
cfg = LlamaConfig(hidden_size=d, num_hidden_layers=L, num_attention_heads=H, num_key_value_heads=KV,
                  intermediate_size=hid, vocab_size=V, max_position_embeddings=T)
model = get_peft_model(LlamaForCausalLM(cfg).cuda(), LoraConfig(r=r, lora_alpha=2 * r, target_modules=["q_proj", "v_proj"]))
opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
x = torch.randint(0, V, (B, T), device="cuda")
def step():
    loss = model(input_ids=x, labels=x).loss; loss.backward(); opt.step(); opt.zero_grad(); return loss
step(); torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
t = time.time()
for _ in range(steps): step()
torch.cuda.synchronize(); sec = (time.time() - t) / steps
print(f"tokens/s={B * T / sec:.1f} step_s={sec:.4f} peak_mem_mib={torch.cuda.max_memory_allocated() >> 20}")
PY
tv=$(grep -o 'tokens/s=[0-9.]*' "$WORK/tornado.txt" | cut -d= -f2 || true)
pt=$(grep -o 'tokens/s=[0-9.]*' "$WORK/torch.txt" | cut -d= -f2 || true)
[ -n "$tv" ] && [ -n "$pt" ] && python3 -c "print(f'ratio TornadoVM / PyTorch tokens/s: {$tv / $pt:.3f}')"
