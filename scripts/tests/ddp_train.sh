#!/usr/bin/env bash
# The pretraining trainer run by 2 processes (torchrun, gloo) must compute what 1 process computes with the same
# global batch (synchronised batch norm, negatives from all ranks, gradients averaged by DDP):
#   float64, the three Dual-IFM stages, 2 steps each: the same weights within 1e-6;
#   float32, one step: within 1e-5.
# Over many steps any two runs whose sums are ordered differently drift apart: a small BagNet with batch norm at
# initialisation amplifies rounding differences about 30-fold per step (float64 or float32 alike), so exactness is
# checked over a few steps, where a real difference in the computation would show as 1e-3 or more.
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=1 WANDB_MODE=disabled
dual-ifm synth --out "$tmp" --n-patients 16 --size 32 --workers 0 --no-progress > /dev/null
common=(--method dual-ifm --backbone bagnet33 --width 0.125 --dataset synthetic --root "$tmp" --image-size 32 --split all
        --batch-size 8 --warmup 1,0,1 --sync-bn --workers 0 --wandb disabled --no-progress --seed 5)
run() {  # run NAME NPROC ARGS...
  local name=$1 n=$2; shift 2
  if [ "$n" -eq 1 ]; then python -m dual_ifm pretrain --out "$tmp/$name" "${common[@]}" "$@" > "$tmp/$name.log" 2>&1 || { cat "$tmp/$name.log"; exit 1; }
  else torchrun --standalone --nproc_per_node="$n" -m dual_ifm pretrain --out "$tmp/$name" "${common[@]}" "$@" > "$tmp/$name.log" 2>&1 || { cat "$tmp/$name.log"; exit 1; }; fi
}
run f64_one 1 --precision fp64 --epochs 1,1,1 --sample-size 16
run f64_two 2 --precision fp64 --epochs 1,1,1 --sample-size 16
run f32_one 1 --precision fp32 --epochs 1,0,0 --sample-size 8
run f32_two 2 --precision fp32 --epochs 1,0,0 --sample-size 8
python - "$tmp" <<'PY'
import sys, pandas as pd
from dual_ifm.model import load_checkpoint
tmp = sys.argv[1]
def compare(a, b, tol, what):
    A, B = (load_checkpoint(f'{tmp}/{r}/final.pt')['state_dict'] for r in (a, b))
    assert sorted(A) == sorted(B)
    diff = max((A[k].double() - B[k].double()).abs().max().item() for k in A if A[k].is_floating_point())
    la, lb = pd.read_csv(f'{tmp}/{a}/log.csv'), pd.read_csv(f'{tmp}/{b}/log.csv')
    print(f'{what}: losses 1 process {la["loss"].round(7).tolist()}, 2 processes {lb["loss"].round(7).tolist()}; largest weight difference {diff:.2e}')
    assert diff < tol, f'{what}: 2 processes differ from 1 process by {diff} (tolerance {tol})'
compare('f64_one', 'f64_two', 1e-6, 'float64, 6 steps over 3 stages')
compare('f32_one', 'f32_two', 1e-5, 'float32, 1 step')
print('OK: 2 processes = 1 process with the same global batch')
PY
