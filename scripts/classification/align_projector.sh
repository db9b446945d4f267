#!/usr/bin/env bash
# Projector alignment of fine-tuned models: for every fold folder of a fine-tuning run, retrain the 2-D projector
# on the downstream photographs (backbone and head frozen) and write best_aligned.pt next to best.pt.
# Usage: scripts/classification/align_projector.sh FINETUNE_RUN_FOLDER DATASET [more `dual-ifm align` flags]
set -euo pipefail
run=${1:?usage: align_projector.sh FINETUNE_RUN_FOLDER DATASET [flags]}; ds=${2:?dataset name}; shift 2
for best in "$run"/fold*/best.pt; do
  [ -e "$best" ] || { echo "no fold*/best.pt under $run"; exit 1; }
  fold=$(basename "$(dirname "$best")"); fold=${fold#fold}
  dual-ifm align --checkpoint "$best" --dataset "$ds" --root "${DATASETS:-datasets}" --fold "$fold" "$@"
done
