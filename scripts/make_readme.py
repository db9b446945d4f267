#!/usr/bin/env python
"""Write README.md from nbs/index.ipynb, as `nbdev_readme` does, without needing Quarto.

Markdown cells are copied; code cells are shown as Python blocks unless marked `#| hide`, `#| echo: false`
or `#| include: false`; text outputs become code blocks and image outputs (PNG, JPEG) files in nbs/images/.
A line `<!-- demo-seeds: FILE -->` (or `<!-- demo-seeds-variants: FILE -->`) in a Markdown cell is followed by the
demo table (or the settings compared) generated from that results file of `scripts/bench/demo_seeds.py`, so the
README's numbers are never typed by hand.
`--check` only compares and exits with 1 when README.md is out of date."""
import argparse, base64, json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIRECTIVE = re.compile(r'^\s*#\|\s*(.*)$')
GENERATED = re.compile(r'^<!-- demo-seeds(-variants)?: (\S+) -->$', re.M)

def demo_table(rel: str, variants: bool = False) -> str:
    "The demo table (or, with `variants`, the settings compared) of the seed-study results file `rel`, by scripts/bench/demo_seeds.py."
    import importlib.util
    spec = importlib.util.spec_from_file_location('demo_seeds', ROOT / 'scripts' / 'bench' / 'demo_seeds.py')
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    path = ROOT / rel
    if not path.exists(): raise SystemExit(f'nbs/index.ipynb names the results file {rel}, which does not exist; run scripts/bench/demo_seeds.py.')
    res = json.loads(path.read_text(encoding='utf-8'))
    return mod.variants_table(res) if variants else mod.readme_table(res)

def expand(text: str) -> str:
    "Markdown with each `<!-- demo-seeds: FILE -->` (or `-variants`) line followed by the table made from FILE."
    return GENERATED.sub(lambda m: m.group(0) + '\n\n' + demo_table(m.group(2), bool(m.group(1))), text)

def directives(src):
    "The `#| key: value` lines of a cell as a dict, and the source without them."
    d, body = {}, []
    for line in src.splitlines():
        m = DIRECTIVE.match(line)
        if not m: body.append(line); continue
        key, _, val = m.group(1).partition(':')
        d[key.strip()] = val.strip()
    return d, '\n'.join(body).strip('\n')

def render(nb_path: Path):
    "README text and {relative image path: PNG bytes}."
    nb = json.loads(nb_path.read_text(encoding='utf-8'))
    parts, images = [], {}
    for cell in nb['cells']:
        src = ''.join(cell['source'])
        if cell['cell_type'] == 'markdown':      # images next to the notebooks are under nbs/ from the README's place
            parts.append(expand(re.sub(r'\]\((images/[^)\s]+)\)', r'](nbs/\1)', src.strip()))); continue
        if cell['cell_type'] != 'code': continue
        d, body = directives(src)
        if 'hide' in d or d.get('include') == 'false': continue
        if d.get('echo') != 'false' and body: parts.append(f'```python\n{body}\n```')
        for out in cell.get('outputs', []):
            data = out.get('data', {})
            kind = next((k for k in ('image/png', 'image/jpeg') if k in data), None)
            if kind:
                name = f"images/readme_{len(images)}.{'png' if kind == 'image/png' else 'jpg'}"
                images[name] = base64.b64decode(data[kind])
                parts.append(f'![](nbs/{name})')
            elif out.get('output_type') == 'stream' or 'text/plain' in data:
                text = ''.join(out.get('text', '') or data.get('text/plain', ''))
                if text.strip() and not text.startswith('<Figure'): parts.append(f'```\n{text.rstrip()}\n```')
    text = '\n\n'.join(p for p in parts if p) + '\n'
    return '<!-- Generated from nbs/index.ipynb by scripts/make_readme.py: edit the notebook, not this file. -->\n\n' + text, images

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--check', action='store_true', help='exit with 1 if README.md or its images are out of date')
    args = ap.parse_args()
    text, images = render(ROOT / 'nbs' / 'index.ipynb')
    readme = ROOT / 'README.md'
    if args.check:
        stale = [str(readme)] if not readme.exists() or readme.read_text(encoding='utf-8') != text else []
        stale += [n for n, b in images.items() if not (ROOT / 'nbs' / n).exists() or (ROOT / 'nbs' / n).read_bytes() != b]
        if stale:
            print(f'Out of date: {", ".join(stale)}. Run `python scripts/make_readme.py` after executing nbs/index.ipynb.', file=sys.stderr)
            return 1
        return 0
    for n, b in images.items():
        (ROOT / 'nbs' / n).parent.mkdir(parents=True, exist_ok=True); (ROOT / 'nbs' / n).write_bytes(b)
    readme.write_text(text, encoding='utf-8')
    print(f'Wrote {readme} and {len(images)} image(s).')
    return 0

if __name__ == '__main__': sys.exit(main())
