#!/usr/bin/env bash
# The pretraining trainer run by 2 processes (torchrun, gloo) must compute what 1 process computes with the same
# global batch (synchronised batch norm, negatives from all ranks, gradients averaged by DDP):
#   float64, the three Dual-IFM stages, 2 steps each: the same weights within 1e-6 (measured: about 1e-10);
#   float32, one step: the same loss within 1e-6 (relative), and weights no further apart than rounding alone
#   moves them: a narrow BagNet with batch norm at initialisation amplifies rounding differences enormously
#   (measured here: one step of the same single process with batch-norm sums in float32 instead of float64 moves the
#   weights by about 7e-3), so the 2-process float32 weights must lie within 1e-5 or within twice that noise floor.
# A real difference in the computation (wrong negatives, unsynchronised statistics, a wrong gradient average) shows
# in the float64 run as 1e-3 or more.
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
nosync=(); for a in "${common[@]}"; do [ "$a" = --sync-bn ] || nosync+=("$a"); done; common=("${nosync[@]}")
run f32_floor 1 --precision fp32 --epochs 1,0,0 --sample-size 8    # same process, batch-norm sums in float32: the noise floor
python - "$tmp" <<'PY'
import sys, pandas as pd
from dual_ifm.model import load_checkpoint
tmp = sys.argv[1]
def weights(r): return load_checkpoint(f'{tmp}/{r}/final.pt')['state_dict']
def wdiff(a, b):
    A, B = weights(a), weights(b)
    assert sorted(A) == sorted(B)
    return max((A[k].double() - B[k].double()).abs().max().item() for k in A if A[k].is_floating_point())
def losses(r): return pd.read_csv(f'{tmp}/{r}/log.csv')['loss'].tolist()
d64 = wdiff('f64_one', 'f64_two')
print(f'float64, 6 steps over 3 stages: losses 1 process {losses("f64_one")}, 2 processes {losses("f64_two")}; largest weight difference {d64:.2e}')
assert d64 < 1e-6, f'float64: 2 processes differ from 1 process by {d64} (tolerance 1e-6)'
l1, l2 = losses('f32_one')[0], losses('f32_two')[0]
d32, floor = wdiff('f32_one', 'f32_two'), wdiff('f32_one', 'f32_floor')
print(f'float32, 1 step: loss 1 process {l1:.8f}, 2 processes {l2:.8f}; largest weight difference {d32:.2e} '
      f'(rounding noise floor {floor:.2e})')
assert abs(l1 - l2) <= 1e-6 * abs(l1), f'float32: the losses differ: {l1} vs {l2}'
assert d32 <= max(1e-5, 2 * floor), f'float32: 2 processes differ from 1 process by {d32}, more than rounding alone ({floor})'
print('OK: 2 processes = 1 process with the same global batch')
PY
