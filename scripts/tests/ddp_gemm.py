"""Two-process check of the GEMM weight gradients under DistributedDataParallel (run by scripts/tests/ddp_gemm.sh):

    torchrun --standalone --nproc_per_node=2 scripts/tests/ddp_gemm.py

Two 1x1 convolutions and a strided 3x3 one switched to `GemmGradConv2d` by each route (dual_ifm's kernel where it can
run: all three; `torch.mm` with its thresholds lowered so that narrow layers qualify: the two 1x1), bfloat16
autocast, channels-last, half of the batch on each rank. After DDP averages the gradients, every rank must hold
the gradients that one process computes for the whole batch with plain `nn.Conv2d`s, up to bfloat16 rounding,
and the gradients must come in the parameters' own layout (DDP warns, and copies, otherwise)."""
import copy, warnings

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel as DDP

from dual_ifm.accel import gemm_weight_grads, weight_grad_unavailable
from _mp import finish                 # this folder (torchrun puts it on the path)

def grads(model, x):
    model.zero_grad(set_to_none=True)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        y = model(x)
    y.float().square().mean().backward()
    m = model.module if isinstance(model, DDP) else model
    return [p.grad.clone() for p in m.parameters()]

def main():
    warnings.filterwarnings('error', message='Grad strides do not match')     # a layout copy in every step
    dist.init_process_group('gloo')
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)
    plain = nn.Sequential(nn.Conv2d(32, 64, 1, bias=False), nn.ReLU(), nn.Conv2d(64, 48, 1, bias=False), nn.ReLU(),
                          nn.Conv2d(48, 32, 3, stride=2, padding=1, bias=False)).to(memory_format=torch.channels_last)
    x = torch.randn(4 * world, 32, 10, 10).contiguous(memory_format=torch.channels_last)     # the same on every rank
    ref = grads(plain, x)                                                                      # one process, whole batch
    failures = []
    routes = {'mm': (dict(kernel=False, min_channels=32, min_weight=1), 2)}
    if weight_grad_unavailable() is None: routes['kernel'] = (dict(), 3)
    elif rank == 0: print(f'the kernel route is not checked: {weight_grad_unavailable()}')
    for route, (switch, expected) in routes.items():
        fast = copy.deepcopy(plain)
        n = gemm_weight_grads(fast, **switch)
        if n != expected: failures.append(f'{route}: expected {expected} switched convolutions, got {n}')
        with torch.autocast('cpu', dtype=torch.bfloat16):
            node = fast[0](x[:1].requires_grad_()).grad_fn.name()
        if node != '_GemmGradConvBackward': failures.append(f'{route}: the product path was not taken ({node})')
        ddp = DDP(fast)
        part = x[rank * 4:(rank + 1) * 4]
        got = grads(ddp, part)
        err = max(((g - r).abs().max() / r.abs().max()).item() for g, r in zip(got, ref))
        gathered = [torch.zeros_like(got[0]) for _ in range(world)]
        dist.all_gather(gathered, got[0])
        same = all(torch.equal(gathered[0], g) for g in gathered)
        if rank == 0: print(f'{route}: max |DDP grad - one-process grad| / max |grad| = {err:.2e}; ranks hold the same gradients: {same}')
        if err > 2e-2: failures.append(f'{route}: gradients differ from one process by {err:.2e} (relative)')
        if not same: failures.append(f'{route}: ranks hold different gradients')
        del ddp
    finish(failures, f'OK: 2 ranks with the weight gradients as products ({", ".join(routes)}) = 1 process with nn.Conv2d, up to bfloat16 rounding')

if __name__ == '__main__': main()
