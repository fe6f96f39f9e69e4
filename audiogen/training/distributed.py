"""Rank, world size and collectives that are identities in a single process (Ray Train runs the
same loop on N workers through torch.distributed)."""
from __future__ import annotations

from typing import Any

import torch


def dist_info() -> tuple[int, int]:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def all_reduce_sum(x: torch.Tensor) -> torch.Tensor:
    """Sum over ranks (identity without distributed)."""
    import torch.distributed as dist

    if dist_info()[1] > 1:
        x = x.clone()
        dist.all_reduce(x)
    return x


def gather_objects(obj: Any) -> list[Any]:
    """Every rank's `obj`, indexed by rank (`[obj]` without distributed)."""
    import torch.distributed as dist

    world = dist_info()[1]
    if world == 1:
        return [obj]
    out: list[Any] = [None] * world
    dist.all_gather_object(out, obj)
    return out
