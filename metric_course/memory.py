"""Cross-batch memory (notebook 07): mining pairs and triplets beyond the current batch.

Online mining finds its pairs and triplets inside one batch, so the hardest
negative it can find is only as hard as the batch is big. Wang, Zhang,
Huang and Scott ("Cross-Batch Memory for Embedding Learning", CVPR 2020)
keep the embeddings and labels of the last M images in a first-in-first-out
queue, and mine between the current batch (the anchors) and the memory:
B × M extra pairs per step for the price of B forward passes.

Why old embeddings can stand in for new ones: *slow drift*. Once training
has settled, the network changes little from one step to the next, so an
embedding computed a few hundred steps ago is still close to the one the
current network would give (the paper measures ‖f_t(x) − f_{t−Δt}(x)‖;
:func:`feature_drift` does the same between snapshots). Early in training
the features drift fast, so the memory is switched on after a warm-up.

Each step, as in the paper's Algorithm 1 and its code:

1. embed the batch; after the warm-up, put a detached copy in the memory;
2. L = L(batch, batch) + λ · L(batch, memory): the usual loss inside the
   batch, plus the same loss with the batch as anchors and the memory items
   as positives and negatives. The memory carries no gradient: only the
   anchors learn from the second term.

Two losses can use the memory here: the paper's contrastive loss on cosine
similarity (:func:`cross_batch_contrastive_loss`, the paper's main choice)
and batch-hard, which is :func:`metric_course.losses.batch_hard_triplet_loss`
itself with the memory as its ``references``. Notebook 07 teaches both.
"""

from __future__ import annotations

import numbers
from itertools import pairwise

import torch
from torch.nn import functional as F

from .losses import MARGINS, batch_hard_triplet_loss, check_batch, mean_stat
from .mining import pair_masks

# The XBM paper's contrastive margin λ: a cosine similarity, not a distance.
SIMILARITY_MARGIN = 0.5


class CrossBatchMemory:
    """A FIFO queue of the last ``size`` embeddings (detached) and their labels.

    ``enqueue`` writes over the oldest entries once the queue is full (a ring
    buffer, so nothing is copied around); ``get`` returns the stored items.
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"the memory size must be at least 1, got {size}")
        self.size = size
        self.embeddings: torch.Tensor | None = None
        self.labels: torch.Tensor | None = None
        self.filled = 0  # how many slots hold an item
        self.next_slot = 0  # where the next item goes: the oldest one once full

    def __len__(self) -> int:
        return self.filled

    def enqueue(self, embeddings: torch.Tensor, labels: torch.Tensor) -> None:
        """Store a batch, dropping the oldest items when the memory is full."""
        if embeddings.ndim != 2 or labels.shape != (len(embeddings),):
            raise ValueError(
                f"expected embeddings (B, D) and labels (B,), got {tuple(embeddings.shape)} "
                f"and {tuple(labels.shape)}"
            )
        if self.embeddings is None:
            self.embeddings = embeddings.new_zeros(self.size, embeddings.shape[1])
            self.labels = labels.new_zeros(self.size)
        elif embeddings.shape[1] != self.embeddings.shape[1]:
            raise ValueError(
                f"this memory stores {self.embeddings.shape[1]}-dimensional embeddings, got "
                f"{embeddings.shape[1]}; use one memory per model"
            )
        embeddings, labels = embeddings.detach()[-self.size :], labels[-self.size :]
        slots = (self.next_slot + torch.arange(len(labels))) % self.size
        self.embeddings[slots.to(self.embeddings.device)] = embeddings.to(self.embeddings)
        self.labels[slots.to(self.labels.device)] = labels.to(self.labels)
        self.next_slot = (self.next_slot + len(labels)) % self.size
        self.filled = min(self.size, self.filled + len(labels))

    def get(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The stored embeddings (n, D) and labels (n,), in slot order (not by age).

        These are views of the memory: the next ``enqueue`` changes them.
        """
        if self.embeddings is None:
            return torch.empty(0, 0), torch.empty(0, dtype=torch.long)
        return self.embeddings[: self.filled], self.labels[: self.filled]


def cross_batch_contrastive_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    margin: float = SIMILARITY_MARGIN,
    *,
    references: torch.Tensor | None = None,
    reference_labels: torch.Tensor | None = None,
    stats: dict[str, float] | None = None,
) -> torch.Tensor:
    """The contrastive loss of the XBM paper, on cosine similarity S, summed per anchor.

        L = mean over anchors a of  Σ_{r ∈ P(a)} (1 − S_ar)  +  Σ_{r ∈ N(a)} max(0, S_ar − λ)

    P(a) and N(a): the references of a's class and of other classes; without
    ``references`` the batch itself, without a. Similar pairs are pulled until
    they point the same way; dissimilar pairs are pushed until their similarity
    falls below the margin λ (0.5 in the paper). (The paper's code adds S rather
    than S − λ for an active pair: the same gradient.) Embeddings are
    L2-normalised here, so S = cos. Not :func:`~metric_course.losses.contrastive_loss_all_pairs`
    with ``distance="cosine"``: no squares, and a sum per anchor, not a mean per pair.
    """
    if isinstance(margin, bool) or not isinstance(margin, numbers.Real) or not -1 <= margin <= 1:
        raise ValueError(f"the margin is a cosine similarity in [-1, 1], got {margin}")
    labels, reference_labels = check_batch(embeddings, labels, references, reference_labels)
    is_positive, is_negative = pair_masks(labels, reference_labels)
    others = embeddings if references is None else references.to(embeddings)
    similarity = F.normalize(embeddings, dim=1) @ F.normalize(others, dim=1).T
    positive_terms = (1 - similarity) * is_positive
    negative_terms = (similarity - margin).clamp(min=0) * is_negative
    if stats is not None:
        with torch.no_grad():
            stats["active_fraction"] = mean_stat(negative_terms[is_negative] > 0)
            stats["mean_positive_similarity"] = mean_stat(similarity[is_positive])
            stats["mean_negative_similarity"] = mean_stat(similarity[is_negative])
    return (positive_terms.sum() + negative_terms.sum()) / len(embeddings)


CROSS_BATCH_LOSSES = {
    "batch_hard": batch_hard_triplet_loss,
    "contrastive": cross_batch_contrastive_loss,
}
CROSS_BATCH_MARGINS = {"batch_hard": MARGINS["batch_hard"], "contrastive": SIMILARITY_MARGIN}


class CrossBatchMemoryLoss:
    """The loss L(batch, batch) + λ·L(batch, memory), for ``training.train`` (notebook 07).

    ``loss`` is "batch_hard" or "contrastive" (the paper's). For the first
    ``warmup_steps`` steps the memory stays empty and off (the features still
    drift fast). ``memory_size=0`` gives the plain in-batch loss, a baseline
    computed by the same code. Stats are the batch term's, plus
    ``memory_items``, ``memory_loss`` and the memory term's
    ``memory_active_fraction``.
    """

    def __init__(
        self,
        memory_size: int,
        loss: str = "batch_hard",
        margin: float | None = None,
        weight: float = 1.0,
        warmup_steps: int = 0,
    ) -> None:
        if loss not in CROSS_BATCH_LOSSES:
            raise ValueError(
                f"unknown loss {loss!r}; choose one of {', '.join(CROSS_BATCH_LOSSES)}"
            )
        if memory_size < 0 or warmup_steps < 0 or weight < 0:
            raise ValueError(
                f"memory_size, warmup_steps and weight must be ≥ 0, got {memory_size}, "
                f"{warmup_steps} and {weight}"
            )
        self.memory = CrossBatchMemory(memory_size) if memory_size > 0 else None
        self.loss_fn = CROSS_BATCH_LOSSES[loss]
        self.margin = CROSS_BATCH_MARGINS[loss] if margin is None else margin
        self.weight, self.warmup_steps = weight, warmup_steps
        self.steps = 0

    def __call__(
        self,
        embeddings: torch.Tensor,
        labels: torch.Tensor,
        *,
        stats: dict[str, float] | None = None,
    ) -> torch.Tensor:
        """L(batch, batch) + λ·L(batch, memory), its stats written into ``stats`` if given."""
        stats = {} if stats is None else stats
        loss = self.loss_fn(embeddings, labels, self.margin, stats=stats)
        stats.update(memory_items=0.0, memory_loss=0.0, memory_active_fraction=0.0)
        self.steps += 1
        if self.memory is not None and self.steps > self.warmup_steps:
            self.memory.enqueue(embeddings, labels)
            references, reference_labels = self.memory.get()
            memory_stats: dict[str, float] = {}
            memory_loss = self.loss_fn(
                embeddings,
                labels,
                self.margin,
                references=references,
                reference_labels=reference_labels,
                stats=memory_stats,
            )
            loss = loss + self.weight * memory_loss
            stats["memory_items"] = float(len(self.memory))
            stats["memory_loss"] = memory_loss.item()
            stats["memory_active_fraction"] = memory_stats["active_fraction"]
        return loss


def feature_drift(snapshots: list[torch.Tensor]) -> list[float]:
    """Mean ‖f_t(x) − f_{t−1}(x)‖ over the items x, between consecutive snapshots (notebook 07).

    ``snapshots`` are embeddings of the same images at successive times (as
    ``TrainResult.snapshots`` holds after each epoch). A small drift means the
    memory's stored embeddings are still close to the current ones.
    """
    if len(snapshots) < 2:
        raise ValueError("feature drift needs at least two snapshots of the same images")
    return [(new - old).norm(dim=1).mean().item() for old, new in pairwise(snapshots)]


__all__ = [
    "CROSS_BATCH_LOSSES",
    "CROSS_BATCH_MARGINS",
    "CrossBatchMemory",
    "CrossBatchMemoryLoss",
    "cross_batch_contrastive_loss",
    "feature_drift",
]
