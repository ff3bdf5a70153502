"""Notebook 04's exercises: batch-hard and batch-all from a distance matrix, with masks.

:func:`check_batch_hard` and :func:`check_batch_all` run the student's loss on
shuffled P×K batches (and on one with an image alone in its class) against
:func:`batch_hard_from_distances` and :func:`batch_all_from_distances`, the
package's losses on a given matrix, and reject Python loops: the point of the
notebook is reading every triplet out of one matrix with boolean masks.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..distances import pairwise_distances
from ..losses import reduce
from ..mining import hardest_triplets, pair_masks, valid_triplet_mask
from .checking import diagnose, loop_hint, run_checks, scalar_hint

_USE_MASKS = (
    "Use masks over the whole matrix: labels[:, None] == labels[None, :] marks every pair of a "
    "class at once"
)


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


def batch_all_from_distances(
    distances: torch.Tensor, labels: torch.Tensor, margin: float = 0.2
) -> torch.Tensor:
    """Batch-all loss from a distance matrix: the reference of :func:`check_batch_all`.

    The mean over the active triplets (a, p, n), those with
    d(a, p) − d(a, n) + margin > 0, of that loss; 0 when none is active. The
    same number as ``losses.batch_all_triplet_loss`` on the embeddings behind
    ``distances`` (which gets it without the B × B × B tensor built here).
    """
    per_triplet = distances[:, :, None] - distances[:, None, :] + margin
    active = valid_triplet_mask(labels) & (per_triplet > 0)
    return per_triplet[active].sum() / max(int(active.sum()), 1)


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


def _masks(labels: torch.Tensor):
    """(is_positive, is_negative, same, eye), each (B, B) bool."""
    eye = torch.eye(len(labels), dtype=torch.bool)
    same = labels[:, None] == labels[None, :]
    return same & ~eye, ~same, same, eye


def _batch_hard_mistakes(distances, labels, margin: float):
    """Results of the typical wrong batch-hard losses, each with its hint."""
    inf = float("inf")
    is_positive, is_negative, same, eye = _masks(labels)
    has_positive = is_positive.any(1)
    farthest_positive = distances.masked_fill(~is_positive, 0).amax(1)
    nearest_positive = distances.masked_fill(~is_positive, inf).amin(1)
    nearest_negative = distances.masked_fill(~is_negative, inf).amin(1)
    farthest_negative = distances.masked_fill(~is_negative, 0).amax(1)

    def loss(hardest_positive, hardest_negative, anchors=has_positive):
        return (hardest_positive - hardest_negative + margin)[anchors].clamp(min=0).mean()

    right = (farthest_positive - nearest_negative + margin)[has_positive]
    every_anchor = torch.ones_like(has_positive)
    return [
        (
            loss(nearest_positive, farthest_negative),
            "you took the *easiest* triplet, the nearest positive and the farthest negative "
            "(or the anchor itself as its positive, at distance 0): batch-hard takes the "
            "hardest, the *farthest* positive (never the anchor itself) and the *nearest* "
            "negative",
        ),
        (
            loss(distances.masked_fill(~same, inf).amin(1), nearest_negative),
            "you took the nearest sample of the anchor's class, which is the anchor itself at "
            "distance 0: batch-hard takes the *farthest* positive, and an anchor is never its "
            "own positive",
        ),
        (
            loss(nearest_positive, nearest_negative),
            "you took the *nearest* positive: batch-hard takes the hardest positive, the "
            "*farthest* one (the maximum over the anchor's positives)",
        ),
        (
            loss(farthest_positive, farthest_negative),
            "you took the *farthest* negative: batch-hard takes the hardest negative, the "
            "*nearest* one (the minimum over the anchor's negatives, the labels that differ)",
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
            loss(farthest_negative, nearest_positive),
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
            "average over *all* anchors that have a positive, zero ones included (Hermans et "
            "al.); averaging only the non-zero ones is pytorch-metric-learning's default, not "
            "this exercise's",
        ),
        (
            right.clamp(min=0).sum() / len(labels),
            "an image alone in its class has no positive, so no triplet: leave it out of the "
            "mean (average over the anchors that have a positive, is_positive.any(dim=1)), "
            "instead of counting it as 0",
        ),
        (
            loss(farthest_positive, nearest_negative, every_anchor),
            "an image alone in its class has no positive, so no triplet: leave it out of the "
            "mean (average over the anchors that have a positive, is_positive.any(dim=1)), "
            "instead of counting it as 0",
        ),
    ]


def check_batch_hard(fn: Callable) -> bool:
    """Check ``fn(distances, labels, margin=0.2)``: the batch-hard loss (notebook 04).

    ``distances`` is the (B, B) matrix of a batch and ``labels`` its (B,) class
    ids; the result is the mean, over the anchors that have a positive, of
    max(0, farthest positive − nearest negative + margin), with masks, no loop.
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
            ("no Python loops", lambda: loop_hint(fn, _USE_MASKS)),
        ],
    )


def _batch_all_mistakes(distances, labels, margin: float):
    """Results of the typical wrong batch-all losses, each with its hint."""
    is_positive, is_negative, same, eye = _masks(labels)
    gaps = distances[:, :, None] - distances[:, None, :] + margin  # [a, p, n]
    valid = is_positive[:, :, None] & is_negative[:, None, :]

    def active_mean(per_triplet, which):
        active = which & (per_triplet > 0)
        return per_triplet[active].sum() / active.sum().clamp(min=1)

    return [
        (
            gaps.clamp(min=0)[valid].mean(),
            "you averaged over every valid triplet, zeros included: batch-all averages over "
            "the *active* triplets only (loss > 0), N₊ in the formula, so that the many easy "
            "ones do not dilute the signal",
        ),
        (
            active_mean(-gaps + 2 * margin, valid),
            "positive and negative are swapped: with D[:, :, None] − D[:, None, :] the "
            "positive p runs along the second axis and the negative n along the third, so the "
            "valid mask is is_positive[:, :, None] & is_negative[:, None, :]",
        ),
        (
            active_mean(gaps, same[:, :, None] & is_negative[:, None, :]),
            "an anchor is not its own positive: leave the diagonal out of the positives "
            "(same label *and* a ≠ p); the triplet (a, a, n) has d(a, a) = 0",
        ),
        (
            active_mean(gaps, is_positive[:, :, None] & ~eye[:, None, :]),
            "a negative must have a *different* label from the anchor: mask the third axis "
            "with labels[:, None] != labels[None, :], not only n ≠ a",
        ),
        (
            active_mean(gaps, torch.ones_like(valid)),
            "only valid triplets count: p a positive of a (same label, not a itself) and n a "
            "negative (another label); mask the (B, B, B) tensor before averaging",
        ),
        (
            gaps[valid].mean(),
            "apply the hinge max(0, ·) to each triplet, then average over the active ones "
            "(loss > 0)",
        ),
        (
            gaps.clamp(min=0)[valid].sum(),
            "average over the active triplets (divide by how many there are), don't sum",
        ),
        (
            gaps.clamp(min=0)[valid].sum() / len(labels),
            "divide by the number of active triplets N₊, not by the batch size",
        ),
    ]


def check_batch_all(fn: Callable) -> bool:
    """Check ``fn(distances, labels, margin=0.2)``: the batch-all loss (notebook 04).

    ``distances`` is the (B, B) matrix of a batch and ``labels`` its (B,) class
    ids; the result is the mean, over the active triplets (a, p, n) of the
    batch (p a positive of a, n a negative, loss > 0), of
    max(0, d(a, p) − d(a, n) + margin), and 0 when no triplet is active; with
    masks over a (B, B, B) tensor, no Python loop.
    """

    def value_case(seed: int, margin: float, singleton: bool = False):
        def case() -> str | None:
            distances, labels = _pk_distances(seed, singleton=singleton)
            got = fn(distances.clone(), labels.clone(), margin=margin)
            expected = batch_all_from_distances(distances, labels, margin)
            mistakes = _batch_all_mistakes(distances, labels, margin)
            if margin != 0.2:
                fixed = batch_all_from_distances(distances, labels, 0.2)
                mistakes.append((fixed, "use the margin argument instead of a fixed 0.2"))
            return diagnose(got, expected, "the loss", mistakes)

        return case

    def returns_a_differentiable_number() -> str | None:
        distances, labels = _pk_distances(0)
        got = fn(distances.requires_grad_().clone(), labels.clone(), margin=0.2)
        return scalar_hint(got, "the loss")

    def no_active_triplet() -> str | None:
        distances, labels = _pk_distances(5, classes=3, per_class=2)
        same = labels[:, None] == labels[None, :]
        distances = torch.where(same, 0.1, 1.0).double().fill_diagonal_(0)  # every triplet easy
        got = fn(distances.clone(), labels.clone(), margin=0.2)
        if isinstance(got, torch.Tensor) and got.numel() == 1 and not torch.isfinite(got).all():
            return (
                "the loss is NaN when no triplet is active: the mean then divides 0 by 0. "
                "Return 0 in that case (divide by the count clamped at 1, .clamp(min=1))"
            )
        return diagnose(got, torch.zeros((), dtype=torch.float64), "the loss", [])

    return run_checks(
        "batch-all loss",
        [
            ("returning one differentiable number", returns_a_differentiable_number),
            ("a P×K batch of 4 classes × 6 images, shuffled", value_case(1, 0.2)),
            ("another P×K batch, margin 0.5", value_case(2, 0.5)),
            (
                "a batch with one image alone in its class (margin 0.5)",
                value_case(4, 0.5, singleton=True),
            ),
            (
                "a batch whose triplets are all easy (the loss must be 0, not NaN)",
                no_active_triplet,
            ),
            ("no Python loops", lambda: loop_hint(fn, _USE_MASKS)),
        ],
    )
