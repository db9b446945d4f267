#!/usr/bin/env bash
# Linear probes (fold 0 + the 5 CV folds) of one checkpoint on the public datasets with their default labels.
# Usage: scripts/classification/linear_probe.sh CHECKPOINT [more `dual-ifm linear-probe` flags]
#   CHECKPOINT: a .pt file (ours or published), or a baseline: random, imagenet:<weights file> (with --backbone)
# Datasets are read from $DATASETS (default: datasets); tables go to $RUNS/probe_<dataset>_<label>_<model>.
set -euo pipefail
ckpt=${1:?usage: linear_probe.sh CHECKPOINT [flags]}; shift
root=${DATASETS:-datasets}; runs=${RUNS:-runs}
model=$(basename "${ckpt#*:}" .pt)
source "$(dirname "$0")/tasks.sh"
for task in "${TASKS[@]}"; do
  ds=${task%%:*}; feature=${task#*:}
  if [ ! -f "$root/$ds/metadata/metadata.csv" ]; then echo "skip $ds: not prepared under $root"; continue; fi
  dual-ifm linear-probe --checkpoint "$ckpt" --dataset "$ds" --feature "$feature" --root "$root" \
    --out "$runs/probe_${ds}_${feature}_${model}" "$@"
done
