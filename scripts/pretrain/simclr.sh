#!/usr/bin/env bash
# SimCLR pretraining of BagNet-33 (cosine InfoNCE, 128-D, LARS, lr = 0.075 x sqrt(batch)) on EyePACS + AREDS + UKB.
# Usage: scripts/pretrain/simclr.sh [GPUS] [more `dual-ifm pretrain` flags]     e.g. scripts/pretrain/simclr.sh 8 --epochs 400
# Run it again after an interruption: it resumes from the run folder's last checkpoint.
set -euo pipefail
gpus=${1:-8}; shift || true
out="${RUNS:-runs}/simclr_bagnet33_all_256"
resume=(); [ -f "$out/checkpoints/latest.json" ] && resume=(--resume)
torchrun --standalone --nproc_per_node="$gpus" -m dual_ifm pretrain \
  --method simclr --backbone bagnet33 --dataset all --root "${DATASETS:-datasets}" --image-size 256 \
  --batch-size 1024 --epochs 1000 --warmup 10 --precision bf16 --sync-bn \
  --out "$out" "${resume[@]}" "$@"
