#!/usr/bin/env python
"""Tests of the demo seed study (scripts/bench/demo_seeds.py) and of the README table generated from its results:
two real `--quick` demos summarised, a run continued rather than repeated, the failure paths, and the README's
table equal to the one made from the results file it names."""
import contextlib, io, json, math, re, shutil, sys, tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import demo_seeds as ds

ROOT = Path(__file__).resolve().parents[2]


def fails(argv, *needles):
    "Run the study with `argv`; it must exit 2 with one error line holding every needle."
    err = io.StringIO()
    with contextlib.redirect_stderr(err): rc = ds.main(argv)
    assert rc == 2, (rc, argv)
    msg = err.getvalue().strip()
    assert msg.startswith('demo_seeds: error: ') and len(msg.splitlines()) == 1, msg
    for n in needles: assert n in msg, (n, msg)


def test_arguments(tmp: Path):
    assert ds.parse_seeds('0,1,2') == [0, 1, 2] and ds.parse_seeds('3-5') == [3, 4, 5]
    assert ds.parse_variant('b17=--backbone bagnet17') == ('b17', ['--backbone', 'bagnet17'], None) and ds.parse_variant('base=') == ('base', [], None)
    assert ds.parse_variant('b17@0,2=--backbone bagnet17') == ('b17', ['--backbone', 'bagnet17'], [0, 2])
    out = str(tmp / 'r.json')
    fails(['--seeds', 'a,b', '--out', out], "--seeds takes numbers like 0,1,2 or 0-2, got 'a,b'")
    fails(['--seeds', '1,1', '--out', out], '--seeds needs distinct seeds')
    fails(['--variant', 'x', '--out', out], '--variant takes NAME=DEMO-OPTIONS')
    fails(['--variant', 'x=--seed 3', '--out', out], '--variant x: --seed, --out and --fresh are set by the study')
    fails(['--out', str(tmp / 'r.txt')], '--out must be a .json file')
    fails(['--variant', 'a=', '--figure', str(tmp / 'f.png'), '--out', out], '--figure compares variants: give two or more (--variant or --keep)')
    fails(['--variant', 'a=', '--readme-variant', 'b', '--out', out], "--readme-variant b is not one of ['a']")
    fails(['--keep', 'old.json', '--out', out], "--keep takes FILE:NAME or FILE:NAME=LABEL")
    fails(['--keep', f'{tmp / "none.json"}:a', '--out', out], f"cannot read {tmp / 'none.json'} as a results file")
    (tmp / 'old.json').write_text(json.dumps({'date': '2026-01-01', 'variants': {'a': {'runs': [], 'summary': {}, 'command_shape': 'dual-ifm demo --seed S'}}}))
    fails(['--keep', f'{tmp / "old.json"}:b', '--out', out], "has no variant 'b' with runs; it has ['a']")
    fails(['--keep', f'{tmp / "old.json"}:a', '--keep', f'{tmp / "old.json"}:a', '--out', out], 'two kept variants share a label')
    fails(['--keep', f'{tmp / "old.json"}:a', '--variant', 'a=', '--out', out], "--keep and --variant both name ['a']")
    assert ds.keep_variant(f'{tmp / "old.json"}:a=before') == ('before', {'runs': [], 'summary': {}, 'measured': '2026-01-01, old.json',
                                                                         'command_shape': 'dual-ifm demo --seed S (as measured in old.json)',
                                                                         'machine': None})
    # a demo that refuses its options: the study stops with the demo's message and where its whole output is
    fails(['--seeds', '0', '--variant', 'bad=--image-size 100', '--work', str(tmp / 'w'), '--out', out],
          'the demo of bad seed 0 failed (exit 2)', 'multiple of 8', str(tmp / 'w' / 'bad' / 'seed0.log'))
    assert not (tmp / 'r.json').exists()


def test_study(tmp: Path):
    out = tmp / 'res.json'
    argv = ['--seeds', '0,1', '--variant', 'tiny=--quick', '--work', str(tmp / 'w'), '--out', str(out)]
    with contextlib.redirect_stdout(io.StringIO()) as said: assert ds.main(argv) == 0
    r = json.loads(out.read_text())
    runs = r['variants']['tiny']['runs']
    assert [x['seed'] for x in runs] == [0, 1] and r['readme_variant'] == 'tiny'
    for k in ('knn_aligned', 'finetune_auroc', 'precision_at_10', 'seconds_pretrain', 'total_seconds'):
        v = [x['headline'][k] for x in runs]
        s = r['variants']['tiny']['summary'][k]
        assert math.isclose(s['mean'], sum(v) / 2) and math.isclose(s['sd'], abs(v[0] - v[1]) / math.sqrt(2)), (k, v, s)
    assert runs[0]['command'].startswith('dual-ifm demo --seed 0 --out ') and runs[1]['settings']['seed'] == 1
    table = ds.readme_table(r)
    assert table.startswith('| mean ± sd over 2 seeds (0, 1) |') and 'lesion precision@10' in table and 'Time per run:' in table
    assert table in said.getvalue() and table in out.with_suffix('.md').read_text()
    # run again: both demos are finished, so nothing is trained again and the numbers are the same
    t0 = (tmp / 'w' / 'tiny' / 'seed0' / 'pretrain' / 'final.pt').stat().st_mtime
    with contextlib.redirect_stdout(io.StringIO()): assert ds.main(argv) == 0
    assert (tmp / 'w' / 'tiny' / 'seed0' / 'pretrain' / 'final.pt').stat().st_mtime == t0
    assert json.loads(out.read_text())['variants']['tiny']['summary'] == r['variants']['tiny']['summary']
    # a variant kept from that results file comes first, as it was measured, and no demo runs for it
    with contextlib.redirect_stdout(io.StringIO()):
        assert ds.main(['--seeds', '0', '--keep', f'{out}:tiny=before', '--variant', 'tiny=--quick', '--work', str(tmp / 'w'),
                        '--out', str(tmp / 'res2.json'), '--figure', str(tmp / 'f2.png')]) == 0
    r3 = json.loads((tmp / 'res2.json').read_text())
    assert list(r3['variants']) == ['before', 'tiny'] and r3['variants']['before']['runs'] == runs and r3['readme_variant'] == 'tiny'
    assert f"Kept as measured ({r['date']}, res.json)" in (tmp / 'res2.md').read_text() and (tmp / 'f2.png').exists()
    # two variants make the trade-off figure
    r2 = {**r, 'variants': {'a': r['variants']['tiny'], 'b': r['variants']['tiny']}}
    ds.plot(r2, tmp / 'f.png')
    assert ds.variants_table(r2).count('| `dual-ifm demo --seed S --quick` | 0, 1 |') == 2
    assert (tmp / 'f.png').stat().st_size > 5000


def test_readme():
    "The README's demo table is the one generated from the results file it names (and that file is committed)."
    text = (ROOT / 'README.md').read_text(encoding='utf-8')
    marks = re.findall(r'^<!-- demo-seeds(-variants)?: (\S+) -->$', text, re.M)
    assert ('', ) in [m[:1] for m in marks], 'README.md has no generated demo table'
    for kind, rel in marks:
        res = json.loads((ROOT / rel).read_text(encoding='utf-8'))
        table = ds.variants_table(res) if kind else ds.readme_table(res)
        assert f'<!-- demo-seeds{kind}: {rel} -->\n\n{table}' in text, f'README.md: the table after {rel} is not the one generated from it'
        rows = [l for l in table.splitlines() if l.startswith('| ') and '±' in l]
        assert len(rows) >= (1 if kind else 8), table


if __name__ == '__main__':
    tmp = Path(tempfile.mkdtemp())
    try:
        for t in (test_arguments, test_readme, test_study):
            d = tmp / t.__name__; d.mkdir()
            (t(d) if t is not test_readme else t()); print('ok', t.__name__)
    finally: shutil.rmtree(tmp)
