"""Checker of notebook 04 (batch-hard): accept the reference, name each typical mistake.

Each wrong answer below is one a student is likely to write; the checker must reject it with
the hint that names that mistake, and never raise.
"""

import pytest
import torch

from metric_course import losses
from metric_course.distances import pairwise_distances
from metric_course.exercises import (
    batch_hard_from_distances,
    check_batch_hard,
)
from metric_course.exercises.online_mining import _pk_distances


def test_reference_equals_the_package_batch_hard_loss():
    generator = torch.Generator().manual_seed(0)
    embeddings = torch.nn.functional.normalize(torch.randn(30, 5, generator=generator), dim=1)
    labels = torch.randint(0, 5, (30,), generator=generator)
    labels[0] = 9  # alone in its class: no positive
    for margin in (0.1, 0.5):
        expected = losses.batch_hard_triplet_loss(embeddings, labels, margin=margin)
        got = batch_hard_from_distances(pairwise_distances(embeddings), labels, margin)
        assert torch.allclose(got, expected, atol=1e-6)


def test_reference_equals_a_loop_over_anchors():
    distances, labels = _pk_distances(1, singleton=True)
    per_anchor = []
    for a in range(len(labels)):
        positives = [
            distances[a, p] for p in range(len(labels)) if p != a and labels[p] == labels[a]
        ]
        negatives = [distances[a, n] for n in range(len(labels)) if labels[n] != labels[a]]
        if positives and negatives:
            per_anchor.append(max(0.0, float(max(positives) - min(negatives)) + 0.2))
    expected = torch.tensor(sum(per_anchor) / len(per_anchor), dtype=torch.float64)
    assert torch.allclose(batch_hard_from_distances(distances, labels, 0.2), expected)


def test_pk_batches_are_shuffled_and_the_singleton_is_alone():
    _, labels = _pk_distances(1)
    assert not torch.equal(labels, labels.sort().values)
    _, labels = _pk_distances(4, singleton=True)
    assert (torch.bincount(labels) == 1).sum() == 1


def _masks(distances, labels):
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool)
    return same & ~eye, ~same, same, eye


def reference_batch_hard(distances, labels, margin=0.2):
    positive, negative, _, _ = _masks(distances, labels)
    hardest_positive = (distances * positive).amax(1)
    hardest_negative = distances.masked_fill(~negative, float("inf")).amin(1)
    has_positive = positive.any(1)
    return (hardest_positive - hardest_negative + margin).clamp(min=0)[has_positive].mean()


def test_batch_hard_checker_accepts_the_reference(capsys):
    assert check_batch_hard(reference_batch_hard)
    assert "✅ batch-hard loss: correct" in capsys.readouterr().out
    assert check_batch_hard(batch_hard_from_distances)


def _batch_hard_variant(
    positive_pick="farthest",
    negative_pool="negatives",
    hinge=True,
    reduce="mean",
    include_self_as_positive=False,
    drop_lonely=True,
    fixed_margin=None,
):
    """A batch-hard loss with one of the typical mistakes switched on."""

    def loss(distances, labels, margin=0.2):
        margin = fixed_margin if fixed_margin is not None else margin
        positive, negative, same, eye = _masks(distances, labels)
        pool = same if include_self_as_positive else positive
        if positive_pick == "farthest":
            hardest_positive = distances.masked_fill(~pool, 0).amax(1)
        else:
            hardest_positive = distances.masked_fill(~pool, float("inf")).amin(1)
        if negative_pool == "negatives":
            candidates = negative
        elif negative_pool == "all":
            candidates = torch.ones_like(negative)
        else:  # all others
            candidates = ~eye
        hardest_negative = distances.masked_fill(~candidates, float("inf")).amin(1)
        per_anchor = hardest_positive - hardest_negative + margin
        if hinge:
            per_anchor = per_anchor.clamp(min=0)
        keep = positive.any(1) if drop_lonely else torch.ones_like(positive.any(1))
        per_anchor = per_anchor[keep]
        if reduce == "sum":
            return per_anchor.sum()
        if reduce == "active":
            return per_anchor.sum() / (per_anchor > 0).sum()
        return per_anchor.mean()

    return loss


def _swapped_batch_hard(distances, labels, margin=0.2):
    positive, negative, _, _ = _masks(distances, labels)
    farthest_negative = distances.masked_fill(~negative, 0).amax(1)
    nearest_positive = distances.masked_fill(~positive, float("inf")).amin(1)
    has_positive = positive.any(1)
    return (farthest_negative - nearest_positive + margin).clamp(min=0)[has_positive].mean()


def _lonely_counted_as_zero(distances, labels, margin=0.2):
    positive, negative, _, _ = _masks(distances, labels)
    hardest_positive = distances.masked_fill(~positive, float("-inf")).amax(1)
    hardest_negative = distances.masked_fill(~negative, float("inf")).amin(1)
    return (hardest_positive - hardest_negative + margin).clamp(min=0).mean()


def _lonely_gives_nan(distances, labels, margin=0.2):
    positive, negative, _, _ = _masks(distances, labels)
    hardest_positive = torch.stack(
        [
            distances[a][positive[a]].max() if positive[a].any() else distances[a, a] / 0
            for a in range(len(labels))
        ]
    )
    hardest_negative = distances.masked_fill(~negative, float("inf")).amin(1)
    return (hardest_positive - hardest_negative + margin).clamp(min=0).mean()


def _loop_with_python_floats(distances, labels, margin=0.2):
    return reference_batch_hard(distances, labels, margin).detach().item()


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (_batch_hard_variant(positive_pick="nearest"), "the *nearest* positive"),
        (
            _batch_hard_variant(positive_pick="nearest", include_self_as_positive=True),
            "which is the anchor itself",
        ),
        (_batch_hard_variant(negative_pool="all"), "over all samples the minimum is the anchor"),
        (
            _batch_hard_variant(negative_pool="others"),
            "the nearest other sample is often a positive",
        ),
        (_swapped_batch_hard, "positive and negative are swapped"),
        (_batch_hard_variant(hinge=False), "apply the hinge"),
        (_batch_hard_variant(reduce="sum"), "don't sum"),
        (_batch_hard_variant(reduce="active"), "zero ones included"),
        (_batch_hard_variant(fixed_margin=0.2), "instead of a fixed 0.2"),
        (
            _batch_hard_variant(include_self_as_positive=True, drop_lonely=False),
            "an anchor is not its own positive",
        ),
        (_lonely_counted_as_zero, "instead of counting it as 0"),
        (_lonely_gives_nan, "NaN or infinite"),
        (_loop_with_python_floats, "should be a torch.Tensor"),
    ],
)
def test_batch_hard_checker_names_each_typical_mistake(wrong, hint, capsys):
    assert not check_batch_hard(wrong)
    out = capsys.readouterr().out
    assert "❌ batch-hard loss" in out and hint in out, out
