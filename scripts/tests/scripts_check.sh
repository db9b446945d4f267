#!/usr/bin/env bash
# The shell scripts parse, the sweep runner builds the commands it would run, and the GPU bench's flags are valid.
set -euo pipefail
cd "$(dirname "$0")/../.."
for f in scripts/*.sh scripts/*/*.sh scripts/pretrain/*.sbatch .ci/run; do bash -n "$f" || { echo "syntax error in $f"; exit 1; }; done
out=$(python scripts/classification/sweep.py --checkpoint c.pt --dataset idrid --feature drbin --grid lr_head=1e-4,5e-4 sparsity=0,1e-4 --dry-run)
n=$(grep -c '^\$ dual-ifm finetune' <<< "$out")
[ "$n" -eq 4 ] || { echo "expected 4 sweep commands, got $n:"; echo "$out"; exit 1; }
grep -q -- '--lr-head 5e-4 --sparsity 1e-4' <<< "$out" || { echo "sweep flags not passed:"; echo "$out"; exit 1; }
bash scripts/bench/bench_gpu.sh --check > /tmp/bench_gpu_check.$$ 2>&1 || { cat /tmp/bench_gpu_check.$$; exit 1; }
grep -q 'bfloat16 *matmul 1024' /tmp/bench_gpu_check.$$ || { echo "scripts/bench/bench_gpu.sh --check printed no table:"; cat /tmp/bench_gpu_check.$$; exit 1; }
rm -f /tmp/bench_gpu_check.$$
echo "OK: scripts parse; the sweep builds 4 commands; the GPU bench's flags are valid"
