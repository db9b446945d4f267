"""The common ending of the multi-process test scripts in this folder (imported by them: torchrun puts the script's
folder on the path)."""
import gc, sys

import torch.distributed as dist

def finish(failures: list[str], ok: str) -> None:
    "Leave the process group together (after a barrier); then exit 1 naming the failures, or print `ok` on rank 0."
    rank = dist.get_rank()
    gc.collect()                                   # DDP reducers go before the process group does
    dist.barrier()
    dist.destroy_process_group()
    if failures:
        print(f'rank {rank}: FAILED: ' + '; '.join(failures), file=sys.stderr)
        sys.exit(1)
    if rank == 0: print(ok)
