"""Checker of notebook 01 (distance matrix): accept loop-free answers, name each mistake."""

import pytest
import torch

from metric_course.exercises import (
    check_pairwise_distances,
)


def broadcast_distances(x):
    return (x[:, None, :] - x[None, :, :]).norm(dim=-1)


def expansion_distances(x):
    norms = x.pow(2).sum(1)
    return (norms[:, None] + norms[None, :] - 2 * x @ x.T).clamp(min=0).sqrt()


def expansion_without_clamp(x):
    norms = x.pow(2).sum(1)
    return (norms[:, None] + norms[None, :] - 2 * x @ x.T).sqrt()


def looping_distances(x):
    out = torch.zeros(len(x), len(x), dtype=x.dtype)
    for i in range(len(x)):
        for j in range(len(x)):
            out[i, j] = (x[i] - x[j]).norm()
    return out


def cdist_distances(x):
    return torch.cdist(x, x)


@pytest.mark.parametrize("right", [broadcast_distances, expansion_distances, cdist_distances])
def test_pairwise_distances_accepts_loop_free_answers(right, capsys):
    assert check_pairwise_distances(right) is True
    assert "✅ pairwise distance matrix" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (lambda x: (x[:, None, :] - x[None, :, :]).pow(2).sum(-1), "*squared* distances"),
        (lambda x: x[:, None, :] - x[None, :, :], "summed over the last axis"),
        (lambda x: x @ x.T, "similarity"),
        (
            lambda x: (
                (x.pow(2).sum(1)[:, None] + x.pow(2).sum(1)[None, :] + 2 * x @ x.T)
                .clamp(min=0)
                .sqrt()
            ),
            "check the sign",
        ),
        (lambda x: (x[:, None, :] - x[None, :, :]).abs().sum(-1), "Manhattan"),
        (
            lambda x: 1 - torch.nn.functional.cosine_similarity(x[:, None], x[None], dim=-1),
            "cosine distance",
        ),
        (looping_distances, "Python loop"),
        (expansion_without_clamp, "Clamp"),
        (lambda x: x.sum(), "shape"),
    ],
)
def test_pairwise_distances_names_the_mistake(wrong, hint, capsys):
    assert check_pairwise_distances(wrong) is False
    out = capsys.readouterr().out
    assert "❌ pairwise distance matrix" in out
    assert hint in out
