#!/usr/bin/env bash
# t-SimCNE pretraining of BagNet-33 (Cauchy InfoNCE: 128-D, then a fresh 2-D last layer alone, then everything in 2-D
# at lr / 1000; SGD, lr = 0.03 x batch / 256). Shorter published budgets: --epochs 775,25,200 or 400,25,75.
# Usage: scripts/pretrain/tsimcne.sh [GPUS] [more `dual-ifm pretrain` flags]. Re-run to resume.
set -euo pipefail
gpus=${1:-8}; shift || true
out="${RUNS:-runs}/tsimcne_bagnet33_all_256"
resume=(); [ -f "$out/checkpoints/latest.json" ] && resume=(--resume)
torchrun --standalone --nproc_per_node="$gpus" -m dual_ifm pretrain \
  --method tsimcne --backbone bagnet33 --dataset all --root "${DATASETS:-datasets}" --image-size 256 \
  --batch-size 1024 --epochs 1000,50,450 --warmup 10,0,10 --optimizer sgd --precision bf16 --sync-bn \
  --out "$out" "${resume[@]}" "$@"
