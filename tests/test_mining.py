"""Masks and triplet categories against loops and pytorch-metric-learning's miners."""

import itertools

import pytest
import torch
from pytorch_metric_learning.distances import LpDistance
from pytorch_metric_learning.miners import TripletMarginMiner

from metric_course.distances import pairwise_distances
from metric_course.mining import (
    EASY,
    HARD,
    INVALID,
    SEMI_HARD,
    negative_categories,
    negative_mask,
    positive_mask,
    triplet_categories,
    valid_triplet_mask,
)


def batch(n=18, classes=4, dim=5, seed=0):
    generator = torch.Generator().manual_seed(seed)
    embeddings = torch.randn(n, dim, generator=generator, dtype=torch.float64)
    labels = torch.randint(0, classes, (n,), generator=generator)
    return embeddings, labels


def loop_category(d, labels, a, p, n, margin):
    if a == p or labels[a] != labels[p] or labels[a] == labels[n]:
        return INVALID
    if d[a, n] < d[a, p]:
        return HARD
    if d[a, n] < d[a, p] + margin:
        return SEMI_HARD
    return EASY


def test_constants_are_distinct_small_integers():
    assert (INVALID, EASY, SEMI_HARD, HARD) == (0, 1, 2, 3)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_masks_match_loops(seed):
    _, labels = batch(seed=seed)
    n = len(labels)
    positive = [[i != j and labels[i] == labels[j] for j in range(n)] for i in range(n)]
    negative = [[bool(labels[i] != labels[j]) for j in range(n)] for i in range(n)]
    assert positive_mask(labels).tolist() == positive
    assert negative_mask(labels).tolist() == negative
    triplets = valid_triplet_mask(labels)
    for a, p, q in itertools.product(range(n), repeat=3):
        assert triplets[a, p, q] == (positive[a][p] and negative[a][q])


@pytest.mark.parametrize("margin", [0.0, 0.3, 1.5])
def test_triplet_categories_match_loops(margin):
    embeddings, labels = batch()
    d = pairwise_distances(embeddings)
    got = triplet_categories(d, labels, margin)
    assert got.dtype == torch.int8 and got.shape == (18, 18, 18)
    n = len(labels)
    expected = [
        [[loop_category(d, labels, a, p, q, margin) for q in range(n)] for p in range(n)]
        for a in range(n)
    ]
    assert got.tolist() == expected
    assert {EASY, SEMI_HARD, HARD} <= set(got.unique().tolist()) or margin == 0


def test_negative_categories_are_one_row_of_the_triplet_categories():
    embeddings, labels = batch()
    d = pairwise_distances(embeddings)
    everything = triplet_categories(d, labels, 0.5)
    for a, p in positive_mask(labels).nonzero().tolist():
        row = negative_categories(d, labels, a, p, 0.5)
        assert row.dtype == torch.int8
        assert torch.equal(row, everything[a, p])
        assert (row[labels == labels[a]] == INVALID).all()


@pytest.mark.parametrize("kind", ["semihard", "hard", "easy"])
def test_categories_agree_with_pytorch_metric_learning_miner(kind):
    # PML: semihard 0 < d(a,n) - d(a,p) <= m; hard d(a,n) - d(a,p) <= 0; easy > m.
    # Ours puts the ties at the other side; random data has none.
    embeddings, labels = batch(n=24)
    margin = 0.4
    miner = TripletMarginMiner(
        margin=margin, type_of_triplets=kind, distance=LpDistance(normalize_embeddings=False)
    )
    pml = set(zip(*(t.tolist() for t in miner(embeddings, labels)), strict=True))
    ours = triplet_categories(pairwise_distances(embeddings), labels, margin)
    wanted = {"semihard": SEMI_HARD, "hard": HARD, "easy": EASY}[kind]
    assert pml == {tuple(t) for t in (ours == wanted).nonzero().tolist()}
    assert pml  # the comparison is not vacuous


def test_degenerate_labels():
    one_class = torch.zeros(4, dtype=torch.long)
    assert not negative_mask(one_class).any()
    assert positive_mask(one_class).sum() == 12
    assert not valid_triplet_mask(torch.arange(5)).any()
    d = torch.zeros(4, 4)  # every embedding at one point: all triplets are semi-hard
    categories = triplet_categories(d, torch.tensor([0, 0, 1, 1]), 0.2)
    assert set(categories[valid_triplet_mask(torch.tensor([0, 0, 1, 1]))].tolist()) == {SEMI_HARD}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: positive_mask(torch.tensor([0.0, 1.0])), "integer class ids"),
        (lambda: negative_mask(torch.zeros(2, 3, dtype=torch.long)), "1-D"),
        (lambda: positive_mask([0, 1]), "torch.Tensor"),
        (lambda: triplet_categories(torch.zeros(3, 3), torch.arange(4), 0.2), r"\(4, 4\)"),
        (
            lambda: negative_categories(torch.zeros(3, 3), torch.tensor([0, 1, 1]), 0, 1, 0.2),
            "not an anchor-positive pair",
        ),
        (
            lambda: negative_categories(torch.zeros(3, 3), torch.tensor([0, 1, 1]), 1, 1, 0.2),
            "not an anchor-positive pair",
        ),
        (
            lambda: negative_categories(torch.zeros(3, 3), torch.tensor([0, 1, 1]), 1, 5, 0.2),
            "index the batch",
        ),
    ],
)
def test_bad_input_raises_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
