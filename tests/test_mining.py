"""Masks and triplet categories against loops and pytorch-metric-learning's miners."""

import itertools

import numpy as np
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
    anchor_triplets,
    category_shares,
    hardest_triplets,
    negative_categories,
    negative_mask,
    pair_counts,
    pair_masks,
    positive_mask,
    positive_table,
    semi_hard_triplets,
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


# ---------------------------------------------------- one anchor's triplets, a batch's shares


@pytest.fixture
def pk_batch():
    """A P×K batch of 4 classes × 6 images, shuffled, with a mix of easy, semi-hard, hard."""
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(4).repeat_interleave(6)[torch.randperm(24, generator=generator)]
    centres = torch.randn(4, 8, generator=generator)
    points = 1.5 * centres[labels] + torch.randn(24, 8, generator=generator)
    distances = pairwise_distances(torch.nn.functional.normalize(points, dim=1))
    return distances, labels


def loop_categories(distances, labels, anchor, positive, margin):
    """The category of every sample as the negative of (anchor, positive), by a loop."""
    return np.array(
        [loop_category(distances, labels, anchor, positive, n, margin) for n in range(len(labels))]
    )


def test_anchor_triplets_agrees_with_loops(pk_batch):
    distances, labels = pk_batch
    seen = set()
    for anchor in range(len(labels)):
        view = anchor_triplets(distances, labels, anchor, margin=0.3)
        positives = [p for p in range(len(labels)) if p != anchor and labels[p] == labels[anchor]]
        negatives = [n for n in range(len(labels)) if labels[n] != labels[anchor]]
        row = distances[anchor]
        assert view.positive == max(positives, key=lambda p: row[p])  # batch-hard's positive
        assert view.hardest_negative == min(negatives, key=lambda n: row[n])
        farther = [n for n in negatives if row[n] >= row[view.positive]]
        expected_semi = min(farther, key=lambda n: row[n]) if farther else None
        assert view.semi_hard_negative == expected_semi
        expected = loop_categories(distances, labels, anchor, view.positive, 0.3)
        np.testing.assert_array_equal(view.categories, expected)
        assert sum(view.counts.values()) == len(negatives)
        seen.update(c for c in view.categories.tolist() if c != INVALID)
    assert seen == {EASY, SEMI_HARD, HARD}  # the batch exercises every category


def test_anchor_triplets_with_a_chosen_positive_and_errors(pk_batch):
    distances, labels = pk_batch
    anchor = 0
    nearest = min(
        (p for p in range(24) if p != anchor and labels[p] == labels[anchor]),
        key=lambda p: distances[anchor, p],
    )
    view = anchor_triplets(distances, labels, anchor, margin=0.2, positive=nearest)
    assert view.positive == nearest
    assert view.positive_distance == pytest.approx(float(distances[anchor, nearest]))
    with pytest.raises(ValueError, match="outside"):
        anchor_triplets(distances, labels, 24, margin=0.2)
    with pytest.raises(ValueError, match="margin"):
        anchor_triplets(distances, labels, 0, margin=-0.1)
    other = int((labels != labels[anchor]).nonzero()[0])
    with pytest.raises(ValueError, match="not an anchor-positive pair"):
        anchor_triplets(distances, labels, anchor, margin=0.2, positive=other)
    lonely = labels.clone()
    lonely[anchor] = 9
    with pytest.raises(ValueError, match="no positive"):
        anchor_triplets(distances, lonely, anchor, margin=0.2)


def test_semi_hard_negative_is_none_when_every_negative_is_closer():
    distances = torch.tensor([[0.0, 0.9, 0.2, 0.3], [0.9, 0, 1, 1], [0.2, 1, 0, 1], [0.3, 1, 1, 0]])
    view = anchor_triplets(distances, torch.tensor([0, 0, 1, 2]), 0, margin=0.2)
    assert view.semi_hard_negative is None and view.hardest_negative == 2
    assert view.counts == {"hard": 2, "semi-hard": 0, "easy": 0}


def test_category_shares_count_every_valid_triplet(pk_batch):
    distances, labels = pk_batch
    counts = {HARD: 0, SEMI_HARD: 0, EASY: 0}
    for a in range(24):
        for p in range(24):
            if p != a and labels[p] == labels[a]:
                for c in loop_categories(distances, labels, a, p, 0.2):
                    if c != INVALID:
                        counts[c] += 1
    total = sum(counts.values())
    shares = category_shares(distances, labels, 0.2)
    assert shares == pytest.approx(
        {
            "hard": counts[HARD] / total,
            "semi-hard": counts[SEMI_HARD] / total,
            "easy": counts[EASY] / total,
        }
    )


# --------------------------------------------------------------------------- miners against loops


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hardest_triplets_pick_the_farthest_positive_and_nearest_negative(seed):
    embeddings, labels = batch(seed=seed)
    memory, memory_labels = batch(n=11, seed=seed + 10)
    d = torch.cdist(embeddings, memory)
    mined = hardest_triplets(d, *pair_masks(labels, memory_labels))
    for a in range(len(labels)):
        positives = [r for r in range(len(memory)) if memory_labels[r] == labels[a]]
        negatives = [r for r in range(len(memory)) if memory_labels[r] != labels[a]]
        assert bool(mined.used[a]) == bool(positives and negatives)
        if positives and negatives:
            assert int(mined.positive[a]) == max(positives, key=lambda r: d[a, r])
            assert int(mined.negative[a]) == min(negatives, key=lambda r: d[a, r])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_semi_hard_triplets_pick_the_nearest_negative_not_closer_or_fall_back(seed):
    embeddings, labels = batch(seed=seed)
    d = pairwise_distances(embeddings)
    is_positive, is_negative = pair_masks(labels)
    positive_index, real = positive_table(is_positive, pair_counts(labels)[0])
    mined = semi_hard_triplets(d, positive_index, real, is_negative)
    for a, j in itertools.product(range(len(labels)), range(positive_index.shape[1])):
        negatives = [n for n in range(len(labels)) if labels[n] != labels[a]]
        if not real[a, j] or not negatives:
            assert not mined.used[a, j]
            continue
        p = int(positive_index[a, j])
        assert labels[p] == labels[a] and p != a
        not_closer = [n for n in negatives if d[a, n] >= d[a, p]]
        expected = (
            min(not_closer, key=lambda n: d[a, n])
            if not_closer
            else max(negatives, key=lambda n: d[a, n])
        )
        assert int(mined.negative[a, j]) == expected
        assert bool(mined.fallback[a, j]) == (not not_closer)


@pytest.mark.parametrize("margin", [-1, float("inf"), float("nan"), None, True])
def test_the_categories_refuse_a_margin_that_is_not_finite_and_at_least_0(pk_batch, margin):
    # before: category_shares(margin=-1) and margin=inf returned shares of a split that
    # means nothing (no easy triplet at all for inf)
    distances, labels = pk_batch
    with pytest.raises(ValueError, match="the margin must be"):
        category_shares(distances, labels, margin)
    with pytest.raises(ValueError, match="the margin must be"):
        triplet_categories(distances, labels, margin)
    with pytest.raises(ValueError, match="the margin must be"):
        negative_categories(
            distances, labels, 0, int(positive_mask(labels)[0].nonzero()[0]), margin
        )
    with pytest.raises(ValueError, match="the margin must be"):
        anchor_triplets(distances, labels, 0, margin)


def test_pair_counts_and_negative_mask_against_references_match_the_masks():
    labels = torch.tensor([0, 1, 1, 2, 5])
    references = torch.tensor([1, 1, 3, 0, 1, 2, 2, 2])
    is_positive, is_negative = pair_masks(labels, references)
    n_positives, n_negatives = pair_counts(labels, references)
    assert n_positives.tolist() == is_positive.sum(1).tolist() == [1, 3, 3, 3, 0]
    assert n_negatives.tolist() == is_negative.sum(1).tolist()
    assert torch.equal(negative_mask(labels, references), is_negative)
    index, real = positive_table(is_positive)
    assert all(is_positive[a, index[a, real[a]]].all() for a in range(len(labels)))
