"""Measuring an embedding: retrieval metrics, few-shot episodes and verification.

Every number the course prints about a model comes from here, and is
measured on classes the model never saw in training: that is the promise of
metric learning. Three ways to ask "is the space any good?":

- **retrieval**: take each image as a query and rank all the others by
  distance. Precision@1, R-Precision and MAP@R (Musgrave et al. 2020) say how
  many of the nearest images share the query's class.
- **few-shot classification**: enrol N new classes from K images each and
  name held-out queries by their nearest class mean (prototype) or nearest
  enrolled image.
- **verification**: accept a pair as "same class" when its distance is below
  a threshold; the ROC curve shows every threshold at once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.metrics import roc_auc_score, roc_curve
from torch import nn

from .distances import check_embeddings
from .labels import as_labels
from .neighbours import NeighbourIndex, nearest_neighbours


@torch.no_grad()
def embed(
    model: nn.Module,
    images: torch.Tensor,
    batch_size: int = 1024,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Embed ``images`` (N, C, H, W) in batches and return an (N, D) CPU tensor (notebook 02).

    Accepts a dataset with an ``images`` attribute too. The model is put in
    evaluation mode (batch norm uses its running statistics) and restored to
    the mode it was in.
    """
    images = getattr(images, "images", images)
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise ValueError(
            "embed expects images as a (N, channels, height, width) tensor or a dataset "
            f"with an .images attribute, got {type(images).__name__} "
            f"of shape {tuple(getattr(images, 'shape', ()))}"
        )
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    chunks = [
        model(images[i : i + batch_size].to(device)).float().cpu()
        for i in range(0, len(images), batch_size)
    ]
    model.train(was_training)
    return torch.cat(chunks) if chunks else torch.empty(0, 0)


def check_embeddings_and_labels(embeddings: torch.Tensor, labels: torch.Tensor) -> None:
    """Finite (N, D) embeddings with one label each, or a ValueError that says what is wrong."""
    check_embeddings(embeddings, squared=False)  # the search rescales: any finite size
    if labels.ndim != 1 or len(labels) != len(embeddings):
        raise ValueError(
            f"labels must be 1-D with one label per embedding: got labels of shape "
            f"{tuple(labels.shape)} for {len(embeddings)} embeddings"
        )


def _as_tensor(values) -> torch.Tensor:
    return values if isinstance(values, torch.Tensor) else torch.as_tensor(np.asarray(values))


def _check_recall_k(recall_k: Sequence[int], n: int) -> tuple[int, ...]:
    recall_k = tuple(recall_k)
    bad = [
        k
        for k in recall_k
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= n - 1
    ]
    if bad or not recall_k:
        raise ValueError(
            f"recall_k lists the depths k of recall@k, each a whole number from 1 to {n - 1} "
            f"(the other items a query can retrieve among {n}), got {list(recall_k)}"
        )
    return recall_k


def retrieval_metrics(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    recall_k: Sequence[int] = (1, 5),
    batch_size: int = 1024,
    index: NeighbourIndex | None = None,
) -> dict[str, float]:
    """Leave-one-out retrieval metrics of an embedding, by Euclidean distance (notebook 01).

    Each item is a query against all the *other* items. With R the number of
    other items of the query's class and rel(i) = 1 when the i-th neighbour
    shares its class:

    - ``precision_at_1``: share of queries whose nearest neighbour is right.
    - ``r_precision``: mean of (1/R) Σ_{i≤R} rel(i), the share of right items
      among the R nearest.
    - ``map_at_r``: mean of (1/R) Σ_{i≤R} P(i)·rel(i) with P(i) the precision
      of the first i neighbours: like R-Precision, but it also rewards putting
      the right items *first*.
    - ``recall_at_k``: share of queries with at least one right item among
      the k nearest (one entry per k in ``recall_k``).

    Queries alone in their class (R = 0) are skipped, as in
    pytorch-metric-learning's ``AccuracyCalculator``, whose numbers these equal.
    Items at equal distance from a query are ranked pessimistically, those of
    another class first, so a tie never flatters the score and the metrics do
    not depend on the order of the items. The neighbours come from
    :func:`metric_course.neighbours.nearest_neighbours`, exact, or through
    ``index``, a faiss index over ``embeddings`` (``search.build_index``;
    notebook 07), ``batch_size`` queries at a time.
    """
    embeddings, labels = _as_tensor(embeddings).float(), torch.from_numpy(as_labels(labels))
    check_embeddings_and_labels(embeddings, labels)
    if len(labels) == 0:
        raise ValueError(
            "no items to retrieve: got 0 embeddings and 0 labels; pass the embeddings of a "
            "non-empty dataset"
        )
    # ids renumbered 0..C-1: a count per class, not a count table as long as the largest id
    labels = labels.unique(return_inverse=True)[1]
    if labels.max() == 0:
        raise ValueError(
            f"all {len(labels)} items have the same label, so every neighbour would be right "
            "and every metric 1.0; retrieval needs items of two or more classes"
        )
    same_class_counts = torch.bincount(labels)[labels] - 1
    keep = same_class_counts > 0
    if not keep.any():
        raise ValueError("no class has two or more items, so no query has a right answer")
    recall_k = _check_recall_k(recall_k, len(labels))
    depth = int(max(same_class_counts.max().item(), max(recall_k)))

    precision_1, r_precision, map_r = [], [], []
    recall_hits = {k: [] for k in recall_k}
    for start in range(0, len(labels), batch_size):
        rows = torch.arange(start, min(start + batch_size, len(labels)))
        found = nearest_neighbours(
            embeddings[rows],
            embeddings,
            depth,
            exclude_self=rows,
            index=index,
            chunk_size=batch_size,
            tie_labels=(labels[rows], labels),
        ).indices.cpu()  # searched where the embeddings are; counted here
        relevant = ((found >= 0) & (labels[found.clamp(min=0)] == labels[rows, None])).double()
        r = same_class_counts[rows].clamp(min=1)
        within_r = torch.arange(depth)[None, :] < r[:, None]
        precision_at_i = relevant.cumsum(1) / torch.arange(1, depth + 1)
        precision_1.append(relevant[:, 0])
        r_precision.append((relevant * within_r).sum(1) / r)
        map_r.append((precision_at_i * relevant * within_r).sum(1) / r)
        for k in recall_k:
            recall_hits[k].append(relevant[:, :k].amax(1))

    def mean_over_kept(parts: list[torch.Tensor]) -> float:
        return torch.cat(parts)[keep].mean().item()

    metrics = {
        "precision_at_1": mean_over_kept(precision_1),
        "r_precision": mean_over_kept(r_precision),
        "map_at_r": mean_over_kept(map_r),
    }
    for k in recall_k:
        metrics[f"recall_at_{k}"] = mean_over_kept(recall_hits[k])
    return metrics


def nearest_prototype(
    support: torch.Tensor, support_labels: torch.Tensor, queries: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each query's nearest prototype (support class mean), as (distance, label) (notebook 05).

    The distance says how sure the naming is: a query far from every
    prototype may be of a class the support set does not hold (notebook 05's
    open-set test).
    """
    classes = support_labels.unique()
    prototypes = torch.stack([support[support_labels == c].mean(0) for c in classes])
    nearest = nearest_neighbours(queries, prototypes, 1)
    return nearest.distances[:, 0], classes[nearest.indices[:, 0]]


def classify_by_prototypes(
    support: torch.Tensor, support_labels: torch.Tensor, queries: torch.Tensor
) -> torch.Tensor:
    """Name each query by the nearest class mean ("prototype") of the support set (notebook 05)."""
    return nearest_prototype(support, support_labels, queries)[1]


def classify_by_nearest_neighbour(
    support: torch.Tensor, support_labels: torch.Tensor, queries: torch.Tensor
) -> torch.Tensor:
    """Name each query by the label of its nearest support image (notebook 01)."""
    return support_labels[nearest_neighbours(queries, support, 1).indices[:, 0]]


CLASSIFIERS = {
    "prototype": classify_by_prototypes,
    "nearest_neighbour": classify_by_nearest_neighbour,
}


def sample_pairs(
    labels: torch.Tensor, n_pairs: int = 2000, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Draw ``n_pairs`` index pairs, half of the same class and half of different ones.

    Returns ``(first, second, same)``: two index tensors and a bool tensor.
    Labels must allow both kinds (a class with two items, and two classes);
    otherwise the draw could never finish, so it is refused up front.
    """
    labels = torch.from_numpy(as_labels(labels))
    if isinstance(n_pairs, bool) or not isinstance(n_pairs, int | np.integer) or n_pairs < 2:
        raise ValueError(f"n_pairs must be a whole number of at least 2, got {n_pairs!r}")
    counts = torch.unique(labels, return_counts=True)[1]
    if len(counts) < 2 or (counts < 2).all():
        raise ValueError(
            f"cannot draw similar and dissimilar pairs from {len(labels)} items in "
            f"{len(counts)} classes, {int((counts >= 2).sum())} of them with two items or more: "
            "pairs need at least two classes and one class with two items"
        )
    generator = torch.Generator().manual_seed(seed)
    n_same = n_pairs // 2
    first, second = [], []
    for want_same, count in ((True, n_same), (False, n_pairs - n_same)):
        got = 0
        while got < count:
            a = torch.randint(len(labels), (2 * count,), generator=generator)
            b = torch.randint(len(labels), (2 * count,), generator=generator)
            ok = (labels[a] == labels[b]) == want_same
            ok &= a != b
            a, b = a[ok][: count - got], b[ok][: count - got]
            first.append(a)
            second.append(b)
            got += len(a)
    first, second = torch.cat(first), torch.cat(second)
    return first, second, labels[first] == labels[second]


def pair_distances(
    embeddings: torch.Tensor, labels: torch.Tensor, n_pairs: int = 2000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Distances of ``n_pairs`` random pairs (half similar) and which are similar (notebook 01).

    Notebook 02 (verification). Returns ``(distances, same)``, ``same`` a bool
    array, True for a pair of one class: the form :func:`verification_roc`,
    :func:`threshold_at_far` and :func:`accept_rates` take.
    """
    embeddings = _as_tensor(embeddings).float()
    labels = _as_tensor(labels)
    check_embeddings_and_labels(embeddings, labels)
    first, second, same = sample_pairs(labels, n_pairs, seed)
    distances = (embeddings[first] - embeddings[second]).norm(dim=1)
    return distances.numpy(), same.numpy()


def check_verification_pairs(distances, same) -> tuple[np.ndarray, np.ndarray]:
    """``(distances, same)`` as 1-D float and bool arrays of one length, or a ValueError.

    ``same`` must be boolean, True for a pair of one class. 0/1 numbers are
    refused: the contrastive loss's ``y`` uses 0 for a *similar* pair, so a
    0/1 array could mean either, and read the wrong way it turns an AUC of 1
    into 0.
    """
    distances = np.asarray(
        distances.detach().cpu() if isinstance(distances, torch.Tensor) else distances
    )
    flags = np.asarray(same.detach().cpu() if isinstance(same, torch.Tensor) else same)
    if flags.dtype != bool:
        shown = np.unique(flags)[:5].tolist() if flags.dtype.kind in "biuf" else flags.dtype
        raise ValueError(
            "same must be a boolean array, True where the two items of a pair share a class "
            f"(as pair_distances returns it), got {flags.dtype} values {shown}. From the "
            "contrastive loss's y (0 = similar) pass same = (y == 0); from two label arrays "
            "pass same = (labels_a == labels_b)"
        )
    if distances.ndim != 1 or distances.shape != flags.shape:
        raise ValueError(
            f"distances and same must be 1-D and of equal length, got {distances.shape} "
            f"and {flags.shape}"
        )
    distances = distances.astype(float)
    if not np.isfinite(distances).all():
        rows = np.flatnonzero(~np.isfinite(distances))[:5].tolist()
        raise ValueError(f"distances hold NaN or infinite values (pairs {rows}…)")
    return distances, flags


@dataclass(frozen=True)
class ROC:
    """A verification ROC curve: accept a pair when its distance ≤ threshold."""

    false_accept_rate: np.ndarray
    true_accept_rate: np.ndarray
    thresholds: np.ndarray
    auc: float


def verification_roc(distances: np.ndarray, same: np.ndarray) -> ROC:
    """ROC curve and AUC of accepting pairs whose distance is at most a threshold (notebook 02).

    A smaller distance means "more similar", so the score given to scikit-learn
    is the negated distance.
    """
    distances, same = check_verification_pairs(distances, same)
    if same.all() or not same.any():
        raise ValueError("verification needs both similar and dissimilar pairs")
    far, tar, thresholds = roc_curve(same, -distances)
    return ROC(far, tar, -thresholds, float(roc_auc_score(same, -distances)))


def threshold_at_far(distances: np.ndarray, same: np.ndarray, target_far: float) -> float:
    """The largest threshold whose false-accept rate is at most ``target_far`` (notebook 02).

    The false-accept rate of threshold t is the share of *dissimilar* pairs with
    distance ≤ t: impostors let in. Returns 0.0 when even the closest impostor
    pair would break the target.
    """
    distances, same = check_verification_pairs(distances, same)
    if not 0.0 <= target_far <= 1.0:
        raise ValueError(f"target_far is a rate in [0, 1], got {target_far}")
    impostors = np.sort(distances[~same])
    if len(impostors) == 0:
        raise ValueError("threshold_at_far needs dissimilar pairs")
    allowed = math.floor(target_far * len(impostors))
    if allowed >= len(impostors):
        return float(distances.max())
    # Accept strictly fewer than the (allowed+1)-th closest impostor.
    return float(np.nextafter(impostors[allowed], -np.inf))


def accept_rates(distances: np.ndarray, same: np.ndarray, threshold: float) -> tuple[float, float]:
    """(FAR, TAR): the rates of accepting pairs with distance ≤ threshold (notebook 02)."""
    distances, same = check_verification_pairs(distances, same)
    if same.all() or not same.any():
        raise ValueError("accept_rates needs both similar and dissimilar pairs")
    accepted = distances <= threshold
    return float(accepted[~same].mean()), float(accepted[same].mean())


__all__ = [
    "CLASSIFIERS",
    "ROC",
    "accept_rates",
    "check_verification_pairs",
    "classify_by_nearest_neighbour",
    "classify_by_prototypes",
    "embed",
    "nearest_prototype",
    "pair_distances",
    "retrieval_metrics",
    "sample_pairs",
    "threshold_at_far",
    "verification_roc",
]
