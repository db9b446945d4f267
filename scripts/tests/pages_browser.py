"""The pages the project writes besides the interactive map (which map.sh covers), opened in headless Chromium
(Playwright): the demo report (dual_ifm.demo.write_report) and the documentation site (scripts/build_docs.py),
each built from names that are script-injection strings. Checked: the names are shown as text, the page holds no
element the names would have made, and no injected handler runs, on load or when the mouse passes over every
element. Run by pages.sh; exits non-zero on the first failed check."""
import json, shutil, subprocess, sys, tempfile
from pathlib import Path

import nbformat
import numpy as np
from PIL import Image
from playwright.sync_api import sync_playwright

from dual_ifm.demo import DemoConfig, write_report

ROOT = Path(__file__).resolve().parents[2]
EVIL = '<img src=x onerror=window.__x=1>'
EVIL_ATTR = '"><img src=x onerror=window.__x=2>'           # breaks out of a double-quoted attribute if not escaped
EVIL_SCRIPT = '</script><script>window.__x=3</script>'

def check(cond, what):
    if not cond: raise AssertionError(what)
    print('ok  ', what)

def report(work: Path) -> tuple[Path, int]:
    "A demo report from a small made-up state: output folder, figures, step and map names are hostile. Returns it and its figure count."
    out = work / f'demo {EVIL}'
    figs = out / f'figures {EVIL_ATTR}'; figs.mkdir(parents=True)
    rng = np.random.default_rng(0)
    def fig(name):
        p = figs / f'{name} {EVIL}.png'; Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(p); return str(p)
    knn = [{'map': m, 'n_test': 12, 'accuracy': 0.5, 'balanced_accuracy': 0.5, 'auroc': 0.5} for m in ('model (2-D projector)', EVIL, EVIL_SCRIPT)]
    maps = {'knn': knn, 'figures': {f: fig(f) for f in ('compare', 'labels', 'thumbnails')}}
    st = {'_seconds': {'data': 1.0, EVIL: 2.0, EVIL_ATTR: 3.0},
          'data': {'photographs': EVIL, 'patients': EVIL_SCRIPT, 'referable_share': 0.5},
          'pretrain': {'loss_first': 5.0, 'loss_last_stage1': 4.0, 'loss_last': 3.0, 'photos_per_s': 10.0, 'figure': fig('training')},
          'map': maps, 'align': maps, 'finetune': {'auroc': 0.5, 'auprc': 0.5, 'balanced_accuracy': 0.5, 'kappa': EVIL, 'best_epoch': 1, 'epochs_run': 2},
          'evidence': {'precision': {'p@1': 0.5, 'chance': 0.1, 'scored_images': EVIL, 'images': 3}}}
    (out / 'evidence').mkdir()
    for f in ('gallery', 'precision'): Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(out / 'evidence' / f'{f}.png')
    return write_report(DemoConfig(quick=True, out=out), st), 3 * 2 + 1 + 2    # maps twice, the training curve, the two evidence figures

def docs(work: Path) -> Path:
    "The documentation site built from an index and a chapter whose file name, title and outputs are hostile."
    nbs = work / 'nbs'; nbs.mkdir()
    index = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell('# dual_ifm\n> the index')])
    cell = nbformat.v4.new_code_cell('print(name)', outputs=[nbformat.v4.new_output('stream', name='stdout', text=EVIL + '\n' + EVIL_SCRIPT),
        nbformat.v4.new_output('execute_result', data={'text/plain': EVIL_ATTR}, execution_count=1)])
    chapter = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell('# Hostile names `' + EVIL + '`'), cell])
    nbformat.write(index, nbs / 'index.ipynb')
    nbformat.write(chapter, nbs / f'01_{EVIL_ATTR}.ipynb')
    subprocess.run([sys.executable, str(ROOT / 'scripts' / 'build_docs.py'), '--nbs', str(nbs), '--out', str(work / 'site')], check=True)
    return work / 'site'

def inspect(browser, path: Path, texts: list[str], n_img: int, what: str) -> None:
    "Open `path`: every text in `texts` is on the page as text, exactly `n_img` images, and nothing injected runs, hover included."
    page = browser.new_page(viewport={'width': 1200, 'height': 900})
    errors = []
    page.on('pageerror', lambda e: errors.append(str(e)))
    page.goto(path.as_uri()); page.wait_for_load_state('load')
    body = page.evaluate('document.body.innerText')
    for t in texts: check(t in body, f'{what}: shows {t[:32]!r}... as text')
    imgs = page.evaluate('[...document.querySelectorAll("img")].map(i => i.getAttribute("src") || "")')
    check(len(imgs) == n_img and all(s.startswith('data:image/png') for s in imgs), f'{what}: {n_img} images, all its own figures (found {len(imgs)})')
    check(page.evaluate('document.querySelectorAll("script").length') <= 1, f'{what}: no injected script element')
    handles = page.query_selector_all('body *')
    for h in handles:
        try: h.hover(timeout=500, force=True)
        except Exception: pass                    # elements out of view or without a box
    page.wait_for_timeout(200)
    check(page.evaluate('typeof window.__x') == 'undefined', f'{what}: no injected handler ran (load and hover over {len(handles)} elements)')
    check(not errors, f'{what}: no script errors {errors}')
    page.close()

def main() -> int:
    work = Path(tempfile.mkdtemp(prefix='pages_'))
    try:
        rep, n_fig = report(work)
        site = docs(work)
        chapter = next(p for p in site.glob('01_*.html'))
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=shutil.which('chromium') or '/usr/bin/chromium', args=['--no-sandbox'])
            inspect(browser, rep, [EVIL, EVIL_ATTR.strip(), EVIL_SCRIPT], n_fig, 'demo report')
            inspect(browser, chapter, [EVIL, EVIL_ATTR, EVIL_SCRIPT], 0, 'docs chapter')
            inspect(browser, site / 'index.html', ['01 Hostile names `' + EVIL + '`'], 0, 'docs index (sidebar)')
            page = browser.new_page(); page.goto((site / 'index.html').as_uri())
            href = page.evaluate('[...document.querySelectorAll("nav a")].map(a => a.href).filter(h => h.includes("01_"))[0]')
            page.goto(href)
            check(page.evaluate('document.title').startswith('Hostile names'), 'docs: the sidebar link to the hostile chapter opens it')
            browser.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print('pages: all checks passed')
    return 0

if __name__ == '__main__': sys.exit(main())
