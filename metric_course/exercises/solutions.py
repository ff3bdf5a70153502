"""One reference solution per notebook exercise, written as a student would write it.

The notebooks hold only the exercises (a stub that raises ``NotImplementedError``
and a checker). A solution is never on screen until the student asks for it:
``show_solution("distance_matrix")`` prints the function below of that name.
Each solution is the one its checker is tested against (it must print ✅), and
``python -m metric_course.instructor solution-notebooks`` puts them into the
instructor's copies of the notebooks, after each exercise.

Every function has the name and signature of the notebook's stub, so that a
printed solution can be pasted over the stub as it is.
"""

from __future__ import annotations

import numpy as np
import torch

from ..losses import batch_hard_triplet_loss


# ------------------------------------------------------------------ notebook 01
def distance_matrix(x: torch.Tensor) -> torch.Tensor:
    """(B, B) Euclidean distances between the rows of x (B, d), from one matrix product."""
    squared_norms = x.pow(2).sum(dim=1)  # (B,): ||x_i||²
    squared = squared_norms[:, None] + squared_norms[None, :] - 2 * x @ x.T
    # Round-off can leave a tiny negative number (√ of it is NaN), and the diagonal is
    # exactly 0 by definition, whatever the round-off says.
    squared = squared.clamp(min=0).fill_diagonal_(0)
    # d√s/ds = 1/(2√s) is infinite at s = 0: take the root only where s > 0. The inner
    # where hands √ a harmless 1 there, so the backward pass never multiplies 0 by ∞.
    positive = squared > 0
    return torch.where(positive, torch.where(positive, squared, 1.0).sqrt(), 0.0)


# ------------------------------------------------------------------ notebook 02
def contrastive_loss(
    emb_a: torch.Tensor, emb_b: torch.Tensor, y: torch.Tensor, margin: float = 1.0
) -> torch.Tensor:
    """Mean over pairs of (1 − Y)·½·D² + Y·½·max(0, m − D)², Y = 0 for a similar pair."""
    d = (emb_a - emb_b).norm(dim=1)  # .norm() has gradient 0 (not NaN) where D = 0
    pull_similar = 0.5 * d**2
    push_dissimilar = 0.5 * torch.clamp(margin - d, min=0) ** 2
    return torch.mean((1 - y) * pull_similar + y * push_dissimilar)


def choose_threshold(distances: np.ndarray, same: np.ndarray, target_far: float) -> float:
    """The threshold t (accept when distance ≤ t) with the largest FAR not above target_far."""
    impostor_distances = np.sort(distances[~same])  # the dissimilar pairs, closest first
    may_accept = int(np.floor(target_far * len(impostor_distances)))
    if may_accept == len(impostor_distances):  # target_far = 1: accept every pair
        return float(distances.max())
    # The first impostor we may not accept sits at impostor_distances[may_accept]: stay just
    # below it, which accepts the most genuine pairs the target allows.
    return float(np.nextafter(impostor_distances[may_accept], -np.inf))


# ------------------------------------------------------------------ notebook 03
def my_triplet_loss(anchor, positive, negative, margin=0.2, squared=False):
    """Mean over the batch of max(0, d(a, p) − d(a, n) + margin)."""
    to_positive = (anchor - positive).norm(dim=1)  # gradient 0, not NaN, at distance 0
    to_negative = (anchor - negative).norm(dim=1)
    if squared:
        to_positive, to_negative = to_positive**2, to_negative**2
    per_triplet = torch.clamp(to_positive - to_negative + margin, min=0)
    return per_triplet.mean()


# ------------------------------------------------------------------ notebook 04
def my_batch_hard(distances, labels, margin=0.2):
    """Mean over anchors with a positive of max(0, farthest positive − nearest negative + α)."""
    same_label = labels[:, None] == labels[None, :]
    itself = torch.eye(len(labels), dtype=torch.bool)
    is_positive = same_label & ~itself  # an anchor is not its own positive
    # Distances are ≥ 0, so 0 never wins a max, and infinity never wins a min.
    farthest_positive = torch.where(is_positive, distances, 0.0).max(dim=1).values
    nearest_negative = torch.where(same_label, torch.inf, distances).min(dim=1).values
    per_anchor = torch.clamp(farthest_positive - nearest_negative + margin, min=0)
    has_positive = is_positive.any(dim=1)  # an image alone in its class has no triplet
    return per_anchor[has_positive].mean()


def my_batch_all(distances, labels, margin=0.2):
    """Mean over the active triplets (loss > 0) of max(0, d(a, p) − d(a, n) + margin)."""
    same_label = labels[:, None] == labels[None, :]
    is_positive = same_label & ~torch.eye(len(labels), dtype=torch.bool)
    is_negative = ~same_label
    # [a, p, n]: d(a, p) along the second axis, d(a, n) along the third.
    per_triplet = torch.clamp(distances[:, :, None] - distances[:, None, :] + margin, min=0)
    is_triplet = is_positive[:, :, None] & is_negative[:, None, :]
    active = is_triplet & (per_triplet > 0)
    return per_triplet[active].sum() / active.sum().clamp(min=1)  # no active triplet: 0


# ------------------------------------------------------------------ notebook 05
def prototype_classifier(support, support_labels, queries):
    """The label of each query's nearest class mean of the support embeddings."""
    classes = support_labels.unique()  # the labels present, e.g. tensor([187, 190, 201])
    prototypes = torch.stack([support[support_labels == label].mean(dim=0) for label in classes])
    to_prototypes = torch.cdist(queries, prototypes)  # (Q, N)
    return classes[to_prototypes.argmin(dim=1)]  # a label, not a position


# ------------------------------------------------------------------ notebook 06
def my_neighbours_kept(space, projection, k):
    """(N,) share of each point's k nearest neighbours in space kept among its k in projection."""

    def k_nearest_others(points):
        between = torch.cdist(points, points)
        between.fill_diagonal_(torch.inf)  # a point is not its own neighbour
        return between.topk(k, dim=1, largest=False).indices  # (N, k)

    in_space, in_picture = k_nearest_others(space), k_nearest_others(projection)
    # [i, a, b]: is the a-th neighbour in the space the b-th one in the picture?
    kept = (in_space[:, :, None] == in_picture[:, None, :]).any(dim=2)
    return kept.float().mean(dim=1)


# ------------------------------------------------------------------ notebook 07
def global_batch_loss(gathered, local, labels, rank, margin=0.2):
    """What process `rank` backpropagates: N × the batch-hard loss of the whole global batch."""
    world_size = len(gathered)
    rows = list(gathered)  # a copy: leave all_gather's list alone
    rows[rank] = local  # the gathered copies carry no gradient; `local` does
    global_batch = torch.cat(rows)  # rank order, like the labels
    # DDP averages the N processes' gradients; each reaches only its own rows, so the
    # average of N × (each one's part) is the sum: the gradient of one process on it all.
    return world_size * batch_hard_triplet_loss(global_batch, labels, margin)
