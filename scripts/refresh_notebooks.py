#!/usr/bin/env python
"""Re-execute notebooks in place so their outputs (figures included) are current, then `nbdev_clean` them and
regenerate README.md from nbs/index.ipynb. Cells are run the way `nbdev_test` runs them (with execnb), so cells
marked `#| eval: false` and the final `nbdev_export()` cell are skipped. Run it before committing notebook changes
whose outputs changed.

Usage: python scripts/refresh_notebooks.py [PATTERN ...]     (default: every notebook in nbs/)"""
import os, re, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault('WANDB_MODE', 'disabled'); os.environ.setdefault('MPLBACKEND', 'Agg')

def _skip(cell) -> bool:
    if cell.cell_type != 'code': return True
    src = ''.join(cell.source)
    return bool(re.search(r'^\s*#\|\s*eval:\s*false', src, re.M)) or 'nbdev_export(' in src

def main(patterns):
    from execnb.shell import CaptureShell
    subprocess.run(['nbdev_export'], cwd=ROOT, check=True)
    nbs = sorted((ROOT / 'nbs').glob('*.ipynb'))
    if patterns: nbs = [p for p in nbs if any(s in p.stem for s in patterns)]
    for nb in nbs:
        t = time.time()
        shell = CaptureShell(nb)
        cwd = os.getcwd(); os.chdir(nb.parent)
        try: shell.execute(nb, nb, exc_stop=True, preproc=_skip)
        except Exception:
            print(shell.prettytb(fname=nb), file=sys.stderr); return 1
        finally: os.chdir(cwd)
        print(f'executed {nb.name} in {time.time() - t:.0f} s')
    subprocess.run(['nbdev_clean'], cwd=ROOT, check=True)
    return subprocess.run([sys.executable, 'scripts/make_readme.py'], cwd=ROOT).returncode

if __name__ == '__main__': sys.exit(main(sys.argv[1:]))
