"""Notebook 06's exercise: the k nearest neighbours of one item (:func:`check_k_nearest`)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..neighbours import neighbour_table
from .checking import name_mistake, run_checks


def _reference_k_nearest(embeddings: torch.Tensor, query: int, k: int) -> torch.Tensor:

    return torch.as_tensor(neighbour_table(embeddings, k, items=[query])[0][0], dtype=torch.long)


def _k_nearest_mistakes(embeddings, query: int, k: int) -> list[tuple[torch.Tensor, str]]:
    distances = (embeddings - embeddings[query]).norm(dim=1)
    with_itself = distances.argsort()[:k]
    others = distances.clone()
    others[query] = float("inf")
    nearest = others.argsort()[:k]
    farthest = distances.argsort(descending=True)[:k]
    return [
        (
            with_itself,
            "the query is its own nearest neighbour, at distance 0. Leave it out: set its "
            "own distance to infinity before taking the k smallest.",
        ),
        (
            farthest,
            "these are the k *farthest* items. topk returns the largest values unless you "
            "pass largest=False (or sort ascending with argsort).",
        ),
        (
            nearest.flip(0),
            "right items, wrong order: return them nearest first.",
        ),
    ]


def check_k_nearest(fn: Callable) -> bool:
    """Check ``fn(embeddings, query, k) -> indices`` of the k nearest other items, nearest first.

    Notebook 06: the logic behind the embedding explorer.
    """

    def compare(embeddings: torch.Tensor, query: int, k: int) -> str | None:
        expected = _reference_k_nearest(embeddings, query, k)
        got = fn(embeddings.clone(), query, k)
        if isinstance(got, torch.Tensor) and got.is_floating_point():
            return (
                "you returned distances (floats); return the *indices* of the neighbours, "
                "e.g. the .indices of topk or the result of argsort."
            )
        mistakes = _k_nearest_mistakes(embeddings, query, k)
        if (
            isinstance(got, torch.Tensor)
            and got.shape == expected.shape
            and not torch.equal(got.long().cpu(), expected)
        ):
            if set(got.tolist()) == set(expected.tolist()):
                return "right items, wrong order: return them nearest first."
        return name_mistake(got, expected, f"the neighbours of item {query}", mistakes)

    line = torch.tensor([[0.0], [1.0], [3.0], [3.5], [10.0]])
    points = torch.randn(40, 8, generator=torch.Generator().manual_seed(0))
    return run_checks(
        "k nearest neighbours",
        [
            (
                "five points on a line, query 2, k = 2 (answer: 3, then 1)",
                lambda: compare(line, 2, 2),
            ),
            ("40 points in 8-D, query 0, k = 5", lambda: compare(points, 0, 5)),
            (
                "40 points in 8-D, queries 7 and 39, k = 1 and 10",
                lambda: compare(points, 7, 1) or compare(points, 39, 10),
            ),
        ],
    )
