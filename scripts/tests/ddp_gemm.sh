#!/usr/bin/env bash
# GEMM weight gradients (gemm_weight_grads) under DistributedDataParallel: 2 processes (gloo) against 1 process.
set -euo pipefail
cd "$(dirname "$0")/../.."
OMP_NUM_THREADS=1 torchrun --standalone --nproc_per_node=2 scripts/tests/ddp_gemm.py
