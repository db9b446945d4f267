#!/usr/bin/env bash
# The speed study outside the package (scripts/bench/study.py): every section on tiny sizes, its failure rows and
# its process isolation (scripts/bench/test_study.py).
set -euo pipefail
cd "$(dirname "$0")/../.."
python scripts/bench/test_study.py
