"""Notebook 04's exercise: batch-hard mining from a distance matrix (:func:`check_batch_hard`)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..distances import pairwise_distances
from ..losses import reduce
from ..mining import hardest_triplets, pair_masks
from .checking import diagnose, run_checks, scalar_hint


def batch_hard_from_distances(
    distances: torch.Tensor, labels: torch.Tensor, margin: float = 0.2
) -> torch.Tensor:
    """Batch-hard loss from a distance matrix: the reference of :func:`check_batch_hard`.

    mean over anchors with a positive and a negative of
    max(0, max_p d(a, p) − min_n d(a, n) + margin), the same number as
    ``losses.batch_hard_triplet_loss`` on the embeddings behind ``distances``:
    the same miner and the same reducer, on a matrix given instead of measured.
    """
    mined = hardest_triplets(distances, *pair_masks(labels))
    d_ap = distances.gather(1, mined.positive)[mined.used]
    d_an = distances.gather(1, mined.negative)[mined.used]
    return reduce((d_ap - d_an + margin).clamp(min=0), "mean")


def _pk_distances(seed: int, classes: int = 4, per_class: int = 6, singleton: bool = False):
    """Distances and shuffled labels of a P×K batch of clustered unit vectors.

    With ``singleton`` one more image, alone in its class, lies among class 0.
    """
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(classes).repeat_interleave(per_class)
    if singleton:
        labels = torch.cat([labels, torch.tensor([classes])])
    labels = labels[torch.randperm(len(labels), generator=generator)]
    centres = torch.randn(classes, 6, generator=generator, dtype=torch.float64)
    points = 3.0 * centres[labels % classes] + torch.randn(
        len(labels), 6, generator=generator, dtype=torch.float64
    )
    embeddings = torch.nn.functional.normalize(points, dim=1)
    return pairwise_distances(embeddings), labels


def _batch_hard_mistakes(distances, labels, margin: float):
    """Results of the typical wrong batch-hard losses, each with its hint."""
    inf = float("inf")
    eye = torch.eye(len(labels), dtype=torch.bool)
    same = labels[:, None] == labels[None, :]
    is_positive, is_negative = same & ~eye, ~same
    has_positive = is_positive.any(1)
    farthest_positive = distances.masked_fill(~is_positive, 0).amax(1)
    nearest_negative = distances.masked_fill(~is_negative, inf).amin(1)

    def loss(hardest_positive, hardest_negative, anchors=has_positive):
        return (hardest_positive - hardest_negative + margin)[anchors].clamp(min=0).mean()

    right = (farthest_positive - nearest_negative + margin)[has_positive]
    return [
        (
            loss(distances.masked_fill(~is_positive, inf).amin(1), nearest_negative),
            "you took the *nearest* positive: batch-hard takes the hardest positive, the "
            "*farthest* one (the maximum over the anchor's positives)",
        ),
        (
            loss(distances.masked_fill(~same, inf).amin(1), nearest_negative),
            "you took the nearest sample of the anchor's class, which is the anchor itself at "
            "distance 0: batch-hard takes the *farthest* positive, and an anchor is never its "
            "own positive",
        ),
        (
            loss(farthest_positive, distances.amin(1)),
            "take the minimum over the anchor's *negatives* only (a different label): over all "
            "samples the minimum is the anchor itself, at distance 0",
        ),
        (
            loss(farthest_positive, distances.masked_fill(eye, inf).amin(1)),
            "take the minimum over the anchor's *negatives* only (a different label): the "
            "nearest other sample is often a positive",
        ),
        (
            loss(nearest_negative, farthest_positive),
            "positive and negative are swapped: the loss is max(0, d(a, p) − d(a, n) + margin) "
            "with the farthest positive p and the nearest negative n",
        ),
        (
            loss(
                distances.masked_fill(~is_negative, 0).amax(1),
                distances.masked_fill(~is_positive, inf).amin(1),
            ),
            "positive and negative are swapped: take the farthest *positive* and the nearest "
            "*negative*",
        ),
        (
            right.mean(),
            "apply the hinge max(0, ·) to each anchor's triplet before averaging: an anchor "
            "whose hardest negative is already far enough should cost 0, not less",
        ),
        (
            right.clamp(min=0).sum(),
            "average over the anchors (.mean()), don't sum",
        ),
        (
            right.clamp(min=0).sum() / (right > 0).sum().clamp(min=1),
            "average over *all* anchors, zero ones included (Hermans et al.); averaging only the "
            "non-zero ones is pytorch-metric-learning's default, not this exercise's",
        ),
        (
            loss(distances.masked_fill(~same, 0).amax(1), nearest_negative, slice(None)),
            "an anchor is not its own positive: exclude the diagonal from the positives, and "
            "leave anchors with no other image of their class out of the mean",
        ),
        (
            right.clamp(min=0).sum() / len(labels),
            "an anchor with no positive in the batch has no triplet: leave it out of the mean "
            "instead of counting it as 0",
        ),
    ]


def check_batch_hard(fn: Callable) -> bool:
    """Check ``fn(distances, labels, margin=0.2)``: the batch-hard loss (notebook 04).

    ``distances`` is the (B, B) matrix of a batch and ``labels`` its (B,) class
    ids; the result is the mean over anchors of max(0, farthest positive −
    nearest negative + margin), over the anchors that have a positive.
    """

    def value_case(seed: int, margin: float, singleton: bool = False):
        def case() -> str | None:
            distances, labels = _pk_distances(seed, singleton=singleton)
            got = fn(distances.clone(), labels.clone(), margin=margin)
            expected = batch_hard_from_distances(distances, labels, margin)
            hint = diagnose(
                got, expected, "the loss", _batch_hard_mistakes(distances, labels, margin)
            )
            if hint and singleton and "NaN" in hint:
                hint = (
                    "the loss is NaN or infinite: an anchor alone in its class has no positive, "
                    "so its maximum over positives is empty; leave such anchors out of the mean"
                )
            return hint

        return case

    def returns_a_differentiable_number() -> str | None:
        distances, labels = _pk_distances(0)
        got = fn(distances.requires_grad_().clone(), labels.clone(), margin=0.2)
        return scalar_hint(got, "the loss")

    def margin_is_used() -> str | None:
        distances, labels = _pk_distances(3)
        got = fn(distances.clone(), labels.clone(), margin=0.5)
        expected = batch_hard_from_distances(distances, labels, 0.5)
        fixed = batch_hard_from_distances(distances, labels, 0.2)
        if isinstance(got, torch.Tensor) and torch.allclose(got.double(), fixed, atol=1e-6):
            return "use the margin argument instead of a fixed 0.2"
        return diagnose(got, expected, "the loss", _batch_hard_mistakes(distances, labels, 0.5))

    return run_checks(
        "batch-hard loss",
        [
            ("returning one differentiable number", returns_a_differentiable_number),
            ("a P×K batch of 4 classes × 6 images, shuffled", value_case(1, 0.2)),
            ("another P×K batch", value_case(2, 0.2)),
            ("another margin (0.5)", margin_is_used),
            (
                "a batch with one image alone in its class (margin 0.5)",
                value_case(4, 0.5, singleton=True),
            ),
        ],
    )
