#!/usr/bin/env bash
# Fine-tuning with the sparse evidence head, 5-fold cross-validation plus the fixed split, on the public datasets
# with the published per-dataset settings (dropout, label smoothing, learning rates, early stopping).
# Usage: scripts/classification/finetune.sh CHECKPOINT [more `dual-ifm finetune` flags, e.g. --sparsity 1e-4]
# Re-run to resume interrupted folds. Tables go to $RUNS/finetune_<dataset>_<label>_<model>.
set -euo pipefail
ckpt=${1:?usage: finetune.sh CHECKPOINT [flags]}; shift
root=${DATASETS:-datasets}; runs=${RUNS:-runs}
model=$(basename "${ckpt#*:}" .pt)
source "$(dirname "$0")/tasks.sh"
for task in "${TASKS[@]}"; do
  ds=${task%%:*}; feature=${task#*:}
  if [ ! -f "$root/$ds/metadata/metadata.csv" ]; then echo "skip $ds: not prepared under $root"; continue; fi
  out="$runs/finetune_${ds}_${feature}_${model}"
  resume=(); [ -d "$out" ] && resume=(--resume)
  dual-ifm finetune --checkpoint "$ckpt" --dataset "$ds" --feature "$feature" --root "$root" --folds 0-5 \
    --out "$out" "${resume[@]}" "$@"
done
