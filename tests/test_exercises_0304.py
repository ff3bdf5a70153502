"""Checkers of notebooks 03 (triplet loss) and 04 (batch-hard): accept the reference, name mistakes.

Each wrong answer below is one a student is likely to write; the checker must reject it with
the hint that names that mistake, and never raise.
"""

import pytest
import torch

from metric_course import losses
from metric_course.distances import pairwise_distances
from metric_course.exercises import (
    _pk_distances,
    _triplet_batch,
    batch_hard_from_distances,
    check_batch_hard,
    check_triplet_loss,
)

# --------------------------------------------------------------------------- triplet loss


def _distances(a, p, n, squared):
    d_ap, d_an = (a - p).norm(dim=1), (a - n).norm(dim=1)
    return (d_ap**2, d_an**2) if squared else (d_ap, d_an)


def reference_triplet(a, p, n, margin=0.2, squared=False):
    d_ap, d_an = _distances(a, p, n, squared)
    return (d_ap - d_an + margin).clamp(min=0).mean()


def test_triplet_batches_mix_active_and_easy_triplets():
    a, p, n = _triplet_batch(1)
    gaps = (a - n).norm(dim=1) - (a - p).norm(dim=1)
    assert (gaps < 0.2).any() and (gaps >= 0.2).any()


def test_triplet_checker_accepts_the_reference_and_the_package(capsys):
    assert check_triplet_loss(reference_triplet)
    assert "✅ triplet loss: correct" in capsys.readouterr().out
    assert check_triplet_loss(losses.triplet_loss)


def test_triplet_checker_reports_an_unsolved_exercise(capsys):
    def unsolved(a, p, n, margin=0.2, squared=False):
        raise NotImplementedError

    assert not check_triplet_loss(unsolved)
    assert "⏳" in capsys.readouterr().out


def _no_hinge(a, p, n, margin=0.2, squared=False):
    d_ap, d_an = _distances(a, p, n, squared)
    return (d_ap - d_an + margin).mean()


def _swapped(a, p, n, margin=0.2, squared=False):
    return reference_triplet(a, n, p, margin, squared)


def _always_squared(a, p, n, margin=0.2, squared=False):
    return reference_triplet(a, p, n, margin, squared=True)


def _never_squared(a, p, n, margin=0.2, squared=False):
    return reference_triplet(a, p, n, margin, squared=False)


def _summed(a, p, n, margin=0.2, squared=False):
    d_ap, d_an = _distances(a, p, n, squared)
    return (d_ap - d_an + margin).clamp(min=0).sum()


def _mean_over_active(a, p, n, margin=0.2, squared=False):
    d_ap, d_an = _distances(a, p, n, squared)
    per_triplet = (d_ap - d_an + margin).clamp(min=0)
    return per_triplet.sum() / (per_triplet > 0).sum()


def _no_margin(a, p, n, margin=0.2, squared=False):
    return reference_triplet(a, p, n, 0.0, squared)


def _fixed_margin(a, p, n, margin=0.2, squared=False):
    return reference_triplet(a, p, n, 0.2, squared)


def _per_triplet(a, p, n, margin=0.2, squared=False):
    d_ap, d_an = _distances(a, p, n, squared)
    return (d_ap - d_an + margin).clamp(min=0)


def _detached(a, p, n, margin=0.2, squared=False):
    return torch.tensor(reference_triplet(a, p, n, margin, squared).item())


def _sqrt_of_sum(a, p, n, margin=0.2, squared=False):
    d_ap = (a - p).pow(2).sum(1)
    d_an = (a - n).pow(2).sum(1)
    if not squared:
        d_ap, d_an = d_ap.sqrt(), d_an.sqrt()
    return (d_ap - d_an + margin).clamp(min=0).mean()


def _crashes(a, p, n, margin=0.2, squared=False):
    return (a - p).norm(dim=2)


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (_no_hinge, "without the hinge"),
        (_swapped, "positive and negative are swapped"),
        (_always_squared, "you used squared distances"),
        (_never_squared, "you used plain distances"),
        (_summed, "don't sum"),
        (_mean_over_active, "zero ones included"),
        (_no_margin, "add the margin"),
        (_fixed_margin, "instead of a fixed 0.2"),
        (_per_triplet, "one number"),
        (_detached, "not connected to the inputs"),
        (_sqrt_of_sum, "gradient is NaN"),
        (_crashes, "IndexError"),
    ],
)
def test_triplet_checker_names_each_typical_mistake(wrong, hint, capsys):
    assert not check_triplet_loss(wrong)
    out = capsys.readouterr().out
    assert "❌ triplet loss" in out and hint in out, out


# --------------------------------------------------------------------------- batch-hard


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


def test_batch_hard_checker_reports_an_unsolved_exercise(capsys):
    def unsolved(distances, labels, margin=0.2):
        raise NotImplementedError

    assert not check_batch_hard(unsolved)
    assert "⏳" in capsys.readouterr().out
