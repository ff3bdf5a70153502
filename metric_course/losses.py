"""The losses of the course: Siamese pairs (notebook 02), triplets (03), online mining (04).

Two conventions differ between papers and libraries; this module fixes them:

- **Which label means "similar".** ``contrastive_loss`` follows Hadsell,
  Chopra and LeCun (2006) and the seed article: **y = 0 for a similar pair,
  y = 1 for a dissimilar one**. Many libraries (pytorch-metric-learning
  among them) use 1 for "similar". The online losses take class labels
  instead and decide "same class" themselves.
- **Plain or squared distance.** d(x, y) = ||x − y|| unless ``squared=True``
  (||x − y||², as in FaceNet) or ``distance="cosine"``. The margin is in its units.

Every loss is one function, and every online loss reads as the same five steps
(:func:`_online_loss` for batch-hard and semi-hard, which share them literally):

1. **validate** the batch, its options and its references once (:func:`check_batch`);
2. **distance matrix** (:func:`~metric_course.distances.distance_matrix`),
   ``distance="euclidean"`` or ``"cosine"`` (1 − cos, which takes no ``squared``);
3. **mine** it with :mod:`metric_course.mining`'s miners (index tables);
4. **reduce** the per-pair or per-triplet losses, ``reducer="mean"`` over all
   of them, zeros included, or ``"non_zero"`` over the positive ones only
   (:func:`reduce`);
5. **stats**, only when asked for.

With ``references`` and ``reference_labels`` an online loss takes its anchors
from the batch and its positives and negatives from another set: notebook 07's
cross-batch memory (:mod:`metric_course.memory`) is the same loss with the memory
as references. Without them the batch is its own reference set, no anchor its own positive.

How these losses differ from pytorch-metric-learning (PML 2.x) defaults:

- PML's distances L2-normalise the embeddings first
  (``LpDistance(normalize_embeddings=True)``). We use the embeddings as
  given; the course's network normalises its output itself.
- PML's losses average only the non-zero per-triplet or per-pair losses
  (``AvgNonZeroReducer``, our ``reducer="non_zero"``). ``batch_all_triplet_loss``
  does so by default, on purpose; the other losses here default to a plain
  mean, zeros included (``MeanReducer``).
- PML's ``ContrastiveLoss`` is not squared, ``relu(d − pos_margin)`` and
  ``relu(neg_margin − d)``, and averages its similar and dissimilar parts
  separately before adding them.

Every loss returns one tensor. Pass a dict as ``stats=`` and the loss writes
into it, as plain floats computed without gradient:

- ``active_fraction``: share of the considered triplets (or pairs) with a
  positive loss; it falls as training makes triplets easy;
- ``mean_positive_distance``, ``mean_negative_distance``: mean distance of
  the anchor-positive and anchor-negative pairs the loss used, in the loss's
  distance (0.0 if there are none);
- ``embedding_norm``: mean L2 norm of the embeddings (the anchors). With
  unnormalised embeddings a value sinking towards 0, or a loss stuck at the
  margin, means the embeddings collapsed onto one point;
- counts that say why a loss is 0: ``positive_pairs`` (ordered (a, p)),
  ``valid_triplets``, ``anchors_used`` (anchors with a positive and a negative),
  and for the contrastive loss ``negative_pairs``;
- for the contrastive losses, ``active_dissimilar_fraction``: similar pairs
  are active until they coincide, so this share says how many dissimilar
  pairs are still inside the margin.

A batch with nothing to learn from (one class only, or no two images of a
class) gives a loss of exactly 0 with a zero gradient. ``LOSSES`` names every
loss (the registry ``training.make_loss`` and ``distributed`` use), ``OPTIONS``
the keyword options each one takes, and ``MARGINS`` the margin each one trains
with, the course recipe's (measured in docs/recipe.md); :func:`check_margin` is
the one rule every margin obeys.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from functools import partial

import torch

from .distances import (
    check_distance,
    check_embeddings,
    distance_matrix,
    distances_to,
    paired_distances,
)
from .mining import (
    MinedTriplets,
    active_triplet_counts,
    check_labels,
    hardest_triplets,
    negative_mask,
    pair_counts,
    pair_masks,
    positive_table,
    semi_hard_triplets,
)

REDUCERS = ("mean", "non_zero")

# The margin each loss trains with: the course recipe's, measured in docs/recipe.md.
# Distances of L2-normalised embeddings lie in [0, 2].
MARGINS = {
    "contrastive": 1.0,
    "contrastive_all_pairs": 1.0,
    "triplet": 0.2,
    "batch_all": 0.05,
    "batch_hard": 0.05,
    "semi_hard": 0.05,
}


# ---------------------------------------------------------------- checks


def check_margin(margin: float) -> None:
    """The margin rule of every loss: a finite number > 0.

    With a margin of 0 every embedding on one point costs nothing: the loss
    would reward the collapse it is meant to prevent; with an infinite one no
    triplet is ever easy and the loss is infinite.
    """
    if isinstance(margin, bool) or not isinstance(margin, numbers.Real):
        fix = "leave it out for the default (MARGINS)" if margin is None else "e.g. margin=0.2"
        raise ValueError(f"the margin must be a number > 0, got {margin!r}; {fix}")
    if not 0 < margin < float("inf"):
        raise ValueError(f"the margin must be positive and finite (a number > 0), got {margin}")


def check_reducer(reducer: str) -> None:
    """Raise ``ValueError`` unless ``reducer`` is one of ``REDUCERS``."""
    if reducer not in REDUCERS:
        raise ValueError(f"unknown reducer {reducer!r}; choose one of {', '.join(REDUCERS)}")


def check_options(distance: str, reducer: str, squared: bool = False) -> None:
    """Raise ``ValueError`` unless ``distance``, ``reducer`` and ``squared`` fit together."""
    check_distance(distance, squared)
    check_reducer(reducer)


def check_batch(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    references: torch.Tensor | None = None,
    reference_labels: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Validate a labelled batch and its references once: step 1 of every online loss.

    Returns the labels and the reference labels (``None``: the batch is its own
    reference set) on the embeddings' device.
    """
    check_embeddings(embeddings)
    check_labels(labels, len(embeddings))
    if len(embeddings) == 0:
        raise ValueError("the batch is empty: an online loss needs at least one embedding")
    if (references is None) != (reference_labels is None):
        raise ValueError("give references and reference_labels together, or neither")
    if references is None:
        return labels.to(embeddings.device), None
    check_embeddings(references, "references")
    check_labels(reference_labels, len(references))
    if len(references) == 0 or references.shape[1] != embeddings.shape[1]:
        raise ValueError(
            f"references must be (R ≥ 1, {embeddings.shape[1]}) like the embeddings, got "
            f"{tuple(references.shape)}; leave them out to mine the batch itself"
        )
    return labels.to(embeddings.device), reference_labels.to(embeddings.device)


# ---------------------------------------------------------------- distances, reducer, stats


def _ranking_matrix(embeddings, references, distance: str) -> torch.Tensor:
    """A matrix that only ranks pairs, without gradient: squared ranks as plain, without √."""
    with torch.no_grad():
        squared = distance == "euclidean"
        return distance_matrix(embeddings, references, distance, squared, check=False)


def reduce(
    losses: torch.Tensor,
    reducer: str = "mean",
    *,
    terms: int | None = None,
    non_zero: int | None = None,
) -> torch.Tensor:
    """The reducer: one number from per-pair or per-triplet losses (notebook 04).

    ``"mean"`` divides their sum by how many there are, zeros included (PML's
    ``MeanReducer``); ``"non_zero"`` by how many are positive (PML's default
    ``AvgNonZeroReducer``), so the loss does not fade as most terms become easy.
    No terms give 0, still in the graph. ``terms`` and ``non_zero`` say how many
    terms (and positive ones) ``losses`` stands for when it does not hold them
    one by one: a matrix that holds each pair twice, or batch-all's sum.
    """
    check_reducer(reducer)
    if reducer == "mean":
        count = losses.numel() if terms is None else terms
    else:
        count = (losses > 0).sum() if non_zero is None else non_zero
    if isinstance(count, torch.Tensor):
        return losses.sum() / count.clamp(min=1)
    return losses.sum() / max(count, 1)


def mean_stat(values: torch.Tensor) -> float:
    """Mean of ``values`` as a plain float for a loss's stats; 0.0 when there are none."""
    return values.float().mean().item() if values.numel() else 0.0


@torch.no_grad()
def loss_stats(
    embeddings: torch.Tensor,
    active: torch.Tensor | float,
    positive_distances: torch.Tensor,
    negative_distances: torch.Tensor,
    **counts: torch.Tensor | float,
) -> dict[str, float]:
    """The stats every loss reports (see the module's docstring), from what it measured.

    ``active`` holds one bool per pair or triplet considered (or their share,
    as a number); ``counts`` are added as floats.
    """
    active_fraction = mean_stat(active) if isinstance(active, torch.Tensor) else active
    return {
        "active_fraction": float(active_fraction),
        "mean_positive_distance": mean_stat(positive_distances),
        "mean_negative_distance": mean_stat(negative_distances),
        "embedding_norm": mean_stat(embeddings.float().norm(dim=1)),
        **{name: float(count) for name, count in counts.items()},
    }


def _triplet_counts(n_positives: torch.Tensor, n_negatives: torch.Tensor) -> dict[str, int]:
    """How many pairs and triplets a batch offers, without building the B³ mask."""
    return {
        "positive_pairs": int(n_positives.sum()),
        "valid_triplets": int((n_positives * n_negatives).sum()),
        "anchors_used": int(((n_positives > 0) & (n_negatives > 0)).sum()),
    }


# ---------------------------------------------------------------- Siamese pairs


def contrastive_loss(
    emb_a: torch.Tensor,
    emb_b: torch.Tensor,
    y: torch.Tensor,
    margin: float = MARGINS["contrastive"],
    *,
    distance: str = "euclidean",
    reducer: str = "mean",
    stats: dict[str, float] | None = None,
) -> torch.Tensor:
    """Contrastive loss of Hadsell et al. (2006) over a batch of pairs (notebook 02).

        L = mean over pairs of  (1 − Y) · ½ · D²  +  Y · ½ · max(0, m − D)²

    with D = ||emb_a − emb_b|| (or 1 − cos with ``distance="cosine"``),
    **Y = 0 for a similar pair and Y = 1 for a dissimilar one**. Similar pairs
    are pulled together; dissimilar pairs are pushed apart until they are m
    apart, after which they cost nothing.

    ``y`` holds 0s and 1s (any numeric dtype); anything else raises
    ``ValueError``, since a wrong convention silently trains the opposite.
    PML's ``ContrastiveLoss`` uses label 1 for "similar" and no squares.
    """
    check_margin(margin)
    check_options(distance, reducer)
    d = paired_distances(emb_a, emb_b, distance=distance)
    if not isinstance(y, torch.Tensor) or y.shape != d.shape:
        raise ValueError(
            f"y must be a tensor of shape ({len(d)},), one 0/1 target per pair, got "
            f"{tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__}"
        )
    if not ((y == 0) | (y == 1)).all():
        raise ValueError(
            "y must be 0 (similar pair) or 1 (dissimilar pair), the convention of Hadsell et al.; "
            f"got values {y.unique().tolist()[:5]}"
        )
    dissimilar = y.to(d)
    similar_term = 0.5 * d.pow(2)
    dissimilar_term = 0.5 * (margin - d).clamp(min=0).pow(2)
    per_pair = (1 - dissimilar) * similar_term + dissimilar * dissimilar_term
    if stats is not None:
        dissimilar = dissimilar.bool()
        stats.update(
            loss_stats(
                torch.cat([emb_a, emb_b]),
                per_pair > 0,
                d[~dissimilar],
                d[dissimilar],
                active_dissimilar_fraction=mean_stat(per_pair[dissimilar] > 0),
            )
        )
    return reduce(per_pair, reducer)


def contrastive_loss_all_pairs(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    margin: float = MARGINS["contrastive_all_pairs"],
    *,
    distance: str = "euclidean",
    reducer: str = "mean",
    references: torch.Tensor | None = None,
    reference_labels: torch.Tensor | None = None,
    stats: dict[str, float] | None = None,
) -> torch.Tensor:
    """The contrastive loss over every pair {i, j} of a labelled batch (notebook 04).

        L = mean over i < j of  (1 − Y_ij) · ½ · D_ij²  +  Y_ij · ½ · max(0, m − D_ij)²

    with Y_ij = 0 when labels i and j agree and 1 when they differ. Each
    unordered pair counts once; in a P × K batch most pairs are dissimilar.
    With references: every (anchor, reference) pair.

    Against PML's ``ContrastiveLoss(pos_margin=0, neg_margin=m)``: PML uses
    D and relu(m − D) without squares or ½, and takes the mean of the non-zero
    similar-pair losses plus the mean of the non-zero dissimilar-pair losses;
    here one mean runs over all pairs, zeros included.
    """
    check_margin(margin)
    labels, reference_labels = check_batch(embeddings, labels, references, reference_labels)
    check_options(distance, reducer)
    d = distance_matrix(embeddings, references, distance, check=False)
    is_dissimilar = negative_mask(labels, reference_labels)
    # both terms as ½ r²: r = D where Y = 0 and r = max(0, m − D) where Y = 1 (D ≥ 0)
    r = torch.where(is_dissimilar, margin - d, d).relu_()
    # within the batch the matrix holds each pair {i, j} twice, and zeros on its diagonal
    pairs = r.numel() - len(labels) if references is None else r.numel()
    loss = 0.5 * reduce(r * r, reducer, terms=pairs)
    if stats is not None:
        with torch.no_grad():
            each_pair_once = torch.ones_like(is_dissimilar)
            if references is None:
                each_pair_once = each_pair_once.triu(diagonal=1)
            similar, dissimilar = each_pair_once & ~is_dissimilar, each_pair_once & is_dissimilar
            stats.update(
                loss_stats(
                    embeddings,
                    r[each_pair_once] > 0,
                    d[similar],
                    d[dissimilar],
                    active_dissimilar_fraction=mean_stat(r[dissimilar] > 0),
                    positive_pairs=similar.sum(),
                    negative_pairs=dissimilar.sum(),
                )
            )
    return loss


# ---------------------------------------------------------------- triplets


def triplet_loss(
    anchor: torch.Tensor,
    positive: torch.Tensor,
    negative: torch.Tensor,
    margin: float = MARGINS["triplet"],
    squared: bool = False,
    *,
    distance: str = "euclidean",
    reducer: str = "mean",
    stats: dict[str, float] | None = None,
) -> torch.Tensor:
    """Triplet loss over a batch of given triplets (Schroff et al. 2015; notebook 03).

        L = mean over triplets of  max(0, d(a, p) − d(a, n) + α)

    The negative must be farther from the anchor than the positive by at
    least the margin α; such a triplet costs 0. ``squared=True`` uses
    squared distances, as FaceNet does. PML's ``TripletMarginLoss`` averages
    only the non-zero terms (``reducer="non_zero"``) and normalises the
    embeddings first.
    """
    check_margin(margin)
    check_options(distance, reducer, squared)
    if not (anchor.shape == positive.shape == negative.shape):
        raise ValueError(
            "anchor, positive and negative must have the same shape, got "
            f"{tuple(anchor.shape)}, {tuple(positive.shape)} and {tuple(negative.shape)}"
        )
    d_ap = paired_distances(anchor, positive, squared, distance=distance)
    d_an = paired_distances(anchor, negative, squared, distance=distance)
    losses = (d_ap - d_an + margin).clamp(min=0)
    if stats is not None:
        stats.update(loss_stats(torch.cat([anchor, positive, negative]), losses > 0, d_ap, d_an))
    return reduce(losses, reducer)


def batch_all_triplet_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    margin: float = MARGINS["batch_all"],
    squared: bool = False,
    *,
    distance: str = "euclidean",
    reducer: str = "non_zero",
    references: torch.Tensor | None = None,
    reference_labels: torch.Tensor | None = None,
    stats: dict[str, float] | None = None,
) -> torch.Tensor:
    """Batch-all: every valid triplet of the batch, averaged over the active ones (notebook 04).

        L = (1 / N₊) · Σ over active (a, p, n) of  d(a, p) − d(a, n) + α

    where a triplet is active when d(a, p) − d(a, n) + α > 0 and N₊ counts
    them. Averaging over the active triplets only (as PML's default
    ``AvgNonZeroReducer`` does) keeps the loss from fading as most triplets
    become easy; ``reducer="mean"`` divides by all valid triplets instead.

    How it is computed without a B × B × B tensor: an active triplet's loss
    is linear in its two distances, so the sum is a weighted sum of the
    distance matrix. d(a, p) enters once per active negative of the pair
    (a, p), and d(a, n) once per active positive of the anchor a
    (:func:`~metric_course.mining.active_triplet_counts` counts them, without
    gradient); only the distances are differentiated.
    """
    check_margin(margin)
    labels, reference_labels = check_batch(embeddings, labels, references, reference_labels)
    check_options(distance, reducer, squared)
    d = distance_matrix(embeddings, references, distance, squared, check=False)
    is_positive, is_negative = pair_masks(labels, reference_labels)
    n_positives, n_negatives = pair_counts(labels, reference_labels)
    positive_index, real = positive_table(is_positive, n_positives)
    uses_of_positive, uses_of_negative = active_triplet_counts(
        d, positive_index, real, is_negative, margin
    )
    active_triplets = int(uses_of_positive.sum(dtype=torch.float64))
    valid_triplets = int((n_positives * n_negatives).sum())

    d_ap = d.gather(1, positive_index)  # (B, K): d(a, p) for each positive p of anchor a
    total = (
        (uses_of_positive * d_ap).sum() - (uses_of_negative * d).sum() + margin * active_triplets
    )
    loss = reduce(total, reducer, terms=valid_triplets, non_zero=active_triplets)
    if stats is not None:
        stats.update(
            loss_stats(
                embeddings,
                active_triplets / max(valid_triplets, 1),
                d_ap[real],
                d[is_negative],
                active_triplets=active_triplets,
                **_triplet_counts(n_positives, n_negatives),
            )
        )
    return loss


def _online_loss(
    mine: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], MinedTriplets],
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    margin: float,
    squared: bool,
    distance: str,
    reducer: str,
    references: torch.Tensor | None,
    reference_labels: torch.Tensor | None,
    stats: dict[str, float] | None,
) -> torch.Tensor:
    """The skeleton of a mining loss: validate, rank, mine, measure, reduce, stats."""
    check_margin(margin)
    labels, reference_labels = check_batch(embeddings, labels, references, reference_labels)
    check_options(distance, reducer, squared)
    ranking = _ranking_matrix(embeddings, references, distance)
    is_positive, is_negative = pair_masks(labels, reference_labels)
    mined = mine(ranking, is_positive, is_negative)
    # the picked pairs measured again, by subtraction: exact, and only they get a gradient
    measure = partial(distances_to, embeddings, references=references, check=False)
    d_ap = measure(mined.positive, squared, distance=distance)[mined.used]
    d_an = measure(mined.negative, squared, distance=distance)[mined.used]
    losses = (d_ap - d_an + margin).clamp(min=0)
    if stats is not None:
        counts = _triplet_counts(*pair_counts(labels, reference_labels))
        if mined.fallback is not None:
            counts["fallback_pairs"] = int(mined.fallback.sum())
        stats.update(loss_stats(embeddings, losses > 0, d_ap, d_an, **counts))
    return reduce(losses, reducer)


def batch_hard_triplet_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    margin: float = MARGINS["batch_hard"],
    squared: bool = False,
    *,
    distance: str = "euclidean",
    reducer: str = "mean",
    references: torch.Tensor | None = None,
    reference_labels: torch.Tensor | None = None,
    stats: dict[str, float] | None = None,
) -> torch.Tensor:
    """Batch-hard (Hermans, Beyer and Leibe 2017): one hardest triplet per anchor (notebook 04).

        L = mean over anchors a of  max(0, max_p d(a, p) − min_n d(a, n) + α)

    For each anchor: its farthest positive and its nearest negative. The mean
    runs over the anchors that have at least one positive and one negative,
    zeros included. Equals PML's ``TripletMarginLoss`` on the triplets of
    ``BatchHardMiner`` with a ``MeanReducer`` and
    ``LpDistance(normalize_embeddings=False)``; PML's default reducer would
    average only the non-zero terms (``reducer="non_zero"``). With references
    (notebook 07's cross-batch memory) the positives and negatives come from
    them; a reference that is a copy of its anchor is a positive at distance 0,
    never the farthest unless it is the only one.
    """
    return _online_loss(
        hardest_triplets,
        embeddings,
        labels,
        margin,
        squared,
        distance,
        reducer,
        references,
        reference_labels,
        stats,
    )


def _semi_hard_miner(distances, is_positive, is_negative) -> MinedTriplets:
    return semi_hard_triplets(distances, *positive_table(is_positive), is_negative)


def semi_hard_triplet_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    margin: float = MARGINS["semi_hard"],
    squared: bool = False,
    *,
    distance: str = "euclidean",
    reducer: str = "mean",
    references: torch.Tensor | None = None,
    reference_labels: torch.Tensor | None = None,
    stats: dict[str, float] | None = None,
) -> torch.Tensor:
    """Semi-hard mining as in FaceNet (Schroff et al. 2015): one negative per pair (notebook 04).

        L = mean over anchor-positive pairs (a, p) of  max(0, d(a, p) − d(a, n*) + α)

    where n* is the nearest negative that is not closer than the positive,
    d(a, n*) ≥ d(a, p). If n* lies within the margin the triplet is semi-hard
    and teaches something; if it lies beyond, every such negative is easy and
    the pair costs 0 (hard negatives are left alone on purpose: FaceNet found
    that they can collapse the embedding early in training).

    Fallback: when every negative is closer than the positive (all hard), n*
    is the farthest negative, the least hard one, as in TensorFlow Addons'
    ``triplet_semihard_loss``. The mean runs over all pairs whose anchor has
    a negative, zeros included. Stats add ``fallback_pairs``.

    PML's ``TripletMarginMiner(type_of_triplets="semihard")`` means something
    else: it keeps *every* triplet with 0 < d(a, n) − d(a, p) ≤ α, many
    negatives per pair and no fallback, and its loss averages the non-zero
    terms. mining.triplet_categories labels exactly those triplets SEMI_HARD
    (up to ties at the boundaries).
    """
    return _online_loss(
        _semi_hard_miner,
        embeddings,
        labels,
        margin,
        squared,
        distance,
        reducer,
        references,
        reference_labels,
        stats,
    )


# ---------------------------------------------------------------- the registry

# Every loss by name. "contrastive" takes pair batches (x1, x2, y), "triplet"
# triplet batches, the online losses labelled P × K batches.
ONLINE_LOSSES = {
    "contrastive_all_pairs": contrastive_loss_all_pairs,
    "batch_all": batch_all_triplet_loss,
    "batch_hard": batch_hard_triplet_loss,
    "semi_hard": semi_hard_triplet_loss,
}
LOSSES = {"contrastive": contrastive_loss, "triplet": triplet_loss, **ONLINE_LOSSES}

# The keyword options each loss takes besides its margin: what training.make_loss accepts.
# The contrastive losses square D themselves, so they take no ``squared``.
_PAIR_OPTIONS = frozenset({"distance", "reducer"})
_TRIPLET_OPTIONS = _PAIR_OPTIONS | {"squared"}
OPTIONS = {
    "contrastive": _PAIR_OPTIONS,
    "contrastive_all_pairs": _PAIR_OPTIONS,
    "triplet": _TRIPLET_OPTIONS,
    "batch_all": _TRIPLET_OPTIONS,
    "batch_hard": _TRIPLET_OPTIONS,
    "semi_hard": _TRIPLET_OPTIONS,
}
