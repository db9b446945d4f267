#!/usr/bin/env python
"""The demo's seed study: `dual-ifm demo` run for several seeds (and, optionally, several settings), summarised as
mean +- sd of every headline number and of the seconds of each step.

Each run goes to WORK/<variant>/seed<S>/ and is a plain `python -m dual_ifm demo --seed S --out ... <variant args>`
in its own process; a run already finished there is not repeated (the demo continues after its last finished
step, and starts over when the settings differ). The results are written as JSON (every run's numbers, the
summary, the machine) and as Markdown beside it; with two or more variants, `--figure` draws precision@10, AUROC
and the aligned map's kNN score per variant, one dot per seed.

    python scripts/bench/demo_seeds.py --seeds 0,1,2 --out scripts/bench/demo-seeds-2026-12-03.json
    python scripts/bench/demo_seeds.py --seeds 0,1,2 --variant b33= --variant "b17@0=--backbone bagnet17" \\
        --out study.json --figure study.png      # b17 only for seed 0
    python scripts/bench/demo_seeds.py --keep old.json:b33=before --variant after= --out new.json --figure f.png

`--keep FILE:NAME[=LABEL]` copies a variant measured by an earlier study into this one as it was (its runs, its
date), so a change can be shown against the settings it replaced without running those again.

The README's demo tables are generated from such a file: `scripts/make_readme.py` expands the marker
`<!-- demo-seeds: FILE -->` in nbs/index.ipynb with `readme_table`, and `<!-- demo-seeds-variants: FILE -->` with
`variants_table`."""
import argparse, json, math, os, platform, shlex, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# the README's rows: (label, headline key); kNN rows also show the t-SimCNE protocol (key + '_tsimcne')
README_ROWS = [
    ('2-D kNN balanced accuracy, referable DR: map of the pretrained model', 'knn_pretrained'),
    ('2-D kNN balanced accuracy, referable DR: aligned map (aim 0.80)', 'knn_aligned'),
    ('  same, 2-D PCA of the fine-tuned features', 'knn_pca'),
    ('  same, 2-D t-SNE of the fine-tuned features', 'knn_tsne'),
    ('  same, kNN on the fine-tuned features themselves (high-D)', 'knn_features'),
    ('evidence head: AUROC', 'finetune_auroc'),
    ('evidence head: AUPRC', 'finetune_auprc'),
    ('evidence head: balanced accuracy', 'finetune_balanced_accuracy'),
    ('lesion precision@10 of the evidence (aim 0.70)', 'precision_at_10'),
    ('  chance level of precision@10', 'precision_chance'),
]
STEP_KEYS = ['seconds_data', 'seconds_pretrain', 'seconds_map', 'seconds_finetune', 'seconds_evidence', 'seconds_align', 'total_seconds']


class StudyError(Exception):
    "A mistake in the study's arguments or files: printed as one line, exit status 2."


def parse_seeds(text: str) -> list[int]:
    "Seeds from '0,1,2' or '0-2'."
    try:
        if '-' in text.strip('-'):
            a, b = text.split('-'); seeds = list(range(int(a), int(b) + 1))
        else: seeds = [int(s) for s in text.split(',') if s.strip()]
    except ValueError: raise StudyError(f'--seeds takes numbers like 0,1,2 or 0-2, got {text!r}.') from None
    if not seeds or len(set(seeds)) != len(seeds): raise StudyError(f'--seeds needs distinct seeds, got {text!r}.')
    return seeds


def parse_variant(text: str) -> tuple[str, list[str], list[int] | None]:
    "NAME=ARGS or NAME@SEEDS=ARGS: the demo's options of one variant (ARGS may be empty), and its own seeds if given."
    name, eq, args = text.partition('=')
    name, at, seeds = name.partition('@')
    if not eq or not name or not name.replace('_', '').replace('-', '').isalnum():
        raise StudyError(f'--variant takes NAME=DEMO-OPTIONS (or NAME@SEEDS=...) with a plain name, e.g. "b17=--backbone bagnet17", got {text!r}.')
    args = shlex.split(args)
    if any(a in ('--seed', '--out', '--fresh') or a.startswith(('--seed=', '--out=')) for a in args):
        raise StudyError(f'--variant {name}: --seed, --out and --fresh are set by the study, not by a variant.')
    return name, args, (parse_seeds(seeds) if at else None)


def keep_variant(text: str) -> tuple[str, dict]:
    "FILE:NAME[=LABEL]: variant NAME of the results file FILE, as it was measured, to show under LABEL (default NAME)."
    spec, _, label = text.partition('=')
    path, colon, name = spec.rpartition(':')
    if not colon or not path or not name:
        raise StudyError(f'--keep takes FILE:NAME or FILE:NAME=LABEL (a variant of an earlier results file), got {text!r}.')
    label = label or name
    if not label.replace('_', '').replace('-', '').isalnum(): raise StudyError(f'--keep {text}: {label!r} is not a plain name.')
    try: old = json.loads(Path(path).read_text(encoding='utf-8'))
    except (OSError, ValueError) as e: raise StudyError(f'--keep {text}: cannot read {path} as a results file ({type(e).__name__}: {e}).') from None
    v = old.get('variants', {}).get(name)
    if not isinstance(v, dict) or 'runs' not in v or 'command_shape' not in v:
        raise StudyError(f'--keep {text}: {path} has no variant {name!r} with runs; it has {sorted(old.get("variants", {}))}.')
    if v.get('measured'): return label, v                                   # kept once already: as it was first measured
    return label, {**v, 'command_shape': f"{v['command_shape']} (as measured in {Path(path).name})",
                   'measured': f"{old.get('date', '?')}, {Path(path).name}", 'machine': old.get('machine')}


def run_one(work: Path, variant: str, args: list[str], seed: int, log=print) -> dict:
    "Run (or read) the demo of one variant and seed; returns its metrics.json."
    out = work / variant / f'seed{seed}'
    cmd = [sys.executable, '-m', 'dual_ifm', 'demo', '--seed', str(seed), '--out', str(out), *args]
    log(f'[{variant} seed {seed}] ' + ' '.join(shlex.quote(c) for c in cmd[1:]))
    t = time.time()
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    (work / variant).mkdir(parents=True, exist_ok=True)
    _atomic_text(work / variant / f'seed{seed}.log', r.stdout)
    if r.returncode != 0:
        raise StudyError(f'the demo of {variant} seed {seed} failed (exit {r.returncode}); its output is in '
                         f'{work / variant / f"seed{seed}.log"}: ' + ' | '.join(r.stdout.strip().splitlines()[-3:]))
    log(f'[{variant} seed {seed}] done in {time.time() - t:.0f} s')
    m = json.loads((out / 'metrics.json').read_text())
    return {'seed': seed, 'command': ' '.join(shlex.quote(c) for c in ['dual-ifm', *cmd[3:]]), 'headline': m['headline'],
            'settings': m.get('settings', {})}


def summarise(runs: list[dict]) -> dict:
    "Mean, sample sd, min and max of every number the runs' headlines share, over the runs (NaN values left out)."
    keys = [k for k in runs[0]['headline'] if all(k in r['headline'] for r in runs)]
    out = {}
    for k in keys:
        v = [float(r['headline'][k]) for r in runs if r['headline'][k] is not None and not math.isnan(float(r['headline'][k]))]
        if not v: out[k] = {'mean': float('nan'), 'sd': float('nan'), 'n': 0}; continue
        mean = sum(v) / len(v)
        sd = math.sqrt(sum((x - mean) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else float('nan')
        out[k] = {'mean': mean, 'sd': sd, 'min': min(v), 'max': max(v), 'n': len(v)}
    return out


def machine() -> dict:
    "What the numbers were measured on."
    import torch
    cpu = next((l.split(':', 1)[1].strip() for l in Path('/proc/cpuinfo').read_text().splitlines() if l.startswith('model name')), platform.processor()) \
        if Path('/proc/cpuinfo').exists() else platform.processor()
    return {'cpus': os.cpu_count(), 'cpu': cpu, 'torch': torch.__version__, 'python': platform.python_version(),
            'gpu': torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def _pm(s: dict, digits: int = 3) -> str:
    if not s or s.get('n', 0) == 0: return 'n/a'
    return f"{s['mean']:.{digits}f} ± {s['sd']:.{digits}f}" if s['n'] > 1 else f"{s['mean']:.{digits}f}"


def _minutes(s: dict) -> str:
    "A summary of seconds as 'mean ± sd' minutes."
    return _pm({**s, 'mean': s.get('mean', 0) / 60, 'sd': s.get('sd', 0) / 60}, 1)


def readme_table(results: dict, variant: str | None = None) -> str:
    "The README's demo table (Markdown) for one variant of a results file: mean ± sd over the seeds."
    name = variant or results['readme_variant']
    v = results['variants'][name]; s = v['summary']; n = len(v['runs'])
    seeds = ', '.join(str(r['seed']) for r in v['runs'])
    lines = [f'| mean ± sd over {n} seeds ({seeds}) | value (kNN: published protocol) | kNN: t-SimCNE protocol |', '|---|---|---|']
    for label, key in README_ROWS:
        tsim = _pm(s.get(f'{key}_tsimcne', {})) if key.startswith('knn_') else ''
        lines.append(f'| {label} | {_pm(s.get(key, {}))} | {tsim} |')
    t = {k: s.get(k, {}) for k in STEP_KEYS}
    lines.append('')
    m = v.get('machine') or results['machine']                              # a kept variant: the machine it ran on
    lines.append(f"Time per run: {_minutes(t['total_seconds'])} min "
                 f"({m['cpus']} CPUs: {m['cpu']}; torch {m['torch']}); per step, seconds: "
                 + ', '.join(f"{k.removeprefix('seconds_')} {_pm(t[k], 0)}" for k in STEP_KEYS[:-1]) + '.')
    lines.append(f"Settings: `{v['command_shape']}`.")
    return '\n'.join(lines)


def variants_table(results: dict) -> str:
    "The variants side by side (Markdown): the numbers they trade, mean ± sd over each one's seeds."
    keys = [('precision@10', 'precision_at_10'), ('chance', 'precision_chance'), ('evidence AUROC', 'finetune_auroc'),
            ('aligned map kNN', 'knn_aligned'), ('minutes', 'total_seconds')]
    lines = ['| setting | seeds | ' + ' | '.join(k for k, _ in keys) + ' |', '|---|---|' + '---|' * len(keys)]
    for name, v in results['variants'].items():
        s = v['summary']
        cells = [_minutes(s.get(k, {})) if k == 'total_seconds' else _pm(s.get(k, {})) for _, k in keys]
        lines.append(f"| `{v['command_shape']}` | {', '.join(str(r['seed']) for r in v['runs'])} | " + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def write_markdown(results: dict, path: Path) -> None:
    "The results as Markdown: one table per variant, then the runs one by one."
    out = [f"# Demo seed study, {results['date']}", '', f"Command: `{results['command']}`", '',
           f"Machine: {results['machine']['cpus']} CPUs ({results['machine']['cpu']}), torch {results['machine']['torch']}, "
           f"load average {results['load_before']} when this study began and {results['load_after']} when it ended (runs it found "
           f"finished were not repeated: their times are those of the runs themselves).", '']
    if len(results['variants']) > 1: out += ['## The settings side by side', '', variants_table(results), '']
    for name, v in results['variants'].items():
        kept = [f"Kept as measured ({v['measured']}), not run by this study.", ''] if v.get('measured') else []
        out += [f'## {name}: `{v["command_shape"]}`', '', *kept, readme_table(results, name), '', '| seed | ' + ' | '.join(k for _, k in README_ROWS) + ' | minutes |',
                '|---|' + '---|' * (len(README_ROWS) + 1)]
        out += [f"| {r['seed']} | " + ' | '.join(f"{r['headline'].get(k, float('nan')):.3f}" for _, k in README_ROWS)
                + f" | {r['headline'].get('total_seconds', 0) / 60:.1f} |" for r in v['runs']]
        out.append('')
    _atomic_text(path, '\n'.join(out) + '\n')


def plot(results: dict, path: Path) -> None:
    "Precision@10, evidence AUROC and the aligned map's kNN balanced accuracy per variant: one dot per seed, mean ± sd."
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    keys = [('precision_at_10', 'lesion precision@10', 0.70), ('finetune_auroc', 'evidence head AUROC', None),
            ('knn_aligned', 'aligned map kNN balanced accuracy', 0.80)]
    names = list(results['variants'])
    fig, axs = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.6))
    for ax, (k, title, aim) in zip(axs, keys):
        for i, n in enumerate(names):
            vals = [r['headline'].get(k, float('nan')) for r in results['variants'][n]['runs']]
            s = results['variants'][n]['summary'].get(k, {})
            ax.scatter([i] * len(vals), vals, color='0.5', s=14, zorder=3)
            if s.get('n'): ax.errorbar(i + 0.15, s['mean'], yerr=s['sd'] if s['n'] > 1 else None, fmt='o', color='C0', capsize=4)
        if aim: ax.axhline(aim, color='C3', ls='--', lw=1, label=f'aim {aim}'); ax.legend(frameon=False, fontsize=8)
        if k == 'precision_at_10':
            ch = [results['variants'][n]['summary'].get('precision_chance', {}).get('mean', float('nan')) for n in names]
            ax.plot(range(len(names)), ch, 'x', color='0.3', label='chance'); ax.legend(frameon=False, fontsize=8)
        ax.set_xticks(range(len(names)), names, fontsize=8); ax.set_title(title, fontsize=10); ax.set_xlim(-0.5, len(names) - 0.5)
    fig.suptitle('demo: each dot one seed; blue: mean ± sd over the seeds', fontsize=10)
    fig.tight_layout()
    tmp = path.with_name(f'.{path.name}.tmp{path.suffix}')
    fig.savefig(tmp, dpi=110); os.replace(tmp, path); plt.close(fig)


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f'.{path.name}.tmp'); tmp.write_text(text); os.replace(tmp, path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--seeds', default='0,1,2', help='seeds, e.g. 0,1,2 or 0-2 (default 0,1,2)')
    ap.add_argument('--variant', action='append', default=[], metavar='NAME=OPTIONS',
                    help='a setting to run, as its demo options, NAME=OPTIONS or NAME@SEEDS=OPTIONS for its own seeds '
                         '(repeatable; default one variant "default" with none)')
    ap.add_argument('--keep', action='append', default=[], metavar='FILE:NAME[=LABEL]',
                    help='a variant of an earlier results file, copied in as it was measured, shown first (repeatable)')
    ap.add_argument('--readme-variant', help='the variant the README table shows (default: the first)')
    ap.add_argument('--work', type=Path, default=Path('demo_seeds'), help='folder of the runs (default ./demo_seeds)')
    ap.add_argument('--out', type=Path, required=True, help='results file (.json); the Markdown goes beside it (.md)')
    ap.add_argument('--figure', type=Path, help='with two or more variants: the trade-off figure (.png)')
    a = ap.parse_args(argv)
    try:
        seeds = parse_seeds(a.seeds)
        variants = {n: (args, own or seeds) for n, args, own in map(parse_variant, a.variant)} if a.variant else {'default': ([], seeds)}
        kept = dict(pairs := [keep_variant(k) for k in a.keep])
        if len(kept) < len(pairs): raise StudyError(f'--keep: two kept variants share a label ({[n for n, _ in pairs]}); label them apart (FILE:NAME=LABEL).')
        if clash := sorted(set(kept) & set(variants)): raise StudyError(f'--keep and --variant both name {clash}; give a kept variant a label (FILE:NAME=LABEL).')
        if a.readme_variant and a.readme_variant not in variants: raise StudyError(f'--readme-variant {a.readme_variant} is not one of {list(variants)}.')
        if a.out.suffix != '.json': raise StudyError(f'--out must be a .json file, got {a.out}.')
        if a.figure and len(variants) + len(kept) < 2: raise StudyError('--figure compares variants: give two or more (--variant or --keep).')
        load_before = ' '.join(f'{x:.2f}' for x in os.getloadavg())
        res = {'date': time.strftime('%Y-%m-%d'), 'command': 'python scripts/bench/demo_seeds.py ' + ' '.join(shlex.quote(x) for x in (argv if argv is not None else sys.argv[1:])),
               'machine': machine(), 'load_before': load_before, 'readme_variant': a.readme_variant or next(iter(variants)), 'variants': dict(kept)}
        for name, (args, own) in variants.items():
            runs = [run_one(a.work, name, args, s) for s in own]
            res['variants'][name] = {'args': args, 'command_shape': ' '.join(['dual-ifm demo --seed S', *map(shlex.quote, args)]),
                                     'runs': runs, 'summary': summarise(runs)}
        res['load_after'] = ' '.join(f'{x:.2f}' for x in os.getloadavg())
        a.out.parent.mkdir(parents=True, exist_ok=True)
        _atomic_text(a.out, json.dumps(res, indent=1, allow_nan=True) + '\n')
        write_markdown(res, a.out.with_suffix('.md'))
        if a.figure: plot(res, a.figure)
        print(readme_table(res))
        print(f'wrote {a.out} and {a.out.with_suffix(".md")}' + (f' and {a.figure}' if a.figure else ''))
        return 0
    except StudyError as e:
        print(f'demo_seeds: error: {e}', file=sys.stderr); return 2


if __name__ == '__main__': sys.exit(main())
