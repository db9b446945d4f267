#!/usr/bin/env bash
# A short Dual-IFM pretraining on the synthetic set on a CPU (quarter-width BagNet-33 at 64 px), then the 2-D map
# of the held-out photographs. Takes a few minutes on 2 cores.
set -euo pipefail
root=${DATASETS:-datasets}; out=${RUNS:-runs}/demo_cpu
[ -f "$root/synthetic/metadata/metadata.csv" ] || dual-ifm synth --out "$root" --n-patients 300 --size 64
resume=(); [ -f "$out/checkpoints/latest.json" ] && resume=(--resume)
dual-ifm pretrain --method dual-ifm --backbone bagnet33 --width 0.25 --dataset synthetic --root "$root" --image-size 64 \
  --batch-size 64 --epochs 20,5,10 --warmup 2,0,1 --precision bf16 --wandb disabled --out "$out" "${resume[@]}" "$@"
dual-ifm embed --checkpoint "$out/final.pt" --dataset synthetic --root "$root" --split holdout --features dr,drbin --out "$out/holdout_2d.npz"
