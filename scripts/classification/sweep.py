#!/usr/bin/env python
"""Grid sweep of fine-tuning settings: runs `dual-ifm finetune` once per combination (each in its own folder,
resumable), then collects the cross-validated results into one table sorted by mean AUROC.

    python scripts/classification/sweep.py --checkpoint C --dataset idrid --feature drbin \\
        --grid lr_backbone=1e-5,5e-5 lr_head=1e-4,5e-4 dropout=0,0.2 sparsity=0,1e-4 --folds 1,2,3,4,5

`--dry-run` prints the commands without running them. Any other `dual-ifm finetune` flag can follow `--`."""
import argparse, itertools, shlex, subprocess, sys
from pathlib import Path

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--checkpoint', required=True); ap.add_argument('--dataset', required=True); ap.add_argument('--feature', required=True)
    ap.add_argument('--grid', nargs='+', required=True, metavar='NAME=V1,V2', help='finetune settings to vary (flag names with _ or -)')
    ap.add_argument('--folds', default='1,2,3,4,5'); ap.add_argument('--out', default='runs/sweep')
    ap.add_argument('--dry-run', action='store_true'); ap.add_argument('extra', nargs=argparse.REMAINDER, help='-- then more finetune flags')
    a = ap.parse_args(argv)
    grid = {}
    for g in a.grid:
        if '=' not in g: ap.error(f'--grid entries look like lr_head=1e-4,5e-4, got {g!r}')
        k, v = g.split('=', 1); grid[k.replace('_', '-')] = v.split(',')
    extra = [x for x in a.extra if x != '--']
    runs = []
    for combo in itertools.product(*grid.values()):
        name = '_'.join(f'{k}{v}' for k, v in zip(grid, combo))
        out = Path(a.out) / name
        cmd = ['dual-ifm', 'finetune', '--checkpoint', a.checkpoint, '--dataset', a.dataset, '--feature', a.feature, '--folds', a.folds,
               '--out', str(out), '--no-progress'] + [x for k, v in zip(grid, combo) for x in (f'--{k}', v)] + extra
        if out.exists(): cmd.append('--resume')
        print('$', shlex.join(cmd), flush=True)
        if not a.dry_run: subprocess.run(cmd, check=True)
        runs.append(out)
    if a.dry_run: return 0
    from dual_ifm.downstream import collect_results, format_summary, summarise
    import pandas as pd
    rows = []
    for out in runs:
        t = collect_results(out); s = summarise(t[t.fold > 0] if (t.fold > 0).any() else t)
        rows.append(s.assign(run=out.name))
    table = pd.concat(rows).sort_values('auroc_mean', ascending=False)
    table.to_csv(Path(a.out) / 'sweep.csv', index=False)
    print(format_summary(table[['run'] + [c for c in table.columns if c != 'run']]))
    return 0

if __name__ == '__main__': sys.exit(main())
