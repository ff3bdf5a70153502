"""Checker of notebook 03 (triplet loss): accept the reference, name each typical mistake.

Each wrong answer below is one a student is likely to write; the checker must reject it with
the hint that names that mistake, and never raise.
"""

import pytest
import torch

from metric_course import losses
from metric_course.exercises import (
    check_triplet_loss,
)
from metric_course.exercises.triplets import _triplet_batch


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
    ],
)
def test_triplet_checker_names_each_typical_mistake(wrong, hint, capsys):
    assert not check_triplet_loss(wrong)
    out = capsys.readouterr().out
    assert "❌ triplet loss" in out and hint in out, out
