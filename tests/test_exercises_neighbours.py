"""Checker of notebook 06 (k nearest neighbours): accept the reference, name each typical mistake.

Each wrong answer below is one a student is likely to write; the checker must reject it with
the hint that names that mistake, and never raise.
"""

import pytest
import torch

from metric_course.exercises import check_k_nearest


def k_nearest_by_loop(embeddings, query, k):
    distances = [
        (float((embeddings[i] - embeddings[query]).norm()), i)
        for i in range(len(embeddings))
        if i != query
    ]
    return torch.tensor([i for _, i in sorted(distances)[:k]])


def k_nearest_topk(embeddings, query, k):
    distances = (embeddings - embeddings[query]).norm(dim=1)
    distances[query] = float("inf")
    return distances.topk(k, largest=False).indices


def includes_itself(embeddings, query, k):
    return (embeddings - embeddings[query]).norm(dim=1).topk(k, largest=False).indices


def farthest(embeddings, query, k):
    distances = (embeddings - embeddings[query]).norm(dim=1)
    distances[query] = float("inf")
    return distances.masked_fill(distances.isinf(), -1).topk(k).indices


def farthest_first(embeddings, query, k):
    return k_nearest_topk(embeddings, query, k).flip(0)


def returns_distances(embeddings, query, k):
    distances = (embeddings - embeddings[query]).norm(dim=1)
    distances[query] = float("inf")
    return distances.topk(k, largest=False).values


def test_k_nearest_checker_accepts_the_reference_a_loop_and_topk(capsys):
    assert check_k_nearest(k_nearest_by_loop)
    assert "✅ k nearest neighbours: correct" in capsys.readouterr().out
    assert check_k_nearest(k_nearest_topk)


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (includes_itself, "its own nearest neighbour"),
        (farthest, "farthest"),
        (farthest_first, "nearest first"),
        (returns_distances, "return the *indices*"),
    ],
)
def test_k_nearest_checker_names_each_typical_mistake(wrong, hint, capsys):
    assert not check_k_nearest(wrong)
    out = capsys.readouterr().out
    assert "❌ k nearest neighbours" in out and hint in out
