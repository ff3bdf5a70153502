"""Notebook 01's exercise: a loop-free distance matrix (:func:`check_pairwise_distances`)."""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable

import torch

from ..distances import cosine_distances, pairwise_distances
from .checking import compare_tensors, diagnose, run_checks


def _uses_python_loop(fn: Callable) -> bool:
    """True when ``fn``'s source has a ``for``/``while`` loop or a comprehension.

    Functions whose source cannot be read (typed at a prompt, built-ins) pass.
    """

    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return False
    loops = (ast.For, ast.While, ast.comprehension)
    return any(isinstance(node, loops) for node in ast.walk(tree))


def _embeddings(seed: int, size: int = 8, dim: int = 3, offset: float = 0.0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return offset + torch.randn(size, dim, generator=generator, dtype=torch.float64)


def _distance_matrix_mistakes(x: torch.Tensor) -> list[tuple[torch.Tensor, str]]:
    """Results of the typical wrong distance matrices, each with its hint."""
    squared = (x[:, None, :] - x[None, :, :]).pow(2).sum(-1)
    norms = x.pow(2).sum(1)
    return [
        (
            squared,
            "these are *squared* distances ||x_i − x_j||²: take the square root "
            "(the exercise asks for the Euclidean distance itself)",
        ),
        (
            cosine_distances(x),
            "that is the cosine distance 1 − cos(x_i, x_j); the exercise asks for the "
            "Euclidean distance ||x_i − x_j||",
        ),
        (
            x @ x.T,
            "x @ x.T holds dot products, a *similarity* (large = alike); the squared distance "
            "is ||x_i||² + ||x_j||² − 2 x_i·x_j",
        ),
        (
            (norms[:, None] + norms[None, :] + 2 * x @ x.T).clamp(min=0).sqrt(),
            "check the sign: ||x_i − x_j||² = ||x_i||² + ||x_j||² − 2 x_i·x_j (minus)",
        ),
        (
            (x[:, None, :] - x[None, :, :]).abs().sum(-1),
            "that is the Manhattan (L1) distance Σ|x_i − x_j|; square the differences, sum, "
            "then take the square root",
        ),
    ]


def _nan_or_negative_hint(distances: torch.Tensor) -> str | None:
    """The hint for a distance matrix with NaN or negative entries, else ``None``."""
    if torch.isnan(distances).any():
        return (
            "NaN in the distance matrix: for (nearly) identical embeddings, round-off can make "
            "||a||² + ||b||² − 2a·b slightly negative, and the square root of a negative "
            "number is NaN. Clamp the squared distances at 0 first: .clamp(min=0).sqrt()"
        )
    if (distances < 0).any():
        return "a distance is negative: clamp the squared distances at 0 (.clamp(min=0))"
    return None


def check_pairwise_distances(fn: Callable) -> bool:
    """Check ``fn(embeddings) -> (B, B)`` Euclidean distance matrix, without loops (notebook 01).

    Entry (i, j) must be ||x_i − x_j||, computed with broadcasting or a matrix
    product, never negative or NaN even for identical embeddings.
    """

    def value_case(seed: int, size: int, dim: int):
        def case() -> str | None:
            x = _embeddings(seed, size, dim)
            got = fn(x.clone())
            if isinstance(got, torch.Tensor) and got.shape == (size, size, dim):
                return (
                    f"the result has shape {tuple(got.shape)}: the (B, B, D) differences still "
                    "need to be squared and summed over the last axis (dim=-1)"
                )
            expected, what = pairwise_distances(x), "the distance matrix"
            hint = diagnose(got, expected, what, _distance_matrix_mistakes(x))
            generic = hint is not None and hint == compare_tensors(got, expected, what)
            if generic and isinstance(got, torch.Tensor) and got.shape == expected.shape:
                return _nan_or_negative_hint(got) or hint
            return hint

        return case

    def without_loops() -> str | None:
        if _uses_python_loop(fn):
            return (
                "the values are right, but your function uses a Python loop (for, while or a "
                "comprehension). Let broadcasting do it: x[:, None, :] - x[None, :, :] has "
                "shape (B, B, D)"
            )
        return None

    def identical_embeddings() -> str | None:
        # Duplicated rows far from the origin, in float32: the round-off of
        # ||a||² + ||b||² − 2a·b is then larger than the true squared distance, 0.
        x = _embeddings(3, 16, 16, offset=300.0).float()
        x = torch.cat([x, x])
        got = fn(x.clone())
        if not isinstance(got, torch.Tensor) or got.shape != (32, 32):
            return compare_tensors(got, torch.zeros(32, 32), "the distance matrix")
        return _nan_or_negative_hint(got) or compare_tensors(
            got, got.clamp(min=0), "the distance matrix"
        )

    return run_checks(
        "pairwise distance matrix",
        [
            ("8 embeddings in 3-D", value_case(0, 8, 3)),
            ("20 embeddings in 16-D", value_case(1, 20, 16)),
            ("a batch of one embedding", value_case(2, 1, 4)),
            ("no Python loops", without_loops),
            ("pairs of identical embeddings (distance 0, never NaN)", identical_embeddings),
        ],
    )
