#!/usr/bin/env bash
# Contrastive losses with negatives gathered from all ranks: 2 processes (gloo) against 1 process.
set -euo pipefail
cd "$(dirname "$0")/../.."
torchrun --standalone --nproc_per_node=2 scripts/tests/ddp_losses.py
