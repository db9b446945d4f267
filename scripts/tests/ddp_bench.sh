#!/usr/bin/env bash
# The speed study (scripts/bench/study.py) started by torchrun (2 processes, gloo): the processes share each global batch of the step
# measurement, every rank finishes with exit status 0, and rank 0 alone prints the table, with both modes in it.
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=1
torchrun --standalone --nproc_per_node=2 scripts/bench/study.py --sections step --threads 1 --width 0.125 --image-size 32 \
  --batch 4 --steps 1 --warmup 1 --modes "fp32 (published),bf16 channels-last" --out "$tmp/bench.json" > "$tmp/log" 2>&1 \
  || { cat "$tmp/log"; exit 1; }
python - "$tmp" <<'PY'
import json, sys
tmp = sys.argv[1]
log = open(f'{tmp}/log').read()
assert log.count('x published') == 1, log                                   # one table, from rank 0
table = json.load(open(f'{tmp}/bench.json'))['table']
got = {(r['section'], r['way']): r for r in table}
assert set(got) == {('step', 'fp32 (published)'), ('step', 'bf16 channels-last')}, got
assert all(r['unit'] == 'img/s' and r['value'] > 0 and '2p 1t' in r['setting'] for r in table), table
print('torchrun bench: one table from rank 0;', ', '.join(f"{r['way']} {r['value']:.3g} img/s" for r in table))
PY
