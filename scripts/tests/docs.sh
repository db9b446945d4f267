#!/usr/bin/env bash
# The offline documentation site: scripts/build_docs.py renders every notebook to _docs-like HTML (here into a
# temporary folder), then headless Chromium opens every page and we check that it rendered: the page's title and
# sidebar are in the DOM, and every figure decoded (the page's own load-time check writes data-figures-ok and
# data-figures-broken on <body>); the demo's interactive map page is opened the same way.
# Chromium is Debian's `chromium` package (.ci/run installs it). Without it this test fails, unless
# DUAL_IFM_SKIP_BROWSER=1 is set, in which case only the build is checked.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
python scripts/build_docs.py --out "$out/site"
python - "$out/site" <<'PY'
import json, sys
from pathlib import Path
site = Path(sys.argv[1])
pages = json.loads((site / 'pages.json').read_text())
nbs = sorted(p.stem for p in Path('nbs').glob('*.ipynb'))
assert sorted('index' if p['page'] == 'index.html' else p['page'][:-5] for p in pages) == nbs, 'a notebook has no page'
for p in pages:
    text = (site / p['page']).read_text()
    assert all(q['page'] in text for q in pages), f"{p['page']}: sidebar incomplete"
    assert 'http://' not in text.split('<main>')[0] and '<script src=' not in text, f"{p['page']}: refers to the network"
# the API reference: every chapter's public functions rendered by show_doc after their code
accel = (site / '90_accel.html').read_text()
for name in ('accelerate', 'fused_bn_relu', 'keep_freed_memory', 'Acceleration'):
    assert f'<h3 id="{name}"' in accel, f'90_accel.html: no API entry for {name}'
assert '<h3 id="Pretrainer.fit"' in (site / '07_train.html').read_text(), '07_train.html: no API entry for a patched method'
assert '{target=' not in accel, 'Quarto link attributes leaked into the page'
print(f'{len(pages)} pages built, {sum(p["figures"] for p in pages)} figures in the notebooks')
PY
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$browser" ]; then
  if [ "${DUAL_IFM_SKIP_BROWSER:-0}" = 1 ]; then echo "no Chromium: browser check skipped (DUAL_IFM_SKIP_BROWSER=1)"; exit 0; fi
  echo "Chromium not found: install Debian's chromium package (apt-get install chromium) or set DUAL_IFM_SKIP_BROWSER=1"; exit 1
fi
render() {  # render FILE: the DOM of FILE after it loaded, in headless Chromium
  timeout 120 "$browser" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run \
    --user-data-dir="$out/profile" --virtual-time-budget=8000 --dump-dom "file://$1" 2>/dev/null
}
python - "$out/site" <<'PY' > "$out/list.txt"
import json, sys
for p in json.loads(open(sys.argv[1] + '/pages.json').read()): print(p['page'], p['figures'], p['title'])
PY
fails=0
while read -r page figures title; do
  dom=$(render "$out/site/$page")
  ok=$(grep -o 'data-figures-ok="[0-9]*"' <<<"$dom" | grep -o '[0-9]*' || echo none)
  broken=$(grep -o 'data-figures-broken="[0-9]*"' <<<"$dom" | grep -o '[0-9]*' || echo none)
  if [ "$ok" = none ] || [ "$broken" != 0 ] || [ "$ok" -lt "$figures" ] || ! grep -qF "<title>" <<<"$dom" || ! grep -q 'class="brand"' <<<"$dom"; then
    echo "FAIL $page: figures ok=$ok broken=$broken expected>=$figures"; fails=$((fails + 1))
  else
    echo "ok   $page: $ok figure(s) rendered"
  fi
done < "$out/list.txt"
# an interactive map page, as the demo writes it: the script runs and draws every point
python - "$out" <<'PY'
import json, sys, tempfile
import numpy as np
from pathlib import Path
from dual_ifm.synthetic import make_synthetic
from dual_ifm.data import FundusDataset
from dual_ifm.embedding import html_map
root = Path(sys.argv[1]) / 'data'
make_synthetic(out=root, n_patients=8, size=[32], seed=1, progress=False, workers=0)
ds = FundusDataset('synthetic', root=root, features=['drbin'], split='all')
e = {'z': np.random.default_rng(0).normal(size=(len(ds), 2)), 'targets': ds.targets, 'features': np.array(['drbin']),
     'image_file': np.array(ds.files)}
html_map(e, Path(sys.argv[1]) / 'map.html', color='drbin')
print(len(ds), file=open(Path(sys.argv[1]) / 'n.txt', 'w'))
PY
dom=$(render "$out/map.html")
n=$(cat "$out/n.txt")
if grep -q "data-points=\"$n\"" <<<"$dom"; then echo "ok   map.html: $n points drawn"; else echo "FAIL map.html: its script did not run"; fails=$((fails + 1)); fi
# drawing, zoom, search, selection and hover are checked with real mouse events in scripts/tests/map.sh
if grep -q "data-drawn=\"$n\"" <<<"$dom"; then echo "ok   map.html: all $n points on the canvas"; else echo "FAIL map.html: not every point drawn"; fails=$((fails + 1)); fi
[ "$fails" -eq 0 ]
