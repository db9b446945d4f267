#!/usr/bin/env bash
# The benchmark on a CUDA machine, in one prepared command: the same table as on a CPU (augmentation views/s the
# published way and ours with the same workers, decoding and the uint8 cache, the training step in every mode with
# its achieved TFLOP/s against the card's measured bf16 matrix peak, one epoch end to end with its bottleneck, the
# loss at global batch 1024-8192, and the peak memory of each), measured in one run on this GPU.
# Usage: scripts/bench_gpu.sh [OUT.json] [more `dual-ifm bench` flags]     (no network needed; nothing is downloaded)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench_gpu.json}; shift || true
python - <<'PY'
import torch, sys
if not torch.cuda.is_available(): sys.exit('scripts/bench_gpu.sh needs a CUDA GPU; on a CPU run `dual-ifm bench --quick`.')
p = torch.cuda.get_device_properties(0)
print(f'GPU: {p.name}, {p.total_memory / 2**30:.0f} GiB, torch {torch.__version__}, CUDA {torch.version.cuda}')
PY
nvidia-smi --query-gpu=name,clocks.max.sm,power.limit --format=csv,noheader 2>/dev/null || true
# batch 64 per step keeps the card busy (the 2-core CPU table uses 8); 8 workers feed the published pipeline.
export WANDB_MODE=disabled
python -m dual_ifm bench --device cuda --batch 64 --steps 10 --warmup 3 --workers 8 --photos 512 \
  --loss-batches 1024,4096,8192 --out "$out" "$@"
echo "table written to $out"
