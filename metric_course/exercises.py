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

from .distances import cosine_distances, pairwise_distances
from .losses import contrastive_loss, triplet_loss

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


# --------------------------------------------------------------------------- notebook 01


def _uses_python_loop(fn: Callable) -> bool:
    """True when ``fn``'s source has a ``for``/``while`` loop or a comprehension.

    Functions whose source cannot be read (typed at a prompt, built-ins) pass.
    """
    import ast
    import inspect
    import textwrap

    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return False
    loops = (ast.For, ast.While, ast.comprehension)
    return any(isinstance(node, loops) for node in ast.walk(tree))


def _embeddings(seed: int, size: int = 8, dim: int = 3, offset: float = 0.0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return offset + torch.randn(size, dim, generator=generator, dtype=torch.float64)


def _distance_matrix_mistakes(x: torch.Tensor) -> list[tuple[torch.Tensor, str]]:
    """Results of the typical wrong distance matrices, each with its hint."""
    squared = (x[:, None, :] - x[None, :, :]).pow(2).sum(-1)
    norms = x.pow(2).sum(1)
    return [
        (
            squared,
            "these are *squared* distances ||x_i − x_j||²: take the square root "
            "(the exercise asks for the Euclidean distance itself)",
        ),
        (
            cosine_distances(x),
            "that is the cosine distance 1 − cos(x_i, x_j); the exercise asks for the "
            "Euclidean distance ||x_i − x_j||",
        ),
        (
            x @ x.T,
            "x @ x.T holds dot products, a *similarity* (large = alike); the squared distance "
            "is ||x_i||² + ||x_j||² − 2 x_i·x_j",
        ),
        (
            (norms[:, None] + norms[None, :] + 2 * x @ x.T).clamp(min=0).sqrt(),
            "check the sign: ||x_i − x_j||² = ||x_i||² + ||x_j||² − 2 x_i·x_j (minus)",
        ),
        (
            (x[:, None, :] - x[None, :, :]).abs().sum(-1),
            "that is the Manhattan (L1) distance Σ|x_i − x_j|; square the differences, sum, "
            "then take the square root",
        ),
    ]


def _nan_or_negative_hint(distances: torch.Tensor) -> str | None:
    """The hint for a distance matrix with NaN or negative entries, else ``None``."""
    if torch.isnan(distances).any():
        return (
            "NaN in the distance matrix: for (nearly) identical embeddings, round-off can make "
            "||a||² + ||b||² − 2a·b slightly negative, and the square root of a negative "
            "number is NaN. Clamp the squared distances at 0 first: .clamp(min=0).sqrt()"
        )
    if (distances < 0).any():
        return "a distance is negative: clamp the squared distances at 0 (.clamp(min=0))"
    return None


def check_pairwise_distances(fn: Callable) -> bool:
    """Check ``fn(embeddings) -> (B, B)`` Euclidean distance matrix, without loops (notebook 01).

    Entry (i, j) must be ||x_i − x_j||, computed with broadcasting or a matrix
    product, never negative or NaN even for identical embeddings.
    """

    def value_case(seed: int, size: int, dim: int):
        def case() -> str | None:
            x = _embeddings(seed, size, dim)
            got = fn(x.clone())
            if isinstance(got, torch.Tensor) and got.shape == (size, size, dim):
                return (
                    f"the result has shape {tuple(got.shape)}: the (B, B, D) differences still "
                    "need to be squared and summed over the last axis (dim=-1)"
                )
            expected, what = pairwise_distances(x), "the distance matrix"
            hint = _diagnose(got, expected, what, _distance_matrix_mistakes(x))
            generic = hint is not None and hint == compare_tensors(got, expected, what)
            if generic and got.shape == expected.shape:  # no typical mistake matched
                return _nan_or_negative_hint(got) or hint
            return hint

        return case

    def without_loops() -> str | None:
        if _uses_python_loop(fn):
            return (
                "the values are right, but your function uses a Python loop (for, while or a "
                "comprehension). Let broadcasting do it: x[:, None, :] - x[None, :, :] has "
                "shape (B, B, D)"
            )
        return None

    def identical_embeddings() -> str | None:
        # Duplicated rows far from the origin, in float32: the round-off of
        # ||a||² + ||b||² − 2a·b is then larger than the true squared distance, 0.
        x = _embeddings(3, 16, 16, offset=300.0).float()
        x = torch.cat([x, x])
        got = fn(x.clone())
        if not isinstance(got, torch.Tensor) or got.shape != (32, 32):
            return compare_tensors(got, torch.zeros(32, 32), "the distance matrix")
        return _nan_or_negative_hint(got) or compare_tensors(
            got, got.clamp(min=0), "the distance matrix"
        )

    return run_checks(
        "pairwise distance matrix",
        [
            ("8 embeddings in 3-D", value_case(0, 8, 3)),
            ("20 embeddings in 16-D", value_case(1, 20, 16)),
            ("a batch of one embedding", value_case(2, 1, 4)),
            ("no Python loops", without_loops),
            ("pairs of identical embeddings (distance 0, never NaN)", identical_embeddings),
        ],
    )


# --------------------------------------------------------------------------- notebook 02


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
            return _diagnose(got, expected, "the loss", _contrastive_mistakes(a, b, y, margin))

        return case

    def returns_a_differentiable_number() -> str | None:
        a, b, y = _pair_batch(0)
        return _scalar_hint(fn(a.requires_grad_(), b, y, margin=1.0), "the loss")

    def gradient_where_a_pair_coincides() -> str | None:
        a, b, y = _pair_batch(6)
        b[:4] = a[:4]  # two pairs of each kind at distance exactly 0
        a.requires_grad_()
        fn(a, b, y, margin=1.0).backward()
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
    import numpy as np

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
    import math

    import numpy as np

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


# --------------------------------------------------------------------------- notebooks 05 and 06


def _integer_hint(got, expected: torch.Tensor, what: str) -> str | None:
    """A hint unless ``got`` is an integer tensor equal to ``expected`` (labels or indices)."""
    if not isinstance(got, torch.Tensor):
        return f"{what} should be a torch.Tensor, got {type(got).__name__}"
    if got.shape != expected.shape:
        return f"{what} should have shape {tuple(expected.shape)}, got {tuple(got.shape)}"
    if got.is_floating_point() or got.is_complex():
        return f"{what} should hold integers (labels or indices), got {got.dtype}"
    if not torch.equal(got.long().cpu(), expected.long()):
        wrong = int((got.long().cpu() != expected.long()).sum())
        return f"{what} differs from the reference at {wrong} of {expected.numel()} places"
    return None


def _name_mistake(got, expected, what: str, mistakes: list[tuple[torch.Tensor, str]]):
    """Like :func:`_integer_hint`, but name the typical mistake ``got`` reproduces, if any."""
    hint = _integer_hint(got, expected, what)
    if hint is None or not isinstance(got, torch.Tensor):
        return hint
    for wrong, mistake in mistakes:
        same_shape = got.shape == wrong.shape
        if same_shape and not got.is_floating_point() and torch.equal(got.long().cpu(), wrong):
            return mistake
    return hint


def _episode(
    seed: int,
    classes: list[int],
    k_shot: int,
    n_query: int = 12,
    dim: int = 8,
    shuffle: bool = False,
    noise: float = 0.9,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A made-up few-shot episode: (support, support_labels, queries), classes overlapping a bit."""
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(len(classes), dim, generator=generator)
    which = torch.arange(len(classes)).repeat_interleave(k_shot)
    support = centres[which] + noise * torch.randn(len(which), dim, generator=generator)
    support_labels = torch.tensor(classes)[which]
    if shuffle:
        order = torch.randperm(len(which), generator=generator)
        support, support_labels = support[order], support_labels[order]
    asked = torch.randint(len(classes), (n_query,), generator=generator)
    queries = centres[asked] + noise * torch.randn(n_query, dim, generator=generator)
    return support, support_labels, queries


def _prototype_mistakes(support, support_labels, queries) -> list[tuple[torch.Tensor, str]]:
    """What typical wrong prototype classifiers answer on this episode, with a hint for each."""
    from .distances import cross_distances
    from .evaluation import classify_by_nearest_neighbour

    classes = support_labels.unique()
    means = torch.stack([support[support_labels == c].mean(0) for c in classes])
    firsts = torch.stack([support[support_labels == c][0] for c in classes])
    to_means = cross_distances(queries, means)
    n_way = len(classes)
    grouped = support.reshape(n_way, -1, support.shape[1]).mean(1)  # assumes sorted support
    grouped_labels = support_labels.reshape(n_way, -1)[:, 0]
    return [
        (
            classes[to_means.argmax(1)],
            "you picked the *farthest* prototype. The nearest one has the smallest distance: "
            "use argmin, not argmax.",
        ),
        (
            to_means.argmin(1),
            "you returned positions 0..N-1 of the prototypes, not class labels. Here the "
            f"classes are {classes.tolist()}: index your tensor of classes with the argmin.",
        ),
        (
            classes[cross_distances(queries, firsts).argmin(1)],
            "each prototype should be the mean of all K support embeddings of its class, not "
            "its first one: support[support_labels == c].mean(0).",
        ),
        (
            classify_by_nearest_neighbour(support, support_labels, queries),
            "that is the nearest-neighbour classifier. Average each class's support embeddings "
            "into one prototype first, then name each query by its nearest prototype.",
        ),
        (
            grouped_labels[cross_distances(queries, grouped).argmin(1)],
            "the support set is not sorted by class, so a reshape mixes classes. Pick each "
            "class's rows with a mask: support[support_labels == c].",
        ),
    ]


def check_prototype_classifier(fn: Callable) -> bool:
    """Check ``fn(support, support_labels, queries) -> labels`` (nearest class mean).

    Notebook 05: each class's prototype is the mean of its support embeddings;
    a query gets the label of the nearest prototype (Euclidean distance).
    """
    from .evaluation import classify_by_prototypes

    def compare(support, support_labels, queries) -> str | None:
        expected = classify_by_prototypes(support, support_labels, queries)
        got = fn(support.clone(), support_labels.clone(), queries.clone())
        mistakes = _prototype_mistakes(support, support_labels, queries)
        return _name_mistake(got, expected, "the predicted labels", mistakes)

    return run_checks(
        "prototype classifier",
        [
            (
                "3-way 5-shot, classes 0, 1, 2, well apart",
                lambda: compare(*_episode(0, [0, 1, 2], k_shot=5, noise=0.3)),
            ),
            (
                "3-way 5-shot, classes 0, 1, 2, overlapping",
                lambda: compare(*_episode(1, [0, 1, 2], k_shot=5, n_query=40)),
            ),
            (
                "3-way 5-shot with class labels 7, 8, 9",
                lambda: compare(*_episode(2, [7, 8, 9], k_shot=5, n_query=40)),
            ),
            (
                "support images in shuffled order",
                lambda: compare(*_episode(3, [0, 1, 2, 3], k_shot=4, n_query=40, shuffle=True)),
            ),
            (
                "5-way 1-shot and 10-way 10-shot episodes in 32 dimensions",
                lambda: (
                    compare(*_episode(4, [3, 1, 4, 0, 2], k_shot=1, dim=32, n_query=30))
                    or compare(*_episode(5, list(range(10)), k_shot=10, dim=32, n_query=50))
                ),
            ),
        ],
    )


def _reference_k_nearest(embeddings: torch.Tensor, query: int, k: int) -> torch.Tensor:
    from .widgets import nearest_neighbours

    return torch.as_tensor(nearest_neighbours(embeddings, query, k)[0], dtype=torch.long)


def _k_nearest_mistakes(embeddings, query: int, k: int) -> list[tuple[torch.Tensor, str]]:
    distances = (embeddings - embeddings[query]).norm(dim=1)
    with_itself = distances.argsort()[:k]
    others = distances.clone()
    others[query] = float("inf")
    nearest = others.argsort()[:k]
    farthest = distances.argsort(descending=True)[:k]
    return [
        (
            with_itself,
            "the query is its own nearest neighbour, at distance 0. Leave it out: set its "
            "own distance to infinity before taking the k smallest.",
        ),
        (
            farthest,
            "these are the k *farthest* items. topk returns the largest values unless you "
            "pass largest=False (or sort ascending with argsort).",
        ),
        (
            nearest.flip(0),
            "right items, wrong order: return them nearest first.",
        ),
    ]


def check_k_nearest(fn: Callable) -> bool:
    """Check ``fn(embeddings, query, k) -> indices`` of the k nearest other items, nearest first.

    Notebook 06: the logic behind the embedding explorer.
    """

    def compare(embeddings: torch.Tensor, query: int, k: int) -> str | None:
        expected = _reference_k_nearest(embeddings, query, k)
        got = fn(embeddings.clone(), query, k)
        if isinstance(got, torch.Tensor) and got.is_floating_point():
            return (
                "you returned distances (floats); return the *indices* of the neighbours, "
                "e.g. the .indices of topk or the result of argsort."
            )
        mistakes = _k_nearest_mistakes(embeddings, query, k)
        if (
            isinstance(got, torch.Tensor)
            and got.shape == expected.shape
            and not torch.equal(got.long().cpu(), expected)
        ):
            if set(got.tolist()) == set(expected.tolist()):
                return "right items, wrong order: return them nearest first."
        return _name_mistake(got, expected, f"the neighbours of item {query}", mistakes)

    line = torch.tensor([[0.0], [1.0], [3.0], [3.5], [10.0]])
    points = torch.randn(40, 8, generator=torch.Generator().manual_seed(0))
    return run_checks(
        "k nearest neighbours",
        [
            (
                "five points on a line, query 2, k = 2 (answer: 3, then 1)",
                lambda: compare(line, 2, 2),
            ),
            ("40 points in 8-D, query 0, k = 5", lambda: compare(points, 0, 5)),
            (
                "40 points in 8-D, queries 7 and 39, k = 1 and 10",
                lambda: compare(points, 7, 1) or compare(points, 39, 10),
            ),
        ],
    )


# --------------------------------------------------------------------------- notebook 07


def _gathered_batch(world_size: int, rank: int, rows: int = 2, dim: int = 3, seed: int = 0):
    """What all_gather hands one process: every process's rows as copies, plus its own tensor."""
    generator = torch.Generator().manual_seed(seed)
    parts = [
        torch.randn(rows, dim, generator=generator, dtype=torch.float64) + 10 * r
        for r in range(world_size)
    ]
    local = parts[rank].clone().requires_grad_()
    return parts, local  # the copies carry no gradient, like all_gather's


def check_global_batch(fn: Callable) -> bool:
    """Check ``fn(gathered, local, rank) -> global batch`` with the gradient trick (notebook 07).

    ``gathered`` holds every process's embeddings as returned by all_gather
    (copies, without gradient); the result must be their concatenation in
    rank order, with this process's slot taken by ``local`` itself so that the
    backward pass reaches the local network.
    """

    def case(world_size: int, rank: int, seed: int) -> Callable[[], str | None]:
        def run() -> str | None:
            parts, local = _gathered_batch(world_size, rank, seed=seed)
            got = fn([p.clone() for p in parts], local, rank)
            if isinstance(got, torch.Tensor) and got.shape == local.shape:
                return (
                    "the result has the shape of this process's rows only: the global batch "
                    "holds the rows of all processes, torch.cat(...) of the whole list"
                )
            hint = compare_tensors(got, torch.cat(parts), "the global batch")
            if hint is not None:
                return hint + " (the rows of process r belong in slot r, in rank order)"
            if not got.requires_grad:
                return (
                    "the values are right but carry no gradient: all_gather's copies are "
                    "detached, so put `local` itself in slot `rank` (gathered[rank] = local)"
                )
            weights = torch.arange(len(got), dtype=got.dtype)[:, None]
            (got * weights).sum().backward()
            own_rows = weights[rank * len(local) : (rank + 1) * len(local)].expand_as(local)
            if local.grad is None or not torch.allclose(local.grad, own_rows):
                return (
                    "the gradient does not reach `local` through slot `rank`: use `local` "
                    "itself (not a copy, not .detach()) in its own slot"
                )
            return None

        return run

    return run_checks(
        "global batch with gradient",
        [
            ("2 processes, this one is rank 0", case(2, 0, 0)),
            ("3 processes, this one is rank 1", case(3, 1, 1)),
            ("4 processes, this one is rank 3", case(4, 3, 2)),
        ],
    )
