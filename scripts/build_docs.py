#!/usr/bin/env python
"""Build the documentation site offline: every notebook in nbs/ (with the outputs it was saved with) rendered to
HTML in _docs/, with a navigation sidebar and index.html from nbs/index.ipynb. Needs no Quarto and no network
(users with Quarto can run `nbdev_docs` for the full site).

Usage: python scripts/build_docs.py [--out _docs] [--execute] [--nbs FOLDER]
  --execute   re-run the notebooks first (scripts/refresh_notebooks.py), so every output is current
  --nbs       the folder of notebooks to render (default: nbs/; the tests render hostile ones)

Every text the pages take from the notebooks' names and titles is escaped (file names are also URL-quoted in links),
so a name like `<img src=x onerror=...>` is shown as text; notebook outputs are escaped by nbconvert.

Each page records, once loaded in a browser, how many of its figures decoded: <body data-figures-ok="N"
data-figures-broken="M">; scripts/tests/docs.sh checks that in headless Chromium."""
import argparse, html, json, re, shutil, subprocess, sys, urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CSS = """
body{margin:0;font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#212529;line-height:1.5}
nav{position:fixed;top:0;left:0;bottom:0;width:230px;overflow-y:auto;background:#f5f6f8;border-right:1px solid #dde;padding:14px 10px;font-size:14px}
nav .brand{font-weight:700;font-size:17px;margin:0 6px 12px;display:block;color:#2c3e50;text-decoration:none}
nav a{display:block;padding:4px 8px;border-radius:4px;color:#2c3e50;text-decoration:none}
nav a:hover{background:#e4e7ec} nav a.current{background:#2c3e50;color:#fff}
main{margin-left:250px;max-width:960px;padding:18px 28px 60px}
main img{max-width:100%}
pre{background:#f6f8fa;padding:10px 12px;border-radius:5px;overflow-x:auto;font-size:13px;line-height:1.4}
code{font-size:90%} p code,li code{background:#f1f3f5;padding:1px 4px;border-radius:3px}
table{border-collapse:collapse;margin:8px 0} td,th{border:1px solid #ddd;padding:3px 8px;font-size:13px}
.cell-input pre{border-left:3px solid #2c7be5}
.cell-output pre{background:#fff;border:1px solid #eee;max-height:420px}
.cell-output{margin:4px 0 16px}
blockquote{color:#555;border-left:3px solid #ccc;margin:0 0 12px;padding:2px 12px;font-size:17px}
.foot{margin-top:40px;color:#888;font-size:12px}
"""

CHECK = """<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.querySelectorAll('main img'));
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute('data-figures-ok', ok);
  document.body.setAttribute('data-figures-broken', imgs.length - ok);
});
</script>"""

def _title(nb) -> str:
    for c in nb.cells:
        if c.cell_type == 'markdown':
            m = re.search(r'^#\s+(.+)$', c.source, re.M)
            if m: return m.group(1).strip()
    return ''

def _clean(nb):
    "Drop hidden cells and the nbdev directives (`#| ...`) from the code shown; keep outputs."
    cells = []
    for c in nb.cells:
        if c.cell_type == 'code':
            if re.search(r'^\s*#\|\s*(hide|exporti?\b.*hide)', c.source, re.M) or 'nbdev_export(' in c.source: continue
            if re.search(r'^\s*#\|\s*default_exp', c.source, re.M) and len(c.source.strip().splitlines()) == 1: continue
            c.source = '\n'.join(l for l in c.source.splitlines() if not re.match(r'\s*#\|', l)).strip('\n')
        elif '<!-- demo-seeds: ' in c.source:             # the demo table generated from the seed study, as in the README
            sys.path.insert(0, str(ROOT / 'scripts')); from make_readme import expand
            c.source = expand(c.source)
        cells.append(c)
    nb.cells = cells
    return nb

def _public_names(source: str) -> list[str]:
    "Public functions and classes an export cell defines, and the public methods it adds with @patch (as Class.method)."
    import ast
    try: tree = ast.parse(source)
    except SyntaxError: return []
    names = []
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.ClassDef)) or node.name.startswith('_'): continue
        patch = any(getattr(d, 'id', None) == 'patch' for d in getattr(node, 'decorator_list', []))
        if patch and node.args.args and isinstance(node.args.args[0].annotation, ast.Name):
            names.append(f'{node.args.args[0].annotation.id}.{node.name}')
        elif not patch: names.append(node.name)
    return names

def _api_reference(nb):
    """After each export cell, its public API as nbdev's `show_doc` renders it (what `nbdev_docs` adds too), so the
    offline site has an API reference."""
    import importlib, nbformat
    from nbdev.showdoc import show_doc
    exp = next((m.group(1) for c in nb.cells if c.cell_type == 'code' for m in [re.search(r'^#\|\s*default_exp\s+(\S+)', c.source, re.M)] if m), None)
    if exp is None: return nb
    module = importlib.import_module(f'dual_ifm.{exp}')
    cells = []
    for c in nb.cells:
        cells.append(c)
        if c.cell_type != 'code' or not re.search(r'^\s*#\|\s*export\b', c.source, re.M): continue
        for name in _public_names(c.source):
            obj = module
            for part in name.split('.'): obj = getattr(obj, part, None)
            if obj is None: continue
            try: doc = show_doc(obj, name=name)._repr_markdown_()
            except Exception as e:          # a signature show_doc cannot evaluate: name and docstring alone
                print(f'{exp}.{name}: show_doc failed ({type(e).__name__}: {e}); docstring only', file=sys.stderr)
                doc = f'### {name}\n\n*{(obj.__doc__ or "").strip()}*'

            doc = re.sub(r'\[source\]\([^)]*\)\{[^}]*\}', '', doc)       # Quarto's link attributes, which plain Markdown shows as text
            cells.append(nbformat.v4.new_markdown_cell(doc.strip()))
    nb.cells = cells
    return nb

def build(out: Path, nbs_dir: Path = ROOT / 'nbs') -> list[Path]:
    "Render every notebook in `nbs_dir` to `out` (replaced), with the sidebar and pages.json; returns the pages written."
    import nbformat
    from nbconvert import HTMLExporter
    from pygments.formatters import HtmlFormatter
    nbs = sorted(Path(nbs_dir).glob('*.ipynb'), key=lambda p: (p.stem != 'index', p.stem))
    if not nbs: raise SystemExit(f'no notebooks in {nbs_dir}')
    if out.exists(): shutil.rmtree(out)
    out.mkdir(parents=True)
    if (Path(nbs_dir) / 'images').is_dir(): shutil.copytree(Path(nbs_dir) / 'images', out / 'images')
    books = [(p, nbformat.read(p, as_version=4)) for p in nbs]
    pages = [('index.html' if p.stem == 'index' else f'{p.stem}.html', _title(nb) or p.stem, p, nb) for p, nb in books]
    exporter = HTMLExporter(template_name='basic')
    exporter.exclude_input_prompt = exporter.exclude_output_prompt = True
    style = CSS + HtmlFormatter().get_style_defs('.highlight')
    written = []
    for name, title, path, nb in pages:
        body, _ = exporter.from_notebook_node(_clean(_api_reference(nb)))
        body = re.sub(r'(href=")(\d\d[a-z]?_[\w]+)\.ipynb', r'\1\2.html', body)      # links between chapters
        nav = ''.join(f'<a href="{html.escape(urllib.parse.quote(n))}"{" class=current" if n == name else ""}>{html.escape(("" if p.stem == "index" else p.stem.split("_")[0] + " ") + t)}</a>'
                      for n, t, p, _ in pages)
        page = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">'
                f'<title>{html.escape(title)} – dual_ifm</title><style>{style}</style></head><body>'
                f'<nav><a class="brand" href="index.html">dual_ifm</a>{nav}</nav><main>{body}'
                f'<p class="foot">Built from {html.escape(path.name)} by scripts/build_docs.py.</p></main>{CHECK}</body></html>')
        (out / name).write_text(page, encoding='utf-8')
        written.append(out / name)
    (out / 'pages.json').write_text(json.dumps([{'page': n, 'title': t, 'notebook': p.name, 'figures': sum(
        1 for c in nb.cells if c.cell_type == 'code' for o in c.get('outputs', []) if 'image/png' in o.get('data', {}) or 'image/jpeg' in o.get('data', {}))
        + sum(c.source.count('![') for c in nb.cells if c.cell_type == 'markdown')} for n, t, p, nb in pages], indent=1))
    return written

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', type=Path, default=ROOT / '_docs', help='output folder (default: _docs)')
    ap.add_argument('--execute', action='store_true', help='re-run the notebooks first so their outputs are current')
    ap.add_argument('--nbs', type=Path, default=ROOT / 'nbs', help='folder of notebooks to render (default: nbs/)')
    a = ap.parse_args(argv)
    if a.execute: subprocess.run([sys.executable, str(ROOT / 'scripts' / 'refresh_notebooks.py')], check=True)
    pages = build(a.out, a.nbs)
    print(f'Wrote {len(pages)} pages to {a.out} (open {a.out / "index.html"}).')
    return 0

if __name__ == '__main__': sys.exit(main())
