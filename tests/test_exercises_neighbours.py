"""Notebook 06's exercise (neighbours kept by a 2-D picture) and its reference in plotting.

Each wrong answer below is one a student is likely to write; the checker must reject it with
the hint that names that mistake, and never raise.
"""

import pytest
import torch

from metric_course.exercises import check_neighbours_kept, solutions
from metric_course.plotting import neighbours_kept


def nearest_by_loop(points, i, k):
    """The k nearest other points of point i, as a set, by sorting all distances."""
    others = [(float((points[j] - points[i]).norm()), j) for j in range(len(points)) if j != i]
    return {j for _, j in sorted(others)[:k]}


def by_loop(space, projection, k):
    """Ground truth: sets of neighbours, one point at a time."""
    shares = [
        len(nearest_by_loop(space, i, k) & nearest_by_loop(projection, i, k)) / k
        for i in range(len(space))
    ]
    return torch.tensor(shares, dtype=torch.float64)


def test_the_reference_equals_a_loop_over_points():
    generator = torch.Generator().manual_seed(0)
    space = torch.randn(30, 6, generator=generator)
    picture = space[:, :2] + 0.5 * torch.randn(30, 2, generator=generator)
    for k in (1, 4, 29):
        assert torch.allclose(neighbours_kept(space, picture, k), by_loop(space, picture, k))
    assert torch.equal(neighbours_kept(space, space, 5), torch.ones(30, dtype=torch.float64))
    assert torch.equal(
        neighbours_kept(space, picture.numpy(), 3), neighbours_kept(space, picture, 3)
    )


@pytest.mark.parametrize(
    ("space", "picture", "k", "message"),
    [
        (torch.zeros(5, 3), torch.zeros(4, 2), 2, "the same items, got 5 and 4 rows"),
        (torch.randn(5, 3), torch.randn(5, 2), 5, "k must lie in 1..4"),
        (torch.randn(5, 3), torch.randn(5, 2), 0, "k must lie in 1..4"),
    ],
)
def test_the_reference_refuses_bad_input(space, picture, k, message):
    with pytest.raises(ValueError, match=message):
        neighbours_kept(space, picture, k)


def test_the_checker_accepts_the_solution_and_a_loop(capsys):
    assert check_neighbours_kept(solutions.my_neighbours_kept)
    assert check_neighbours_kept(by_loop)
    assert "✅ neighbours kept" in capsys.readouterr().out


def _lists(points, k, largest=False, itself=False):
    distances = torch.cdist(points, points)
    if not itself:
        distances.fill_diagonal_(float("inf") if not largest else float("-inf"))
    return distances.topk(k, dim=1, largest=largest).indices


def with_itself(space, projection, k):
    a, b = _lists(space, k, itself=True), _lists(projection, k, itself=True)
    return (a[:, :, None] == b[:, None, :]).any(2).float().mean(1)


def position_by_position(space, projection, k):
    return (_lists(space, k) == _lists(projection, k)).float().mean(1)


def farthest(space, projection, k):
    a, b = _lists(space, k, largest=True), _lists(projection, k, largest=True)
    return (a[:, :, None] == b[:, None, :]).any(2).float().mean(1)


def counts(space, projection, k):
    a, b = _lists(space, k), _lists(projection, k)
    return (a[:, :, None] == b[:, None, :]).any(2).sum(1)


def one_number(space, projection, k):
    return solutions.my_neighbours_kept(space, projection, k).mean()


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (with_itself, "its own nearest neighbour"),
        (position_by_position, "position by position"),
        (farthest, "*farthest* points"),
        (counts, "divide by k"),
        (one_number, "one share per point"),
    ],
)
def test_the_checker_names_each_typical_mistake(wrong, hint, capsys):
    assert not check_neighbours_kept(wrong)
    out = capsys.readouterr().out
    assert "❌ neighbours kept" in out and hint in out, out
