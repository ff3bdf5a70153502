"""Notebook 06's exercise: how faithful a 2-D picture is (:func:`check_neighbours_kept`).

The student writes the share of each point's k nearest neighbours in the
embedding space that stay among its k nearest in the 2-D projection: the
nearest-neighbour search behind the explorer, for every point at once, and a
comparison of two neighbour lists with broadcasting. The reference is
:func:`metric_course.plotting.neighbours_kept`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..plotting import neighbours_kept
from .checking import diagnose, run_checks


def _lists(points: torch.Tensor, k: int, with_itself: bool = False, farthest: bool = False):
    """Each point's k nearest (or farthest) others, nearest first; optionally itself first."""
    distances = torch.cdist(points, points)
    if farthest:
        return distances.topk(k, dim=1).indices
    if not with_itself:
        distances.fill_diagonal_(float("inf"))
    else:
        distances.fill_diagonal_(-1.0)
    return distances.topk(k, dim=1, largest=False).indices


def _shares(in_space: torch.Tensor, in_picture: torch.Tensor) -> torch.Tensor:
    return (in_space[:, :, None] == in_picture[:, None, :]).any(2).double().mean(1)


def _mistakes(space, projection, k: int) -> list[tuple[torch.Tensor, str]]:
    """Results of the typical wrong answers on these points, each with its hint."""
    in_space, in_picture = _lists(space, k), _lists(projection, k)
    return [
        (
            _shares(_lists(space, k, with_itself=True), _lists(projection, k, with_itself=True)),
            "each point is its own nearest neighbour (distance 0) in both, so it always counts "
            "as kept: leave it out (set its own distance to infinity before taking the k "
            "smallest)",
        ),
        (
            (in_space == in_picture).double().mean(1),
            "you compared the two lists position by position, so a neighbour that moved from "
            "2nd to 3rd place counts as lost: ask whether each neighbour in the space is "
            "*anywhere* among the k in the picture (compare every pair with broadcasting, "
            "then .any())",
        ),
        (
            _shares(_lists(space, k, farthest=True), _lists(projection, k, farthest=True)),
            "these are the k *farthest* points: topk returns the largest values unless you "
            "pass largest=False",
        ),
        (
            _shares(in_space, in_picture) * k,
            "that is the *number* of neighbours kept: divide by k for the share",
        ),
    ]


def check_neighbours_kept(fn: Callable) -> bool:
    """Check ``fn(space, projection, k) -> (N,)`` shares of neighbours kept (notebook 06).

    ``space`` (N, D) and ``projection`` (N, 2) hold the same N points; entry i
    of the result is the share of point i's k nearest other points in
    ``space`` that are also among its k nearest other points in ``projection``
    (Euclidean distance), a number in [0, 1].
    """

    def compare(space: torch.Tensor, projection: torch.Tensor, k: int) -> str | None:
        got = fn(space.clone(), projection.clone(), k)
        expected = neighbours_kept(space, projection, k)
        what = "the shares kept"
        if isinstance(got, torch.Tensor) and got.numel() == 1 and len(expected) > 1:
            return (
                f"{what} should be one share per point, shape {tuple(expected.shape)}, got one "
                "number: leave the .mean() over the points to the caller"
            )
        if isinstance(got, torch.Tensor) and not (
            got.is_floating_point() or got.dtype == torch.bool
        ):
            got = got.double()  # counts come back as integers: compare them as numbers
        return diagnose(got, expected, what, _mistakes(space, projection, k))

    generator = torch.Generator().manual_seed(0)
    plane = torch.randn(15, 2, generator=generator, dtype=torch.float64)
    space = torch.randn(40, 8, generator=generator, dtype=torch.float64)
    squeezed = space[:, :2] + 0.3 * space[:, 2:4]  # a picture that keeps some of the space
    scattered = torch.randn(40, 2, generator=generator, dtype=torch.float64)
    line = torch.tensor([[0.0], [1.0], [3.0], [3.5], [10.0]], dtype=torch.float64)
    shuffled = torch.tensor([[0.0, 0], [4.1, 0], [1.3, 0], [5.7, 0], [2.9, 0]], dtype=torch.float64)
    return run_checks(
        "neighbours kept",
        [
            (
                "a picture that is the space itself (every share 1)",
                lambda: compare(plane, plane, 3),
            ),
            (
                "five points on a line and a shuffled picture of them, k = 2",
                lambda: compare(line, shuffled, 2),
            ),
            (
                "40 points in 8-D and a picture of two directions, k = 5",
                lambda: compare(space, squeezed, 5),
            ),
            (
                "the same points and a random picture, k = 1 and k = 10",
                lambda: compare(space, scattered, 1) or compare(space, scattered, 10),
            ),
        ],
    )
