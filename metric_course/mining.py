"""Mining (notebook 04): which pairs and triplets a batch holds, and which to learn from.

Online mining never loops over the batch: it builds one distance matrix and
asks questions of it with masks. For a batch with labels ``y``:

- ``positive_mask``: (a, p) with y_a = y_p and a ≠ p (an anchor is not its own positive);
- ``negative_mask``: (a, n) with y_a ≠ y_n;
- ``valid_triplet_mask``: (a, p, n) where (a, p) is positive and (a, n) negative.

A valid triplet is, for a margin α and distances d:

- **hard**       d(a, n) < d(a, p)                (the negative is closer than the positive)
- **semi-hard**  d(a, p) ≤ d(a, n) < d(a, p) + α  (farther, but inside the margin)
- **easy**       d(a, n) ≥ d(a, p) + α            (loss 0: nothing to learn)

``triplet_categories`` labels every triplet with the constants below, and
``negative_categories`` labels the negatives of one anchor-positive pair;
``anchor_triplets`` gathers them for one anchor and ``category_shares``
counts a whole batch (notebook 04 draws both).

**Miners** take a distance matrix and the pair masks and return what they
picked, as pytorch-metric-learning's miners do, as (A, K) index tables: row
a lists anchor a's picks. The losses, the cross-batch memory and the
exercise checkers all mine with them:

- ``hardest_triplets``: batch-hard, each anchor's farthest positive and nearest negative;
- ``semi_hard_triplets``: FaceNet's nearest negative not closer than the positive, per pair;
- ``active_triplet_counts``: batch-all, how often each distance enters the active triplets.

Miners run without gradient: picking is a choice, not something to
differentiate. The loss then measures the picked pairs and reduces.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

INVALID, EASY, SEMI_HARD, HARD = 0, 1, 2, 3
CATEGORY_NAMES = {INVALID: "invalid", EASY: "easy", SEMI_HARD: "semi-hard", HARD: "hard"}

# Entries of an (anchor, positive, negative) block handled at once: about 2 MB of
# float32, small enough for the CPU cache; memory stays at a few B × B matrices.
_CHUNK_ELEMENTS = 2**19


def check_labels(labels: torch.Tensor, batch_size: int | None = None) -> None:
    """Raise ``ValueError`` unless ``labels`` is a 1-D tensor of integer class ids."""
    if not isinstance(labels, torch.Tensor):
        raise ValueError(f"labels must be a torch.Tensor, got {type(labels).__name__}")
    if labels.ndim != 1:
        raise ValueError(
            f"labels must be 1-D (one class id per embedding), got shape {tuple(labels.shape)}"
        )
    if labels.is_floating_point() or labels.is_complex():
        raise ValueError(
            f"labels must be integer class ids, got {labels.dtype}; use labels.long() "
            "(for a Siamese pair's 0/1 target use contrastive_loss)"
        )
    if batch_size is not None and len(labels) != batch_size:
        raise ValueError(f"got {len(labels)} labels for {batch_size} embeddings; give one each")


def positive_mask(labels: torch.Tensor) -> torch.Tensor:
    """(B, B) bool: True where a ≠ p share a label, the diagonal False (notebook 04)."""
    check_labels(labels)
    same = labels[:, None] == labels[None, :]
    return same & ~torch.eye(len(labels), dtype=torch.bool, device=labels.device)


def negative_mask(
    labels: torch.Tensor, reference_labels: torch.Tensor | None = None
) -> torch.Tensor:
    """(B, B) bool: True where labels differ; (B, R) with ``reference_labels`` (notebook 04)."""
    check_labels(labels)
    references = labels if reference_labels is None else reference_labels.to(labels.device)
    return labels[:, None] != references[None, :]


def valid_triplet_mask(labels: torch.Tensor) -> torch.Tensor:
    """(B, B, B) bool: True at [a, p, n] when (a, p) is positive and (a, n) negative.

    For small batches only (drawing, tests): it holds B³ booleans, 16 MB at
    B = 256 but 8.6 GB at B = 2048. The losses never build it.
    """
    return positive_mask(labels)[:, :, None] & negative_mask(labels)[:, None, :]


def pair_masks(
    anchor_labels: torch.Tensor, reference_labels: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(is_positive, is_negative)``, (A, R) bool each: an anchor's positives and negatives.

    Without ``reference_labels`` the batch is its own reference set (A = R)
    and an anchor is not its own positive. With them, the references are other
    items (a memory of past batches), and every same-label one is a positive.
    """
    check_labels(anchor_labels)
    same_items = reference_labels is None
    references = anchor_labels if same_items else reference_labels.to(anchor_labels.device)
    same = anchor_labels[:, None] == references[None, :]
    is_negative = ~same
    if same_items:
        same.fill_diagonal_(False)
    return same, is_negative


def pair_counts(
    anchor_labels: torch.Tensor, reference_labels: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """How many positives and negatives each anchor has, from the class sizes (no B × B pass).

    Without ``reference_labels`` within the batch (an anchor is not its own
    positive), with them among the references, as :func:`pair_masks` pairs them.
    """
    if reference_labels is None:
        _, class_of, class_size = torch.unique(
            anchor_labels, return_inverse=True, return_counts=True
        )
        same_class = class_size[class_of]
        return same_class - 1, len(anchor_labels) - same_class
    classes, class_size = torch.unique(reference_labels, return_counts=True)
    where = torch.searchsorted(classes, anchor_labels).clamp(max=len(classes) - 1)
    n_positives = torch.where(classes[where] == anchor_labels, class_size[where], 0)
    return n_positives, len(reference_labels) - n_positives


def positive_table(
    is_positive: torch.Tensor, n_positives: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each anchor's positives as a (B, K) index table, K the most positives any anchor has.

    Row a lists the indices of a's positives first; ``real[a, j]`` is False
    where the row is only padded up to K (in a P × K batch it never is).
    ``n_positives`` (each row's count, from :func:`pair_counts`) saves a pass.
    """
    if n_positives is None:
        n_positives = is_positive.sum(1)
    k = int(n_positives.max())
    positive_index = is_positive.float().topk(k, dim=1).indices  # 1s (positives) come first
    real = torch.arange(k, device=n_positives.device) < n_positives[:, None]
    return positive_index, real


class MinedTriplets(NamedTuple):
    """Triplets picked by a miner, as (A, K) tables.

    Anchor a with ``positive[a, j]`` and ``negative[a, j]`` is a triplet where
    ``used[a, j]``; ``fallback[a, j]`` (semi-hard only) marks pairs whose
    negative is the fallback, not a semi-hard one.
    """

    positive: torch.Tensor
    negative: torch.Tensor
    used: torch.Tensor
    fallback: torch.Tensor | None = None


def _chunks(rows: int, columns: int) -> Iterator[slice]:
    step = max(1, _CHUNK_ELEMENTS // max(columns, 1))
    for start in range(0, rows, step):
        yield slice(start, start + step)


@torch.no_grad()
def hardest_triplets(
    distances: torch.Tensor, is_positive: torch.Tensor, is_negative: torch.Tensor
) -> MinedTriplets:
    """Batch-hard (Hermans et al. 2017): each anchor's farthest positive and nearest negative.

    ``distances`` is (A, R), anchors against references; the tables are
    (A, 1). An anchor without a positive or without a negative is not used.
    """
    farthest, positive = torch.where(is_positive, distances, -1).max(1, keepdim=True)
    nearest, negative = torch.where(is_negative, distances, float("inf")).min(1, keepdim=True)
    return MinedTriplets(positive, negative, used=(farthest >= 0) & (nearest < float("inf")))


@torch.no_grad()
def semi_hard_triplets(
    distances: torch.Tensor,
    positive_index: torch.Tensor,
    real: torch.Tensor,
    is_negative: torch.Tensor,
) -> MinedTriplets:
    """Semi-hard mining as TensorFlow reads FaceNet: per (a, p), the nearest negative not closer.

    ``positive_index`` and ``real`` come from :func:`positive_table`. When
    every negative is closer than the positive, the pair falls back to the
    farthest negative, the least hard one (as TensorFlow Addons does);
    ``fallback`` marks those pairs. Pairs of anchors without a negative are
    not used.
    """
    to_positive = distances.gather(1, positive_index)  # (B, K)
    to_negatives = torch.where(is_negative, distances, float("inf"))
    farthest_negative = torch.where(is_negative, distances, -1).argmax(1)
    negative, found = torch.empty_like(positive_index), torch.empty_like(real)
    for rows in _chunks(len(distances), positive_index.shape[1] * distances.shape[1]):
        # [a, j, n]: how much farther than a's positive j the sample n is (∞: not a negative)
        beyond = to_negatives[rows, None, :] - to_positive[rows, :, None]
        # The wanted n has the smallest beyond ≥ 0, so the largest 1 / beyond; closer ones
        # get 1 / beyond < 0, non-negatives 0. (masked_fill(beyond < 0, ∞) + min says the
        # same, but takes a pass more over this, the largest tensor of the loss: 1.5× slower.)
        nearness = beyond.reciprocal_()
        nearest = nearness.argmax(dim=2)
        found[rows] = nearness.gather(2, nearest[..., None]).squeeze(2) > 0
        negative[rows] = torch.where(found[rows], nearest, farthest_negative[rows, None])
    used = real & is_negative.any(1, keepdim=True)
    return MinedTriplets(positive_index, negative, used, fallback=used & ~found)


@torch.no_grad()
def active_triplet_counts(
    distances: torch.Tensor,
    positive_index: torch.Tensor,
    real: torch.Tensor,
    is_negative: torch.Tensor,
    margin: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Batch-all's mining: how often each distance enters the sum over active triplets.

    A triplet (a, p, n) is active when d(a, p) − d(a, n) + α > 0. Its loss is
    linear in its two distances, so the batch-all sum is a weighted sum of the
    distance matrix: ``uses_of_positive[a, j]`` (B, K) counts the active
    negatives of the pair (a, positive_index[a, j]), ``uses_of_negative[a, n]``
    (B, B) the active positives behind the pair (a, n). Computed a block of
    anchors at a time, never as a B × B × B tensor.
    """
    to_positive = distances.gather(1, positive_index)
    # d(a, n), with ∞ where n is not a negative of a: such a "triplet" is never active
    to_negatives = torch.where(is_negative, distances, float("inf"))
    threshold = torch.where(real, to_positive + margin, -float("inf"))  # padding: never active
    uses_of_positive = torch.zeros_like(to_positive)
    uses_of_negative = torch.zeros_like(distances)
    for rows in _chunks(len(distances), positive_index.shape[1] * distances.shape[1]):
        # active[a, j, n] = 1 when the triplet (a, positive_index[a, j], n) has a positive loss
        active = (to_negatives[rows, None, :] < threshold[rows, :, None]).to(distances.dtype)
        uses_of_positive[rows] = active.sum(2)
        uses_of_negative[rows] = active.sum(1)
    return uses_of_positive, uses_of_negative


def _check_distances(distances: torch.Tensor, labels: torch.Tensor) -> None:
    check_labels(labels)
    if distances.ndim != 2 or distances.shape != (len(labels), len(labels)):
        raise ValueError(
            f"distances must be a ({len(labels)}, {len(labels)}) matrix for {len(labels)} "
            f"labels, got shape {tuple(distances.shape)}"
        )


def check_category_margin(margin: float) -> None:
    """The margin that splits triplets into categories: a finite number ≥ 0.

    With a negative margin "semi-hard" would be an empty band and easy
    triplets would overlap hard ones; with an infinite one nothing is easy.
    """
    if isinstance(margin, bool) or not isinstance(margin, numbers.Real):
        raise ValueError(f"the margin must be a number ≥ 0, got {margin!r}; e.g. margin=0.2")
    if not 0 <= margin < float("inf"):
        raise ValueError(
            f"the margin must be ≥ 0 and finite, got {margin}; the categories need a "
            "margin like the loss's (e.g. 0.2)"
        )


def _categorise(d_ap: torch.Tensor, d_an: torch.Tensor, margin: float) -> torch.Tensor:
    """EASY, SEMI_HARD or HARD for distances that broadcast together."""
    semi_hard_or_easy = torch.where(d_an < d_ap + margin, SEMI_HARD, EASY)
    return torch.where(d_an < d_ap, HARD, semi_hard_or_easy).to(torch.int8)


@torch.no_grad()
def triplet_categories(
    distances: torch.Tensor, labels: torch.Tensor, margin: float
) -> torch.Tensor:
    """(B, B, B) int8: the category of triplet [a, p, n], INVALID where it is not a triplet.

    Builds B³ entries: for small batches, like ``valid_triplet_mask``.
    """
    _check_distances(distances, labels)
    check_category_margin(margin)
    category = _categorise(distances[:, :, None], distances[:, None, :], margin)
    return category.masked_fill(~valid_triplet_mask(labels), INVALID)


@torch.no_grad()
def negative_categories(
    distances: torch.Tensor, labels: torch.Tensor, anchor: int, positive: int, margin: float
) -> torch.Tensor:
    """(B,) int8: how hard each sample is as a negative for the pair (anchor, positive).

    Samples that are not negatives of the anchor (its own class) are INVALID.
    """
    _check_distances(distances, labels)
    check_category_margin(margin)
    if not (0 <= anchor < len(labels) and 0 <= positive < len(labels)):
        raise ValueError(f"anchor {anchor} and positive {positive} must index the batch")
    if anchor == positive or labels[anchor] != labels[positive]:
        raise ValueError(
            f"({anchor}, {positive}) is not an anchor-positive pair: they need the same label "
            "and different indices"
        )
    row = distances[anchor]
    category = _categorise(row[positive], row, margin)
    return category.masked_fill(labels == labels[anchor], INVALID)


@dataclass(frozen=True)
class AnchorTriplets:
    """The triplets of one anchor-positive pair in a batch, sorted by how hard each negative is.

    ``categories[j]`` says what sample ``j`` is as the negative of the pair
    (``mining.EASY``, ``SEMI_HARD``, ``HARD``, or ``INVALID`` for the anchor's
    own class). ``hardest_negative`` is batch-hard's choice (the nearest
    negative); ``semi_hard_negative`` the semi-hard rule's (TensorFlow's reading
    of FaceNet: the nearest negative not closer than the positive), ``None``
    when every negative is closer (TensorFlow's loss then falls back to the
    farthest negative).
    """

    anchor: int
    positive: int
    margin: float
    positive_distance: float
    categories: np.ndarray
    hardest_negative: int
    semi_hard_negative: int | None

    @property
    def counts(self) -> dict[str, int]:
        """How many negatives of each category: ``{"hard": ..., "semi-hard": ..., "easy": ...}``."""
        return {
            CATEGORY_NAMES[c]: int((self.categories == c).sum()) for c in (HARD, SEMI_HARD, EASY)
        }


def anchor_triplets(
    distances, labels, anchor: int, margin: float, positive: int | None = None
) -> AnchorTriplets:
    """Classify each negative of ``anchor`` as easy, semi-hard or hard for a positive (notebook 04).

    ``positive`` defaults to the anchor's *farthest* positive, the one
    batch-hard uses. With d = ``distances`` a (B, B) matrix, a negative n is
    hard when d(a, n) < d(a, p), semi-hard when d(a, p) ≤ d(a, n) < d(a, p) + α,
    easy otherwise (see :mod:`metric_course.mining`).
    """
    distances = torch.as_tensor(np.asarray(distances), dtype=torch.float64)
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    if not 0 <= anchor < len(labels):
        raise ValueError(f"anchor {anchor} is outside 0..{len(labels) - 1}")
    check_category_margin(margin)
    positives = positive_mask(labels)[anchor].nonzero().flatten()
    if len(positives) == 0:
        raise ValueError(
            f"anchor {anchor} has no other image of its class in the batch, so no positive; "
            "use a P×K batch (K ≥ 2) or another anchor"
        )
    row = distances[anchor]
    if positive is None:
        positive = int(positives[row[positives].argmax()])
    categories = negative_categories(distances, labels, anchor, positive, margin)
    to_negatives = row.masked_fill(~negative_mask(labels)[anchor], float("inf"))
    not_closer = to_negatives.masked_fill(to_negatives < row[positive], float("inf"))
    return AnchorTriplets(
        anchor=anchor,
        positive=positive,
        margin=float(margin),
        positive_distance=float(row[positive]),
        categories=categories.numpy(),
        hardest_negative=int(to_negatives.argmin()),
        semi_hard_negative=int(not_closer.argmin()) if torch.isfinite(not_closer).any() else None,
    )


def category_shares(distances, labels, margin: float) -> dict[str, float]:
    """Shares of the batch's valid triplets (a, p, n): hard, semi-hard, easy (notebook 04)."""
    check_category_margin(margin)
    distances = torch.as_tensor(np.asarray(distances), dtype=torch.float64)
    categories = triplet_categories(distances, torch.as_tensor(np.asarray(labels)), margin)
    valid = max(int((categories != INVALID).sum()), 1)
    return {
        CATEGORY_NAMES[c]: int((categories == c).sum()) / valid for c in (HARD, SEMI_HARD, EASY)
    }
