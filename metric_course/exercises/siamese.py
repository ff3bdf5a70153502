"""Notebook 02's exercises: the contrastive loss and the threshold at a false-accept rate."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from ..losses import contrastive_loss
from .checking import diagnose, run_checks, scalar_hint


def _pair_batch(seed: int, size: int = 12, dim: int = 4, scale: float = 0.4):
    """Random pairs (a, b) at distances around ``scale * sqrt(2 dim)``, with 0/1 labels."""
    generator = torch.Generator().manual_seed(seed)
    a = scale * torch.randn(size, dim, generator=generator, dtype=torch.float64)
    b = scale * torch.randn(size, dim, generator=generator, dtype=torch.float64)
    y = (torch.arange(size) % 2).to(torch.float64)  # alternating similar (0), dissimilar (1)
    return a, b, y


def _contrastive_mistakes(a, b, y, margin: float) -> list[tuple[torch.Tensor, str]]:
    """Results of the typical wrong contrastive losses, each with its hint."""
    d = (a - b).norm(dim=1)
    hinge = (margin - d).clamp(min=0)

    def loss(similar_term, dissimilar_term, labels=y):
        return ((1 - labels) * similar_term + labels * dissimilar_term).mean()

    return [
        (
            loss(0.5 * hinge**2, 0.5 * d**2),
            "the labels are swapped: in this course (Hadsell et al. 2006) *Y = 0 means "
            "similar* and Y = 1 dissimilar. Libraries that use 1 for similar (TensorFlow "
            "Addons, many blog posts) swap the two terms",
        ),
        (
            loss(d**2, hinge**2),
            "you forgot the ½ in front of both terms: ½·D² and ½·max(0, m − D)²",
        ),
        (
            loss(d**2, 0.5 * hinge**2),
            "the similar term needs its ½ too: (1 − Y)·½·D²",
        ),
        (
            loss(0.5 * d**2, hinge**2),
            "the dissimilar term needs its ½ too: Y·½·max(0, m − D)²",
        ),
        (
            loss(0.5 * d**2, 0.5 * (margin**2 - d**2).clamp(min=0)),
            "square after the hinge, not inside it: ½·max(0, m − D)², not ½·max(0, m² − D²)",
        ),
        (
            loss(0.5 * d**2, 0.5 * (margin - d**2).clamp(min=0) ** 2),
            "square the *difference* m − D, not the distance inside it: ½·max(0, m − D)²",
        ),
        (
            loss(0.5 * d**2, 0.5 * (margin - d) ** 2),
            "a dissimilar pair farther apart than the margin must cost nothing: "
            "max(0, m − D) before squaring (.clamp(min=0))",
        ),
        (
            loss(0.5 * d, 0.5 * hinge),
            "square both terms: ½·D² and ½·max(0, m − D)²",
        ),
        (
            loss(0.5 * d**2, 0.5 * hinge),
            "square the hinge of the dissimilar term: ½·max(0, m − D)²",
        ),
        (
            ((1 - y) * 0.5 * d**2 + y * 0.5 * hinge**2).sum(),
            "average over the pairs of the batch (.mean()), don't sum",
        ),
        (
            loss(0.5 * d**2, 0.5 * (1.0 - d).clamp(min=0) ** 2),
            "use the margin argument instead of a fixed 1.0",
        ),
    ]


def check_contrastive_loss(fn: Callable) -> bool:
    """Check ``fn(emb_a, emb_b, y, margin=1.0)``: the contrastive loss (notebook 02).

    It should return the mean over pairs of (1 − Y)·½·D² + Y·½·max(0, m − D)²,
    with D = ||emb_a − emb_b|| and Y = 0 for a similar pair, 1 for a dissimilar one.
    """

    def value_case(seed: int, margin: float, scale: float = 0.4, labels=None):
        def case() -> str | None:
            a, b, y = _pair_batch(seed, scale=scale)
            if labels is not None:
                y = torch.full_like(y, labels)
            got = fn(a.clone(), b.clone(), y.clone(), margin=margin)
            expected = contrastive_loss(a, b, y, margin=margin)
            return diagnose(got, expected, "the loss", _contrastive_mistakes(a, b, y, margin))

        return case

    def returns_a_differentiable_number() -> str | None:
        a, b, y = _pair_batch(0)
        got = fn(a.requires_grad_().clone(), b.clone(), y.clone(), margin=1.0)
        return scalar_hint(got, "the loss")

    def gradient_where_a_pair_coincides() -> str | None:
        a, b, y = _pair_batch(6)
        b[:4] = a[:4]  # two pairs of each kind at distance exactly 0
        a.requires_grad_()
        fn(a.clone(), b.clone(), y.clone(), margin=1.0).backward()
        if a.grad is None or not torch.isfinite(a.grad).all():
            return (
                "the gradient is NaN where the two embeddings of a pair coincide: the "
                "derivative of √s is infinite at s = 0. Use (a - b).norm(dim=1), which has "
                "gradient 0 there, instead of .pow(2).sum(1).sqrt()"
            )
        return None

    return run_checks(
        "contrastive loss",
        [
            ("returning one differentiable number", returns_a_differentiable_number),
            ("a batch of similar and dissimilar pairs, margin 1.0", value_case(3, 1.0)),
            ("similar pairs only (Y = 0)", value_case(1, 1.0, labels=0.0)),
            ("dissimilar pairs closer than the margin (Y = 1)", value_case(2, 1.0, labels=1.0)),
            (
                "dissimilar pairs farther than the margin (their loss must be 0)",
                value_case(4, 1.0, scale=2.0),
            ),
            ("another margin (0.5)", value_case(5, 0.5, scale=0.2)),
            ("the gradient where a pair's embeddings coincide", gradient_where_a_pair_coincides),
        ],
    )


def _verification_pairs(seed: int, n_similar: int, n_dissimilar: int):
    """Made-up pair distances: similar pairs closer on average, the two kinds overlapping."""
    generator = torch.Generator().manual_seed(seed)
    similar = 0.6 + 0.25 * torch.randn(n_similar, generator=generator, dtype=torch.float64)
    dissimilar = 1.1 + 0.25 * torch.randn(n_dissimilar, generator=generator, dtype=torch.float64)
    distances = torch.cat([similar, dissimilar]).clamp(min=0)
    same = torch.cat([torch.ones(n_similar), torch.zeros(n_dissimilar)]).bool()
    order = torch.randperm(len(same), generator=generator)
    return distances[order].numpy(), same[order].numpy()


def _threshold_mistake(distances, same, target_far: float, threshold: float) -> str | None:
    """Name the likely mistake behind a threshold that misses the target, if one fits."""

    def share_accepted(which) -> float:
        return float((distances[which] <= threshold).mean())

    def near(share: float, goal: float, count: int) -> bool:
        return abs(share - goal) < 1 / count  # within one pair

    impostors, genuine = ~same, same
    if near(share_accepted(impostors), 1 - target_far, int(impostors.sum())):
        return (
            "you took the (1 − target) quantile: the FAR is the share of impostors *at or "
            "below* the threshold, so take the target_far quantile of the impostor distances"
        )
    if near(share_accepted(genuine), target_far, int(genuine.sum())):
        return (
            "you used the similar pairs (same == True); the FAR counts the *dissimilar* "
            "pairs (same == False) that get accepted"
        )
    if near(share_accepted(np.ones_like(same)), target_far, len(same)):
        return (
            "you used all pairs; the FAR counts only the *dissimilar* pairs (same == False) "
            "that get accepted: take the quantile of the impostor distances"
        )
    return None


def check_threshold_at_far(fn: Callable) -> bool:
    """Check ``fn(distances, same, target_far) -> threshold`` (notebook 02).

    A pair is accepted as "same class" when its distance ≤ threshold. The
    false-accept rate (FAR) is the share of dissimilar pairs (``same`` False)
    accepted. The threshold must keep the FAR at or below ``target_far`` and
    accept as many impostors as that allows, floor(target_far × impostors):
    any threshold from that impostor's distance up to (not including) the
    next one's passes.
    """

    def case(distances: np.ndarray, same: np.ndarray, target_far: float):
        def check() -> str | None:
            got = fn(distances.copy(), same.copy(), target_far)
            one_element = (isinstance(got, torch.Tensor) and got.numel() == 1) or (
                isinstance(got, np.ndarray) and got.size == 1
            )
            if one_element:
                got = got.item()  # a one-number tensor or array is fine too
            if isinstance(got, bool) or not isinstance(got, int | float | np.number):
                return f"return one number (the threshold), got {type(got).__name__}"
            got = float(got)
            if not math.isfinite(got):
                return f"the threshold should be a finite number, got {got}"
            impostors = np.sort(distances[~same])
            allowed = math.floor(target_far * len(impostors))
            accepted = int((impostors <= got).sum())
            share = (
                f"your threshold {got:.4g} accepts {accepted} of the {len(impostors)} impostor "
                f"pairs (FAR {accepted / len(impostors):.3f}); the target {target_far} allows "
                f"{allowed}"
            )
            if accepted == allowed:
                return None
            if accepted == allowed + 1 and got == impostors[allowed]:
                return (
                    f"{share}. The threshold sits exactly on an impostor's distance, and a "
                    "pair at distance ≤ threshold is accepted: stay just below it "
                    "(np.nextafter(d, -np.inf)), or use the largest impostor distance you may "
                    "accept"
                )
            mistake = _threshold_mistake(distances, same, target_far, got)
            if mistake:
                return f"{share}. Perhaps {mistake}"
            if accepted > allowed:
                return f"{share}: lower the threshold"
            return (
                f"{share}: raise the threshold. The best one lets in as many genuine pairs as "
                "possible while the FAR stays at or below the target"
            )

        return check

    tiny_distances = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.9, 1.3])
    tiny_same = np.array([True, False, True, True, False, True, False, False])
    return run_checks(
        "threshold for a target false-accept rate",
        [
            (
                "2,000 pairs (1:3 similar:dissimilar), target FAR 0.1",
                case(*_verification_pairs(0, 500, 1500), 0.1),
            ),
            (
                "8 pairs, target FAR 0.25 (1 of 4 impostors may pass: threshold in [0.2, 0.5))",
                case(tiny_distances, tiny_same, 0.25),
            ),
            ("2,000 pairs, target FAR 0.01", case(*_verification_pairs(1, 1000, 1000), 0.01)),
            (
                "target FAR 0 (no impostor may pass)",
                case(*_verification_pairs(2, 300, 300), 0.0),
            ),
        ],
    )
