"""Checkers of notebook 02 (contrastive loss, threshold at a FAR): accept answers, name mistakes."""

import math

import numpy as np
import pytest
import torch

from metric_course.exercises import (
    check_contrastive_loss,
    check_threshold_at_far,
)
from metric_course.losses import contrastive_loss


def reference_contrastive(emb_a, emb_b, y, margin=1.0):
    d = (emb_a - emb_b).norm(dim=1)
    return ((1 - y) * 0.5 * d**2 + y * 0.5 * (margin - d).clamp(min=0) ** 2).mean()


def sqrt_contrastive(emb_a, emb_b, y, margin=1.0):
    d = (emb_a - emb_b).pow(2).sum(1).sqrt()
    return ((1 - y) * 0.5 * d**2 + y * 0.5 * (margin - d).clamp(min=0) ** 2).mean()


def make_wrong(similar, dissimilar, reduce=torch.mean, swap=False, fixed_margin=None):
    def loss(emb_a, emb_b, y, margin=1.0):
        margin = fixed_margin if fixed_margin is not None else margin
        d = (emb_a - emb_b).norm(dim=1)
        labels = 1 - y if swap else y
        return reduce((1 - labels) * similar(d, margin) + labels * dissimilar(d, margin))

    return loss


def half_square(d, m):
    return 0.5 * d**2


def half_hinge_square(d, m):
    return 0.5 * (m - d).clamp(min=0) ** 2


@pytest.mark.parametrize("right", [reference_contrastive, contrastive_loss])
def test_contrastive_accepts_the_reference(right, capsys):
    assert check_contrastive_loss(right) is True
    assert "✅ contrastive loss" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (make_wrong(half_square, half_hinge_square, swap=True), "Y = 0 means"),
        (
            make_wrong(lambda d, m: d**2, lambda d, m: (m - d).clamp(min=0) ** 2),
            "forgot the ½ in front of both",
        ),
        (make_wrong(lambda d, m: d**2, half_hinge_square), "similar term needs its ½"),
        (make_wrong(half_square, lambda d, m: (m - d).clamp(min=0) ** 2), "dissimilar term"),
        (
            make_wrong(half_square, lambda d, m: 0.5 * (m**2 - d**2).clamp(min=0)),
            "square after the hinge",
        ),
        (
            make_wrong(half_square, lambda d, m: 0.5 * (m - d**2).clamp(min=0) ** 2),
            "square the *difference*",
        ),
        (make_wrong(half_square, lambda d, m: 0.5 * (m - d) ** 2), "must cost nothing"),
        (
            make_wrong(lambda d, m: 0.5 * d, lambda d, m: 0.5 * (m - d).clamp(min=0)),
            "square both terms",
        ),
        (make_wrong(half_square, half_hinge_square, reduce=torch.sum), "don't sum"),
        (make_wrong(half_square, half_hinge_square, fixed_margin=1.0), "margin argument"),
        (make_wrong(half_square, half_hinge_square, reduce=lambda x: x), "one number"),
        (sqrt_contrastive, "gradient is NaN"),
        (lambda a, b, y, margin=1.0: torch.tensor(0.5), "not connected"),
    ],
)
def test_contrastive_names_the_mistake(wrong, hint, capsys):
    assert check_contrastive_loss(wrong) is False
    out = capsys.readouterr().out
    assert "❌ contrastive loss" in out
    assert hint in out


def reference_threshold(distances, same, target_far):
    impostors = np.sort(distances[~same])
    allowed = math.floor(target_far * len(impostors))
    if allowed == len(impostors):
        return float(distances.max())
    return float(np.nextafter(impostors[allowed], -np.inf))


def largest_accepted_impostor(distances, same, target_far):
    impostors = np.sort(distances[~same])
    allowed = math.floor(target_far * len(impostors))
    return float(impostors[allowed - 1]) if allowed else float(impostors[0]) - 1e-9


@pytest.mark.parametrize(
    "right",
    [
        reference_threshold,
        largest_accepted_impostor,
        lambda d, s, t: torch.tensor(reference_threshold(d, s, t), dtype=torch.float64),
        lambda d, s, t: np.array([reference_threshold(d, s, t)]),
    ],
)
def test_threshold_accepts_any_threshold_in_the_right_gap(right, capsys):
    assert check_threshold_at_far(right) is True
    assert "✅ threshold" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (
            lambda d, s, t: float(np.sort(d[~s])[math.floor(t * (~s).sum())]),
            "exactly on an impostor",
        ),
        (lambda d, s, t: float(np.quantile(d[~s], 1 - t)), "(1 − target) quantile"),
        (lambda d, s, t: float(np.quantile(d[s], t)), "you used the similar pairs"),
        (lambda d, s, t: float(np.quantile(d, t)), "you used all pairs"),
        (lambda d, s, t: 0.0, "raise the threshold"),
        (lambda d, s, t: float(d.max()), "lower the threshold"),
        (lambda d, s, t: np.sort(d[~s]), "one number"),
        (lambda d, s, t: float("nan"), "finite"),
    ],
)
def test_threshold_names_the_mistake(wrong, hint, capsys):
    assert check_threshold_at_far(wrong) is False
    out = capsys.readouterr().out
    assert "❌ threshold" in out
    assert hint in out


def test_threshold_reference_agrees_with_the_package():
    from metric_course.evaluation import threshold_at_far

    assert check_threshold_at_far(threshold_at_far)
