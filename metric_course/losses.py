"""The losses of the course, from Siamese pairs to online triplet mining.

Two conventions differ between papers and libraries; this module fixes them:

- **Which label means "similar".** ``contrastive_loss`` follows Hadsell,
  Chopra and LeCun (2006) and the seed article: **y = 0 for a similar pair,
  y = 1 for a dissimilar one**. Many libraries (pytorch-metric-learning
  among them) use 1 for "similar". The online losses take class labels
  instead and decide "same class" themselves.
- **Plain or squared distance.** d(x, y) = ||x − y|| unless ``squared=True``
  (then ||x − y||², as in FaceNet). The margin lives in the same units.

How these losses differ from pytorch-metric-learning (PML 2.x) defaults:

- PML's distances L2-normalise the embeddings first
  (``LpDistance(normalize_embeddings=True)``). We use the embeddings as
  given; the course's network normalises its output itself.
- PML's losses average only the non-zero per-triplet or per-pair losses
  (``AvgNonZeroReducer``). ``batch_all_triplet_loss`` does the same, on purpose;
  the other losses here take a plain mean, zeros included.
- PML's ``ContrastiveLoss`` is not squared, ``relu(d − pos_margin)`` and
  ``relu(neg_margin − d)``, and averages its similar and dissimilar parts
  separately before adding them.

The online losses (``batch_all``, ``batch_hard``, ``semi_hard`` and
``contrastive_loss_all_pairs``) take one batch of embeddings with class
labels and read in four steps: validate the batch once (``_check_batch``),
build one B × B distance matrix (notebook 01's ``pairwise_distances``, its
own check skipped: the batch was checked on entry), mine it with
:mod:`metric_course.mining`, reduce the mined pairs or triplets to one number
here. Following a loss from its entry to its number takes this module and
``mining``. A batch with nothing to learn
from (one class only, or no two images of a class) gives a loss of exactly 0
with a zero gradient. With ``return_stats=True`` every loss here
(the pair and triplet losses too) also returns a ``dict[str, float]``,
computed without gradient:

- ``active_fraction``: share of the considered triplets (or pairs) with a
  positive loss; it falls as training makes triplets easy;
- ``mean_positive_distance``, ``mean_negative_distance``: mean distance of
  the anchor-positive and anchor-negative pairs the loss used, squared when
  ``squared=True`` (0.0 if there are none);
- ``embedding_norm``: mean L2 norm of the embeddings. With unnormalised
  embeddings a value sinking towards 0, or a loss stuck at the margin, means
  the embeddings collapsed onto one point;
- counts that say why a loss is 0: ``positive_pairs`` (ordered (a, p)),
  ``valid_triplets``, ``anchors_used`` (anchors with a positive and a negative),
  and for the contrastive loss ``negative_pairs``;
- for the contrastive losses, ``active_dissimilar_fraction``: similar pairs
  are active until they coincide, so this share says how many dissimilar
  pairs are still inside the margin.

``LOSSES`` names every loss (the registry ``training.make_loss`` and
``distributed`` use) and ``MARGINS`` holds the margin each one trains with,
the course recipe's (measured in docs/recipe.md); :func:`check_margin` is the
one rule every margin obeys.
"""

from __future__ import annotations

import numbers

import torch

from .distances import check_embeddings, distances_to, paired_distances, pairwise_distances
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

LossWithStats = tuple[torch.Tensor, dict[str, float]]

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


# ---------------------------------------------------------------- checks and helpers


def check_margin(margin: float) -> None:
    """The margin rule of every loss: a number > 0.

    With a margin of 0 every embedding on one point costs nothing: the loss
    would reward the collapse it is meant to prevent.
    """
    if isinstance(margin, bool) or not isinstance(margin, numbers.Real):
        fix = "leave it out for the default (MARGINS)" if margin is None else "e.g. margin=0.2"
        raise ValueError(f"the margin must be a number > 0, got {margin!r}; {fix}")
    if not margin > 0:
        raise ValueError(f"the margin must be positive (a number > 0), got {margin}")


def _check_batch(embeddings: torch.Tensor, labels: torch.Tensor, margin: float) -> torch.Tensor:
    """Validate an online batch and its margin; return the labels on the embeddings' device."""
    check_embeddings(embeddings)
    check_labels(labels, len(embeddings))
    if len(embeddings) == 0:
        raise ValueError("the batch is empty: an online loss needs at least one embedding")
    check_margin(margin)
    return labels.to(embeddings.device)


def _mean_loss(losses: torch.Tensor) -> torch.Tensor:
    """Mean of per-pair or per-triplet ``losses``; 0 (still in the graph) when there are none."""
    return losses.sum() / max(losses.numel(), 1)


def _mean_number(values: torch.Tensor) -> float:
    """Mean of ``values`` as a plain float for the stats; 0.0 when there are none."""
    return values.float().mean().item() if values.numel() else 0.0


@torch.no_grad()
def loss_stats(
    embeddings: torch.Tensor,
    active: torch.Tensor,
    positive_distances: torch.Tensor,
    negative_distances: torch.Tensor,
    **counts: torch.Tensor | float,
) -> dict[str, float]:
    """The stats every loss reports (see the module's docstring), from what it measured.

    ``active`` holds one bool per pair or triplet considered (or their share,
    as a number); ``counts`` are added as floats.
    """
    active_fraction = _mean_number(active) if isinstance(active, torch.Tensor) else active
    return {
        "active_fraction": float(active_fraction),
        "mean_positive_distance": _mean_number(positive_distances),
        "mean_negative_distance": _mean_number(negative_distances),
        "embedding_norm": _mean_number(embeddings.float().norm(dim=1)),
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
    return_stats: bool = False,
) -> torch.Tensor | LossWithStats:
    """Contrastive loss of Hadsell et al. (2006) over a batch of pairs.

        L = mean over pairs of  (1 − Y) · ½ · D²  +  Y · ½ · max(0, m − D)²

    with D = ||emb_a − emb_b||, **Y = 0 for a similar pair and Y = 1 for a
    dissimilar one**. Similar pairs are pulled together; dissimilar pairs are
    pushed apart until they are m apart, after which they cost nothing.

    ``y`` holds 0s and 1s (any numeric dtype); anything else raises
    ``ValueError``, since a wrong convention silently trains the opposite.
    PML's ``ContrastiveLoss`` uses label 1 for "similar" and no squares.
    """
    check_margin(margin)
    distance = paired_distances(emb_a, emb_b)
    if not isinstance(y, torch.Tensor) or y.shape != distance.shape:
        raise ValueError(
            f"y must be a tensor of shape ({len(distance)},), one 0/1 target per pair, got "
            f"{tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__}"
        )
    if not ((y == 0) | (y == 1)).all():
        raise ValueError(
            "y must be 0 (similar pair) or 1 (dissimilar pair), the convention of Hadsell et al.; "
            f"got values {y.unique().tolist()[:5]}"
        )
    dissimilar = y.to(distance)
    similar_term = 0.5 * distance.pow(2)
    dissimilar_term = 0.5 * (margin - distance).clamp(min=0).pow(2)
    per_pair = (1 - dissimilar) * similar_term + dissimilar * dissimilar_term
    loss = _mean_loss(per_pair)
    if not return_stats:
        return loss
    dissimilar = dissimilar.bool()
    return loss, loss_stats(
        torch.cat([emb_a, emb_b]),
        per_pair > 0,
        distance[~dissimilar],
        distance[dissimilar],
        active_dissimilar_fraction=_mean_number(per_pair[dissimilar] > 0),
    )


def contrastive_loss_all_pairs(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    margin: float = MARGINS["contrastive_all_pairs"],
    return_stats: bool = False,
) -> torch.Tensor | LossWithStats:
    """The contrastive loss over every pair {i, j} of a labelled batch.

        L = mean over i < j of  (1 − Y_ij) · ½ · D_ij²  +  Y_ij · ½ · max(0, m − D_ij)²

    with Y_ij = 0 when labels i and j agree and 1 when they differ. Each
    unordered pair counts once; in a P × K batch most pairs are dissimilar.

    Against PML's ``ContrastiveLoss(pos_margin=0, neg_margin=m)``: PML uses
    D and relu(m − D) without squares or ½, and takes the mean of the non-zero
    similar-pair losses plus the mean of the non-zero dissimilar-pair losses;
    here one mean runs over all pairs, zeros included.
    """
    labels = _check_batch(embeddings, labels, margin)
    distance = pairwise_distances(embeddings, check=False)
    is_dissimilar = negative_mask(labels)
    # both terms as ½ r²: r = D where Y = 0 and r = max(0, m − D) where Y = 1 (D ≥ 0)
    r = torch.where(is_dissimilar, margin - distance, distance).relu_()
    # the matrix holds each pair {i, j} twice, and zeros on its diagonal
    pairs = len(labels) * (len(labels) - 1)
    loss = 0.5 * (r * r).sum() / max(pairs, 1)
    if not return_stats:
        return loss
    with torch.no_grad():
        each_pair_once = torch.ones_like(is_dissimilar).triu(diagonal=1)
        similar, dissimilar = each_pair_once & ~is_dissimilar, each_pair_once & is_dissimilar
        stats = loss_stats(
            embeddings,
            r[each_pair_once] > 0,
            distance[similar],
            distance[dissimilar],
            active_dissimilar_fraction=_mean_number(r[dissimilar] > 0),
            positive_pairs=similar.sum(),
            negative_pairs=dissimilar.sum(),
        )
    return loss, stats


# ---------------------------------------------------------------- triplets


def triplet_loss(
    anchor: torch.Tensor,
    positive: torch.Tensor,
    negative: torch.Tensor,
    margin: float = MARGINS["triplet"],
    squared: bool = False,
    return_stats: bool = False,
) -> torch.Tensor | LossWithStats:
    """Triplet loss over a batch of given triplets (Schroff et al. 2015).

        L = mean over triplets of  max(0, d(a, p) − d(a, n) + α)

    The negative must be farther from the anchor than the positive by at
    least the margin α; such a triplet costs 0. ``squared=True`` uses
    squared distances, as FaceNet does. PML's ``TripletMarginLoss`` averages
    only the non-zero terms and normalises the embeddings first.
    """
    check_margin(margin)
    if not (anchor.shape == positive.shape == negative.shape):
        raise ValueError(
            "anchor, positive and negative must have the same shape, got "
            f"{tuple(anchor.shape)}, {tuple(positive.shape)} and {tuple(negative.shape)}"
        )
    d_ap = paired_distances(anchor, positive, squared=squared)
    d_an = paired_distances(anchor, negative, squared=squared)
    losses = (d_ap - d_an + margin).clamp(min=0)
    loss = _mean_loss(losses)
    if not return_stats:
        return loss
    return loss, loss_stats(torch.cat([anchor, positive, negative]), losses > 0, d_ap, d_an)


def batch_all_triplet_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    margin: float = MARGINS["batch_all"],
    squared: bool = False,
    return_stats: bool = False,
) -> torch.Tensor | LossWithStats:
    """Batch-all: every valid triplet of the batch, averaged over the active ones.

        L = (1 / N₊) · Σ over active (a, p, n) of  d(a, p) − d(a, n) + α

    where a triplet is active when d(a, p) − d(a, n) + α > 0 and N₊ counts
    them. Averaging over the active triplets only (as PML's default
    ``AvgNonZeroReducer`` does) keeps the loss from fading as most triplets
    become easy.

    How it is computed without a B × B × B tensor: an active triplet's loss
    is linear in its two distances, so the sum is a weighted sum of the
    distance matrix. d(a, p) enters once per active negative of the pair
    (a, p), and d(a, n) once per active positive of the anchor a
    (:func:`~metric_course.mining.active_triplet_counts` counts them, without
    gradient); only the distances are differentiated.
    """
    labels = _check_batch(embeddings, labels, margin)
    distance = pairwise_distances(embeddings, squared=squared, check=False)
    is_positive, is_negative = pair_masks(labels)
    n_positives, n_negatives = pair_counts(labels)
    positive_index, real = positive_table(is_positive, n_positives)
    uses_of_positive, uses_of_negative = active_triplet_counts(
        distance, positive_index, real, is_negative, margin
    )
    active_triplets = int(uses_of_positive.sum(dtype=torch.float64))

    d_ap = distance.gather(1, positive_index)  # (B, K): d(a, p) for each positive p of anchor a
    total = (
        (uses_of_positive * d_ap).sum()
        - (uses_of_negative * distance).sum()
        + margin * active_triplets
    )
    loss = total / max(active_triplets, 1)
    if not return_stats:
        return loss
    counts = _triplet_counts(n_positives, n_negatives)
    return loss, loss_stats(
        embeddings,
        active_triplets / max(counts["valid_triplets"], 1),
        d_ap[real],
        distance[is_negative],
        active_triplets=active_triplets,
        **counts,
    )


def _reduce_mined(
    embeddings: torch.Tensor, mined: MinedTriplets, margin: float, squared: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """max(0, d(a, p) − d(a, n) + α) for the used triplets of a miner's tables.

    The picked distances are measured again, by subtraction: exact, and the
    backward pass touches only them. Returns the losses, d(a, p) and d(a, n)
    of the used triplets.
    """
    d_ap = distances_to(embeddings, mined.positive, squared=squared, check=False)[mined.used]
    d_an = distances_to(embeddings, mined.negative, squared=squared, check=False)[mined.used]
    return (d_ap - d_an + margin).clamp(min=0), d_ap, d_an


def batch_hard_triplet_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    margin: float = MARGINS["batch_hard"],
    squared: bool = False,
    return_stats: bool = False,
) -> torch.Tensor | LossWithStats:
    """Batch-hard (Hermans, Beyer and Leibe 2017): one hardest triplet per anchor.

        L = mean over anchors a of  max(0, max_p d(a, p) − min_n d(a, n) + α)

    For each anchor: its farthest positive and its nearest negative. The mean
    runs over the anchors that have at least one positive and one negative,
    zeros included. Equals PML's ``TripletMarginLoss`` on the triplets of
    ``BatchHardMiner`` with a ``MeanReducer`` and
    ``LpDistance(normalize_embeddings=False)``; PML's default reducer would
    average only the non-zero terms.
    """
    labels = _check_batch(embeddings, labels, margin)
    with torch.no_grad():  # the matrix only ranks pairs: squared ranks as plain, without √
        distance = pairwise_distances(embeddings, squared=True, check=False)
    mined = hardest_triplets(distance, *pair_masks(labels))
    losses, d_ap, d_an = _reduce_mined(embeddings, mined, margin, squared)
    loss = _mean_loss(losses)
    if not return_stats:
        return loss
    counts = _triplet_counts(*pair_counts(labels))
    return loss, loss_stats(embeddings, losses > 0, d_ap, d_an, **counts)


def semi_hard_triplet_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    margin: float = MARGINS["semi_hard"],
    squared: bool = False,
    return_stats: bool = False,
) -> torch.Tensor | LossWithStats:
    """Semi-hard mining as in FaceNet (Schroff et al. 2015): one negative per pair.

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
    labels = _check_batch(embeddings, labels, margin)
    with torch.no_grad():  # the matrix only ranks pairs: squared ranks as plain, without √
        distance = pairwise_distances(embeddings, squared=True, check=False)
    is_positive, is_negative = pair_masks(labels)
    n_positives, n_negatives = pair_counts(labels)
    positive_index, real = positive_table(is_positive, n_positives)
    mined = semi_hard_triplets(distance, positive_index, real, is_negative)
    losses, d_ap, d_an = _reduce_mined(embeddings, mined, margin, squared)
    loss = _mean_loss(losses)
    if not return_stats:
        return loss
    counts = _triplet_counts(n_positives, n_negatives)
    return loss, loss_stats(
        embeddings, losses > 0, d_ap, d_an, fallback_pairs=mined.fallback.sum(), **counts
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
