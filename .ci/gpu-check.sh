#!/usr/bin/env bash
# GPU check of the TornadoVM backend, for a machine that reaches no registry: one command, about 10 minutes.
# It builds nothing: it unpacks what .ci/gpu-pack.sh put in .ci/carry/ (a jlinked JDK 25, the TornadoVM SDK,
# peft4j's jars, an OpenCL ICD loader), then
#   1. lists TornadoVM's devices and picks the first NVIDIA one (DEVICE=tornado:N overrides);
#   2. times LoRA training steps (r 8, alpha 16 on q_proj and v_proj, AdamW) on a TinyLlama-1.1B-shaped random
#      model (dim 2048, 22 layers, 32 heads, 4 kv heads, hidden 5632, vocab 32000), batch 4 x 256, through
#      `peft4j bench train --device tornado:N` (the path finetune --device takes), watching GPU memory;
#   3. the same steps in PyTorch + Hugging Face PEFT on the same GPU, and the ratio of tokens/s.
# Smaller runs (a dry run on a CPU OpenCL device): SHAPE=stories15M BATCH=1 SEQ=16 STEPS=1 DEVICE=tornado:0.
# Results: the last lines, and $OUT/gpu-check/ when the device tool's $OUT is set.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
carry="$root/.ci/carry"
SHAPE=${SHAPE:-tinyllama} BATCH=${BATCH:-4} SEQ=${SEQ:-256} STEPS=${STEPS:-5}
WORK=${TMPDIR:-/tmp}/peft4j-gpu
RESULTS=${OUT:-$WORK}/gpu-check
rm -rf "$WORK" && mkdir -p "$WORK" "$RESULTS"
for part in jdk25 tornadovm peft4j opencl; do
  [[ -f "$carry/$part.tar.xz" ]] || { echo "gpu-check: $carry/$part.tar.xz is missing: run .ci/gpu-pack.sh and carry .ci/carry" >&2; exit 2; }
  tar -C "$WORK" -xJf "$carry/$part.tar.xz" || exit 2
done
export JAVA_HOME=$WORK/jdk25 TORNADOVM_HOME=$WORK/tornadovm PATH=$WORK/jdk25/bin:$PATH
sed "s|\${TORNADOVM_HOME}|$TORNADOVM_HOME|g" "$TORNADOVM_HOME/tornado-argfile.template" > "$TORNADOVM_HOME/tornado-argfile"

# OpenCL: the ICD loader, and NVIDIA's ICD when the driver's library is there but not registered
if ! ldconfig -p 2>/dev/null | grep -q 'libOpenCL.so.1 '; then export LD_LIBRARY_PATH=$WORK/opencl${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}; fi
if ! grep -qsl nvidia /etc/OpenCL/vendors/*.icd && ldconfig -p 2>/dev/null | grep -q 'libnvidia-opencl.so.1 '; then
  mkdir -p "$WORK/vendors" && echo libnvidia-opencl.so.1 > "$WORK/vendors/nvidia.icd"
  export OCL_ICD_VENDORS=$WORK/vendors
fi
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 || true; } | tee "$RESULTS/nvidia-smi.txt"
"$TORNADOVM_HOME/bin/tornado" --devices 2>&1 | tee "$RESULTS/devices.txt"
if [[ -z "${DEVICE:-}" ]]; then
  # devices are listed in order ("Tornado device=B:I", then a line with its name); --device tornado:N counts them so
  n=$(awk '/Tornado device=/ {k++} /NVIDIA/ && k && !done {print k - 1; done = 1}' "$RESULTS/devices.txt")
  [[ -n "$n" ]] && DEVICE=tornado:$n \
    || echo "gpu-check: TornadoVM lists no NVIDIA device (see devices.txt; set DEVICE=tornado:N for another); timing PyTorch only" | tee "$RESULTS/tornado.txt"
fi
echo "device: ${DEVICE:-none}"
"$root/.ci/tornado-flags.sh" > "$WORK/tornado.args"

# the device tool runs one command for at most 600 s: 330 s here, 150 s for PyTorch, the rest unpacking
[[ -n "${DEVICE:-}" ]] && {
(while nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null; do sleep 1; done > "$RESULTS/tornado-mem.txt") & MON=$!
timeout 330 java @"$WORK/tornado.args" -Dtornado.load.annotation.parallel=dev.peft4j.kernels.Parallel -Dtornado.recover.bailout=false \
  -Dtornado.device.memory=${DEVICE_MEMORY:-48GB} -Xmx64g --add-modules jdk.incubator.vector \
  -cp "$WORK/peft4j/peft4j-cli.jar:$WORK/peft4j/lib/*" dev.peft4j.cli.Main \
  bench train --shape "$SHAPE" --method lora --device "$DEVICE" --batch "$BATCH" --seq "$SEQ" --steps "$STEPS" --warmup 1 \
  2>&1 | tee "$RESULTS/tornado.txt"
kill $MON 2>/dev/null
echo "TornadoVM: peak GPU memory used (MiB, whole GPU): $(sort -n "$RESULTS/tornado-mem.txt" | tail -1)" | tee -a "$RESULTS/summary.txt"
}

if python3 -c 'import torch, transformers, peft' 2>/dev/null; then
  timeout 150 python3 - "$SHAPE" "$BATCH" "$SEQ" "$STEPS" <<'PY' 2>&1 | tee "$RESULTS/torch.txt"
import sys, time, torch
from transformers import LlamaConfig, LlamaForCausalLM
from peft import LoraConfig, get_peft_model
shape, B, T, steps = sys.argv[1], *map(int, sys.argv[2:])
dims = {"tinyllama": (2048, 22, 32, 4, 5632, 32000, False), "stories15M": (288, 6, 6, 6, 768, 32000, True)}[shape]
d, L, H, KV, hid, V, tied = dims
cfg = LlamaConfig(hidden_size=d, num_hidden_layers=L, num_attention_heads=H, num_key_value_heads=KV, intermediate_size=hid,
                  vocab_size=V, max_position_embeddings=max(T, 256), tie_word_embeddings=tied)
dev = "cuda" if torch.cuda.is_available() else "cpu"
model = get_peft_model(LlamaForCausalLM(cfg).to(dev), LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"]))
opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1)
x = torch.randint(0, V, (B, T), device=dev)
def step():
    loss = model(input_ids=x, labels=x).loss
    loss.backward(); torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0); opt.step(); opt.zero_grad()
step()
if dev == "cuda": torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
times = []
for _ in range(steps):
    t = time.time(); step()
    if dev == "cuda": torch.cuda.synchronize()
    times.append(time.time() - t)
sec = sorted(times)[len(times) // 2]
mem = torch.cuda.max_memory_allocated() >> 20 if dev == "cuda" else -1
print(f"pytorch {torch.__version__} peft on {dev}: median {sec:.4f} s a step, tokens/s={B * T / sec:.1f}, peak allocated {mem} MiB")
PY
else
  echo "gpu-check: python3 with torch, transformers and peft is not here: no PyTorch peer" | tee "$RESULTS/torch.txt"
fi

tv=$(sed -n 's/^median: [0-9.]* s a step, \([0-9]*\) tokens\/s.*/\1/p' "$RESULTS/tornado.txt")
pt=$(grep -o 'tokens/s=[0-9.]*' "$RESULTS/torch.txt" | cut -d= -f2)
{
  echo "peft4j TornadoVM (${DEVICE:-no device}, $SHAPE, batch $BATCH x $SEQ, LoRA r8 q,v): ${tv:-failed} tokens/s"
  echo "PyTorch + PEFT (same shape and batch): ${pt:-n/a} tokens/s"
  [[ -n "$tv" && -n "$pt" ]] && python3 -c "print(f'ratio TornadoVM / PyTorch tokens/s: {$tv / $pt:.3f}')"
} | tee -a "$RESULTS/summary.txt"
[[ -n "$tv" ]]
