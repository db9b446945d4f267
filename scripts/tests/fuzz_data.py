"""Fuzz test of the data path: a folder of hostile inputs through `dual-ifm prepare`, `dual-ifm cache` and
`dual-ifm embed --images`, each run as a user runs it (`python -m dual_ifm ...` in a subprocess).

The folder holds truncated, zero-byte and wrong-extension files, a 1xN and a very wide image, 16-bit, alpha and
CMYK images, an animated GIF, an EXIF-rotated photograph and a file whose name is not UTF-8 (bytes on Linux), next
to ordinary photographs. Checked: no command crashes (no traceback, exit status 0, or 2 with a message naming the
file); every file is either prepared or listed in metadata/prepare.json with its reason, and the counts add up;
readable images come out right (upright, scaled by their bit depth, alpha laid on black); the cache and the dataset
read them; embed exits 0, gives a finite embedding of every readable photograph and lists the unreadable ones
(embedded + skipped = the image files in the folder). Run by fuzz_data.sh; exits non-zero on the
first failed check."""
import io, json, os, subprocess, sys, tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from dual_ifm.prepare import printable_name
from dual_ifm.synthetic import synth_fundus

ROOT = Path(__file__).resolve().parents[2]
BAD_NAME = b'caf\xe9_latin1.png'            # Latin-1 bytes: not valid UTF-8

def cli(*args, ok=(0,)) -> subprocess.CompletedProcess:
    "Run `python -m dual_ifm ARGS`; fail on a traceback or an exit status outside `ok`."
    env = dict(os.environ, PYTHONPATH=str(ROOT), WANDB_MODE='disabled', MPLBACKEND='Agg')
    r = subprocess.run([sys.executable, '-m', 'dual_ifm', *map(str, args)], capture_output=True, text=True, env=env,
                       errors='replace')
    print(f'$ dual-ifm {" ".join(map(str, args))}  -> {r.returncode}')
    if 'Traceback' in r.stderr or r.returncode not in ok:
        sys.exit(f'FAIL dual-ifm {args[0]} exited {r.returncode}:\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}')
    return r

def hostile_folder(raw: Path, photo: np.ndarray) -> dict:
    "Write the hostile inputs; return {name: expected outcome ('ok' or 'skipped' or 'ignored')}."
    raw.mkdir(parents=True)
    im = Image.fromarray(photo)
    expect = {}
    def put(name, outcome, write):
        write(raw / name); expect[name] = outcome
    put('good.png', 'ok', lambda p: im.save(p))
    put('good_copy.jpg', 'ok', lambda p: im.save(p, quality=95))
    buf = io.BytesIO(); im.save(buf, 'JPEG', quality=95)
    put('truncated.jpg', 'skipped', lambda p: p.write_bytes(buf.getvalue()[:len(buf.getvalue()) // 3]))
    buf2 = io.BytesIO(); im.save(buf2, 'PNG')
    put('cut_short.png', 'skipped', lambda p: p.write_bytes(buf2.getvalue()[:len(buf2.getvalue()) // 2]))
    put('zero_bytes.png', 'skipped', lambda p: p.write_bytes(b''))
    put('notes_named.png', 'skipped', lambda p: p.write_text('these are my notes, not a photograph\n'))
    put('png_named.jpg', 'ok', lambda p: im.save(p, format='PNG'))         # wrong extension, readable content
    put('line_1xN.png', 'skipped', lambda p: Image.fromarray(photo[:1]).save(p))
    put('wide.png', 'skipped', lambda p: Image.fromarray(np.tile(photo[:60:4], (1, 40, 1))[:, :4000]).save(p))
    grey16 = (photo.mean(-1) * 257).astype(np.uint16)
    put('grey16.png', 'ok', lambda p: Image.fromarray(grey16).save(p))
    put('alpha.png', 'ok', lambda p: Image.fromarray(np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)])).save(p))
    put('cmyk.jpg', 'ok', lambda p: im.convert('CMYK').save(p, quality=95))
    frames = [Image.fromarray(photo), Image.fromarray(255 - photo)]
    put('animated.gif', 'ok', lambda p: frames[0].save(p, save_all=True, append_images=frames[1:], duration=100, loop=0))
    def exif_rotated(p):            # stored turned a quarter; the EXIF orientation 6 says: turn 90 degrees clockwise to show
        ex = Image.Exif(); ex[0x0112] = 6
        Image.fromarray(np.rot90(photo, 1)).save(p, quality=95, exif=ex)
    put('exif_rotated.jpg', 'ok', exif_rotated)
    put('readme.txt', 'ignored', lambda p: p.write_text('not a photograph'))
    with open(os.path.join(os.fsencode(raw), BAD_NAME), 'wb') as f: im.save(f, 'PNG')
    expect[printable_name(os.fsdecode(BAD_NAME))] = 'ignored'      # listed: no CSV, JSON or page could name it
    return expect

def main() -> int:
    work = Path(tempfile.mkdtemp(prefix='fuzz_data_'))
    photo = synth_fundus(seed=5, size=160)[0]
    expect = hostile_folder(work / 'raw', photo)
    # --- prepare
    r = cli('prepare', '--name', 'fuzz', '--images', work / 'raw', '--out', work / 'data', '--size', '64', '--workers', '0',
            '--no-progress', '--patient-regex', r'^(.+)\.')
    rep = json.loads((work / 'data' / 'fuzz' / 'metadata' / 'prepare.json').read_text())
    meta = pd.read_csv(work / 'data' / 'fuzz' / 'metadata' / 'metadata.csv', dtype=str, keep_default_na=False)
    skipped = {s['file']: s['reason'] for s in rep['skipped']}
    ignored = {s['file']: s['reason'] for s in rep.get('ignored', [])}
    prepared = set(meta['source_path'])
    print(f'prepared {len(prepared)}, skipped {len(skipped)}, ignored {len(ignored)} of {len(expect)} files')
    if (set(skipped) | set(ignored) | prepared) - set(expect): sys.exit(f'FAIL files listed that are not in the folder: {(set(skipped) | set(ignored) | prepared) - set(expect)}')
    for name, outcome in expect.items():
        got = 'ok' if name in prepared else 'skipped' if name in skipped else 'ignored' if name in ignored else 'missing'
        print(f'  {name!a:28} {got:8} {skipped.get(name) or ignored.get(name) or ""}')
        if got != outcome: sys.exit(f'FAIL {name!a}: expected {outcome}, got {got}')
    if len(prepared) + len(skipped) + len(ignored) != len(expect) or rep['images'] != len(prepared):
        sys.exit(f'FAIL the counts do not add up: {rep["images"]} prepared + {len(skipped)} skipped + {len(ignored)} ignored '
                 f'!= {len(expect)} files')
    if f'{len(skipped)} skipped as unreadable, {len(ignored)} other files ignored' not in r.stdout: sys.exit(f'FAIL prepare does not report the skipped files: {r.stdout}')
    # --- the readable ones come out right: each prepared image close to the plain photograph's
    dim = work / 'data' / 'fuzz' / 'dim_64'
    ref = np.asarray(Image.open(dim / 'good.png'), dtype=np.float64)
    for name in ('good_copy.jpg', 'png_named.jpg', 'alpha.png', 'cmyk.jpg', 'animated.gif', 'exif_rotated.jpg'):
        out = dim / meta.loc[meta.source_path == name, 'image_path'].item()
        err = np.abs(np.asarray(Image.open(out), dtype=np.float64) - ref).mean()
        print(f'  {name!a:28} mean abs difference to good.png {err:.2f}')
        if err > 6: sys.exit(f'FAIL {name!a} was prepared wrongly (mean abs difference {err:.1f} grey levels to the plain photograph)')
    g = np.asarray(Image.open(dim / meta.loc[meta.source_path == 'grey16.png', 'image_path'].item()), dtype=np.float64).mean(-1)
    if np.abs(g - ref.mean(-1)).mean() > 6: sys.exit('FAIL the 16-bit photograph was not scaled by its bit depth')
    # --- cache, and the dataset read from it
    cli('cache', '--dataset', 'fuzz', '--root', work / 'data', '--workers', '0', '--no-progress')
    from dual_ifm.data import FundusDataset
    ds = FundusDataset('fuzz', root=work / 'data', split='all', features=[])
    if not ds.cached or len(ds) != len(prepared): sys.exit(f'FAIL the cache holds {len(ds)} images, cached={ds.cached}')
    for i in range(len(ds)): ds[i]
    # --- embed --images on the raw folder
    from dual_ifm.model import DualIFM, save_checkpoint
    save_checkpoint(work / 'm.pt', DualIFM('bagnet9', embedding_dim=2, width=0.125), meta={'image_size': 32, 'mean': [0.5] * 3, 'std': [0.25] * 3})
    r = cli('embed', '--checkpoint', work / 'm.pt', '--images', work / 'raw', '--out', work / 'raw.npz', '--no-progress')
    from dual_ifm.prepare import list_images
    listed = list_images(work / 'raw')
    with np.load(work / 'raw.npz') as e:
        done, skip = [str(n) for n in e['image_path']], [str(n) for n in e['skipped']]
        print(f'embedded {len(done)}, skipped {len(skip)} of the {len(listed)} image files embed lists')
        if len(done) + len(skip) != len(listed) or sorted(done + skip) != sorted(listed):
            sys.exit(f'FAIL embed: {len(done)} embedded + {len(skip)} skipped != {len(listed)} image files')
        if len(e['z']) != len(done) or not np.isfinite(e['z']).all(): sys.exit(f'FAIL embed: {len(e["z"])} finite rows for {len(done)} photographs')
    for name, outcome in expect.items():
        if outcome == 'ok' and name not in done: sys.exit(f'FAIL embed did not embed the readable {name!a}')
        if outcome == 'skipped' and name in ('truncated.jpg', 'cut_short.png', 'zero_bytes.png', 'notes_named.png'):
            if name not in skip: sys.exit(f'FAIL embed did not list the unreadable {name!a} as skipped')
            if f'{name}: ' not in r.stderr: sys.exit(f'FAIL embed did not name {name!a} and its reason: {r.stderr[-3000:]}')
    if f'{len(skip)} of {len(listed)} image file(s) could not be read and were skipped, {len(done)} embedded' not in r.stderr:
        sys.exit(f'FAIL embed does not give the counts: {r.stderr[-3000:]}')
    print('fuzz_data: all checks passed')
    return 0

if __name__ == '__main__': sys.exit(main())
