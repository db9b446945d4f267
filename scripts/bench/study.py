#!/usr/bin/env python
"""The speed study of dual_ifm: the published way of training (float32, default layout, PIL views) against ours
(bfloat16, channels-last, batched views, the CPU speed layer of `dual_ifm.accel`), measured in one run.

Not part of the installed package: it backs the speed claims of the README, and its results are kept, dated, in
`scripts/bench/results-*.md`. Run it from the repository's root:

    python scripts/bench/study.py --quick --out bench.json
    python scripts/bench/study.py --sections step,matmul --threads 1
    torchrun --standalone --nproc_per_node=2 scripts/bench/study.py --sections step --threads 1

`dual-ifm bench` (in the package) answers the user's own question instead: what a run costs on their machine."""
from __future__ import annotations

import os
import platform
import resource
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from dual_ifm.accel import fused_bn_relu, gemm_weight_grads, keep_freed_memory, timed_kernels
from dual_ifm.core import compile_quietly, save_json
from dual_ifm.bench import matmul_rate, step_flops
from dual_ifm.losses import cauchy_infonce
from dual_ifm.model import DualIFM

STEP_MODES = {  # name: (channels_last, bf16 autocast, torch.compile, ours: freed memory kept on a CPU + fused SGD + GEMM weight gradients + fused batch norm/ReLU)
    'fp32 (published)': (False, False, False, False),
    'fp32 (published) + kept memory': (False, False, False, True),
    'fp32 channels-last': (True, False, False, True),
    'bf16': (False, True, False, True),
    'bf16 channels-last': (True, True, False, True),
    'bf16 channels-last compiled': (True, True, True, True),
}

def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def _training_step(backbone: str, width: float, image_size: int, batch: int, mode: str, device: str | None,
                   embedding_dim: int = 128, seed: int = 0):
    "Model, optimiser and a batch set up as `mode` says; returns (one training step as a function, device, processes)."
    if mode not in STEP_MODES: raise ValueError(f'Unknown mode {mode!r}; choose from {list(STEP_MODES)}.')
    if batch < 2 or batch % 2: raise ValueError(f'batch must be an even number of images (two views per photograph), got {batch}.')
    import torch.distributed as dist
    world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
    if (batch // 2) % world: raise ValueError(f'batch/2 = {batch // 2} photographs cannot be split over {world} processes.')
    images = batch // 2 // world
    channels_last, bf16, compiled, ours = STEP_MODES[mode]
    dev = torch.device(device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    if ours and dev.type == 'cpu': keep_freed_memory()
    if dev.type == 'cuda': torch.backends.cudnn.benchmark = ours     # ours picks the fastest convolution kernels for the fixed shape
    if dev.type == 'cuda' and world > 1: dev = torch.device('cuda', int(os.environ.get('LOCAL_RANK', 0)))
    torch.manual_seed(seed)
    model = DualIFM(backbone, embedding_dim=embedding_dim, width=width).to(dev).train()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    if ours: gemm_weight_grads(model)               # a no-op but for bf16 channels-last on a CPU
    if ours and bf16 and channels_last and dev.type == 'cpu': fused_bn_relu(model)    # eager under compile, fused else
    net = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    if compiled: net = compile_quietly(net)          # the warm-up steps absorb the compilation
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=5e-4, fused=ours)
    x = torch.randn(2 * images, 3, image_size, image_size, device=dev).contiguous(memory_format=fmt)
    def step():
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
            z = net(x, want='z').z
        loss = cauchy_infonce(z[:images], z[images:])
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
        return loss
    return step, dev, world

def time_training_step(backbone: str = 'bagnet33', width: float = 1.0, image_size: int = 256, batch: int = 8,
                       mode: str = 'fp32 (published)', steps: int = 2, warmup: int = 1, device: str | None = None,
                       embedding_dim: int = 128, seed: int = 0) -> dict:
    """Time `steps` training steps (after `warmup` ones) of `backbone` + projector on a `batch` of images (two views of batch/2).
    Under torchrun the batch is global: each process takes its share, DDP averages the gradients, negatives come from all ranks.
    The row also has the time of the first warm-up step (`first_step_s`), to compare with the settled steps."""
    import torch.distributed as dist
    step, dev, world = _training_step(backbone, width, image_size, batch, mode, device, embedding_dim, seed)
    first = float('nan')
    for i in range(warmup):
        t = time.perf_counter(); loss = step()
        if i == 0:
            loss.item()
            if dev.type == 'cuda': torch.cuda.synchronize()
            first = time.perf_counter() - t
    if dev.type == 'cuda': torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
    if world > 1: dist.barrier()
    t = time.perf_counter()
    for _ in range(steps): loss = step()
    loss.item()
    if dev.type == 'cuda': torch.cuda.synchronize()
    if world > 1: dist.barrier()
    sec = (time.perf_counter() - t) / steps
    return {'backbone': backbone, 'width': width, 'image_size': image_size, 'batch': batch, 'mode': mode, 'device': str(dev),
            'processes': world, 'threads': torch.get_num_threads(), 's/step': sec, 'img/s': batch / sec, 'first_step_s': first,
            'peak_mem_mb': (torch.cuda.max_memory_allocated() / 2**20) if dev.type == 'cuda' else _peak_rss_mb()}

def _child(q, fn, args, kwargs):
    try: q.put(('ok', fn(*args, **kwargs), _peak_rss_mb()))
    except BaseException as e: q.put(('error', f'{type(e).__name__}: {e}', 0.0))

def isolated(fn, *args, **kwargs):
    "Run `fn(*args, **kwargs)` in a fresh (spawned) process; returns (its result, its peak resident memory in MB)."
    import multiprocessing as mp
    ctx = mp.get_context('spawn')
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(q, fn, args, kwargs))
    p.start()
    import queue
    try:
        while True:
            try: status, res, rss = q.get(timeout=1.0); break
            except queue.Empty:
                if not p.is_alive():
                    raise RuntimeError(f'{getattr(fn, "__name__", fn)} ended its process (exit code {p.exitcode}) without a result; '
                                       'isolated() needs a function importable by name (defined in a module, not a notebook).') from None
    except BaseException:             # interrupted (Ctrl-C, SIGTERM): the measurement's process goes too
        if p.is_alive(): p.terminate()
        p.join(); raise
    p.join()
    if status != 'ok': raise RuntimeError(f'{fn.__name__} failed in its process: {res}')
    return res, rss

class _PILViews(torch.utils.data.Dataset):
    "The published way: two independently transformed views of each PIL photograph."
    def __init__(self, images, transform): self.images, self.t = images, transform
    def __len__(self): return len(self.images)
    def __getitem__(self, i):
        from PIL import Image
        im = Image.fromarray(self.images[i])
        return self.t(im), self.t(im)

class _Tensors(torch.utils.data.Dataset):
    def __init__(self, images): self.x = [torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1).contiguous() for a in images]
    def __len__(self): return len(self.x)
    def __getitem__(self, i): return self.x[i], i

def bench_images(n: int = 64, size: int = 256, seed: int = 0) -> list:
    "`n` synthetic fundus photographs (H x W x 3 uint8) to time the pipelines on."
    from dual_ifm.synthetic import synth_fundus
    return [synth_fundus(seed=seed + i, grade=i % 5, size=size)[0] for i in range(n)]

AUGMENT_WAYS = ('published (PIL, per photograph)', 'ours, views made in the workers', 'ours, views made on the device',
                'ours, views made on the device, compiled')

def time_augment(images, workers: int = 0, batch: int = 32, epochs: int = 2, size: int | None = None, threads: int | None = None,
                 device: str | None = None, ways=AUGMENT_WAYS) -> list[dict]:
    """Views/s over `epochs` passes of `images` with `workers` DataLoader processes, for each of `ways`: the published
    per-photograph PIL pipeline; ours with both views made in the workers; ours with the workers only collating uint8
    photographs and the views made on the training device (the GPU, or this process's threads on a CPU), eagerly or
    with the compiled kernels. Our ways keep freed memory in the process on a CPU (`keep_freed_memory`, from then on:
    measure the published way first or in its own process)."""
    from dual_ifm.augment import BatchAugment, published_transform, view_seeds
    from dual_ifm.train import ViewCollate
    bad = [w for w in ways if w not in AUGMENT_WAYS]
    if bad: raise ValueError(f'Unknown augmentation way(s) {bad}; choose from {list(AUGMENT_WAYS)}.')
    if threads: torch.set_num_threads(threads)
    dev = torch.device(device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    size = size or images[0].shape[0]
    rows = []
    for way in ways:
        aug = BatchAugment('fundus', size=size, compile=way.endswith('compiled'))
        if not way.startswith('published') and dev.type == 'cpu': keep_freed_memory()
        if way.startswith('published'): ds, collate = _PILViews(images, published_transform('fundus', size)), None
        elif 'workers' in way: ds, collate = _Tensors(images), ViewCollate(aug)
        else: ds, collate = _Tensors(images), ViewCollate(None)
        dl = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers, collate_fn=collate,
                                         persistent_workers=workers > 0, drop_last=False, pin_memory=dev.type == 'cuda')
        def consume(b):
            if 'device' not in way: return 2 * len(b[0])
            x = b[0].to(dev, non_blocking=True)
            v1, v2 = aug.views(x, b[1])
            return len(v1) + len(v2)
        for b in zip(range(1), dl): consume(b[1])                      # start the workers, warm the caches (and compile)
        t = time.perf_counter(); views = 0
        for _ in range(epochs):
            for b in dl: views += consume(b)
        if dev.type == 'cuda': torch.cuda.synchronize()
        sec = time.perf_counter() - t
        rows.append({'what': 'augment', 'way': way, 'size': size, 'workers': workers, 'views': views, 'seconds': sec, 'views/s': views / sec})
        del dl
    return rows

def time_decode(files: list, cache: str | os.PathLike | None = None, reps: int = 1) -> list[dict]:
    "Photographs/s read by PIL, by torchvision.io, and from a memory-mapped uint8 cache (when given)."
    from PIL import Image
    from torchvision.io import ImageReadMode, decode_image, read_file
    rows = []
    def run(name, fn):
        t = time.perf_counter()
        for _ in range(reps):
            for f in files: fn(f)
        sec = time.perf_counter() - t
        rows.append({'what': 'decode', 'way': name, 'images': len(files) * reps, 'seconds': sec, 'images/s': len(files) * reps / sec})
    run('PIL (published)', lambda f: np.asarray(Image.open(f).convert('RGB')))
    run('torchvision.io', lambda f: decode_image(read_file(str(f)), mode=ImageReadMode.RGB))
    if cache is not None:
        from dual_ifm.data import open_cache
        arr = open_cache(cache)
        idx = iter(range(10 ** 9))
        run('uint8 cache (memmap)', lambda f: torch.from_numpy(np.array(arr[next(idx) % len(arr)])))
    return rows

def time_loss(batch: int, dim: int = 128, kind: str = 'cauchy', device: str | None = None, bf16: bool = True, reps: int = 2) -> dict:
    "Forward + backward seconds and peak memory of the contrastive loss for a global batch of `batch` photographs (2 x batch views)."
    from dual_ifm.losses import ContrastiveLoss
    dev = torch.device(device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    if dev.type == 'cpu': keep_freed_memory()
    torch.manual_seed(0)
    z = torch.randn(2 * batch, dim, device=dev, requires_grad=True)
    loss_fn = ContrastiveLoss(kind)
    def once():
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
            l = loss_fn(z[:batch], z[batch:])
        l.backward(); z.grad = None
        return l
    once()
    if dev.type == 'cuda': torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    for _ in range(reps): l = once()
    l.item()
    if dev.type == 'cuda': torch.cuda.synchronize()
    sec = (time.perf_counter() - t) / reps
    return {'what': 'loss', 'way': f'{kind} {"bf16" if bf16 else "fp32"}', 'batch': batch, 'dim': dim, 'device': str(dev), 's/step': sec,
            'peak_mem_mb': torch.cuda.max_memory_allocated() / 2**20 if dev.type == 'cuda' else _peak_rss_mb()}

def memory_rate(mb: int = 256, device: str | None = None, reps: int | None = None) -> float:
    "GB/s of copying an `mb`-megabyte tensor into another on `device` (bytes read + bytes written; `reps` timed, default 5, 50 on a GPU)."
    dev = torch.device(device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    reps = reps or (50 if dev.type == 'cuda' else 5)
    a = torch.ones(mb * 2**20 // 4, device=dev); b = torch.empty_like(a)
    for _ in range(2): b.copy_(a)
    if dev.type == 'cuda': torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(reps): b.copy_(a)
    if dev.type == 'cuda': torch.cuda.synchronize()
    return 2 * a.numel() * 4 * reps / (time.perf_counter() - t) / 1e9

EAGER_MODES = tuple(m for m, (_, _, compiled, _) in STEP_MODES.items() if not compiled)   # what step_anatomy can split
ANATOMY_KINDS = ('convolutions, forward', 'convolutions, backward', 'weight gradients (C++ kernel)', 'matrix products',
                 'batch norm', 'fused batch norm + ReLU (C++ kernels)', 'ReLU, residual adds, gradient sums', 'optimiser', 'casts and copies', 'other')

def _op_kind(name: str) -> str:
    "The kind (one of `ANATOMY_KINDS`) of the aten operation called `name` (its overload packet, e.g. 'convolution')."
    if name.endswith('convolution_backward'): return 'convolutions, backward'
    if name in ('convolution', '_convolution', 'mkldnn_convolution', 'cudnn_convolution', 'conv2d'): return 'convolutions, forward'
    if name in ('mm', 'addmm', 'bmm', 'baddbmm', 'matmul', 'linear'): return 'matrix products'
    if 'batch_norm' in name: return 'batch norm'
    if name.rstrip('_') in ('relu', 'threshold_backward', 'threshold', 'add', 'clamp_min', 'clamp'): return 'ReLU, residual adds, gradient sums'
    if name.startswith(('_fused_sgd', '_fused_adam', '_foreach_')): return 'optimiser'
    if name in ('_to_copy', 'copy_', 'clone', 'to'): return 'casts and copies'
    return 'other'

def _op_flops(name: str, args, out) -> float:
    "Multiply-adds x 2 of a convolution or matrix product (0 for other operations)."
    if name == 'convolution':
        w, transposed = args[1], args[6]
        return 2.0 * (args[0] if transposed else out).numel() * w.shape[1] * int(np.prod(w.shape[2:]))
    if name == 'convolution_backward':
        g, w, transposed, mask = args[0], args[2], args[7], args[10]
        return 2.0 * (args[1] if transposed else g).numel() * w.shape[1] * int(np.prod(w.shape[2:])) * (int(mask[0]) + int(mask[1]))
    if name == 'mm': return 2.0 * args[0].shape[0] * args[0].shape[1] * args[1].shape[1]
    if name == 'addmm': return 2.0 * args[1].shape[0] * args[1].shape[1] * args[2].shape[1]
    if name in ('bmm', 'baddbmm'):
        a, b = (args[0], args[1]) if name == 'bmm' else (args[1], args[2])
        return 2.0 * a.shape[0] * a.shape[1] * a.shape[2] * b.shape[2]
    return 0.0

def _op_bytes(args, kwargs, out) -> int:
    "Bytes of every tensor an operation reads or writes, each counted once: a lower bound on the memory it moves."
    from torch.utils._pytree import tree_leaves
    return sum(t.numel() * t.element_size() for t in tree_leaves((args, kwargs, out)) if isinstance(t, torch.Tensor))

def step_anatomy(backbone: str = 'bagnet33', width: float = 1.0, image_size: int = 256, batch: int = 8,
                 mode: str = 'bf16 channels-last', steps: int = 2, warmup: int = 3, device: str | None = None,
                 embedding_dim: int = 128, seed: int = 0) -> list[dict]:
    """Seconds per training step spent in each kind of operation (`ANATOMY_KINDS`), with the GFLOP/s of convolutions
    and matrix products and the GB/s each kind moves at least (`_op_bytes`), for the step `time_training_step`
    times. Shares are of the step timed op by op; then come the time between operations (Python, the autograd
    engine, the timing itself) and the whole step timed plainly."""
    from torch.utils._python_dispatch import TorchDispatchMode
    if mode not in STEP_MODES: raise ValueError(f'Unknown mode {mode!r}; choose from {list(STEP_MODES)}.')
    if mode not in EAGER_MODES:
        raise ValueError(f'step_anatomy needs an eager mode: {mode!r} compiles the model into fused kernels whose '
                         f'operations cannot be timed one by one; choose from {list(EAGER_MODES)}.')
    step, dev, _ = _training_step(backbone, width, image_size, batch, mode, device, embedding_dim, seed)
    sync = torch.cuda.synchronize if dev.type == 'cuda' else (lambda: None)
    secs, flops, moved = dict.fromkeys(ANATOMY_KINDS, 0.0), dict.fromkeys(ANATOMY_KINDS, 0.0), dict.fromkeys(ANATOMY_KINDS, 0.0)
    calls, by_op = dict.fromkeys(ANATOMY_KINDS, 0), {}

    class _Timer(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            t = time.perf_counter()
            out = func(*args, **(kwargs or {}))
            sync()
            dt = time.perf_counter() - t
            name = func.overloadpacket.__name__
            kind = _op_kind(name)
            secs[kind] += dt; calls[kind] += 1; flops[kind] += _op_flops(name, args, out); moved[kind] += _op_bytes(args, kwargs, out)
            by_op[kind, name] = by_op.get((kind, name), 0.0) + dt
            return out

    def _kernel(name, args, out, dt):          # dual_ifm.fused's kernels are not aten operations
        kind = 'weight gradients (C++ kernel)' if name == 'wgrad' else 'fused batch norm + ReLU (C++ kernels)'
        if name == 'wgrad': flops[kind] += 2.0 * args[0].numel() * args[1].shape[1] * args[2] * args[3]   # grad, x, kh, kw
        secs[kind] += dt; calls[kind] += 1; moved[kind] += _op_bytes(args, {}, out)
        by_op[kind, name] = by_op.get((kind, name), 0.0) + dt

    for _ in range(warmup): step()
    sync(); t = time.perf_counter()
    for _ in range(steps): loss = step()
    loss.item(); sync(); plain = (time.perf_counter() - t) / steps
    t = time.perf_counter()
    with _Timer(), timed_kernels(_kernel):
        for _ in range(steps): step()
    sync(); timed = (time.perf_counter() - t) / steps
    common = {'what': 'anatomy', 'backbone': backbone, 'width': width, 'image_size': image_size, 'batch': batch,
              'mode': mode, 'device': str(dev), 'threads': torch.get_num_threads()}
    rows = [{**common, 'way': k, 's/step': secs[k] / steps, 'share': secs[k] / steps / timed, 'calls': calls[k] // steps,
             'GFLOP/s': flops[k] / secs[k] / 1e9 if flops[k] and secs[k] else float('nan'),
             'GB/s': moved[k] / secs[k] / 1e9 if secs[k] else float('nan'),
             'top_ops': ', '.join([f'{n} {s / steps * 1e3:.3g} ms' for (kk, n), s in sorted(by_op.items(), key=lambda i: -i[1]) if kk == k][:3])}
            for k in ANATOMY_KINDS if calls[k]]
    gap = timed - sum(secs.values()) / steps
    rows.append({**common, 'way': 'between operations (Python, autograd)', 's/step': gap, 'share': gap / timed, 'calls': 0, 'GFLOP/s': float('nan')})
    rows.append({**common, 'way': 'whole step', 's/step': plain, 'share': 1.0, 'calls': sum(calls.values()) // steps,
                 'GFLOP/s': sum(flops.values()) / steps / plain / 1e9, 'timed_op_by_op_s': timed})
    return rows

def time_epoch(images, width: float = 0.25, batch: int = 32, workers: int = 2, epochs: int = 1, threads: int | None = None,
               device: str | None = None, augment_on: str = 'auto') -> list[dict]:
    """Photographs/s of the loader alone, the training step alone and an end-to-end epoch (loader + step), and the bottleneck.
    Views are made in the workers (`augment_on='workers'`, the CPU default) or on the device (`'device'`, the GPU default)."""
    from dual_ifm.augment import BatchAugment, view_seeds
    from dual_ifm.losses import ContrastiveLoss
    from dual_ifm.train import ViewCollate
    if threads: torch.set_num_threads(threads)
    dev = torch.device(device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    if len(images) < 2: raise ValueError(f'time_epoch needs at least 2 photographs, got {len(images)}.')
    batch = min(batch, len(images))
    size = images[0].shape[0]
    if augment_on not in ('auto', 'device', 'workers'): raise ValueError(f"augment_on must be auto, device or workers, got {augment_on!r}.")
    on_device = augment_on == 'device' or (augment_on == 'auto' and dev.type == 'cuda')
    if dev.type == 'cpu': keep_freed_memory()                       # as the trainer does (before the workers fork)
    else: torch.backends.cudnn.benchmark = True                     # as the trainer does on a GPU
    aug = BatchAugment('fundus', size=size)
    dl = torch.utils.data.DataLoader(_Tensors(images), batch_size=batch, shuffle=True, num_workers=workers, drop_last=True,
                                     collate_fn=ViewCollate(None if on_device else aug), persistent_workers=workers > 0,
                                     pin_memory=on_device)
    torch.manual_seed(0)
    model = DualIFM('bagnet33', embedding_dim=128, width=width).to(dev).to(memory_format=torch.channels_last).train()
    gemm_weight_grads(model)                                         # as the trainer does (each acts only where it can)
    if dev.type == 'cpu': fused_bn_relu(model)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, fused=True)
    loss_fn = ContrastiveLoss('cauchy')
    def step(v1, v2):
        x = torch.cat([v1, v2]).to(dev, non_blocking=True).contiguous(memory_format=torch.channels_last)
        with torch.autocast(dev.type, dtype=torch.bfloat16):
            z = model(x, want='z').z.float()
        loss = loss_fn(z[:len(v1)], z[len(v1):])
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
        return loss
    def views(b):
        if not on_device: return b[0], b[1]
        x = b[0].to(dev, non_blocking=True); return aug(x, view_seeds(b[1], 0, 0)), aug(x, view_seeds(b[1], 0, 1))
    def sync(l=None):
        if l is not None: l.item()
        if dev.type == 'cuda': torch.cuda.synchronize()
    first = next(iter(dl)); v = views(first); step(*v); step(*v); sync()            # warm up workers and kernels
    n_steps = max(5, epochs * (len(images) // batch))
    t = time.perf_counter(); n = 0
    for _ in range(epochs):
        for b in dl: views(b); n += len(b[-1])
    sync(); loader = n / (time.perf_counter() - t)
    t = time.perf_counter()
    for _ in range(n_steps): l = step(*v)
    sync(l); model_rate = n_steps * batch / (time.perf_counter() - t)
    t = time.perf_counter(); n = 0
    for _ in range(epochs):
        for b in dl: l = step(*views(b)); n += len(b[-1])
    sync(l); e2e = n / (time.perf_counter() - t)
    common = {'what': 'epoch', 'width': width, 'size': size, 'batch': batch, 'workers': workers, 'device': str(dev),
              'views_made': 'on the device' if on_device else 'in the workers'}
    return [{**common, 'way': 'loader alone', 'photos/s': loader},
            {**common, 'way': 'training step alone', 'photos/s': model_rate},
            {**common, 'way': 'end to end', 'photos/s': e2e, 'bottleneck': 'loader' if loader < model_rate else 'model'}]

SECTIONS = ('augment', 'decode', 'step', 'matmul', 'anatomy', 'epoch', 'loss')
QUICK_MODES = ('fp32 (published)', 'fp32 (published) + kept memory', 'bf16 channels-last')    # the step modes of --quick

@dataclass
class BenchConfig:
    "Settings of `dual-ifm bench`."
    sections: list[str] = field(default_factory=lambda: list(SECTIONS), metadata={'help': f'what to measure, in this order: {", ".join(SECTIONS)}'})
    quick: bool = field(default=False, metadata={'help': 'shorter measurements (about 6.5 minutes on 2 cores): fewer photographs, 2 timed steps, and unless --modes is given only the step modes ' + ', '.join(QUICK_MODES)})
    backbone: str = field(default='bagnet33', metadata={'help': 'backbone of the step measurement'})
    width: list[float] = field(default_factory=lambda: [1.0, 0.25], metadata={'help': 'width multiplier(s) of the step, e.g. 1,0.25'})
    image_size: list[int] = field(default_factory=lambda: [256, 128], metadata={'help': 'image size(s) in px, one per width'})
    batch: int = field(default=8, metadata={'help': 'images per training step (two views of batch/2 photographs)'})
    modes: list[str] = field(default_factory=lambda: list(STEP_MODES), metadata={'help': f'step modes: {", ".join(STEP_MODES)}'})
    anatomy_mode: str = field(default='bf16 channels-last', metadata={'help': "step mode whose time is split by kind of operation (section 'anatomy'; an eager mode)"})
    steps: int = field(default=3, metadata={'help': 'timed steps per step measurement'})
    repeats: int = field(default=1, metadata={'help': 'step measurements per mode, each in its own process, the modes taking turns; the table shows the median and the range'})
    warmup: int = field(default=12, metadata={'help': "untimed steps first: the published step gets faster over its first ten or so (glibc maps fewer of its tensors afresh), ours over its first five (the kept heap stops growing); 3 is enough on a GPU"})
    workers: int = field(default=2, metadata={'help': 'DataLoader worker processes (the same for both pipelines)'})
    photos: int = field(default=128, metadata={'help': 'synthetic photographs for the pipeline measurements'})
    pipeline_size: int = field(default=256, metadata={'help': 'photograph size of the augmentation and decoding measurements'})
    epoch_size: int = field(default=128, metadata={'help': 'photograph size of the end-to-end epoch'})
    epoch_width: float = field(default=0.25, metadata={'help': 'BagNet-33 width of the end-to-end epoch (0.25: the demo model; 1 on a GPU)'})
    matmul_size: int = field(default=2048, metadata={'help': 'n of the n x n x n matrix products that measure the peak rate (8192 for a GPU)'})
    loss_batches: list[int] = field(default_factory=lambda: [1024, 4096, 8192], metadata={'help': 'global batch sizes of the loss measurement'})
    threads: int | None = field(default=None, metadata={'help': 'torch CPU threads (default: all)'})
    isolate: bool = field(default=True, metadata={'help': "each measurement in its own process (its own peak memory and allocator setting); without it the peak of a row measured on the CPU is the process's so far (GPU rows keep their own)"})
    keep_going: bool = field(default=True, metadata={'help': 'a measurement that fails becomes a "failed" row with its error and the rest still run (exit status 1)'})
    device: str | None = field(default=None, metadata={'help': 'cpu or cuda (default: cuda if available)'})
    out: Path | None = field(default=None, metadata={'help': 'also write the table as JSON here'})

    def __post_init__(self):
        if self.repeats < 1: raise ValueError(f'repeats must be at least 1, got {self.repeats}.')
        bad = [m for m in self.modes if m not in STEP_MODES]
        if bad: raise ValueError(f'Unknown mode(s) {bad}; choose from {list(STEP_MODES)}.')
        if self.anatomy_mode not in EAGER_MODES:
            raise ValueError(f'anatomy mode {self.anatomy_mode!r} is not an eager step mode; choose from {list(EAGER_MODES)}.')
        bad = [s for s in self.sections if s not in SECTIONS]
        if bad: raise ValueError(f'Unknown section(s) {bad}; choose from {list(SECTIONS)}.')
        if self.matmul_size < 1: raise ValueError(f'matmul_size must be a positive matrix size, got {self.matmul_size}.')
        if self.batch < 2 or self.batch % 2: raise ValueError(f'batch must be an even number of images (two views per photograph), got {self.batch}.')
        bad = [b for b in self.loss_batches if b < 1]
        if bad: raise ValueError(f'loss batch sizes must be positive numbers of photographs, got {bad}.')
        for name, low in (('steps', 1), ('warmup', 0), ('workers', 0), ('photos', 2)):
            if getattr(self, name) < low: raise ValueError(f'{name} must be at least {low}, got {getattr(self, name)}.')
        if len(self.image_size) not in (1, len(self.width)):
            raise ValueError(f'give one image size or one per width: {len(self.width)} width(s), {len(self.image_size)} size(s).')
        if self.quick:
            self.steps, self.photos = 2, min(self.photos, 64)
            if self.modes == list(STEP_MODES): self.modes = list(QUICK_MODES)

def _measure(cfg: BenchConfig, fn, *args, **kwargs) -> tuple:
    if cfg.isolate: return isolated(fn, *args, **kwargs)
    res = fn(*args, **kwargs)
    return res, _peak_rss_mb()

def _rows(res, rss) -> list[dict]:
    return [{**r, 'peak_mem_mb': r.get('peak_mem_mb', rss)} for r in (res if isinstance(res, list) else [res])]

def _with_threads(fn, threads, *args, **kwargs):
    if threads: torch.set_num_threads(threads)
    return fn(*args, **kwargs)

def _cache_of(images, folder: Path) -> tuple[list, Path]:
    "Write `images` as PNG files and as a uint8 cache in `folder` (for the decode measurement)."
    from PIL import Image
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i, a in enumerate(images):
        f = folder / f'{i:04d}.png'; Image.fromarray(a).save(f); files.append(f)
    arr = np.memmap(folder / 'cache.u8', dtype=np.uint8, mode='w+', shape=(len(images),) + images[0].shape)
    arr[:] = np.stack(images); arr.flush(); del arr
    save_json({'shape': [len(images), *images[0].shape]}, folder / 'cache.json')
    return files, folder / 'cache.u8'

def _error(e: BaseException) -> str: return f'{type(e).__name__}: {e}'

def _repeated_steps(cfg: BenchConfig, sizes: list, measure) -> list[dict]:
    """Each (width, size, mode) step measured `cfg.repeats` times by `measure(width, size, mode) -> (row, peak MB)`, the
    modes taking turns so that a slow spell of the machine falls on all of them; one row each, with the median rate,
    every run's rate and the largest peak. A mode that fails (with `cfg.keep_going`) is not tried again and gets a row
    with its `error`."""
    import statistics
    rows = []
    for w, s in zip(cfg.width, sizes):
        runs, errors = {m: [] for m in cfg.modes}, {}
        for _ in range(cfg.repeats):
            for m in cfg.modes:
                if m in errors: continue
                try: runs[m].append(measure(w, s, m))
                except Exception as e:
                    if not cfg.keep_going: raise
                    errors[m] = _error(e)
        for m in cfg.modes:
            if m in errors:
                rows.append({'backbone': cfg.backbone, 'width': w, 'image_size': s, 'batch': cfg.batch, 'mode': m, 'error': errors[m]}); continue
            rates = [r['img/s'] for r, _ in runs[m]]
            med = statistics.median(rates)
            rows.append({**runs[m][0][0], 'img/s': med, 's/step': cfg.batch / med, 'repeats': len(rates), 'runs_img/s': rates,
                         'peak_mem_mb': max(pm for _, pm in runs[m])})
    return rows

def run_bench(cfg: BenchConfig) -> pd.DataFrame:
    """Measure the asked sections in their order, print the table and return it (and write JSON, also after every
    section, so that a run stopped early keeps what it measured). A measurement that fails becomes a row with its error
    and the rest still run (`cfg.keep_going`); Ctrl-C or SIGTERM ends the run with the table of what was measured.
    Started by torchrun, the processes share each global batch of the step measurement (the only section measured
    then) and rank 0 reports."""
    import signal
    import tempfile
    import threading
    import torch.distributed as dist
    if cfg.threads: torch.set_num_threads(cfg.threads)
    world = int(os.environ.get('WORLD_SIZE', 1))
    dev = cfg.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    sizes = cfg.image_size * len(cfg.width) if len(cfg.image_size) == 1 else cfg.image_size
    rows: list[dict] = []
    if world > 1:
        if not dist.is_initialized(): dist.init_process_group('nccl' if dev.startswith('cuda') else 'gloo')
        def measure(w, s, m):
            r = time_training_step(cfg.backbone, w, s, cfg.batch, m, cfg.steps, cfg.warmup, cfg.device)
            return r, r['peak_mem_mb']
        rows = [{'section': 'step', **r} for r in _repeated_steps(cfg, sizes, measure)]
        dist.barrier(); dist.destroy_process_group()
        if int(os.environ.get('RANK', 0)) != 0: return _report(replace(cfg, out=None), pd.DataFrame(rows), echo=False)   # the same table, unprinted
        return _report(cfg, pd.DataFrame(rows))
    from tqdm import tqdm
    todo = list(dict.fromkeys(cfg.sections))
    bar = tqdm(todo, desc='bench', dynamic_ncols=True)
    tmp = Path(tempfile.mkdtemp())
    made = {}
    def photos(n, size):                  # the same synthetic photographs for every section, drawn once
        have = made.setdefault(size, [])
        if len(have) < n: have += bench_images(n - len(have), size, seed=len(have))
        return have[:n]
    def attempt(sec, way, fn, *args, **kwargs):
        try: return fn(*args, **kwargs)
        except Exception as e:
            if not cfg.keep_going: raise
            rows.append({'section': sec, 'way': way, 'error': _error(e)})
    def on_sigterm(signum, frame): raise KeyboardInterrupt
    main_thread = threading.current_thread() is threading.main_thread()
    old_handler = signal.signal(signal.SIGTERM, on_sigterm) if main_thread else None
    state = 'complete'
    try:
        for sec in bar:
            bar.set_description(f'bench: {sec}')
            try: _measure_section(cfg, sec, rows, tmp, sizes, dev, photos, attempt)
            except KeyboardInterrupt:
                state = 'interrupted'
                rows.append({'section': sec, 'way': 'stopped', 'error': 'stopped (Ctrl-C or SIGTERM) before this section finished; '
                             'the sections after it were not measured'})
                break
            if cfg.out is not None: _report(cfg, pd.DataFrame(rows), state='partial', echo=False)
    finally:
        import shutil; shutil.rmtree(tmp, ignore_errors=True)
        if main_thread: signal.signal(signal.SIGTERM, old_handler)
        bar.close()
    return _report(cfg, pd.DataFrame(rows), state=state)

def _measure_section(cfg: BenchConfig, sec: str, rows: list, tmp: Path, sizes: list, dev: str, photos, attempt):
    "Measure one section of `run_bench` into `rows`; `attempt(sec, way, fn, ...)` turns a failure into an error row."
    if sec == 'augment':
        imgs = photos(cfg.photos, cfg.pipeline_size)
        for way in AUGMENT_WAYS:          # each in its own process: the published way with the default allocator
            got = attempt(sec, way, _measure, cfg, time_augment, imgs, cfg.workers, 32, 2 if cfg.quick else 3, threads=cfg.threads,
                          device=cfg.device, ways=[way])
            if got: rows += [{'section': sec, **r, 'peak_mem_mb': got[1]} for r in got[0]]
    elif sec == 'decode':
        files, cache = _cache_of(photos(cfg.photos, cfg.pipeline_size), tmp / 'decode')
        got = attempt(sec, 'decode', _measure, cfg, _with_threads, time_decode, cfg.threads, files, cache, 1 if cfg.quick else 3)
        if got: rows += [{'section': sec, **r, 'size': cfg.pipeline_size, 'peak_mem_mb': got[1]} for r in got[0]]
    elif sec == 'step':
        flops = {}
        for w, s in zip(cfg.width, sizes):
            got = attempt(sec, f'FLOP count w{w:g} {s}px', _measure, cfg, step_flops, cfg.backbone, w, s)
            flops[w, s] = got[0] if got else float('nan')
        def measure(w, s, m):
            r, rss = _measure(cfg, _with_threads, time_training_step, cfg.threads, cfg.backbone, w, s, cfg.batch, m,
                              cfg.steps, cfg.warmup, cfg.device)
            return r, r['peak_mem_mb'] if dev.startswith('cuda') else rss
        rows += [{'section': sec, **r, 'gflop_per_img': flops[r['width'], r['image_size']] / 1e9}
                 for r in _repeated_steps(cfg, sizes, measure)]
    elif sec == 'matmul':
        n = cfg.matmul_size
        kinds = ['float32', 'bfloat16']
        if dev.startswith('cuda') and torch.backends.cudnn.allow_tf32: kinds.insert(1, 'tfloat32')   # what float32 convolutions get
        for dt in kinds:
            got = attempt(sec, dt, _measure, cfg, _with_threads, matmul_rate, cfg.threads, n, torch.bfloat16 if dt == 'bfloat16' else torch.float32,
                          cfg.device, None, dt == 'tfloat32')
            if got: rows.append({'section': sec, 'what': f'matmul {n}^3', 'way': dt, 'GFLOP/s': got[0], 'peak_mem_mb': got[1]})
        got = attempt(sec, 'memory', _measure, cfg, _with_threads, memory_rate, cfg.threads, 256, cfg.device)
        if got: rows.append({'section': sec, 'what': 'copy 256 MB', 'way': 'memory', 'GB/s': got[0], 'peak_mem_mb': got[1]})
    elif sec == 'anatomy':            # the first width and size (BagNet-33 at 256 px by default)
        got = attempt(sec, cfg.anatomy_mode, _measure, cfg, _with_threads, step_anatomy, cfg.threads, cfg.backbone, cfg.width[0], sizes[0],
                      cfg.batch, cfg.anatomy_mode, cfg.steps, cfg.warmup, cfg.device)
        if got: rows += [{'section': sec, **r, 'peak_mem_mb': got[1]} for r in got[0]]
    elif sec == 'epoch':
        got = attempt(sec, 'epoch', _measure, cfg, time_epoch, photos(cfg.photos * 2, cfg.epoch_size), cfg.epoch_width, 32, cfg.workers, 1,
                      cfg.threads, cfg.device)
        if got: rows += [{'section': sec, **r, 'peak_mem_mb': got[1]} for r in got[0]]
    elif sec == 'loss':
        for b in cfg.loss_batches:
            got = attempt(sec, f'global batch {b}', _measure, cfg, _with_threads, time_loss, cfg.threads, b, 128, 'cauchy', cfg.device, True,
                          1 if cfg.quick else 2)
            if got: rows.append({'section': sec, **got[0], 'peak_mem_mb': got[0]['peak_mem_mb'] if dev.startswith('cuda') else got[1]})

def _share(x: float) -> str:
    "A fraction as a percentage, with a decimal below 1% (so that 0.4% does not read as 0%)."
    return f'{x:.0%}' if x >= 0.01 or x == 0 else f'{x:.1%}'

def _flop_rate(gflops: float) -> str:
    "A FLOP rate in GFLOP/s written in the unit a person reads: GFLOP/s on a CPU, TFLOP/s from 10,000 GFLOP/s (a GPU)."
    return f'{gflops / 1e3:,.0f} TFLOP/s' if gflops >= 1e4 else f'{gflops:,.0f} GFLOP/s'

def _report(cfg: BenchConfig, df: pd.DataFrame, state: str = 'complete', echo: bool = True) -> pd.DataFrame:
    """Derived columns (ratios to the published way, FLOP fraction), the printed table (`echo`) and the JSON file, which
    says whether the run is `state` 'complete', 'partial' (sections still to come) or 'interrupted'. Rows with an
    `error` become lines with the unit 'failed' (or 'stopped') and the error as their note."""
    df = df.copy()
    lines = []
    def fmt(v):
        if v is None or (isinstance(v, float) and np.isnan(v)): return ''
        if isinstance(v, float): return f'{v:,.0f}' if abs(v) >= 1000 else f'{v:.3g}'
        return str(v)
    if 'error' not in df: df['error'] = None
    bad = df[df.error.notna()]
    df = df[df.error.isna()]
    rates = df[df.section == 'matmul'] if 'section' in df else df.iloc[:0]
    peak = {r['way']: r['GFLOP/s'] for _, r in rates.iterrows() if r.get('GFLOP/s') == r.get('GFLOP/s')}
    copy = next((r['GB/s'] for _, r in rates.iterrows() if r['way'] == 'memory'), None)
    def reference(mode: str) -> tuple:    # the matrix rate a step mode's products can reach, and its name
        if 'bf16' in mode: return peak.get('bfloat16'), 'bf16'
        if 'tfloat32' in peak: return peak['tfloat32'], 'tf32'       # measured on a GPU, where cuDNN runs float32 convolutions in TF32
        return peak.get('float32'), 'fp32'
    for sec in dict.fromkeys(list(df.get('section', [])) + list(bad.get('section', []))):
        g = df[df.section == sec]
        if g.empty: pass
        elif sec == 'augment':            # ratios to the published way (none if it failed)
            base = g['views/s'].iloc[0] if g['way'].iloc[0] == AUGMENT_WAYS[0] else float('nan')
            for _, r in g.iterrows(): lines.append((sec, r['way'], f"{int(r['size'])} px, {int(r['workers'])} workers", r['views/s'], 'views/s', r['views/s'] / base, r['peak_mem_mb'], ''))
        elif sec == 'decode':
            base = g['images/s'].iloc[0]
            for _, r in g.iterrows(): lines.append((sec, r['way'], f"{int(r['size'])} px PNG", r['images/s'], 'images/s', r['images/s'] / base, r['peak_mem_mb'], ''))
        elif sec == 'step':
            for (w, s), gg in g.groupby(['width', 'image_size'], sort=False):
                base = gg['img/s'].iloc[0] if gg['mode'].iloc[0] == cfg.modes[0] else float('nan')
                for _, r in gg.iterrows():
                    note = ''
                    if 'gflop_per_img' in r and not pd.isna(r.get('gflop_per_img')):
                        rate = r['img/s'] * r['gflop_per_img']
                        ref, dt = reference(r['mode'])
                        note = _flop_rate(rate) + (f" = {_share(rate / ref)} of the {dt} matmul peak" if ref else '')
                    if not pd.isna(r.get('first_step_s', float('nan'))):       # NaN without a warm-up step
                        note += f"{'; ' if note else ''}first step {r['first_step_s']:.3g} s"
                    if r.get('repeats', 1) > 1:
                        note += f"{'; ' if note else ''}median of {int(r['repeats'])} runs ({min(r['runs_img/s']):.3g}-{max(r['runs_img/s']):.3g} img/s)"
                    lines.append((sec, r['mode'], f"{r['backbone']} w{w:g} {int(s)}px b{int(r['batch'])} {int(r['processes'])}p {int(r['threads'])}t",
                                  r['img/s'], 'img/s', r['img/s'] / base, r['peak_mem_mb'], note))
        elif sec == 'matmul':
            for _, r in g.iterrows():
                unit = 'GB/s' if r['way'] == 'memory' else 'GFLOP/s'
                value = r[unit]
                if unit == 'GFLOP/s' and value >= 1e4: value, unit = value / 1e3, 'TFLOP/s'
                lines.append((sec, r['way'], r['what'], value, unit, float('nan'), r['peak_mem_mb'], ''))
        elif sec == 'anatomy':
            for _, r in g.iterrows():
                ref, dt = reference(r['mode'])
                note = f"{_share(r['share'])} of the step timed op by op" if r['way'] != 'whole step' else f"{r['timed_op_by_op_s']:.3g} s timed op by op"
                if r['GFLOP/s'] == r['GFLOP/s']: note += f"; {_flop_rate(r['GFLOP/s'])}" + (f" = {_share(r['GFLOP/s'] / ref)} of the {dt} matmul peak" if ref else '')
                elif r['way'] in ('batch norm', 'fused batch norm + ReLU (C++ kernels)', 'ReLU, residual adds, gradient sums', 'optimiser', 'casts and copies') and r['GB/s'] == r['GB/s']:
                    note += f"; moves >= {r['GB/s']:,.0f} GB/s" + (f" = {_share(r['GB/s'] / copy)} of the copy rate" if copy else '')
                if r['way'] == 'other' and isinstance(r.get('top_ops'), str) and r['top_ops']: note += f"; mostly {r['top_ops']}"
                lines.append((sec, r['way'], f"{r['backbone']} w{r['width']:g} {int(r['image_size'])}px b{int(r['batch'])} {r['mode']}",
                              r['s/step'], 's/step', float('nan'), r['peak_mem_mb'], note))
        elif sec == 'epoch':
            for _, r in g.iterrows():
                lines.append((sec, r['way'], f"w{r['width']:g} {int(r['size'])}px b{int(r['batch'])} {int(r['workers'])} workers", r['photos/s'], 'photos/s',
                              float('nan'), r['peak_mem_mb'], f"bottleneck: {r['bottleneck']}" if isinstance(r.get('bottleneck'), str) else ''))
        elif sec == 'loss':
            for _, r in g.iterrows():
                lines.append((sec, r['way'], f"global batch {int(r['batch'])}, {int(r['dim'])}-D", r['s/step'], 's fwd+bwd', float('nan'), r['peak_mem_mb'], ''))
        for _, r in bad[bad.section == sec].iterrows():
            what = r['mode'] if isinstance(r.get('mode'), str) else r['way']
            lines.append((sec, what, '', float('nan'), 'stopped' if r['way'] == 'stopped' else 'failed', float('nan'), float('nan'), r['error']))
    table = pd.DataFrame(lines, columns=['section', 'way', 'setting', 'value', 'unit', 'x published', 'peak_mem_mb', 'note'])
    if echo:
        with pd.option_context('display.max_colwidth', 100, 'display.width', 250):
            print(table.to_string(index=False, na_rep='', formatters={c: fmt for c in ('value', 'x published', 'peak_mem_mb')}))
        if len(bad): print(f'{len(bad)} measurement(s) failed or stopped: see the rows marked failed/stopped'
                           + (f'; the table so far is in {cfg.out}' if cfg.out is not None else '') + '.')
    if cfg.out is not None:
        save_json({'state': state, 'machine': platform.platform(), 'processor': platform.processor(), 'cpus': os.cpu_count(),
                   'torch': torch.__version__, 'cuda': torch.cuda.get_device_name() if torch.cuda.is_available() else None, 'config': cfg,
                   'table': table.to_dict('records'), 'rows': pd.concat([df, bad]).to_dict('records')}, cfg.out)
    return table


def main(argv: list[str] | None = None) -> int:
    "Command line of the study: one flag per field of `BenchConfig`; exit status 1 when a measurement failed."
    import argparse
    from dual_ifm.core import add_config_args, config_from_args
    parser = argparse.ArgumentParser(prog='study.py', description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_args(parser, BenchConfig)
    table = run_bench(config_from_args(BenchConfig, parser.parse_args(argv)))
    return 1 if 'status' in table and (table['status'] == 'failed').any() else 0


if __name__ == '__main__':
    raise SystemExit(main())
