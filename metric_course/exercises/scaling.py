"""Notebook 07's exercise: the loss one process backpropagates (:func:`check_global_batch_loss`).

With N processes, each embeds its own B images; ``all_gather`` hands every
process copies (without gradient) of all N·B embeddings. The student writes
what process ``rank`` backpropagates: the global batch with ``local`` itself in
its slot, its batch-hard loss, times N, since DDP averages the N gradients and
each reaches only its own rows. The checker simulates every rank and compares
each one's gradient with that of one process holding the whole batch.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..losses import batch_hard_triplet_loss
from .checking import compare_tensors, run_checks, scalar_hint


def _global_batch(world_size: int, rows: int, seed: int):
    """Every process's embeddings (unit vectors) and the global batch's labels, in rank order.

    Classes straddle the processes, so many positives and negatives of an
    anchor live on another process.
    """
    generator = torch.Generator().manual_seed(seed)
    size = world_size * rows
    labels = torch.arange(size) % max(2, size // 4)
    labels = labels[torch.randperm(size, generator=generator)]
    centres = torch.randn(int(labels.max()) + 1, 5, generator=generator, dtype=torch.float64)
    points = centres[labels] + 0.8 * torch.randn(size, 5, generator=generator, dtype=torch.float64)
    embeddings = torch.nn.functional.normalize(points, dim=1)
    return list(embeddings.split(rows)), labels


def _whole_batch_gradient(parts, labels, margin: float):
    """The loss of one process holding all rows, and its gradient, split back by process."""
    everything = torch.cat(parts).clone().requires_grad_()
    loss = batch_hard_triplet_loss(everything, labels, margin)
    loss.backward()
    return loss.detach(), list(everything.grad.split(len(parts[0])))


def check_global_batch_loss(fn: Callable) -> bool:
    """Check ``fn(gathered, local, labels, rank, margin=0.2)``, one process's loss (notebook 07).

    ``gathered`` is all_gather's list of N (B, D) copies without gradient,
    ``local`` this process's (B, D) embeddings with gradient, ``labels`` the
    (N·B,) labels of the global batch in rank order. The result must be
    N × the batch-hard loss of the global batch, computed so that the backward
    pass reaches ``local``: then DDP's average of the N processes' gradients is
    the gradient of one process on the whole batch.
    """

    def run(world_size: int, rank: int, rows: int, seed: int, margin: float = 0.2):
        parts, labels = _global_batch(world_size, rows, seed)
        local = parts[rank].clone().requires_grad_()
        got = fn([p.clone() for p in parts], local, labels.clone(), rank, margin=margin)
        return parts, labels, local, got

    def returns_a_differentiable_number() -> str | None:
        _, _, _, got = run(2, 0, 4, 0)
        hint = scalar_hint(got, "the loss")
        if hint and "not connected" in hint:
            return (
                "the loss carries no gradient: all_gather's copies are detached, so put "
                "`local` itself in slot `rank` of the list before concatenating"
            )
        return hint

    def value_case(world_size: int, rank: int, seed: int, margin: float = 0.2):
        def case() -> str | None:
            parts, labels, _, got = run(world_size, rank, 4, seed, margin)
            loss, _ = _whole_batch_gradient(parts, labels, margin)
            expected = world_size * loss
            if isinstance(got, torch.Tensor) and got.numel() == 1:
                value = got.detach().double().reshape(())
                if torch.allclose(value, loss, atol=1e-6):
                    return (
                        "that is the loss of the global batch, L; the process must "
                        f"backpropagate N·L (here N = {world_size}): DDP *averages* the N "
                        "gradients, and each reaches only its own rows, so without the factor "
                        "every step is N times too small"
                    )
                if torch.allclose(value, loss / world_size, atol=1e-6):
                    return f"multiply by N = len(gathered) = {world_size}, don't divide"
                if margin != 0.2:
                    fixed = world_size * _whole_batch_gradient(parts, labels, 0.2)[0]
                    if torch.allclose(value, fixed, atol=1e-6):
                        return "use the margin argument instead of a fixed 0.2"
            hint = compare_tensors(got, expected, "the loss")
            if hint is not None:
                return (
                    f"{hint}: build the global batch in rank order (the rows of process r in "
                    "slot r, like the labels), with `local` in slot `rank`, and take "
                    "batch_hard_triplet_loss of all of it"
                )
            return None

        return case

    def gradients_of_every_rank(world_size: int, seed: int):
        def case() -> str | None:
            whole = None
            for rank in range(world_size):
                parts, labels, local, got = run(world_size, rank, 4, seed)
                if whole is None:
                    _, whole = _whole_batch_gradient(parts, labels, 0.2)
                if not isinstance(got, torch.Tensor) or not got.requires_grad:
                    return scalar_hint(got, "the loss")
                got.backward()
                if local.grad is None:
                    return (
                        "the gradient does not reach `local`: use `local` itself (not a copy, "
                        "not .detach()) in slot `rank`"
                    )
                hint = compare_tensors(local.grad, world_size * whole[rank], "the gradient")
                if hint is not None:
                    return (
                        f"rank {rank}: {hint} (it should be N × the gradient that one process "
                        "holding the whole batch gets on these rows)"
                    )
            return None

        return case

    return run_checks(
        "loss of the global batch",
        [
            ("returning one differentiable number", returns_a_differentiable_number),
            ("2 processes, this one is rank 0", value_case(2, 0, 1)),
            ("3 processes, this one is rank 1", value_case(3, 1, 2)),
            ("4 processes, this one is rank 3, margin 0.5", value_case(4, 3, 3, margin=0.5)),
            (
                "3 processes: each one's gradient, as DDP averages them",
                gradients_of_every_rank(3, 4),
            ),
        ],
    )
