"""Checkers for the notebook exercises.

Each checker runs the student's function on random inputs, compares it with
the package's tested version, and *prints* a verdict with a hint. It never
raises, so a notebook still runs to the end while an exercise is unsolved,
and it returns True or False so tests (and curious students) can use it.

A checker is a list of cases; each case names what it checks and returns
``None`` when the student's answer passes or a hint when it does not.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable

import torch

from .distances import pairwise_distances
from .losses import triplet_loss

Case = tuple[str, Callable[[], str | None]]


def run_checks(exercise: str, cases: list[Case]) -> bool:
    """Run the cases in order, print one verdict, and return whether all passed.

    The first failing case stops the run: its hint is the most useful one.
    An exception from the student's code is reported, never re-raised.
    """
    for description, case in cases:
        try:
            hint = case()
        except NotImplementedError:
            print(
                f"⏳ {exercise}: not solved yet; replace `raise NotImplementedError` "
                "with your code."
            )
            return False
        except Exception as error:  # the student's code failed: report it, keep the notebook going
            where = traceback.extract_tb(error.__traceback__)[-1]
            print(
                f"❌ {exercise}: your function raised {type(error).__name__}: {error}\n"
                f"   (line {where.lineno}: {where.line})\n   while checking: {description}"
            )
            return False
        if hint is not None:
            print(f"❌ {exercise}: {description} failed.\n   Hint: {hint}")
            return False
    print(f"✅ {exercise}: correct ({len(cases)} checks passed).")
    return True


def compare_tensors(
    got, expected: torch.Tensor, what: str, atol: float = 1e-4, rtol: float = 1e-4
) -> str | None:
    """A hint when ``got`` is not a tensor close to ``expected``, else ``None``."""
    if not isinstance(got, torch.Tensor):
        return f"{what} should be a torch.Tensor, got {type(got).__name__}"
    if got.shape != expected.shape:
        return f"{what} should have shape {tuple(expected.shape)}, got {tuple(got.shape)}"
    if not torch.isfinite(got).all():
        return f"{what} contains NaN or infinity"
    if not torch.allclose(got.double(), expected.double(), atol=atol, rtol=rtol):
        worst = (got.double() - expected.double()).abs().max().item()
        return f"{what} differs from the reference by up to {worst:.3g}"
    return None


def _diagnose(
    got, expected: torch.Tensor, what: str, mistakes: list[tuple[torch.Tensor, str]]
) -> str | None:
    """Like :func:`compare_tensors`, but name the typical mistake that ``got`` reproduces.

    ``mistakes`` pairs the result of a typical wrong answer with the hint for
    it; the first one that ``got`` matches (and the reference does not) wins.
    """
    hint = compare_tensors(got, expected, what)
    if hint is None or not isinstance(got, torch.Tensor) or got.shape != expected.shape:
        return hint
    got = got.detach().double()
    for wrong, mistake in mistakes:
        wrong = wrong.detach().double()
        if torch.allclose(got, wrong, atol=1e-4, rtol=1e-4, equal_nan=True):
            return mistake
    return hint


def _scalar_hint(got, what: str) -> str | None:
    """A hint unless ``got`` is one number that autograd can differentiate."""
    if not isinstance(got, torch.Tensor):
        return f"{what} should be a torch.Tensor, got {type(got).__name__}"
    if got.ndim != 0:
        return (
            f"{what} should be one number (a 0-dim tensor), got shape {tuple(got.shape)}: "
            "average over the batch with .mean()"
        )
    if not got.requires_grad:
        return (
            f"{what} is not connected to the inputs, so backward() cannot train the network: "
            "keep it a tensor computed from them (no .item(), no NumPy, no torch.tensor(...))"
        )
    return None


# --------------------------------------------------------------------------- notebook 03


def _triplet_batch(seed: int, size: int = 16, dim: int = 8, negative_spread: float = 0.6):
    """Random triplets: positives near their anchor, negatives a little farther (some active)."""
    generator = torch.Generator().manual_seed(seed)
    anchor = torch.randn(size, dim, generator=generator, dtype=torch.float64)
    positive = anchor + 0.5 * torch.randn(size, dim, generator=generator, dtype=torch.float64)
    negative = anchor + negative_spread * torch.randn(
        size, dim, generator=generator, dtype=torch.float64
    )
    return anchor, positive, negative


def _triplet_mistakes(anchor, positive, negative, margin: float, squared: bool):
    """Results of the typical wrong triplet losses, each with its hint."""

    def gaps(a, p, n, squared, margin=margin):
        d_ap, d_an = (a - p).norm(dim=1), (a - n).norm(dim=1)
        if squared:
            d_ap, d_an = d_ap**2, d_an**2
        return d_ap - d_an + margin

    right = gaps(anchor, positive, negative, squared)
    other_distance = "squared distances ||a − p||²" if not squared else "plain distances ||a − p||"
    wanted_distance = "plain distance ||a − p||" if not squared else "squared distance ||a − p||²"
    return [
        (
            right.mean(),
            "without the hinge max(0, ·), easy triplets give a negative loss and push apart what "
            "is already fine: clamp each triplet's loss at 0, then average "
            "(.clamp(min=0).mean())",
        ),
        (
            right.mean().clamp(min=0),
            "apply the hinge to each triplet, then average; clamping the mean lets easy "
            "triplets cancel active ones",
        ),
        (
            gaps(anchor, negative, positive, squared).clamp(min=0).mean(),
            "positive and negative are swapped: the loss should grow when the *positive* is far "
            "from the anchor, d(a, p) − d(a, n) + margin",
        ),
        (
            gaps(anchor, positive, negative, not squared).clamp(min=0).mean(),
            f"you used {other_distance}; with squared={squared} use the {wanted_distance}",
        ),
        (
            right.clamp(min=0).sum(),
            "average the per-triplet losses over the batch (.mean()), don't sum them",
        ),
        (
            right.clamp(min=0).sum() / (right > 0).sum().clamp(min=1),
            "average over *all* triplets of the batch, zero ones included (as "
            "torch.nn.TripletMarginLoss does); averaging only the non-zero ones is "
            "pytorch-metric-learning's convention, not this exercise's",
        ),
        (
            gaps(anchor, positive, negative, squared, margin=0.0).clamp(min=0).mean(),
            "add the margin: max(0, d(a, p) − d(a, n) + margin)",
        ),
        (
            gaps(anchor, positive, negative, squared, margin=0.2).clamp(min=0).mean(),
            "use the margin argument instead of a fixed 0.2",
        ),
    ]


def check_triplet_loss(fn: Callable) -> bool:
    """Check ``fn(anchor, positive, negative, margin=0.2, squared=False)`` (notebook 03).

    It should return the mean over the batch of max(0, d(a, p) − d(a, n) + margin),
    with d the Euclidean distance, or its square when ``squared=True``.
    """

    def value_case(seed: int, margin: float, squared: bool, spread: float = 0.6):
        def case() -> str | None:
            a, p, n = _triplet_batch(seed, negative_spread=spread)
            got = fn(a, p, n, margin=margin, squared=squared)
            expected = triplet_loss(a, p, n, margin=margin, squared=squared)
            return _diagnose(got, expected, "the loss", _triplet_mistakes(a, p, n, margin, squared))

        return case

    def returns_a_differentiable_number() -> str | None:
        a, p, n = (t.requires_grad_() for t in _triplet_batch(0))
        return _scalar_hint(fn(a, p, n, margin=0.2, squared=False), "the loss")

    def gradient_where_anchor_and_positive_coincide() -> str | None:
        a, p, n = _triplet_batch(5)
        p[:4] = a[:4]  # the same image drawn twice: distance exactly 0
        a.requires_grad_()
        fn(a, p, n, margin=0.2, squared=False).backward()
        if not torch.isfinite(a.grad).all():
            return (
                "the gradient is NaN where the anchor and the positive coincide: the derivative "
                "of √s is infinite at s = 0. Use (a - p).norm(dim=1), which has gradient 0 there, "
                "instead of .pow(2).sum(1).sqrt()"
            )
        return None

    return run_checks(
        "triplet loss",
        [
            ("returning one differentiable number", returns_a_differentiable_number),
            ("plain distances, margin 0.2", value_case(1, 0.2, False)),
            ("squared distances (squared=True)", value_case(2, 0.2, True)),
            ("another margin (0.5)", value_case(3, 0.5, False)),
            (
                "a batch of easy triplets only (the loss must be exactly 0)",
                value_case(4, 0.2, False, spread=3.0),
            ),
            (
                "the gradient where anchor and positive coincide",
                gradient_where_anchor_and_positive_coincide,
            ),
        ],
    )


# --------------------------------------------------------------------------- notebook 04


def batch_hard_from_distances(
    distances: torch.Tensor, labels: torch.Tensor, margin: float = 0.2
) -> torch.Tensor:
    """Batch-hard loss from a distance matrix: the reference of :func:`check_batch_hard`.

    mean over anchors with a positive and a negative of
    max(0, max_p d(a, p) − min_n d(a, n) + margin), the same number as
    ``losses.batch_hard_triplet_loss`` on the embeddings behind ``distances``.
    """
    same = labels[:, None] == labels[None, :]
    is_positive = same & ~torch.eye(len(labels), dtype=torch.bool)
    is_negative = ~same
    hardest_positive = distances.masked_fill(~is_positive, 0).amax(1)
    hardest_negative = distances.masked_fill(~is_negative, float("inf")).amin(1)
    usable = is_positive.any(1) & is_negative.any(1)
    return (hardest_positive - hardest_negative + margin)[usable].clamp(min=0).mean()


def _pk_distances(seed: int, classes: int = 4, per_class: int = 6, singleton: bool = False):
    """Distances and shuffled labels of a P×K batch of clustered unit vectors.

    With ``singleton`` one more image, alone in its class, lies among class 0.
    """
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(classes).repeat_interleave(per_class)
    if singleton:
        labels = torch.cat([labels, torch.tensor([classes])])
    labels = labels[torch.randperm(len(labels), generator=generator)]
    centres = torch.randn(classes, 6, generator=generator, dtype=torch.float64)
    points = 3.0 * centres[labels % classes] + torch.randn(
        len(labels), 6, generator=generator, dtype=torch.float64
    )
    embeddings = torch.nn.functional.normalize(points, dim=1)
    return pairwise_distances(embeddings), labels


def _batch_hard_mistakes(distances, labels, margin: float):
    """Results of the typical wrong batch-hard losses, each with its hint."""
    inf = float("inf")
    eye = torch.eye(len(labels), dtype=torch.bool)
    same = labels[:, None] == labels[None, :]
    is_positive, is_negative = same & ~eye, ~same
    has_positive = is_positive.any(1)
    farthest_positive = distances.masked_fill(~is_positive, 0).amax(1)
    nearest_negative = distances.masked_fill(~is_negative, inf).amin(1)

    def loss(hardest_positive, hardest_negative, anchors=has_positive):
        return (hardest_positive - hardest_negative + margin)[anchors].clamp(min=0).mean()

    right = (farthest_positive - nearest_negative + margin)[has_positive]
    return [
        (
            loss(distances.masked_fill(~is_positive, inf).amin(1), nearest_negative),
            "you took the *nearest* positive: batch-hard takes the hardest positive, the "
            "*farthest* one (the maximum over the anchor's positives)",
        ),
        (
            loss(distances.masked_fill(~same, inf).amin(1), nearest_negative),
            "you took the nearest sample of the anchor's class, which is the anchor itself at "
            "distance 0: batch-hard takes the *farthest* positive, and an anchor is never its "
            "own positive",
        ),
        (
            loss(farthest_positive, distances.amin(1)),
            "take the minimum over the anchor's *negatives* only (a different label): over all "
            "samples the minimum is the anchor itself, at distance 0",
        ),
        (
            loss(farthest_positive, distances.masked_fill(eye, inf).amin(1)),
            "take the minimum over the anchor's *negatives* only (a different label): the "
            "nearest other sample is often a positive",
        ),
        (
            loss(nearest_negative, farthest_positive),
            "positive and negative are swapped: the loss is max(0, d(a, p) − d(a, n) + margin) "
            "with the farthest positive p and the nearest negative n",
        ),
        (
            loss(
                distances.masked_fill(~is_negative, 0).amax(1),
                distances.masked_fill(~is_positive, inf).amin(1),
            ),
            "positive and negative are swapped: take the farthest *positive* and the nearest "
            "*negative*",
        ),
        (
            right.mean(),
            "apply the hinge max(0, ·) to each anchor's triplet before averaging: an anchor "
            "whose hardest negative is already far enough should cost 0, not less",
        ),
        (
            right.clamp(min=0).sum(),
            "average over the anchors (.mean()), don't sum",
        ),
        (
            right.clamp(min=0).sum() / (right > 0).sum().clamp(min=1),
            "average over *all* anchors, zero ones included (Hermans et al.); averaging only the "
            "non-zero ones is pytorch-metric-learning's default, not this exercise's",
        ),
        (
            loss(distances.masked_fill(~same, 0).amax(1), nearest_negative, slice(None)),
            "an anchor is not its own positive: exclude the diagonal from the positives, and "
            "leave anchors with no other image of their class out of the mean",
        ),
        (
            right.clamp(min=0).sum() / len(labels),
            "an anchor with no positive in the batch has no triplet: leave it out of the mean "
            "instead of counting it as 0",
        ),
    ]


def check_batch_hard(fn: Callable) -> bool:
    """Check ``fn(distances, labels, margin=0.2)``: the batch-hard loss (notebook 04).

    ``distances`` is the (B, B) matrix of a batch and ``labels`` its (B,) class
    ids; the result is the mean over anchors of max(0, farthest positive −
    nearest negative + margin), over the anchors that have a positive.
    """

    def value_case(seed: int, margin: float, singleton: bool = False):
        def case() -> str | None:
            distances, labels = _pk_distances(seed, singleton=singleton)
            got = fn(distances, labels, margin=margin)
            expected = batch_hard_from_distances(distances, labels, margin)
            hint = _diagnose(
                got, expected, "the loss", _batch_hard_mistakes(distances, labels, margin)
            )
            if hint and singleton and "NaN" in hint:
                hint = (
                    "the loss is NaN or infinite: an anchor alone in its class has no positive, "
                    "so its maximum over positives is empty; leave such anchors out of the mean"
                )
            return hint

        return case

    def returns_a_differentiable_number() -> str | None:
        distances, labels = _pk_distances(0)
        return _scalar_hint(fn(distances.requires_grad_(), labels, margin=0.2), "the loss")

    def margin_is_used() -> str | None:
        distances, labels = _pk_distances(3)
        got = fn(distances, labels, margin=0.5)
        expected = batch_hard_from_distances(distances, labels, 0.5)
        fixed = batch_hard_from_distances(distances, labels, 0.2)
        if isinstance(got, torch.Tensor) and torch.allclose(got.double(), fixed, atol=1e-6):
            return "use the margin argument instead of a fixed 0.2"
        return _diagnose(got, expected, "the loss", _batch_hard_mistakes(distances, labels, 0.5))

    return run_checks(
        "batch-hard loss",
        [
            ("returning one differentiable number", returns_a_differentiable_number),
            ("a P×K batch of 4 classes × 6 images, shuffled", value_case(1, 0.2)),
            ("another P×K batch", value_case(2, 0.2)),
            ("another margin (0.5)", margin_is_used),
            (
                "a batch with one image alone in its class (margin 0.5)",
                value_case(4, 0.5, singleton=True),
            ),
        ],
    )
