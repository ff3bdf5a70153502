"""Notebook 01's exercise: the distance matrix from one matrix product, gradient included.

:func:`check_pairwise_distances` asks for ||x_i − x_j|| from the identity
||x_i||² + ||x_j||² − 2 x_i·x_j (one ``x @ x.T``, no (B, B, d) tensor, no Python
loop), never NaN or negative, and with a finite gradient where a distance is 0:
on the diagonal and between identical rows, where d√s/ds is infinite.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.overrides import TorchFunctionMode

from ..distances import cosine_distances, pairwise_distances
from .checking import called_names, compare_tensors, diagnose, loop_hint, run_checks

# Functions that would compute the distances for the student.
_READY_MADE = ("cdist", "pdist", "pairwise_distance", "pairwise_distances", "cross_distances")


def _embeddings(seed: int, size: int = 8, dim: int = 3, offset: float = 0.0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return offset + torch.randn(size, dim, generator=generator, dtype=torch.float64)


def _distance_matrix_mistakes(x: torch.Tensor) -> list[tuple[torch.Tensor, str]]:
    """Results of the typical wrong distance matrices, each with its hint."""
    norms = x.pow(2).sum(1)
    squared = (norms[:, None] + norms[None, :] - 2 * x @ x.T).clamp(min=0)
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
            (norms[:, None] + norms[None, :] - x @ x.T).clamp(min=0).sqrt(),
            "the cross term counts twice: ||x_i||² + ||x_j||² − *2* x_i·x_j",
        ),
        (
            (2 * norms[:, None] - 2 * x @ x.T).clamp(min=0).sqrt(),
            "||x_i||² goes along the rows and ||x_j||² along the columns: "
            "norms[:, None] + norms[None, :], not the same one twice",
        ),
        (
            (x[:, None, :] - x[None, :, :]).abs().sum(-1),
            "that is the Manhattan (L1) distance Σ|x_i − x_j|; the exercise asks for the "
            "Euclidean distance",
        ),
    ]


def _nan_or_negative_hint(distances: torch.Tensor) -> str | None:
    """The hint for a distance matrix with NaN or negative entries, else ``None``."""
    if torch.isnan(distances).any():
        return (
            "NaN in the distance matrix: for (nearly) identical embeddings, round-off can make "
            "||a||² + ||b||² − 2a·b slightly negative, and the square root of a negative "
            "number is NaN. Clamp the squared distances at 0 first: .clamp(min=0)"
        )
    if (distances < 0).any():
        return "a distance is negative: clamp the squared distances at 0 (.clamp(min=0))"
    return None


class _LargestTensor(TorchFunctionMode):
    """Records the number of entries of the largest tensor any torch call returns."""

    def __init__(self) -> None:
        super().__init__()
        self.largest = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        for value in result if isinstance(result, tuple | list) else (result,):
            if isinstance(value, torch.Tensor):
                self.largest = max(self.largest, value.numel())
        return result


def _weighted_gradient(fn: Callable, x: torch.Tensor, seed: int):
    """``fn``'s result and the gradient of a random weighting of it with respect to ``x``."""
    x = x.clone().requires_grad_()
    got = fn(x)
    if not isinstance(got, torch.Tensor) or got.shape != (len(x), len(x)):
        return got, None
    if not got.requires_grad:
        return got, "no gradient"
    weights = torch.rand(len(x), len(x), generator=torch.Generator().manual_seed(seed))
    (got * weights.to(got.dtype)).sum().backward()
    return got, x.grad


_NAN_GRADIENT = (
    "the values are right but the gradient is NaN or infinite where a distance is 0: on the "
    "diagonal, where each embedding meets itself, and between identical rows. d√s/ds = "
    "1/(2√s) is infinite at s = 0, and the backward pass multiplies it by 0: NaN, which "
    "training spreads to every weight. Take the square root only where s > 0 and put 0 "
    "elsewhere; torch.where(s > 0, s.sqrt(), 0.0) is not enough, because the backward pass "
    "still goes through s.sqrt() at s = 0: hand the square root a harmless value there first"
)


def check_pairwise_distances(fn: Callable) -> bool:
    """Check ``fn(x) -> (B, B)`` Euclidean distances from one matrix product (notebook 01).

    Entry (i, j) must be ||x_i − x_j||, from ||x_i||² + ||x_j||² − 2 x_i·x_j
    (no (B, B, d) tensor of differences, no Python loop, no ready-made
    distance function), never negative or NaN, and with a finite gradient
    where a distance is 0.
    """

    def value_case(seed: int, size: int, dim: int):
        def case() -> str | None:
            x = _embeddings(seed, size, dim)
            got = fn(x.clone())
            if isinstance(got, torch.Tensor) and got.shape == (size, size, dim):
                return (
                    f"the result has shape {tuple(got.shape)}: these are the (B, B, d) "
                    "differences x_i − x_j; the exercise builds the (B, B) distances from "
                    "x @ x.T instead"
                )
            expected, what = pairwise_distances(x), "the distance matrix"
            hint = diagnose(got, expected, what, _distance_matrix_mistakes(x))
            generic = hint is not None and hint == compare_tensors(got, expected, what)
            if generic and isinstance(got, torch.Tensor) and got.shape == expected.shape:
                return _nan_or_negative_hint(got) or hint
            return hint

        return case

    def without_loops() -> str | None:
        return loop_hint(fn, "Use the matrix product: x @ x.T holds every x_i·x_j at once")

    def from_a_matrix_product() -> str | None:
        ready_made = sorted(called_names(fn) & set(_READY_MADE))
        if ready_made:
            return (
                f"{ready_made[0]}(...) computes the distances for you; the exercise is to "
                "build them yourself from ||x_i||² + ||x_j||² − 2 x_i·x_j, with x @ x.T"
            )
        size, dim = 20, 16
        with _LargestTensor() as record:
            fn(_embeddings(5, size, dim))
        if record.largest >= size * size * dim:
            return (
                "the values are right, but your function builds a (B, B, d) tensor (the "
                "differences x_i − x_j, by broadcasting): over 4 GB for B = 4096, d = 64. "
                "Use ||x_i||² + ||x_j||² − 2 x_i·x_j, whose largest tensor is (B, B)"
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

    def gradient_case(x: torch.Tensor, seed: int):
        def case() -> str | None:
            got, gradient = _weighted_gradient(fn, x, seed)
            if isinstance(gradient, str):
                return (
                    "the distances carry no gradient, so a loss built on them cannot train the "
                    "network: keep to torch operations on x (no .detach(), .item(), NumPy or "
                    "torch.no_grad())"
                )
            if gradient is None:
                return compare_tensors(got, torch.zeros(len(x), len(x)), "the distance matrix")
            if not torch.isfinite(gradient).all():
                return _NAN_GRADIENT
            _, expected = _weighted_gradient(pairwise_distances, x, seed)
            return compare_tensors(gradient, expected, "the gradient with respect to x")

        return case

    # Whole numbers: the identity then gives exact zeros on the diagonal and between the
    # duplicated rows, the places where √ has an infinite derivative.
    whole = torch.randint(-3, 4, (6, 4), generator=torch.Generator().manual_seed(7)).double()
    with_duplicates = torch.cat([whole, whole[:3]])
    return run_checks(
        "pairwise distance matrix",
        [
            ("8 embeddings in 3-D", value_case(0, 8, 3)),
            ("20 embeddings in 16-D", value_case(1, 20, 16)),
            ("a batch of one embedding", value_case(2, 1, 4)),
            ("no Python loops", without_loops),
            ("from one matrix product, without a (B, B, d) tensor", from_a_matrix_product),
            ("pairs of identical embeddings (distance 0, never NaN)", identical_embeddings),
            ("the gradient, 10 embeddings in 5-D", gradient_case(_embeddings(4, 10, 5), 0)),
            (
                "the gradient where a distance is 0 (the diagonal, identical rows)",
                gradient_case(with_duplicates, 1),
            ),
        ],
    )
