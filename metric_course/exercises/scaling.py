"""Notebook 07's exercise: a global batch that keeps the local gradient."""

from __future__ import annotations

from collections.abc import Callable

import torch

from .checking import compare_tensors, run_checks


def _gathered_batch(world_size: int, rank: int, rows: int = 2, dim: int = 3, seed: int = 0):
    """What all_gather hands one process: every process's rows as copies, plus its own tensor."""
    generator = torch.Generator().manual_seed(seed)
    parts = [
        torch.randn(rows, dim, generator=generator, dtype=torch.float64) + 10 * r
        for r in range(world_size)
    ]
    local = parts[rank].clone().requires_grad_()
    return parts, local  # the copies carry no gradient, like all_gather's


def check_global_batch(fn: Callable) -> bool:
    """Check ``fn(gathered, local, rank) -> global batch`` with the gradient trick (notebook 07).

    ``gathered`` holds every process's embeddings as returned by all_gather
    (copies, without gradient); the result must be their concatenation in
    rank order, with this process's slot taken by ``local`` itself so that the
    backward pass reaches the local network.
    """

    def case(world_size: int, rank: int, seed: int) -> Callable[[], str | None]:
        def run() -> str | None:
            parts, local = _gathered_batch(world_size, rank, seed=seed)
            got = fn([p.clone() for p in parts], local, rank)
            if isinstance(got, torch.Tensor) and got.shape == local.shape:
                return (
                    "the result has the shape of this process's rows only: the global batch "
                    "holds the rows of all processes, torch.cat(...) of the whole list"
                )
            hint = compare_tensors(got, torch.cat(parts), "the global batch")
            if hint is not None:
                return hint + " (the rows of process r belong in slot r, in rank order)"
            if not got.requires_grad:
                return (
                    "the values are right but carry no gradient: all_gather's copies are "
                    "detached, so put `local` itself in slot `rank` (gathered[rank] = local)"
                )
            weights = torch.arange(len(got), dtype=got.dtype)[:, None]
            (got * weights).sum().backward()
            own_rows = weights[rank * len(local) : (rank + 1) * len(local)].expand_as(local)
            if local.grad is None or not torch.allclose(local.grad, own_rows):
                return (
                    "the gradient does not reach `local` through slot `rank`: use `local` "
                    "itself (not a copy, not .detach()) in its own slot"
                )
            return None

        return run

    return run_checks(
        "global batch with gradient",
        [
            ("2 processes, this one is rank 0", case(2, 0, 0)),
            ("3 processes, this one is rank 1", case(3, 1, 1)),
            ("4 processes, this one is rank 3", case(4, 3, 2)),
        ],
    )
