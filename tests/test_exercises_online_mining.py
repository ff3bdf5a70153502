"""Checkers of notebook 04 (batch-hard, batch-all): accept the reference, name each mistake.

Each wrong answer below is one a student is likely to write; the checker must reject it with
the hint that names that mistake, and never raise.
"""

import pytest
import torch

from metric_course import losses
from metric_course.distances import pairwise_distances
from metric_course.exercises import (
    batch_all_from_distances,
    batch_hard_from_distances,
    check_batch_all,
    check_batch_hard,
    solutions,
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
    assert check_batch_hard(solutions.my_batch_hard)


def batch_hard_with_loops(distances, labels, margin=0.2):
    """Right numbers, one anchor at a time: what the exercise asks not to write."""
    per_anchor = []
    for a in range(len(labels)):
        positive = (labels == labels[a]) & (torch.arange(len(labels)) != a)
        if positive.any():
            hardest_positive = distances[a][positive].max()
            hardest_negative = distances[a][labels != labels[a]].min()
            per_anchor.append((hardest_positive - hardest_negative + margin).clamp(min=0))
    return torch.stack(per_anchor).mean()


def _batch_hard_variant(
    positive_pick="farthest",
    negative_pick="nearest",
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
        if negative_pick == "nearest":
            hardest_negative = distances.masked_fill(~candidates, float("inf")).amin(1)
        else:
            hardest_negative = distances.masked_fill(~candidates, 0).amax(1)
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
            "the anchor itself as its positive",
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
            "leave it out of the mean",
        ),
        (_batch_hard_variant(drop_lonely=False), "instead of counting it as 0"),
        (_lonely_counted_as_zero, "instead of counting it as 0"),
        (_batch_hard_variant(negative_pick="farthest"), "you took the *farthest* negative"),
        (
            _batch_hard_variant(positive_pick="nearest", negative_pick="farthest"),
            "the *easiest* triplet",
        ),
        (batch_hard_with_loops, "uses a Python loop"),
        (_lonely_gives_nan, "NaN or infinite"),
        (_loop_with_python_floats, "should be a torch.Tensor"),
    ],
)
def test_batch_hard_checker_names_each_typical_mistake(wrong, hint, capsys):
    assert not check_batch_hard(wrong)
    out = capsys.readouterr().out
    assert "❌ batch-hard loss" in out and hint in out, out


# --------------------------------------------------------------------------- batch-all


def batch_all_by_loop(distances, labels, margin=0.2):
    """Ground truth: every triplet, one at a time."""
    active = []
    for a in range(len(labels)):
        for p in range(len(labels)):
            for n in range(len(labels)):
                if p != a and labels[p] == labels[a] and labels[n] != labels[a]:
                    loss = float(distances[a, p] - distances[a, n]) + margin
                    if loss > 0:
                        active.append(loss)
    return torch.tensor(sum(active) / max(len(active), 1), dtype=torch.float64)


def test_batch_all_reference_equals_a_loop_and_the_package_loss():
    distances, labels = _pk_distances(1, singleton=True)
    for margin in (0.05, 0.5):
        expected = batch_all_by_loop(distances, labels, margin)
        assert torch.allclose(batch_all_from_distances(distances, labels, margin), expected)
    generator = torch.Generator().manual_seed(0)
    embeddings = torch.nn.functional.normalize(torch.randn(24, 5, generator=generator), dim=1)
    labels = torch.randint(0, 4, (24,), generator=generator)
    expected = losses.batch_all_triplet_loss(embeddings, labels, margin=0.3)
    got = batch_all_from_distances(pairwise_distances(embeddings), labels, 0.3)
    assert torch.allclose(got, expected, atol=1e-5)


def test_batch_all_checker_accepts_the_solution(capsys):
    assert check_batch_all(solutions.my_batch_all)
    assert check_batch_all(batch_all_from_distances)
    assert "✅ batch-all loss: correct" in capsys.readouterr().out


def _batch_all_variant(
    zeros_included=False,
    swapped=False,
    self_positive=False,
    any_negative=False,
    hinge=True,
    reduce="active",
    fixed_margin=None,
):
    """A batch-all loss with one of the typical mistakes switched on."""

    def loss(distances, labels, margin=0.2):
        margin = fixed_margin if fixed_margin is not None else margin
        positive, negative, same, eye = _masks(distances, labels)
        if self_positive:
            positive = same
        if any_negative:
            negative = ~eye
        gaps = distances[:, :, None] - distances[:, None, :] + margin
        if swapped:
            gaps = distances[:, None, :] - distances[:, :, None] + margin
        per_triplet = gaps.clamp(min=0) if hinge else gaps
        valid = positive[:, :, None] & negative[:, None, :]
        if reduce == "sum":
            return per_triplet[valid].sum()
        if reduce == "batch":
            return per_triplet[valid].sum() / len(labels)
        if zeros_included or not hinge:
            return per_triplet[valid].mean()
        active = valid & (per_triplet > 0)
        return per_triplet[active].sum() / active.sum().clamp(min=1)

    return loss


def batch_all_nan_when_all_easy(distances, labels, margin=0.2):
    positive, negative, _, _ = _masks(distances, labels)
    per_triplet = (distances[:, :, None] - distances[:, None, :] + margin).clamp(min=0)
    active = positive[:, :, None] & negative[:, None, :] & (per_triplet > 0)
    return per_triplet[active].mean()


def batch_all_with_loops(distances, labels, margin=0.2):
    """Right numbers, one anchor-positive pair at a time: what the exercise asks not to write."""
    active = []
    for a in range(len(labels)):
        for p in range(len(labels)):
            if p != a and labels[p] == labels[a]:
                gaps = distances[a, p] - distances[a][labels != labels[a]] + margin
                active.append(gaps[gaps > 0])
    active = torch.cat(active)
    return active.sum() / max(len(active), 1)


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (_batch_all_variant(zeros_included=True), "the *active* triplets only"),
        (_batch_all_variant(swapped=True), "positive and negative are swapped"),
        (_batch_all_variant(self_positive=True), "an anchor is not its own positive"),
        (_batch_all_variant(any_negative=True), "a negative must have a *different* label"),
        (_batch_all_variant(hinge=False), "apply the hinge"),
        (_batch_all_variant(reduce="sum"), "don't sum"),
        (_batch_all_variant(reduce="batch"), "not by the batch size"),
        (_batch_all_variant(fixed_margin=0.2), "instead of a fixed 0.2"),
        (batch_all_nan_when_all_easy, "NaN when no triplet is active"),
        (batch_all_with_loops, "uses a Python loop"),
        (lambda distances, labels, margin=0.2: 0.0, "should be a torch.Tensor"),
    ],
)
def test_batch_all_checker_names_each_typical_mistake(wrong, hint, capsys):
    assert not check_batch_all(wrong)
    out = capsys.readouterr().out
    assert "❌ batch-all loss" in out and hint in out, out
