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
labels, build one B × B distance matrix and pick pairs and triplets from it
with the masks of :mod:`metric_course.mining`. A batch with nothing to learn
from (one class only, or no two images of a class) gives a loss of exactly 0
with a zero gradient. With ``return_stats=True`` they also return a
``dict[str, float]``, computed without gradient:

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
  and for the contrastive loss ``negative_pairs``.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from .distances import check_embeddings, distances_to, paired_distances, pairwise_distances
from .mining import check_labels, negative_mask, positive_mask

LossWithStats = tuple[torch.Tensor, dict[str, float]]

# Entries of the (anchor, positive, negative) table handled at once: about 2 MB of
# float32, small enough for the CPU cache; memory stays at a few B × B matrices.
_CHUNK_ELEMENTS = 2**19


# ---------------------------------------------------------------- checks and helpers


def _check_margin(margin: float) -> None:
    if not margin >= 0:
        raise ValueError(f"the margin must be a number ≥ 0, got {margin}")


def _check_batch(embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Validate an online batch and return the labels on the embeddings' device."""
    check_embeddings(embeddings)
    check_labels(labels, len(embeddings))
    if len(embeddings) == 0:
        raise ValueError("the batch is empty: an online loss needs at least one embedding")
    return labels.to(embeddings.device)


def _mean_or_zero(losses: torch.Tensor) -> torch.Tensor:
    """Mean of ``losses``; 0 (still attached to the graph) when there are none."""
    return losses.sum() / max(losses.numel(), 1)


def _chunks(rows: int, columns: int) -> Iterator[slice]:
    step = max(1, _CHUNK_ELEMENTS // max(columns, 1))
    for start in range(0, rows, step):
        yield slice(start, start + step)


def _positives_and_negatives(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """How many positives and negatives each anchor has, counted from the class sizes."""
    _, class_of, class_size = torch.unique(labels, return_inverse=True, return_counts=True)
    same_class = class_size[class_of]
    return same_class - 1, len(labels) - same_class


def _positives_table(
    is_positive: torch.Tensor, positives: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each anchor's positives as a (B, K) table, K the most positives any anchor has.

    Row a lists the indices of a's positives first; ``real[a, j]`` is False
    where the row is only padded up to K (in a P × K batch it never is).
    """
    k = int(positives.max())
    positive = is_positive.float().topk(k, dim=1).indices  # 1s (positives) come first
    real = torch.arange(k, device=positives.device) < positives[:, None]
    return positive, real


def _mean(values: torch.Tensor) -> float:
    return values.float().mean().item() if values.numel() else 0.0


@torch.no_grad()
def _stats(
    embeddings: torch.Tensor,
    active_fraction: float,
    positive_distances: torch.Tensor,
    negative_distances: torch.Tensor,
    **counts: torch.Tensor | int,
) -> dict[str, float]:
    return {
        "active_fraction": float(active_fraction),
        "mean_positive_distance": _mean(positive_distances),
        "mean_negative_distance": _mean(negative_distances),
        "embedding_norm": _mean(embeddings.float().norm(dim=1)),
        **{name: float(count) for name, count in counts.items()},
    }


def _triplet_counts(positives: torch.Tensor, negatives: torch.Tensor) -> dict[str, int]:
    """How many pairs and triplets a batch offers, without building the B³ mask."""
    return {
        "positive_pairs": int(positives.sum()),
        "valid_triplets": int((positives * negatives).sum()),
        "anchors_used": int(((positives > 0) & (negatives > 0)).sum()),
    }


# ---------------------------------------------------------------- Siamese pairs


def contrastive_loss(
    emb_a: torch.Tensor, emb_b: torch.Tensor, y: torch.Tensor, margin: float = 1.0
) -> torch.Tensor:
    """Contrastive loss of Hadsell et al. (2006) over a batch of pairs.

        L = mean over pairs of  (1 − Y) · ½ · D²  +  Y · ½ · max(0, m − D)²

    with D = ||emb_a − emb_b||, **Y = 0 for a similar pair and Y = 1 for a
    dissimilar one**. Similar pairs are pulled together; dissimilar pairs are
    pushed apart until they are m apart, after which they cost nothing.

    ``y`` holds 0s and 1s (any numeric dtype); anything else raises
    ``ValueError``, since a wrong convention silently trains the opposite.
    PML's ``ContrastiveLoss`` uses label 1 for "similar" and no squares.
    """
    _check_margin(margin)
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
    y = y.to(distance)
    similar_term = 0.5 * distance.pow(2)
    dissimilar_term = 0.5 * (margin - distance).clamp(min=0).pow(2)
    return _mean_or_zero((1 - y) * similar_term + y * dissimilar_term)


def contrastive_loss_all_pairs(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    margin: float = 1.0,
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
    labels = _check_batch(embeddings, labels)
    _check_margin(margin)
    distance = pairwise_distances(embeddings)
    dissimilar = negative_mask(labels)
    # both terms as ½ r²: r = D where Y = 0 and r = max(0, m − D) where Y = 1 (D ≥ 0)
    r = torch.where(dissimilar, margin - distance, distance).relu_()
    # the matrix holds each pair {i, j} twice, and zeros on its diagonal
    pairs = len(labels) * (len(labels) - 1)
    loss = 0.5 * (r * r).sum() / max(pairs, 1)
    if not return_stats:
        return loss
    with torch.no_grad():
        each_pair_once = torch.ones_like(dissimilar).triu(diagonal=1)
        similar, dissimilar = each_pair_once & ~dissimilar, each_pair_once & dissimilar
        stats = _stats(
            embeddings,
            _mean(r[each_pair_once] > 0),
            distance[similar],
            distance[dissimilar],
            positive_pairs=similar.sum(),
            negative_pairs=dissimilar.sum(),
        )
    return loss, stats


# ---------------------------------------------------------------- triplets


def triplet_loss(
    anchor: torch.Tensor,
    positive: torch.Tensor,
    negative: torch.Tensor,
    margin: float = 0.2,
    squared: bool = False,
) -> torch.Tensor:
    """Triplet loss over a batch of given triplets (Schroff et al. 2015).

        L = mean over triplets of  max(0, d(a, p) − d(a, n) + α)

    The negative must be farther from the anchor than the positive by at
    least the margin α; such a triplet costs 0. ``squared=True`` uses
    squared distances, as FaceNet does. PML's ``TripletMarginLoss`` averages
    only the non-zero terms and normalises the embeddings first.
    """
    _check_margin(margin)
    if not (anchor.shape == positive.shape == negative.shape):
        raise ValueError(
            "anchor, positive and negative must have the same shape, got "
            f"{tuple(anchor.shape)}, {tuple(positive.shape)} and {tuple(negative.shape)}"
        )
    d_ap = paired_distances(anchor, positive, squared=squared)
    d_an = paired_distances(anchor, negative, squared=squared)
    return _mean_or_zero((d_ap - d_an + margin).clamp(min=0))


def batch_all_triplet_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    margin: float = 0.2,
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
    (a, p), and d(a, n) once per active positive of the anchor a. Those counts
    are taken without gradient, a block of anchors at a time, so memory stays
    at a few B × B matrices; only the distances are differentiated.
    """
    labels = _check_batch(embeddings, labels)
    _check_margin(margin)
    distance = pairwise_distances(embeddings, squared=squared)
    is_positive, is_negative = positive_mask(labels), negative_mask(labels)
    positives, negatives = _positives_and_negatives(labels)
    positive, real = _positives_table(is_positive, positives)
    d_ap = distance.gather(1, positive)  # (B, K): d(a, p) for each positive p of anchor a

    with torch.no_grad():
        # d(a, n), with ∞ where n is not a negative of a: such a "triplet" is never active
        to_negatives = torch.where(is_negative, distance, float("inf"))
        threshold = torch.where(real, d_ap + margin, -float("inf"))  # padding: never active
        uses_of_d_ap = torch.zeros_like(d_ap)  # active negatives of each pair (a, p)
        uses_of_d_an = torch.zeros_like(distance)  # active positives behind each (a, n)
        for rows in _chunks(len(labels), positive.shape[1] * len(labels)):
            # active[a, j, n] = 1 when the triplet (a, positive[a, j], n) has a positive loss
            active = to_negatives[rows, None, :] < threshold[rows, :, None]
            active = active.to(distance.dtype)
            uses_of_d_ap[rows] = active.sum(2)
            uses_of_d_an[rows] = active.sum(1)
        active_triplets = int(uses_of_d_ap.sum(dtype=torch.float64))

    total = (uses_of_d_ap * d_ap).sum() - (uses_of_d_an * distance).sum() + margin * active_triplets
    loss = total / max(active_triplets, 1)
    if not return_stats:
        return loss
    counts = _triplet_counts(positives, negatives)
    return loss, _stats(
        embeddings,
        active_triplets / max(counts["valid_triplets"], 1),
        d_ap[real],
        distance[is_negative],
        active_triplets=active_triplets,
        **counts,
    )


def _mined_triplet_losses(
    embeddings: torch.Tensor,
    positive: torch.Tensor,
    negative: torch.Tensor,
    margin: float,
    squared: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """max(0, d(a, p) − d(a, n) + α) for mined (B, K) tables of positives and negatives.

    Row a of each table holds anchor a's picks. The distances are measured
    again, by subtraction: exact, and the backward pass touches only them.
    Returns the (B, K) losses, d(a, p) and d(a, n).
    """
    d_ap = distances_to(embeddings, positive, squared=squared)
    d_an = distances_to(embeddings, negative, squared=squared)
    return (d_ap - d_an + margin).clamp(min=0), d_ap, d_an


def batch_hard_triplet_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    margin: float = 0.2,
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
    labels = _check_batch(embeddings, labels)
    _check_margin(margin)
    is_positive, is_negative = positive_mask(labels), negative_mask(labels)
    positives, negatives = _positives_and_negatives(labels)
    with torch.no_grad():  # mining picks indices; it needs no gradient
        # squared distances rank pairs as plain ones do, and skip the square root
        distance = pairwise_distances(embeddings, squared=True)
        hardest_positive = torch.where(is_positive, distance, -1).argmax(1, keepdim=True)
        hardest_negative = torch.where(is_negative, distance, float("inf")).argmin(1, keepdim=True)
        usable = ((positives > 0) & (negatives > 0))[:, None]

    losses, d_ap, d_an = _mined_triplet_losses(
        embeddings, hardest_positive, hardest_negative, margin, squared
    )
    losses, d_ap, d_an = losses[usable], d_ap[usable], d_an[usable]
    loss = _mean_or_zero(losses)
    if not return_stats:
        return loss
    counts = _triplet_counts(positives, negatives)
    return loss, _stats(embeddings, _mean(losses > 0), d_ap, d_an, **counts)


def semi_hard_triplet_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    margin: float = 0.2,
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
    labels = _check_batch(embeddings, labels)
    _check_margin(margin)
    is_positive, is_negative = positive_mask(labels), negative_mask(labels)
    positives, negatives = _positives_and_negatives(labels)
    positive, real = _positives_table(is_positive, positives)
    with torch.no_grad():  # mining picks indices; it needs no gradient
        distance = pairwise_distances(embeddings, squared=True)  # same order as plain
        to_positive = distance.gather(1, positive)  # (B, K)
        to_negatives = torch.where(is_negative, distance, float("inf"))
        farthest_negative = torch.where(is_negative, distance, -1).argmax(1)
        negative, found = torch.empty_like(positive), torch.empty_like(real)
        for rows in _chunks(len(labels), positive.shape[1] * len(labels)):
            # [a, j, n]: how much farther than the positive j of anchor a the negative n is
            beyond = to_negatives[rows, None, :] - to_positive[rows, :, None]
            # 1 / beyond is largest for the nearest negative that is not closer (∞ if it
            # ties), below 0 for closer (hard) ones and 0 for non-negatives (at ∞)
            nearness = beyond.reciprocal_()
            nearest = nearness.argmax(dim=2)
            found[rows] = nearness.gather(2, nearest[..., None]).squeeze(2) > 0
            negative[rows] = torch.where(found[rows], nearest, farthest_negative[rows, None])
        pairs = real & (negatives > 0)[:, None]  # a positive, and a negative to use

    losses, d_ap, d_an = _mined_triplet_losses(embeddings, positive, negative, margin, squared)
    losses, d_ap, d_an = losses[pairs], d_ap[pairs], d_an[pairs]
    loss = _mean_or_zero(losses)
    if not return_stats:
        return loss
    counts = _triplet_counts(positives, negatives)
    fallback_pairs = (pairs & ~found).sum()
    return loss, _stats(
        embeddings, _mean(losses > 0), d_ap, d_an, fallback_pairs=fallback_pairs, **counts
    )
