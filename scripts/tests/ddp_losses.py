"""Two-process check of the contrastive losses with negatives from all ranks (run by scripts/tests/ddp_losses.sh):

    torchrun --standalone --nproc_per_node=2 scripts/tests/ddp_losses.py

N ranks with batch b must give the loss and the gradients of one process with batch N x b: the mean of the
ranks' losses equals the single-process loss, and after DistributedDataParallel averages the gradients every
rank holds the single-process gradients. With negatives='local' (the published behaviour) they differ."""
import copy

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel as DDP

from dual_ifm.losses import ContrastiveLoss
from _mp import finish                 # this folder (torchrun puts it on the path)

def check(kind: str, negatives: str, b: int = 6, d_in: int = 12, d_out: int = 4):
    rank, world = dist.get_rank(), dist.get_world_size()
    g = torch.Generator().manual_seed(0)                      # the same data and model on every rank
    xa, xb = torch.randn(world * b, d_in, generator=g), torch.randn(world * b, d_in, generator=g)
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(d_in, 16), nn.ReLU(), nn.Linear(16, d_out)).double()
    xa, xb = xa.double(), xb.double()
    loss_fn = ContrastiveLoss(kind, negatives=negatives)
    # one process, the whole batch (no gathering needed: everything is local)
    ref = copy.deepcopy(model)
    ref_loss = ContrastiveLoss(kind, negatives='local')(ref(xa), ref(xb))
    ref_loss.backward()
    # N processes, batch b each, gradients averaged by DDP
    ddp = DDP(copy.deepcopy(model))
    part = slice(rank * b, (rank + 1) * b)
    loss = loss_fn(ddp(xa[part]), ddp(xb[part]))
    loss.backward()
    mean_loss = loss.detach().clone(); dist.all_reduce(mean_loss); mean_loss /= world
    loss_err = abs(mean_loss.item() - ref_loss.item())
    grad_err = max((p.grad - q.grad).abs().max().item() for p, q in zip(ddp.module.parameters(), ref.parameters()))
    del ddp                                   # release DDP's reducer before the process group goes
    return loss_err, grad_err

def main():
    dist.init_process_group('gloo')
    rank = dist.get_rank()
    failures = []
    for kind in ('cauchy', 'cosine'):
        le, ge = check(kind, 'all')
        if rank == 0: print(f'{kind:6s} negatives=all  : |loss - single| = {le:.2e}, max |grad - single| = {ge:.2e}')
        if le > 1e-10 or ge > 1e-10: failures.append(f'{kind} all-rank negatives differ from one process')
        le, ge = check(kind, 'local')
        if rank == 0: print(f'{kind:6s} negatives=local: |loss - single| = {le:.2e}, max |grad - single| = {ge:.2e} (expected to differ)')
        if le < 1e-6: failures.append(f'{kind} local negatives should not match the single-process loss')
    finish(failures, 'OK: 2 ranks with negatives from all ranks = 1 process with the whole batch')

if __name__ == '__main__': main()
