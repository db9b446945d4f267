"""Maps of many photographs: how `dual-ifm map --kind html` and the streaming embedding behave at 10,000 and 100,000.

Builds a synthetic archive (a few hundred synthetic photographs, hard-linked under N distinct names, with their labels),
a synthetic 2-D embedding of it (clusters by DR grade), and then measures, each step in its own process so that its peak
memory (ru_maxrss) is its own:
  table      the archive's `FundusDataset` alone (its table of paths and labels, which the embedding step also holds;
             `strings` says whether its text is Arrow-backed: with pyarrow installed, pandas imports it in every step,
             about 65 MB more for each, so compare runs with and without it by their growth)
  embed      `stream_embed` of the archive with a tiny model (batches into memory-mapped files)
  page       `html_map` with thumbnail sheets (`--thumbs atlas`): time, page size, sheets' size
  linked     `html_map` linking the photographs (`--thumbs dataset`): time, page size
  evidence   `html_map` with a fine-tuned (tiny) checkpoint: evidence streamed into evidence.npy and overlay sheets
  knn        kNN scores of the 2-D map (k = 10, 75/25 split)
  tsne       openTSNE of h (the compare kind's baseline), up to --tsne-max points
  browser    headless Chromium (Playwright): time until all points are drawn, frame time while panning, hover latency
Usage: python scripts/bench/maps.py [--sizes 10000,100000] [--work DIR] [--out RESULTS.md] [--screenshot JPG]
Not a test: it asserts nothing about time. Needs Chromium (/usr/bin/chromium) and Playwright for the browser step.
"""
import argparse, json, os, resource, shutil, subprocess, sys, time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

def peak_mb() -> float:
    "This process's own peak resident memory (VmHWM; ru_maxrss would also count the parent it was started from)."
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM:'): return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def dir_mb(p: Path) -> float: return sum(f.stat().st_size for f in p.rglob('*') if f.is_file()) / 1e6 if p.exists() else 0.0

# ---------------------------------------------------------------- the synthetic archive
def make_archive(work: Path, n: int) -> Path:
    "datasets/bench_N: N photographs (hard links to a few hundred synthetic ones, at 32 and 64 px) with dr, drbin, age."
    import pandas as pd
    from dual_ifm.synthetic import make_synthetic
    base = make_synthetic(out=work / 'base', n_patients=150, size=[32, 64], seed=7, progress=False, workers=2)
    meta = pd.read_csv(base / 'metadata' / 'metadata.csv')
    folder = work / 'datasets' / f'bench_{n}'
    if (folder / 'metadata' / 'metadata.csv').exists(): return folder
    rng = np.random.default_rng(n)
    pick = rng.integers(0, len(meta), n)
    rows = meta.iloc[pick].reset_index(drop=True)
    names = [f'photo_{i:06d}_{Path(p).stem}.png' for i, p in enumerate(rows['image_path'])]
    for size in (32, 64):
        d = folder / f'dim_{size}' / 'images'; d.mkdir(parents=True, exist_ok=True)
        for src, name in zip(rows['image_path'], names):
            if not (d / name).exists(): os.link(base / f'dim_{size}' / src, d / name)
    out = pd.DataFrame({'image_path': ['images/' + s for s in names], 'patient_id': [f'p{i // 2}' for i in range(n)],
                        'dr': rows['dr'], 'age': rows['age'] + rng.normal(0, 2, n).round(1)})
    (folder / 'metadata').mkdir(parents=True, exist_ok=True)
    (folder / 'metadata' / 'dataset.json').write_text(json.dumps({'columns': {
        'dr': {'source': 'dr', 'kind': 'categorical'}, 'drbin': {'source': 'dr', 'kind': 'categorical', 'mapping': {'0': 0, '1': 0, '2': 1, '3': 1, '4': 1}},
        'age': {'source': 'age', 'kind': 'numeric'}}, 'default_feature': 'dr'}))
    out.to_csv(folder / 'metadata' / 'metadata.csv', index=False)
    return folder

def synthetic_embedding(work: Path, n: int, size: int = 64) -> Path:
    """A 2-D map of the archive as a trained model might draw it: one cluster per DR grade, age along one side. Its
    image_file entries name the photographs of `size` px (64, or 32 for the evidence step's tiny model)."""
    from dual_ifm.data import FundusDataset
    path = work / f'synthetic_map_{n}.npz'
    if size != 64:                                         # the same map, pointing at the photographs of another size
        other = work / f'synthetic_map_{n}_dim{size}.npz'
        if not other.exists():
            e = dict(np.load(synthetic_embedding(work, n)))
            e['image_file'] = np.char.replace(e['image_file'], '/dim_64/', f'/dim_{size}/')
            np.savez(other, **e)
        return other
    if path.exists(): return path
    ds = FundusDataset(f'bench_{n}', root=work / 'datasets', image_size=64, features=['dr', 'drbin', 'age'], split='all')
    rng = np.random.default_rng(0)
    dr = np.nan_to_num(ds.targets[:, 0]).astype(int)
    centres = np.array([[0, 0], [3, 1.5], [5, -1], [6.5, 2.5], [8, 0]])
    ang = rng.uniform(0, 2 * np.pi, n); rad = np.abs(rng.normal(0, 1.1, n)) ** 0.8
    z = centres[dr] + np.c_[np.cos(ang), np.sin(ang)] * rad[:, None] + 0.02 * np.c_[np.zeros(n), np.nan_to_num(ds.targets[:, 2]) - 60]
    np.savez(path, z=z, targets=ds.targets, features=np.array(ds.features), image_file=np.array(ds.files),
             image_path=ds.table['image_path'].to_numpy(str),
             classes=np.array(json.dumps({f: [str(c) for c in v] for f, v in ds.classes.items() if v is not None})))
    return path

def tiny_model(n_classes=None):
    import torch
    from dual_ifm.model import DualIFM
    torch.manual_seed(0)
    return DualIFM('bagnet9', n_classes=n_classes, embedding_dim=2, width=0.0625, hidden_dim=32)

# ---------------------------------------------------------------- the steps (each run in a child process)
def step(name: str, work: Path, n: int) -> dict:
    import torch
    torch.set_num_threads(2)
    from dual_ifm.embedding import html_map, knn_metrics, baseline_maps, load_embedding, stream_embed
    out = work / f'out_{n}'; out.mkdir(exist_ok=True)
    again = name == 'page_again'
    t0 = time.perf_counter()
    if name == 'embed':
        from dual_ifm.data import FundusDataset
        ds = FundusDataset(f'bench_{n}', root=work / 'datasets', image_size=32, features=['dr'], split='all')
        stream_embed(tiny_model(), ds, out / 'embedded.npz', batch_size=256, save_h=True, progress=False)
        e = load_embedding(out / 'embedded.npz')
        res = {'h_mb': e['h'].nbytes / 1e6}
    elif name in ('page', 'linked', 'page_again'):                 # page_again: the same page rebuilt, its sheets kept
        if name == 'page': shutil.rmtree(out / 'page_files', ignore_errors=True)
        name = 'page' if name == 'page_again' else name
        p = html_map(synthetic_embedding(work, n), out / f'{name}.html', color='dr', thumbs='atlas' if name == 'page' else 'dataset', workers=2)
        res = {'page_mb': p.stat().st_size / 1e6, 'files_mb': dir_mb(out / f'{name}_files'), 'files': len(list((out / f'{name}_files').glob('*'))) if name == 'page' else 0}
    elif name == 'evidence':
        from dual_ifm.model import save_checkpoint
        save_checkpoint(work / 'tiny_ft.pt', tiny_model(n_classes=2))
        p = html_map(synthetic_embedding(work, n, 32), out / 'evidence.html', color='dr', checkpoint=str(work / 'tiny_ft.pt'),
                     batch_size=64, thumb=64)
        res = {'page_mb': p.stat().st_size / 1e6, 'files_mb': dir_mb(out / 'evidence_files'),
               'evidence_npy_mb': (out / 'evidence_files' / 'evidence.npy').stat().st_size / 1e6}
    elif name == 'imports':                                        # what every step's peak holds before it starts
        res = {}
    elif name == 'table':                                          # what the dataset's own table costs (FundusDataset, 00_data)
        from dual_ifm.data import FundusDataset, TEXT
        ds = FundusDataset(f'bench_{n}', root=work / 'datasets', image_size=32, features=['dr'], split='all')
        res = {'table_mb': round(ds.table.memory_usage(deep=True).sum() / 1e6, 1), 'strings': getattr(TEXT, 'storage', 'object')}
    elif name == 'knn':
        e = load_embedding(synthetic_embedding(work, n))
        t0 = time.perf_counter()
        r = knn_metrics(e['z'], e['targets'][:, 1])
        res = {'balanced_accuracy': round(r['balanced_accuracy'], 3)}
    elif name == 'tsne':
        h = np.asarray(load_embedding(out / 'embedded.npz')['h'])
        t0 = time.perf_counter()
        baseline_maps(h, tsne=True)
        res = {'dims': h.shape[1]}
    else: raise ValueError(name)
    return {'step': 'page_again' if name == 'page' and again else name, 'n': n, 'seconds': round(time.perf_counter() - t0, 2), 'peak_mb': round(peak_mb()), **res}

def run_step(name, work, n) -> dict:
    r = subprocess.run([sys.executable, __file__, '--step', name, '--n', str(n), '--work', str(work)], capture_output=True, text=True)
    if r.returncode: print(r.stdout[-3000:], r.stderr[-3000:]); raise SystemExit(f'step {name} at {n} failed')
    res = json.loads(r.stdout.strip().splitlines()[-1]); print(res, flush=True); return res

# ---------------------------------------------------------------- the browser
def browser(page_path: Path, n: int, screenshot: Path | None = None, loads: int = 3, hovers: int = 30) -> dict:
    from playwright.sync_api import sync_playwright
    def ev(page, expr): return page.evaluate(expr)
    def wait(page, expr, s=60):
        end = time.monotonic() + s
        while not ev(page, expr):
            if time.monotonic() > end: raise TimeoutError(expr)
            page.wait_for_timeout(10)
    res = {}
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=shutil.which('chromium') or '/usr/bin/chromium', args=['--no-sandbox'])
        drawn = []
        for _ in range(loads):                  # time from navigation start until the first full drawing of every point
            ctx = b.new_context(viewport={'width': 1300, 'height': 820}); page = ctx.new_page()
            page.goto(page_path.as_uri()); wait(page, 'window.dualMap && dualMap.firstDrawMs !== null')
            assert ev(page, 'dualMap.drawn') == n
            drawn.append(ev(page, 'dualMap.firstDrawMs')); ctx.close()
        res['all_drawn_ms'] = float(np.median(drawn))
        ctx = b.new_context(viewport={'width': 1300, 'height': 820}); page = ctx.new_page()
        page.goto(page_path.as_uri()); wait(page, 'window.dualMap && dualMap.firstDrawMs !== null')
        box = page.locator('#map').bounding_box(); cx, cy = box['x'] + box['width'] / 2, box['y'] + box['height'] / 2
        # panning: 60 mouse moves while dragging. Frame time: the intervals between the browser's animation frames while
        # the map redraws (requestAnimationFrame timestamps); drawing: the page's own time to draw all points once
        ev(page, '(() => { window.__f = []; const loop = t => { window.__f.push(t); requestAnimationFrame(loop); }; requestAnimationFrame(loop); })()')
        f0 = ev(page, 'dualMap.frames')
        page.mouse.move(cx, cy); page.mouse.down(); ta = ev(page, 'performance.now()')
        draws = []
        for k in range(60):
            page.mouse.move(cx + 200 * np.sin(k / 9), cy + 120 * np.cos(k / 7)); page.wait_for_timeout(16)
            draws.append(ev(page, 'dualMap.drawMs'))
        tb = ev(page, 'performance.now()'); page.mouse.up()
        ft = np.diff([t for t in ev(page, 'window.__f') if ta <= t <= tb])
        res['pan_draw_ms'] = float(np.median(draws)); res['pan_redraws'] = ev(page, 'dualMap.frames') - f0
        res['pan_frame_ms'] = float(np.median(ft)); res['pan_frame_p95_ms'] = float(np.percentile(ft, 95))
        # hover: from the mouse event to the photograph shown (its sheet loaded), first visits and repeats
        page.click('#reset'); page.wait_for_timeout(200)
        rng = np.random.default_rng(1); first, again = [], []
        for i in rng.choice(n, hovers, replace=False):
            for store in (first, again):
                page.mouse.move(5, 5); page.wait_for_timeout(30)
                x, y = ev(page, f'dualMap.toClient({i})')
                page.mouse.move(x, y)
                wait(page, 'document.getElementById("tip").dataset.shown !== undefined')
                j = int(ev(page, 'document.getElementById("tip").dataset.shown'))
                store.append(ev(page, 'dualMap.hoverMs'))
        res['hover_first_ms'] = float(np.median(first)); res['hover_first_p95_ms'] = float(np.percentile(first, 95))
        res['hover_again_ms'] = float(np.median(again))
        if screenshot is not None:
            x, y = ev(page, f'dualMap.toClient({int(rng.integers(n))})'); page.mouse.move(x, y)
            wait(page, 'document.getElementById("tip").dataset.shown !== undefined'); page.wait_for_timeout(300)
            tmp = screenshot.with_suffix('.png.tmp')
            page.screenshot(path=str(tmp), type='png')
            from PIL import Image
            im = Image.open(tmp).convert('RGB'); im = im.resize((im.width * 3 // 4, im.height * 3 // 4), Image.LANCZOS)
            im.save(screenshot, 'JPEG', quality=72, optimize=True); tmp.unlink()
            res['screenshot_kb'] = round(screenshot.stat().st_size / 1024)
        b.close()
    return {k: round(v, 1) if isinstance(v, float) else v for k, v in res.items()}

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--sizes', default='10000,100000'); ap.add_argument('--work', type=Path, default=Path('/tmp/dual_ifm_maps_bench'))
    ap.add_argument('--out', type=Path, default=None); ap.add_argument('--screenshot', type=Path, default=None)
    ap.add_argument('--steps', default='imports,page,page_again,linked,knn,browser,tsne,embed,evidence'); ap.add_argument('--tsne-max', type=int, default=10000)
    ap.add_argument('--keep', type=Path, help='a results.json of an earlier run whose rows the report includes')
    ap.add_argument('--step'); ap.add_argument('--n', type=int)
    a = ap.parse_args()
    if a.step:                                                       # a child: one step, one JSON line
        print(json.dumps(step(a.step, a.work, a.n))); return
    a.work.mkdir(parents=True, exist_ok=True)
    rows = json.loads(a.keep.read_text()) if a.keep else []
    sizes = [int(s) for s in a.sizes.split(',')]
    steps = a.steps.split(',')
    for n in sizes:
        t = time.perf_counter(); make_archive(a.work, n); synthetic_embedding(a.work, n)
        if 'evidence' in steps: synthetic_embedding(a.work, n, 32)
        print(f'archive of {n}: {time.perf_counter() - t:.0f} s', flush=True)
        for s in steps:
            if s == 'browser':
                r = {'step': 'browser', 'n': n, **browser(a.work / f'out_{n}' / 'page.html', n, a.screenshot if n == max(sizes) else None)}
                (a.work / 'results.json').write_text(json.dumps(rows + [r], indent=1))
                print(r, flush=True); rows.append(r)
            elif s == 'tsne' and n > a.tsne_max: continue
            else: rows.append(run_step(s, a.work, n))
            (a.work / 'results.json').write_text(json.dumps(rows, indent=1))     # after every step: a stopped run keeps its rows
    if a.out: a.out.write_text(report(rows)); print('wrote', a.out)
    if a.screenshot is None: return

def report(rows) -> str:
    by = {(r['step'], r['n']): r for r in rows}
    sizes = sorted({r['n'] for r in rows})
    def g(step, n, k, fmt='{}'):
        r = by.get((step, n)); return fmt.format(r[k]) if r and k in r else 'n/a'
    lines = ['| measure | ' + ' | '.join(f'{n:,} photographs' for n in sizes) + ' | aim |', '|---|' + '---|' * len(sizes) + '---|']
    spec = [('peak memory of a step that only imports (torch, dual_ifm), MB', 'imports', 'peak_mb', '{}', ''),
            ('page built, thumbnail sheets (`--thumbs atlas`), s', 'page', 'seconds', '{:.1f}', '< 120'),
            ('page rebuilt, thumbnail sheets kept (same photographs), s', 'page_again', 'seconds', '{:.1f}', ''),
            ('page built, photographs linked (`--thumbs dataset`), s', 'linked', 'seconds', '{:.1f}', '< 120'),
            ('page itself, MB', 'page', 'page_mb', '{:.2f}', '< 10'),
            ('page itself, photographs linked, MB', 'linked', 'page_mb', '{:.2f}', '< 10'),
            ('thumbnail sheets beside it, MB (files)', 'page', 'files_mb', '{:.0f}', ''),
            ('peak memory building the page (sheets; main process, 2 workers write one sheet at a time), MB', 'page', 'peak_mb', '{}', ''),
            ('peak memory building the page (linked), MB', 'linked', 'peak_mb', '{}', ''),
            ('peak memory of a step that loads the dataset (`FundusDataset`), MB', 'table', 'peak_mb', '{}', ''),
            ('the dataset\'s table in memory (pandas, deep), MB', 'table', 'table_mb', '{:.1f}', ''),
            ('its strings (pyarrow: Arrow-backed; python: Python objects)', 'table', 'strings', '{}', ''),
            ('streaming embedding (tiny model, 32 px), s', 'embed', 'seconds', '{:.0f}', ''),
            ('streaming embedding: h on disk, MB', 'embed', 'h_mb', '{:.0f}', ''),
            ('streaming embedding: peak memory, MB', 'embed', 'peak_mb', '{}', 'flat'),
            ('page with evidence from a checkpoint (tiny model), s', 'evidence', 'seconds', '{:.0f}', ''),
            ('evidence.npy (memory-mapped), MB', 'evidence', 'evidence_npy_mb', '{:.1f}', ''),
            ('page with evidence: peak memory, MB', 'evidence', 'peak_mb', '{}', 'flat'),
            ('kNN scores of the 2-D map, s', 'knn', 'seconds', '{:.2f}', 'seconds'),
            ('openTSNE of h, s', 'tsne', 'seconds', '{:.0f}', ''),
            ('Chromium: all points drawn after opening, ms', 'browser', 'all_drawn_ms', '{:.0f}', '< 3000'),
            ('Chromium: drawing one frame while panning, ms', 'browser', 'pan_draw_ms', '{:.1f}', ''),
            ('Chromium: frame time while panning, median / p95 ms', 'browser', 'pan_frame_ms', '{:.1f}', ''),
            ('Chromium: hover, photograph shown (first visit of its sheet), median / p95 ms', 'browser', 'hover_first_ms', '{:.0f}', '< 100'),
            ('Chromium: hover, sheet already loaded, ms', 'browser', 'hover_again_ms', '{:.0f}', '< 100')]
    for name, step_, k, fmt, aim in spec:
        cells = []
        for n in sizes:
            c = g(step_, n, k, fmt)
            if k == 'hover_first_ms' and c != 'n/a': c += ' / ' + g(step_, n, 'hover_first_p95_ms', '{:.0f}')
            if k == 'pan_frame_ms' and c != 'n/a': c += ' / ' + g(step_, n, 'pan_frame_p95_ms', '{:.1f}')
            if k == 'files_mb' and c != 'n/a': c += f" ({g(step_, n, 'files')})"
            cells.append(c)
        lines.append(f'| {name} | ' + ' | '.join(cells) + f' | {aim} |')
    return '\n'.join(lines) + '\n'

if __name__ == '__main__':
    main()
