"""Checker of notebook 01 (the matrix-product distance): accept it, name each mistake."""

import pytest
import torch

from metric_course.exercises import check_pairwise_distances, solutions


def squared_from_the_identity(x):
    norms = x.pow(2).sum(1)
    return norms[:, None] + norms[None, :] - 2 * x @ x.T


def clamped_root(x):
    return squared_from_the_identity(x).clamp(min=0).sqrt()


def safe_root(x):
    squared = squared_from_the_identity(x).clamp(min=0)
    positive = squared > 0
    return torch.where(positive, torch.where(positive, squared, 1.0).sqrt(), 0.0)


def addmm_version(x):
    norms = (x * x).sum(dim=1, keepdim=True)
    squared = torch.addmm(norms + norms.T, x, x.T, alpha=-2).clamp(min=0)
    return squared.clamp(min=1e-18).sqrt() * (squared > 0)


@pytest.mark.parametrize(
    "right", [solutions.distance_matrix, clamped_root, safe_root, addmm_version]
)
def test_pairwise_distances_accepts_matrix_product_answers(right, capsys):
    assert check_pairwise_distances(right) is True, capsys.readouterr().out
    assert "✅ pairwise distance matrix" in capsys.readouterr().out


def without_clamp(x):
    return squared_from_the_identity(x).sqrt()


def diagonal_zeroed_after_the_root(x):
    distances = squared_from_the_identity(x).abs().sqrt()  # no NaN in the values...
    return distances * (1 - torch.eye(len(x), dtype=x.dtype))  # ...but ∞ × 0 in the gradient


def where_around_the_root(x):
    squared = squared_from_the_identity(x)
    return torch.where(squared > 0, squared.sqrt(), 0.0)


def detached(x):
    return clamped_root(x.detach())


def looping_distances(x):
    out = torch.zeros(len(x), len(x), dtype=x.dtype)
    for i in range(len(x)):
        for j in range(len(x)):
            out[i, j] = (x[i] - x[j]).norm()
    return out


def broadcast_distances(x):
    return (x[:, None, :] - x[None, :, :]).norm(dim=-1)


def cdist_distances(x):
    return torch.cdist(x, x)


def cross_term_once(x):
    norms = x.pow(2).sum(1)
    return (norms[:, None] + norms[None, :] - x @ x.T).clamp(min=0).sqrt()


def one_norm_twice(x):
    norms = x.pow(2).sum(1)
    return (2 * norms[:, None] - 2 * x @ x.T).clamp(min=0).sqrt()


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (lambda x: squared_from_the_identity(x).clamp(min=0), "*squared* distances"),
        (lambda x: x[:, None, :] - x[None, :, :], "(B, B, d) differences"),
        (lambda x: x @ x.T, "similarity"),
        (
            lambda x: (
                (x.pow(2).sum(1)[:, None] + x.pow(2).sum(1)[None, :] + 2 * x @ x.T)
                .clamp(min=0)
                .sqrt()
            ),
            "check the sign",
        ),
        (cross_term_once, "the cross term counts twice"),
        (one_norm_twice, "along the rows"),
        (lambda x: (x[:, None, :] - x[None, :, :]).abs().sum(-1), "Manhattan"),
        (
            lambda x: 1 - torch.nn.functional.cosine_similarity(x[:, None], x[None], dim=-1),
            "cosine distance",
        ),
        (looping_distances, "Python loop"),
        (broadcast_distances, "builds a (B, B, d) tensor"),
        (cdist_distances, "cdist(...) computes the distances for you"),
        (without_clamp, "Clamp the squared distances at 0"),
        (diagonal_zeroed_after_the_root, "the gradient is NaN or infinite where a distance is 0"),
        (where_around_the_root, "torch.where(s > 0, s.sqrt(), 0.0) is not enough"),
        (detached, "carry no gradient"),
        (lambda x: x.sum(), "shape"),
    ],
)
def test_pairwise_distances_names_the_mistake(wrong, hint, capsys):
    assert check_pairwise_distances(wrong) is False
    out = capsys.readouterr().out
    assert "❌ pairwise distance matrix" in out
    assert hint in out, out
