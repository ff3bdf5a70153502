"""Tests of metric_course.sampling: pairs, triplets and P×K batches."""

from collections import Counter

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader

from metric_course.data import ImageDataset
from metric_course.sampling import PairDataset, PKSampler, TripletDataset


def labelled(labels) -> ImageDataset:
    """A dataset whose image i holds the number i, so images can be traced to indices."""
    labels = torch.as_tensor(labels)
    images = torch.arange(len(labels), dtype=torch.float32).view(-1, 1, 1, 1).repeat(1, 1, 2, 2)
    names = tuple(str(c) for c in range(int(labels.max()) + 1))
    return ImageDataset(images, labels, names, "toy", "test")


def index_of(image: torch.Tensor) -> int:
    return int(image.flatten()[0])


UNEVEN = labelled([0] * 7 + [1] * 3 + [2] * 12 + [3] * 1 + [4] * 5)


# ---------------------------------------------------------------- pairs


def test_pairs_follow_the_y_convention_and_the_ratio():
    pairs = PairDataset(UNEVEN, pairs_per_epoch=400, seed=3)
    assert len(pairs) == 400
    labels = UNEVEN.labels
    y = torch.stack([pairs[i][2] for i in range(len(pairs))])
    assert (y == 0).sum() == 100 and (y == 1).sum() == 300  # 1:3
    for i in range(len(pairs)):
        x1, x2, target = pairs[i]
        a, b = index_of(x1), index_of(x2)
        assert [a, b] == pairs.pairs[i].tolist()
        if target == 0:  # similar: same class, two different images
            assert labels[a] == labels[b] and a != b
        else:  # dissimilar
            assert labels[a] != labels[b]
    assert 3 not in labels[pairs.pairs[pairs.targets == 0, 0]]  # class 3 has one image


def test_similar_partners_cover_the_class():
    pairs = PairDataset(UNEVEN, pairs_per_epoch=2000, positive_fraction=1.0)
    partners = Counter((int(a), int(b)) for a, b in pairs.pairs.tolist() if UNEVEN.labels[a] == 4)
    class_four = range(23, 28)
    assert set(partners) == {(a, b) for a in class_four for b in class_four if a != b}


def test_pair_epochs_are_seeded_and_differ():
    first, second = PairDataset(UNEVEN, 50, seed=1), PairDataset(UNEVEN, 50, seed=1)
    assert torch.equal(first.pairs, second.pairs) and torch.equal(first.targets, second.targets)
    epoch_zero = first.pairs.clone()
    first.set_epoch(1)
    assert not torch.equal(first.pairs, epoch_zero)
    first.set_epoch(0)
    assert torch.equal(first.pairs, epoch_zero)
    assert not torch.equal(PairDataset(UNEVEN, 50, seed=2).pairs, epoch_zero)


def test_pairs_batch_through_a_data_loader():
    x1, x2, y = next(iter(DataLoader(PairDataset(UNEVEN, 40), batch_size=16)))
    assert x1.shape == x2.shape == (16, 1, 2, 2)
    assert y.shape == (16,) and y.dtype == torch.int64


@pytest.mark.parametrize(
    ("labels", "kwargs", "message"),
    [
        ([0, 0, 0], {}, "at least 2 classes"),
        ([0, 1, 2], {}, "at least 2 images"),
        ([0, 0, 1, 1], {"positive_fraction": 1.5}, r"in \[0, 1\]"),
        ([0, 0, 1, 1], {"pairs_per_epoch": 0}, "at least 1"),
        ([0, 0, 1, 1], {"seed": -1}, "seed must be a whole number .* at least 0, got -1"),
    ],
)
def test_pairs_reject_bad_input(labels, kwargs, message):
    with pytest.raises(ValueError, match=message):
        PairDataset(labelled(labels), **{"pairs_per_epoch": 10, **kwargs})


# ---------------------------------------------------------------- triplets


def test_triplets_are_valid():
    triplets = TripletDataset(UNEVEN, triplets_per_epoch=300, seed=5)
    labels = UNEVEN.labels
    for i in range(len(triplets)):
        a, p, n = (index_of(image) for image in triplets[i])
        assert [a, p, n] == triplets.triplets[i].tolist()
        assert labels[a] == labels[p] and a != p and labels[a] != labels[n]
    assert 3 not in labels[triplets.triplets[:, 0]]  # no positive for the lone image


def test_triplet_epochs_are_seeded_and_differ():
    first, second = TripletDataset(UNEVEN, 30, seed=4), TripletDataset(UNEVEN, 30, seed=4)
    assert torch.equal(first.triplets, second.triplets)
    epoch_zero = first.triplets.clone()
    first.set_epoch(7)
    assert not torch.equal(first.triplets, epoch_zero)
    anchors, positives, negatives = next(iter(DataLoader(first, batch_size=10)))
    assert anchors.shape == positives.shape == negatives.shape == (10, 1, 2, 2)
    with pytest.raises(ValueError, match="at least 2 classes"):
        TripletDataset(labelled([1, 1]), 5)


# ---------------------------------------------------------------- P×K batches


def most_batches(labels, p: int, k: int) -> int:
    """Brute force: the most batches of p distinct classes, taking ceil(n_c / k) groups of class c.

    b batches are possible when sum_c min(groups_c, b) >= p·b (each class can
    give at most one group to each batch).
    """
    groups = [-(-n // k) for n in Counter(labels).values() if n >= k]
    b = 0
    while sum(min(g, b + 1) for g in groups) >= p * (b + 1):
        b += 1
    return b


def check_epoch(labels, sampler: PKSampler) -> list[list[int]]:
    """Every batch is P classes × K distinct images; the epoch covers the data."""
    labels = np.asarray(labels)
    batches = list(sampler)
    assert len(batches) == len(sampler) == most_batches(labels.tolist(), sampler.p, sampler.k)
    for batch in batches:
        assert len(batch) == len(set(batch)) == sampler.p * sampler.k
        per_class = Counter(labels[batch].tolist())
        assert len(per_class) == sampler.p and set(per_class.values()) == {sampler.k}
    counts = Counter(i for batch in batches for i in batch)
    eligible = [i for i, c in enumerate(labels) if (labels == c).sum() >= sampler.k]
    groups_left = sum(-(-n // sampler.k) for n in Counter(labels[eligible].tolist()).values())
    groups_left -= sampler.p * len(batches)
    assert len(set(eligible) - set(counts)) <= groups_left * sampler.k  # the remainder
    assert set(counts) <= set(eligible) and max(counts.values(), default=1) <= 2
    return batches


def test_balanced_classes_are_covered_exactly_once():
    labels = np.repeat(np.arange(7), 12)
    sampler = PKSampler(labels, p=3, k=4, seed=0)
    batches = check_epoch(labels, sampler)
    assert len(batches) == 7
    assert sorted(i for batch in batches for i in batch) == list(range(84))


def test_uneven_classes_fill_the_last_group_from_the_same_class():
    sampler = PKSampler(UNEVEN.labels, p=2, k=4, seed=1)
    assert sampler.excluded_classes == (1, 3)  # 3 and 1 images: fewer than K = 4
    batches = check_epoch(UNEVEN.labels, sampler)
    # Groups of 4: class 0 (7 images) 2, class 2 (12 images) 3, class 4 (5 images) 2.
    # Three batches of 2 classes take 6 of the 7 groups; one group is the remainder.
    assert len(batches) == 3
    counts = Counter(i for batch in batches for i in batch)
    assert max(counts.values()) == 2  # a filled-up group repeats an image of its class


def test_pk_epochs_are_seeded_and_differ():
    labels = np.repeat(np.arange(5), 9)
    first, second = PKSampler(labels, 3, 3, seed=2), PKSampler(labels, 3, 3, seed=2)
    assert list(first) == list(second) == list(first)  # same epoch until set_epoch
    epoch_zero = list(first)
    first.set_epoch(1)
    assert list(first) != epoch_zero and len(list(first)) == len(epoch_zero)
    first.set_epoch(0)
    assert list(first) == epoch_zero
    assert list(PKSampler(labels, 3, 3, seed=3)) != epoch_zero


def test_pk_batches_through_a_data_loader():
    data = labelled(np.repeat(np.arange(6), 8))
    loader = DataLoader(data, batch_sampler=PKSampler(data.labels, p=4, k=2))
    images, labels = next(iter(loader))
    assert images.shape == (8, 1, 2, 2) and torch.bincount(labels).max() == 2
    assert len(loader) == len(list(loader)) == 6  # 6 classes × 4 groups, 4 groups a batch


@pytest.mark.parametrize(
    ("labels", "p", "k", "message"),
    [
        (
            [0, 0, 1, 1, 2, 2],
            4,
            2,
            "3 classes, 3 of them with at least 2 images .*lower p to at most 3$",
        ),
        (
            [0, 0, 0, 1, 1, 2, 2, 2],
            3,
            3,
            "2 of them with at least 3 images .* at most 2, or lower k",
        ),
        ([0, 0, 1, 1], 2, 1, "k must be .* at least 2 images per class"),
        ([0, 0, 1, 1], 1, 2, "p must be .* at least 2 classes per batch"),
        ([[0, 1]], 2, 2, "1-D array of class ids"),
        ([0.5, 1.0], 2, 2, "1-D array of class ids"),
    ],
)
def test_pk_sampler_rejects_what_it_cannot_fill(labels, p, k, message):
    with pytest.raises(ValueError, match=message):
        PKSampler(labels, p=p, k=k)


@settings(max_examples=60, deadline=None)
@given(
    class_sizes=st.lists(st.integers(0, 14), min_size=2, max_size=8),
    p=st.integers(2, 4),
    k=st.integers(2, 4),
    seed=st.integers(0, 3),
    epoch=st.integers(0, 3),
)
def test_pk_sampler_properties(class_sizes, p, k, seed, epoch):
    labels = np.repeat(np.arange(len(class_sizes)), class_sizes)
    np.random.default_rng(seed).shuffle(labels)
    if sum(n >= k for n in class_sizes) < p:
        with pytest.raises(ValueError, match="cannot fill"):
            PKSampler(labels, p=p, k=k, seed=seed)
        return
    sampler = PKSampler(labels, p=p, k=k, seed=seed)
    sampler.set_epoch(epoch)
    check_epoch(labels, sampler)
