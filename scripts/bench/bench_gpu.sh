#!/usr/bin/env bash
# The benchmark on a CUDA machine, in one prepared command: the same table as on a CPU (augmentation views/s the
# published way and ours with the same workers, decoding and the uint8 cache, the training step in every mode with
# its achieved TFLOP/s against the card's measured bf16 matrix peak, where that step's time goes by kind of
# operation, one epoch end to end with its bottleneck, the loss at global batch 1024-8192, and the peak memory of
# each), measured in one run on this GPU.
# Usage: scripts/bench/bench_gpu.sh [OUT.json] [more study.py flags]     (no network needed; nothing is downloaded)
#        scripts/bench/bench_gpu.sh --check    on any machine: the same flags, on the CPU, measuring only the matrix rate
#                                        (what the tests run, so that a GPU session never meets a stale flag)
# The JSON file is rewritten after every section, and SIGTERM (e.g. `timeout 480 scripts/bench/bench_gpu.sh`) ends the run
# with the table of the sections measured so far. PYTHON picks the interpreter (default: python3).
set -euo pipefail
cd "$(dirname "$0")/../.."
py=${PYTHON:-python3}
# A batch of 64 per step keeps the card busy (the 2-core CPU table uses 8); 8 workers feed the published pipeline.
# The matrix peak is measured on 8192^3 products (on an H200: 789 TFLOP/s bf16; the 2048^3 of the CPU table is a
# short kernel for a GPU).
# The epoch is BagNet-33 itself at 256 px: does the loader keep up with the full model?
# One process for all (--no-isolate): torch measures each row's GPU memory itself, and 25 process starts would
# cost minutes of a lent GPU. Sections run in the order given, the machine's rates and the step first.
flags=(--batch 64 --steps 10 --warmup 3 --workers 8 --photos 512 --loss-batches 1024,4096,8192 --matmul-size 8192
       --epoch-width 1 --epoch-size 256 --no-isolate --sections matmul,step,anatomy,loss,epoch,augment,decode)
export WANDB_MODE=disabled
if [ "${1:-}" = "--check" ]; then
  "$py" scripts/bench/study.py "${flags[@]}" --device cpu --sections matmul --matmul-size 1024 --out "$(mktemp -d)/check.json"
  echo "OK: the flags of scripts/bench/bench_gpu.sh are valid"; exit 0
fi
out=${1:-bench_gpu.json}; shift || true
"$py" - <<'PY'
import torch, sys
if not torch.cuda.is_available(): sys.exit('scripts/bench/bench_gpu.sh needs a CUDA GPU; on a CPU run `python scripts/bench/study.py --quick`.')
p = torch.cuda.get_device_properties(0)
print(f'GPU: {p.name}, {p.total_memory / 2**30:.0f} GiB, {p.multi_processor_count} SMs, torch {torch.__version__}, CUDA {torch.version.cuda}')
PY
nvidia-smi --query-gpu=name,clocks.max.sm,power.limit --format=csv,noheader 2>/dev/null || true
"$py" scripts/bench/study.py --device cuda "${flags[@]}" --out "$out" "$@"
echo "table written to $out"
