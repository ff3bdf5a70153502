"""Notebook 03's exercise: the triplet loss of given triplets (:func:`check_triplet_loss`)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..losses import triplet_loss
from .checking import diagnose, run_checks, scalar_hint


def _triplet_batch(seed: int, size: int = 16, dim: int = 8, negative_spread: float = 0.6):
    """Random triplets: positives near their anchor, negatives a little farther (some active)."""
    generator = torch.Generator().manual_seed(seed)
    anchor = torch.randn(size, dim, generator=generator, dtype=torch.float64)
    positive = anchor + 0.5 * torch.randn(size, dim, generator=generator, dtype=torch.float64)
    negative = anchor + negative_spread * torch.randn(
        size, dim, generator=generator, dtype=torch.float64
    )
    return anchor, positive, negative


def _triplet_mistakes(anchor, positive, negative, margin: float, squared: bool):
    """Results of the typical wrong triplet losses, each with its hint."""

    def gaps(a, p, n, squared, margin=margin):
        d_ap, d_an = (a - p).norm(dim=1), (a - n).norm(dim=1)
        if squared:
            d_ap, d_an = d_ap**2, d_an**2
        return d_ap - d_an + margin

    right = gaps(anchor, positive, negative, squared)
    other_distance = "squared distances ||a − p||²" if not squared else "plain distances ||a − p||"
    wanted_distance = "plain distance ||a − p||" if not squared else "squared distance ||a − p||²"
    return [
        (
            right.mean(),
            "without the hinge max(0, ·), easy triplets give a negative loss and push apart what "
            "is already fine: clamp each triplet's loss at 0, then average "
            "(.clamp(min=0).mean())",
        ),
        (
            right.mean().clamp(min=0),
            "apply the hinge to each triplet, then average; clamping the mean lets easy "
            "triplets cancel active ones",
        ),
        (
            gaps(anchor, negative, positive, squared).clamp(min=0).mean(),
            "positive and negative are swapped: the loss should grow when the *positive* is far "
            "from the anchor, d(a, p) − d(a, n) + margin",
        ),
        (
            gaps(anchor, positive, negative, not squared).clamp(min=0).mean(),
            f"you used {other_distance}; with squared={squared} use the {wanted_distance}",
        ),
        (
            right.clamp(min=0).sum(),
            "average the per-triplet losses over the batch (.mean()), don't sum them",
        ),
        (
            right.clamp(min=0).sum() / (right > 0).sum().clamp(min=1),
            "average over *all* triplets of the batch, zero ones included (as "
            "torch.nn.TripletMarginLoss does); averaging only the non-zero ones is "
            "pytorch-metric-learning's convention, not this exercise's",
        ),
        (
            gaps(anchor, positive, negative, squared, margin=0.0).clamp(min=0).mean(),
            "add the margin: max(0, d(a, p) − d(a, n) + margin)",
        ),
        (
            gaps(anchor, positive, negative, squared, margin=0.2).clamp(min=0).mean(),
            "use the margin argument instead of a fixed 0.2",
        ),
    ]


def check_triplet_loss(fn: Callable) -> bool:
    """Check ``fn(anchor, positive, negative, margin=0.2, squared=False)`` (notebook 03).

    It should return the mean over the batch of max(0, d(a, p) − d(a, n) + margin),
    with d the Euclidean distance, or its square when ``squared=True``.
    """

    def value_case(seed: int, margin: float, squared: bool, spread: float = 0.6):
        def case() -> str | None:
            a, p, n = _triplet_batch(seed, negative_spread=spread)
            got = fn(a.clone(), p.clone(), n.clone(), margin=margin, squared=squared)
            expected = triplet_loss(a, p, n, margin=margin, squared=squared)
            return diagnose(got, expected, "the loss", _triplet_mistakes(a, p, n, margin, squared))

        return case

    def returns_a_differentiable_number() -> str | None:
        a, p, n = (t.requires_grad_() for t in _triplet_batch(0))
        got = fn(a.clone(), p.clone(), n.clone(), margin=0.2, squared=False)
        return scalar_hint(got, "the loss")

    def gradient_where_anchor_and_positive_coincide() -> str | None:
        a, p, n = _triplet_batch(5)
        p[:4] = a[:4]  # the same image drawn twice: distance exactly 0
        a.requires_grad_()
        fn(a.clone(), p.clone(), n.clone(), margin=0.2, squared=False).backward()
        if not torch.isfinite(a.grad).all():
            return (
                "the gradient is NaN where the anchor and the positive coincide: the derivative "
                "of √s is infinite at s = 0. Use (a - p).norm(dim=1), which has gradient 0 there, "
                "instead of .pow(2).sum(1).sqrt()"
            )
        return None

    return run_checks(
        "triplet loss",
        [
            ("returning one differentiable number", returns_a_differentiable_number),
            ("plain distances, margin 0.2", value_case(1, 0.2, False)),
            ("squared distances (squared=True)", value_case(2, 0.2, True)),
            ("another margin (0.5)", value_case(3, 0.5, False)),
            (
                "a batch of easy triplets only (the loss must be exactly 0)",
                value_case(4, 0.2, False, spread=3.0),
            ),
            (
                "the gradient where anchor and positive coincide",
                gradient_where_anchor_and_positive_coincide,
            ),
        ],
    )
