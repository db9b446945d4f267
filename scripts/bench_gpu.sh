#!/usr/bin/env bash
# The benchmark on a CUDA machine, in one prepared command: the same table as on a CPU (augmentation views/s the
# published way and ours with the same workers, decoding and the uint8 cache, the training step in every mode with
# its achieved TFLOP/s against the card's measured bf16 matrix peak, where that step's time goes by kind of
# operation, one epoch end to end with its bottleneck, the loss at global batch 1024-8192, and the peak memory of
# each), measured in one run on this GPU.
# Usage: scripts/bench_gpu.sh [OUT.json] [more `dual-ifm bench` flags]     (no network needed; nothing is downloaded)
#        scripts/bench_gpu.sh --check    on any machine: the same flags, on the CPU, measuring only the matrix rate
#                                        (what the tests run, so that a GPU session never meets a stale flag)
set -euo pipefail
cd "$(dirname "$0")/.."
# batch 64 per step keeps the card busy (the 2-core CPU table uses 8); 8 workers feed the published pipeline.
flags=(--batch 64 --steps 10 --warmup 3 --workers 8 --photos 512 --loss-batches 1024,4096,8192)
export WANDB_MODE=disabled
if [ "${1:-}" = "--check" ]; then
  python -m dual_ifm bench --device cpu --sections matmul "${flags[@]}" --out "$(mktemp -d)/check.json"
  echo "OK: the flags of scripts/bench_gpu.sh are valid"; exit 0
fi
out=${1:-bench_gpu.json}; shift || true
python - <<'PY'
import torch, sys
if not torch.cuda.is_available(): sys.exit('scripts/bench_gpu.sh needs a CUDA GPU; on a CPU run `dual-ifm bench --quick`.')
p = torch.cuda.get_device_properties(0)
print(f'GPU: {p.name}, {p.total_memory / 2**30:.0f} GiB, torch {torch.__version__}, CUDA {torch.version.cuda}')
PY
nvidia-smi --query-gpu=name,clocks.max.sm,power.limit --format=csv,noheader 2>/dev/null || true
python -m dual_ifm bench --device cuda "${flags[@]}" --out "$out" "$@"
echo "table written to $out"
