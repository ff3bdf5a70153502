"""Pairs, triplets and P×K batches: what a metric-learning network trains on.

A classifier learns from one image and its label at a time. A metric-learning
loss learns from *relations* between images, and this module draws them:

- :class:`PairDataset` gives ``(x1, x2, y)`` for a Siamese network and the
  contrastive loss, with **y = 0 for a similar pair** (same class) **and y = 1
  for a dissimilar one**, the convention of Hadsell, Chopra and LeCun (2006).
  (Some libraries use the opposite; check before you mix code.) Drawn at
  random, almost every pair would be dissimilar: with 7 balanced classes only
  one pair in 7 is similar, and with 1,000 classes one in 1,000. A fixed share
  of similar pairs, a quarter by default (a 1:3 ratio), keeps both kinds in
  every batch.
- :class:`TripletDataset` gives ``(anchor, positive, negative)`` for the triplet
  loss: the positive shares the anchor's class, the negative does not.
- :class:`PKSampler` builds batches of P classes × K images for *online
  mining*, where the loss finds the pairs and triplets inside each batch
  (Hermans, Beyer and Leibe 2017). Random batches of a many-class dataset
  hold almost no two images of one class, so an anchor would have no positive
  to learn from. In a P×K batch every image has K − 1 positives and
  (P − 1)·K negatives: with P = 8 and K = 4, 32 images give 32·3·28 = 2,688
  triplets from 32 forward passes.

**Epochs and seeds.** What an epoch holds depends only on ``(seed, epoch)``:
rerunning with the same seed gives the same pairs and batches, and a new
epoch gives new ones. Call ``set_epoch(epoch)`` before each epoch (the
course's ``train`` does); without it every pass repeats the same epoch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from .data import ImageDataset


def _check_whole(value: int, name: str, minimum: int, why: str = "") -> None:
    """Refuse anything but a whole number ≥ ``minimum``: 2.5 pairs fail later, and unclearly."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(
            f"{name} must be a whole number (int) of at least {minimum}{why}, got {value!r}"
            + ("; divide with // instead of /" if isinstance(value, float) else "")
        )


def _rng(seed: int, epoch: int) -> np.random.Generator:
    _check_whole(seed, "seed", 0)
    _check_whole(epoch, "epoch", 0)
    return np.random.default_rng([seed, epoch])


class _ClassIndex:
    """Image indices grouped by class, to draw same-class and other-class partners fast.

    ``order`` lists the image indices sorted by label, so class c occupies
    ``order[start[c] : start[c] + count[c]]``; ``position[i]`` is where image i
    sits in ``order``.
    """

    def __init__(self, labels: torch.Tensor | np.ndarray | Sequence[int]) -> None:
        labels = np.asarray(labels)
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(
                f"labels must be a 1-D array of class ids, got {labels.dtype} "
                f"of shape {labels.shape}"
            )
        self.labels = labels
        self.order = np.argsort(labels, kind="stable")
        self.classes, self.start, self.count = np.unique(
            labels[self.order], return_index=True, return_counts=True
        )
        self.class_of = np.searchsorted(self.classes, labels)  # row of each image's class
        self.position = np.empty_like(self.order)
        self.position[self.order] = np.arange(len(labels))

    def anchors_with_positives(self) -> np.ndarray:
        """Indices of the images whose class has at least one other image."""
        return np.flatnonzero(self.count[self.class_of] >= 2)

    def positives(self, rng: np.random.Generator, anchors: np.ndarray) -> np.ndarray:
        """For each anchor, another image of its class, uniformly at random."""
        c = self.class_of[anchors]
        offset = self.position[anchors] - self.start[c]
        other = (offset + 1 + rng.integers(0, self.count[c] - 1)) % self.count[c]
        return self.order[self.start[c] + other]

    def negatives(self, rng: np.random.Generator, anchors: np.ndarray) -> np.ndarray:
        """For each anchor, an image of another class, uniformly over all such images."""
        c = self.class_of[anchors]
        slot = rng.integers(0, len(self.labels) - self.count[c])
        slot = np.where(slot >= self.start[c], slot + self.count[c], slot)  # skip own class
        return self.order[slot]


def _check_drawable(index: _ClassIndex, what: str) -> None:
    if len(index.classes) < 2:
        raise ValueError(
            f"{what} need at least 2 classes (for dissimilar images), the data has "
            f"{len(index.classes)}; pass a dataset with more classes"
        )
    if not len(index.anchors_with_positives()):
        raise ValueError(
            f"{what} need a class with at least 2 images (for similar images); "
            "every class here has a single image"
        )


class PairDataset(Dataset):
    """``pairs_per_epoch`` random pairs ``(x1, x2, y)``, y = 0 similar, 1 not (notebook 02).

    Exactly ``round(pairs_per_epoch * positive_fraction)`` pairs are similar,
    in random order among the dissimilar ones. The first image of a pair is
    uniform over the images (of classes with two or more images, for similar
    pairs); its partner is another image of its class, or any image of another
    class. ``pairs`` (indices) and ``targets`` (y) show the current epoch.
    """

    def __init__(
        self,
        data: ImageDataset,
        pairs_per_epoch: int,
        positive_fraction: float = 0.25,
        seed: int = 0,
    ) -> None:
        _check_whole(pairs_per_epoch, "pairs_per_epoch", 1)
        if not 0 <= positive_fraction <= 1:
            raise ValueError(
                f"positive_fraction is the share of similar pairs, in [0, 1]; got "
                f"{positive_fraction} (0.25 gives the 1:3 ratio)"
            )
        self.data = data
        self.pairs_per_epoch = pairs_per_epoch
        self.positive_fraction = positive_fraction
        self.seed = seed
        self._index = _ClassIndex(data.labels)
        _check_drawable(self._index, "pairs")
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """Draw the pairs of ``epoch`` (the same for the same seed and epoch)."""
        rng = _rng(self.seed, epoch)
        n_similar = round(self.pairs_per_epoch * self.positive_fraction)
        similar = rng.choice(self._index.anchors_with_positives(), n_similar)
        dissimilar = rng.integers(0, len(self.data), self.pairs_per_epoch - n_similar)
        first = np.concatenate([similar, dissimilar])
        second = np.concatenate(
            [self._index.positives(rng, similar), self._index.negatives(rng, dissimilar)]
        )
        y = np.concatenate([np.zeros(len(similar)), np.ones(len(dissimilar))]).astype(np.int64)
        shuffle = rng.permutation(self.pairs_per_epoch)
        self.pairs = torch.from_numpy(np.stack([first, second], axis=1)[shuffle])
        self.targets = torch.from_numpy(y[shuffle])
        self.epoch = epoch

    def __len__(self) -> int:
        return self.pairs_per_epoch

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        i, j = self.pairs[index]
        return self.data.images[i], self.data.images[j], self.targets[index]


class TripletDataset(Dataset):
    """``triplets_per_epoch`` random triplets ``(anchor, positive, negative)`` (notebook 03).

    The anchor is uniform over the images of classes with two or more images,
    the positive another image of its class, the negative any image of another
    class. ``triplets`` holds the current epoch's indices, one row per triplet.
    """

    def __init__(self, data: ImageDataset, triplets_per_epoch: int, seed: int = 0) -> None:
        _check_whole(triplets_per_epoch, "triplets_per_epoch", 1)
        self.data = data
        self.triplets_per_epoch = triplets_per_epoch
        self.seed = seed
        self._index = _ClassIndex(data.labels)
        _check_drawable(self._index, "triplets")
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """Draw the triplets of ``epoch`` (the same for the same seed and epoch)."""
        rng = _rng(self.seed, epoch)
        anchors = rng.choice(self._index.anchors_with_positives(), self.triplets_per_epoch)
        positives = self._index.positives(rng, anchors)
        negatives = self._index.negatives(rng, anchors)
        self.triplets = torch.from_numpy(np.stack([anchors, positives, negatives], axis=1))
        self.epoch = epoch

    def __len__(self) -> int:
        return self.triplets_per_epoch

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        a, p, n = self.triplets[index]
        return self.data.images[a], self.data.images[p], self.data.images[n]


class PKSampler(Sampler[list[int]]):
    """Batches of ``p`` classes × ``k`` images, index lists for a ``DataLoader`` (notebook 04).

    Use it as ``DataLoader(data, batch_sampler=PKSampler(data.labels, p, k))``.
    One epoch goes through the data once:

    1. each class's images are shuffled and cut into groups of K; a last,
       incomplete group is filled up with other images of the same class
       (drawn at random from the rest of the class), so every image is in a
       group and no image appears twice in a group;
    2. each batch takes one group from each of the P classes with the most
       groups left (ties broken at random), until fewer than P classes have a
       group left.

    So every image appears at least once per epoch, except those of the groups
    left at the end (with classes of equal size, fewer than P groups), and the
    number of batches does not depend on the shuffle: ``len(sampler)`` is exact.
    Classes with fewer than K images cannot fill a group and are left out;
    ``excluded_classes`` lists them.
    """

    def __init__(
        self,
        labels: torch.Tensor | np.ndarray | Sequence[int],
        p: int,
        k: int,
        seed: int = 0,
    ) -> None:
        _check_whole(p, "p", 2, " classes per batch, so every image has negatives")
        _check_whole(k, "k", 2, " images per class, so every image has positives")
        _check_whole(seed, "seed", 0)
        index = _ClassIndex(labels)
        enough = index.count >= k
        if enough.sum() < p:
            largest = np.sort(index.count)[::-1]
            fixes = [f"lower p to at most {enough.sum()}"] if enough.sum() >= 2 else []
            if len(largest) >= p and largest[p - 1] >= 2:
                fixes.append(f"lower k to at most {largest[p - 1]}")
            raise ValueError(
                f"cannot fill batches of p={p} classes × k={k} images: the labels have "
                f"{len(index.classes)} classes, {enough.sum()} of them with at least {k} images "
                "(classes with fewer are left out); "
                + (", or ".join(fixes) if fixes else "this data needs more classes")
            )
        self.p, self.k, self.seed = p, k, seed
        self.excluded_classes = tuple(index.classes[~enough].tolist())
        self._members = [
            index.order[start : start + count]
            for start, count in zip(index.start[enough], index.count[enough], strict=True)
        ]
        self.epoch = 0
        self._num_batches = self._count_batches()

    def _count_batches(self) -> int:
        """Replay step 2 on the group counts alone: the shuffle never changes them."""
        remaining = sorted((-(-len(m) // self.k) for m in self._members), reverse=True)
        batches = 0
        while remaining[self.p - 1] > 0:
            remaining[: self.p] = [n - 1 for n in remaining[: self.p]]
            remaining.sort(reverse=True)
            batches += 1
        return batches

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose batches the next iteration yields."""
        _rng(self.seed, epoch)  # checks the value
        self.epoch = epoch

    def __len__(self) -> int:
        return self._num_batches

    def __iter__(self) -> Iterator[list[int]]:
        rng = _rng(self.seed, self.epoch)
        groups = []
        for members in self._members:
            shuffled = rng.permutation(members)
            rest = len(shuffled) % self.k
            if rest:
                filler = rng.choice(shuffled[:-rest], size=self.k - rest, replace=False)
                shuffled = np.concatenate([shuffled, filler])
            groups.append(shuffled.reshape(-1, self.k))
        remaining = np.array([len(g) for g in groups])
        while True:
            by_most_left = np.lexsort((rng.random(len(groups)), -remaining))
            chosen = by_most_left[: self.p]
            if remaining[chosen[-1]] == 0:
                return
            remaining[chosen] -= 1
            yield np.concatenate([groups[c][remaining[c]] for c in chosen]).tolist()
