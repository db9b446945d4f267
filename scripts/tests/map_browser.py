"""The interactive map in headless Chromium (driven by Playwright): points drawn, zoom, pan, search, box selection and
its CSV, hover with photograph and evidence overlay, photographs linked from the dataset, and a prepared set whose file
names and label values are script-injection strings. Run by map.sh; exits non-zero on the first failed check."""
import csv, io, json, shutil, sys, tempfile, warnings
from pathlib import Path

import numpy as np
from playwright.sync_api import sync_playwright

from dual_ifm.data import FundusDataset
from dual_ifm.embedding import html_map
from dual_ifm.prepare import prepare_dataset
from dual_ifm.synthetic import make_synthetic

EVIL_NAME = '<img src=x onerror=window.__pwned=1>'
EVIL_LABEL = '<img src=x onerror=window.__pwned=2>'
EVIL_LABEL2 = '</script><script>window.__pwned=3</script>'

def embedding(ds, rng, spread=1.0):
    "A made-up 2-D map of a dataset (clusters by the first label), with everything html_map reads."
    y = np.nan_to_num(ds.targets[:, 0], nan=0)
    z = rng.normal(0, spread, (len(ds), 2)) + np.c_[y * 3, y]
    return {'z': z, 'targets': ds.targets, 'features': np.array(ds.features), 'image_file': np.array(ds.files),
            'image_path': ds.table['image_path'].to_numpy(str),
            'classes': np.array(json.dumps({f: [str(c) for c in v] for f, v in ds.classes.items() if v is not None}))}

def build(work: Path) -> dict:
    rng = np.random.default_rng(0)
    make_synthetic(out=work / 'data', n_patients=30, size=[32], seed=3, progress=False, workers=0)
    ds = FundusDataset('synthetic', root=work / 'data', features=['drbin', 'dr', 'age'], split='all')
    e = embedding(ds, rng)
    pages = {'main': html_map(e, work / 'out' / 'map.html', color='drbin', thumb=48, evidence=rng.normal(size=(len(ds), 4, 4))),
             'linked': html_map(e, work / 'out' / 'linked.html', color='dr', thumbs='dataset')}
    # a prepared set with hostile names: photographs named, and a label column valued, with script-injection strings
    raw = work / 'raw'; raw.mkdir()
    files = sorted(Path(ds.file(i)) for i in range(8))
    rows = []
    for i, f in enumerate(files):
        name = f'{EVIL_NAME}{i}.png'
        shutil.copy(f, raw / name)
        rows.append({'image': name, 'camera': [EVIL_LABEL, EVIL_LABEL2, 'plain'][i % 3]})
    import pandas as pd
    pd.DataFrame(rows).to_csv(work / 'labels.csv', index=False)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        prepare_dataset(name='hostile', images=raw, labels=work / 'labels.csv', out=work / 'data', size=[32], workers=0,
                        patient_regex=r'(\d+)\.png$', progress=False)
    hs = FundusDataset('hostile', root=work / 'data', features=['camera'], split='all')
    assert any(EVIL_NAME in Path(f).name for f in hs.files), 'the hostile names did not survive preparation'
    he = embedding(hs, rng)
    pages['hostile'] = html_map(he, work / 'out' / 'hostile.html', color='camera', title=f'map of {EVIL_LABEL}', thumb=32,
                                evidence=rng.normal(size=(len(hs), 4, 4)))
    pages['hostile_linked'] = html_map(he, work / 'out' / 'hostile_linked.html', thumbs='dataset')
    return {'pages': pages, 'n': len(ds), 'names': [Path(f).name for f in ds.files], 'n_hostile': len(hs)}

def wait(page, expr: str, seconds: float = 20.0):
    "Poll `expr` in the page until it is true (Playwright's wait_for_function evaluates strings, which the page's CSP forbids)."
    import time
    end = time.monotonic() + seconds
    while not page.evaluate(expr):
        if time.monotonic() > end: raise AssertionError(f'timed out waiting for {expr}')
        page.wait_for_timeout(20)

def check(cond, what):
    if not cond: raise AssertionError(what)
    print('ok  ', what)

def open_page(browser, path, errors):
    page = browser.new_page(viewport={'width': 1300, 'height': 900}, accept_downloads=True)
    page.on('pageerror', lambda err: errors.append(f'{path.name}: {err}'))
    page.on('console', lambda m: errors.append(f'{path.name}: {m.text}') if m.type == 'error' else None)
    page.goto(path.as_uri())
    wait(page, 'window.dualMap && window.dualMap.firstDrawMs !== null')
    return page

def hover(page, i):
    x, y = page.evaluate(f'dualMap.toClient({i})')
    page.mouse.move(x, y)
    wait(page, f'document.getElementById("tip").dataset.shown == "{i}"')
    return page.evaluate('({ok: dualMap.hoverOk, ms: dualMap.hoverMs, text: document.getElementById("tip").textContent, '
                         'shown: getComputedStyle(document.getElementById("tip")).display, '
                         'tiles: document.querySelectorAll("#tip .im").length, imgs: [...document.querySelectorAll("#tip img")].map(i => i.naturalWidth)})')

def main(work: Path) -> None:
    b = build(work)
    n, pages, errors = b['n'], b['pages'], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=shutil.which('chromium') or '/usr/bin/chromium', args=['--no-sandbox'])
        page = open_page(browser, pages['main'], errors)
        # drawing: the page's counter, and the pixels themselves
        check(page.evaluate('dualMap.drawn') == n, f'all {n} points drawn')
        ink = page.evaluate('''(() => { const c = document.getElementById("map"), d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
            let k = 0; for (let i = 0; i < d.length; i += 4) if (d[i] < 250 || d[i + 1] < 250 || d[i + 2] < 250) k++; return k; })()''')
        check(ink >= n, f'the canvas holds ink ({ink} coloured pixels)')
        at = page.evaluate('''[0, 1, 2].map(i => { const [x, y] = dualMap.toClient(i), r = document.getElementById("map").getBoundingClientRect();
            const d = document.getElementById("map").getContext("2d").getImageData(Math.round(x - r.left), Math.round(y - r.top), 1, 1).data; return d[0] + d[1] + d[2]; })''')
        check(all(v < 3 * 250 for v in at), 'a point is drawn where the page says it is')
        check(page.locator('#legend').inner_text().count('\n') >= 1 and 'drbin' in page.locator('#legend').inner_text(), 'legend shows the colour label')
        # colour by another label, numeric included
        page.select_option('#color', label='age')
        check('age' in page.locator('#legend').inner_text() and page.evaluate('dualMap.drawn') == n, 'colour by a numeric label')
        page.select_option('#color', label='drbin')
        # hover: photograph and evidence overlay, both loaded from the sheets beside the page
        h = hover(page, 3)
        check(h['shown'] == 'block' and h['ok'] and h['tiles'] == 2 and b['names'][3] in h['text'], f'hover shows photograph and evidence ({h["ms"]:.1f} ms)')
        page.mouse.move(1, 1)
        # zoom about the cursor, then pan
        s0 = page.evaluate('dualMap.view.s')
        box = page.locator('#map').bounding_box()
        cx, cy = box['x'] + box['width'] / 2, box['y'] + box['height'] / 2
        page.mouse.move(cx, cy); page.mouse.wheel(0, -1500); page.wait_for_timeout(300)
        s1 = page.evaluate('dualMap.view.s')
        check(s1 > 5 * s0 and page.evaluate('dualMap.drawn') < n, f'wheel zooms in ({s1 / s0:.1f}x, {page.evaluate("dualMap.drawn")} of {n} in view)')
        i0 = page.evaluate('dualMap.drawn >= 0 ? 0 : 0')
        x0, _ = page.evaluate(f'dualMap.toClient({i0})')
        page.mouse.move(cx, cy); page.mouse.down(); page.mouse.move(cx + 120, cy, steps=6); page.mouse.up(); page.wait_for_timeout(100)
        x1, _ = page.evaluate(f'dualMap.toClient({i0})')
        check(abs((x1 - x0) - 120) < 1.5, f'dragging pans the map ({x1 - x0:.1f} px for 120)')
        page.click('#reset'); page.wait_for_timeout(100)
        check(page.evaluate('dualMap.drawn') == n, 'whole map again')
        # search by file name
        q = b['names'][7][-9:-4].lower()
        want = [i for i, s in enumerate(b['names']) if q in s.lower()]
        page.fill('#search', q)
        wait(page, f'dualMap.selection().length == {len(want)}')
        check(sorted(page.evaluate('dualMap.selection()')) == want and b['names'][7] in page.locator('#list').inner_text(),
              f'search {q!r} selects the {len(want)} matching photograph(s)')
        page.click('#clear')
        # box selection: shift + drag; compare with the points the page draws inside the box
        pts = page.evaluate(f'Array.from({{length: {n}}}, (_, i) => dualMap.toClient(i))')
        xa, ya, xb, yb = box['x'] + 0.3 * box['width'], box['y'] + 0.2 * box['height'], box['x'] + 0.7 * box['width'], box['y'] + 0.8 * box['height']
        inside = {i for i, (x, y) in enumerate(pts) if xa <= x <= xb and ya <= y <= yb}
        edge = {i for i, (x, y) in enumerate(pts) if min(abs(x - xa), abs(x - xb), abs(y - ya), abs(y - yb)) < 1.5}
        page.keyboard.down('Shift'); page.mouse.move(xa, ya); page.mouse.down(); page.mouse.move(xb, yb, steps=5); page.mouse.up(); page.keyboard.up('Shift')
        got = set(page.evaluate('dualMap.selection()'))
        check(len(inside) > 0 and got - edge == inside - edge, f'box selection selects the {len(got)} points inside it')
        check(f'{len(got)} selected' in page.locator('#selcount').inner_text(), 'the selection is counted and listed')
        with page.expect_download() as dl:
            page.click('#csv')
        rows = list(csv.DictReader(io.StringIO(Path(dl.value.path()).read_text())))
        check([int(r['index']) for r in rows] == page.evaluate('dualMap.selection()') and
              [r['file'] for r in rows] == [b['names'][int(r['index'])] for r in rows] and {'drbin', 'dr', 'age'} <= set(rows[0]),
              f'the selection saves as CSV ({len(rows)} rows with file, x, y and every label)')
        page.close()
        # photographs linked from the prepared dataset by relative path
        page = open_page(browser, pages['linked'], errors)
        h = hover(page, 5)
        check(h['ok'] and h['imgs'] and h['imgs'][0] > 0, 'hover loads the linked photograph from the dataset')
        page.close()
        # hostile names and label values stay text; nothing injected runs, hover included
        for key in ('hostile', 'hostile_linked'):
            page = open_page(browser, pages[key], errors)
            check(page.evaluate('dualMap.drawn') == b['n_hostile'], f'{key}: every point drawn')
            for i in range(b['n_hostile']):
                h = hover(page, i)
                check(EVIL_NAME in h['text'], f'{key}: hover {i} shows the hostile name as text') if i < 2 else None
            page.select_option('#color', index=1 if key == 'hostile_linked' else 1)
            legend = page.locator('#legend').inner_text()
            check(EVIL_LABEL in legend and EVIL_LABEL2 in legend, f'{key}: hostile label values shown as text in the legend')
            page.fill('#search', '<img')
            wait(page, f'dualMap.selection().length == {b["n_hostile"]}')
            check(EVIL_NAME in page.locator('#list').inner_text(), f'{key}: hostile names listed as text')
            if key == 'hostile': check(EVIL_LABEL in page.title() and EVIL_LABEL in page.locator('h1').inner_text(), 'hostile title shown as text')
            with page.expect_download() as dl:
                page.click('#csv')
            text = Path(dl.value.path()).read_text()
            check(EVIL_NAME in text, f'{key}: CSV holds the names as written')
            check(page.evaluate('window.__pwned') is None, f'{key}: no injected handler ran')
            check(page.evaluate('document.querySelectorAll("img[src=x], script:not(#map-data)").length') == 1, f'{key}: no injected element in the DOM')
            page.close()
        browser.close()
    check(not errors, 'no script errors or blocked loads' + (f': {errors}' if errors else ''))

if __name__ == '__main__':
    work = Path(tempfile.mkdtemp())
    try: main(work)
    finally: shutil.rmtree(work, ignore_errors=True)
