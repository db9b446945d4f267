#!/usr/bin/env bash
# Dual-IFM pretraining of BagNet-33: a SimCLR stage (cosine, 128-D), then the two Cauchy 2-D stages of t-SimCNE
# starting from its weights (25 epochs last layer only, 200 epochs everything at lr / 1000); LARS, lr = 0.075 x
# sqrt(batch), warm-up 10, 0, 10; global batch 1024, bfloat16, synchronised batch norm. Final weights:
# $RUNS/dual_ifm_bagnet33_all_256/tsimcne2d_bagnet33_all_256_1225.pt (the published file name).
# Usage: scripts/pretrain/dual_ifm.sh [GPUS] [more `dual-ifm pretrain` flags]. Re-run to resume.
# To run only stages 2-3 from an existing SimCLR run: add --init runs/simclr_bagnet33_all_256/final.pt --start-stage 2.
set -euo pipefail
gpus=${1:-8}; shift || true
out="${RUNS:-runs}/dual_ifm_bagnet33_all_256"
resume=(); [ -f "$out/checkpoints/latest.json" ] && resume=(--resume)
torchrun --standalone --nproc_per_node="$gpus" -m dual_ifm pretrain \
  --method dual-ifm --backbone bagnet33 --dataset all --root "${DATASETS:-datasets}" --image-size 256 \
  --batch-size 1024 --epochs 1000,25,200 --warmup 10,0,10 --optimizer lars --precision bf16 --sync-bn \
  --out "$out" "${resume[@]}" "$@"
