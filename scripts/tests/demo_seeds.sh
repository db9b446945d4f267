#!/usr/bin/env bash
# The demo seed study (scripts/bench/demo_seeds.py): two real --quick demos summarised, its failure paths, and the
# README's demo table equal to the one generated from the results file it names (scripts/bench/test_demo_seeds.py).
set -euo pipefail
cd "$(dirname "$0")/../.."
python scripts/bench/test_demo_seeds.py
