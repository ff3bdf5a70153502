"""Distance matrices between embeddings, safe to differentiate.

Every loss of the course starts from distances: ``pairwise_distances`` gives
all B × B distances of a batch at once, ``cross_distances`` the Q × G
distances from queries to a gallery (retrieval), ``paired_distances`` the
distance of row i of one batch to row i of another (a Siamese pair).

Squared Euclidean distances come from one matrix product,

    ||x_i − x_j||² = ||x_i||² + ||x_j||² − 2 x_i·x_j,

which is fast but has two traps this module avoids:

- **round-off**: the subtraction can leave a tiny negative number, or a
  self-distance of about 1e-3 instead of 0 (``torch.cdist`` has the same
  problem above 25 rows). We clamp at 0, write exact zeros on the diagonal,
  and centre the embeddings first: smaller norms lose fewer digits, and
  moving every embedding by the same vector changes nothing.
- **the gradient of the square root at 0**: d√s/ds = 1 / (2√s) is infinite
  at s = 0, and infinity × 0 gives NaN whenever two embeddings coincide. A
  zero distance gets gradient 0 instead (``pairwise_distances`` writes its
  gradient out by hand, which also saves memory; the others use
  ``safe_sqrt``).

float16 and bfloat16 embeddings are measured in float32 (a squared norm above
65504 overflows float16), so the result is float32 for them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def check_embeddings(
    embeddings: torch.Tensor, name: str = "embeddings", *, squared: bool = True
) -> None:
    """Raise ``ValueError`` unless ``embeddings`` is a 2-D floating-point tensor of finite numbers.

    One NaN row is not a local problem: centring (below) spreads it to every
    distance, and a ranking then puts each query first among its own
    neighbours, so metrics come out perfect. The error names the rows instead.
    With ``squared`` (the distance functions here and every loss), values so
    large that a squared distance overflows are refused too (see
    :func:`check_squarable`); a search that rescales them first passes False.
    """
    if not isinstance(embeddings, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(embeddings).__name__}")
    if embeddings.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D (batch, embedding_dim), got shape {tuple(embeddings.shape)}; "
            "flatten each embedding into one row"
        )
    if not embeddings.is_floating_point():
        raise ValueError(f"{name} must be floating point, got {embeddings.dtype}; use .float()")
    # One sum is 10-30× faster than isfinite on the CPU; it is NaN or ±∞ whenever an entry is
    # (and when finite entries overflow, which the row check below then clears).
    if not torch.isfinite(embeddings.detach().sum()):
        rows = (~torch.isfinite(embeddings).all(1)).nonzero().flatten().tolist()
        if rows:
            listed = ", ".join(map(str, rows[:10])) + (", …" if len(rows) > 10 else "")
            raise ValueError(
                f"NaN or infinity in {name}: {len(rows)} of {len(embeddings)} rows ({listed}); "
                "a network outputs these when its input holds NaN or its training diverged "
                "(then lower the learning rate)"
            )
    if squared:
        check_squarable(embeddings, name)


def check_squarable(embeddings: torch.Tensor, name: str = "embeddings") -> None:
    """Raise ``ValueError`` when a squared distance between these rows could overflow.

    ||x − y||² sums D squares of differences up to twice the largest value, so
    values above √(max / 4D) (about 1e18 for 64-D float32) give ∞, then NaN
    distances and a NaN loss with no word; such embeddings come from a
    network that diverged or from a missing normalisation.
    """
    if embeddings.numel() == 0:
        return
    dtype = torch.float64 if embeddings.dtype == torch.float64 else torch.float32
    limit = (torch.finfo(dtype).max / (4 * embeddings.shape[1])) ** 0.5
    largest = embeddings.detach().abs().max().item()
    if largest > limit:
        raise ValueError(
            f"{name} hold values up to {largest:.1e}: their squared distances overflow "
            f"{str(dtype).removeprefix('torch.')} (largest {torch.finfo(dtype).max:.1e}) and "
            "would be ∞ or NaN; "
            "normalise the embeddings (e.g. F.normalize(x, dim=1)), or lower the learning "
            "rate if training diverged"
        )


def _at_least_float32(x: torch.Tensor) -> torch.Tensor:
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


# The distances a loss can take (``distance=``). Cosine, 1 − cos(x, y), is computed as
# ½ ||u − v||² of the unit vectors u, v (the same number), so it shares the Euclidean
# path's centring, exact zero diagonal and finite gradient.
DISTANCES = ("euclidean", "cosine")


def check_distance(distance: str, squared: bool = False) -> None:
    """Raise ``ValueError`` unless ``distance`` is one of ``DISTANCES`` and fits ``squared``."""
    if distance not in DISTANCES:
        raise ValueError(f"unknown distance {distance!r}; choose one of {', '.join(DISTANCES)}")
    if squared and distance == "cosine":
        raise ValueError(
            "squared=True squares the Euclidean distance; the cosine distance 1 − cos is "
            "already half the squared Euclidean distance of unit vectors: leave squared out"
        )


def _unit(x: torch.Tensor | None) -> torch.Tensor | None:
    return None if x is None else F.normalize(_at_least_float32(x), dim=1)


class _SqrtWithZeroGradientAtZero(torch.autograd.Function):
    """√s, whose gradient 1 / (2√s) is replaced by 0 at s = 0 (instead of ∞ × 0 = NaN)."""

    @staticmethod
    def forward(ctx, squared: torch.Tensor) -> torch.Tensor:
        root = squared.sqrt()
        ctx.save_for_backward(root)
        return root

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (root,) = ctx.saved_tensors
        return torch.where(root > 0, grad / (2 * root), 0.0)


def safe_sqrt(squared: torch.Tensor) -> torch.Tensor:
    """√s with gradient 0 where s = 0, so coinciding embeddings never give NaN."""
    return _SqrtWithZeroGradientAtZero.apply(squared)


def cross_distances(
    queries: torch.Tensor, gallery: torch.Tensor, squared: bool = False, *, check: bool = True
) -> torch.Tensor:
    """Euclidean distances from every query to every gallery item, shape (Q, G) (notebook 02).

    ``squared=True`` returns ||q_i − g_j||² instead. Never negative, and its
    gradient is finite where a query and a gallery item coincide.
    ``check=False`` skips :func:`check_embeddings` (see ``pairwise_distances``).
    """
    if check:
        check_embeddings(queries, "queries")
        check_embeddings(gallery, "gallery")
    if queries.shape[1] != gallery.shape[1]:
        raise ValueError(
            f"queries and gallery must have the same embedding size, got {queries.shape[1]} "
            f"and {gallery.shape[1]}"
        )
    queries, gallery = _at_least_float32(queries), _at_least_float32(gallery)
    centre = torch.cat([queries, gallery]).mean(0)
    squared_distances = centred_squared_distances(queries - centre, gallery - centre)
    return squared_distances if squared else safe_sqrt(squared_distances)


def centred_squared_distances(
    queries: torch.Tensor, gallery: torch.Tensor, gallery_norms: torch.Tensor | None = None
) -> torch.Tensor:
    """||q_i − g_j||² (Q, G) from one matrix product, for embeddings centred already.

    The formula of :func:`cross_distances`, clamped at 0. A search over a
    gallery in blocks of queries (``neighbours.nearest_neighbours``) centres
    the gallery and computes its squared norms ``gallery_norms`` once.
    """
    if gallery_norms is None:
        gallery_norms = gallery.pow(2).sum(1)
    squared_distances = torch.addmm(gallery_norms[None, :], queries, gallery.T, alpha=-2)
    return squared_distances.add_(queries.pow(2).sum(1)[:, None]).clamp_(min=0)


class _PairwiseDistances(torch.autograd.Function):
    """D_ij = ||x_i − x_j|| (or D_ij²) for all pairs, with the gradient written out.

    Autograd could differentiate the formula step by step, but each step
    would keep another B × B tensor. By hand, with G = ∂L/∂D:

        ∂L/∂x_i = Σ_j (R_ij + R_ji) (x_i − x_j),   R = G / D   (R = 2 G for D²)

    taking R = 0 where D = 0, the subgradient that avoids ∞ × 0 = NaN. In
    matrix form that is x · (row sums + column sums of R) − R x − Rᵀ x.
    """

    @staticmethod
    def forward(ctx, embeddings: torch.Tensor, squared: bool) -> torch.Tensor:
        x = embeddings - embeddings.mean(0)  # centred: smaller norms, fewer digits lost
        norms = x.pow(2).sum(1)
        # ||x_j||² − 2 x_i·x_j in one matrix product, then + ||x_i||², all in place
        distances = torch.addmm(norms[None, :], x, x.T, alpha=-2).add_(norms[:, None])
        distances.clamp_(min=0).fill_diagonal_(0.0)
        if not squared:
            distances.sqrt_()
        ctx.save_for_backward(x, distances)
        ctx.squared = squared
        return distances

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        x, distances = ctx.saved_tensors
        if ctx.squared:
            ratio = 2 * grad
        else:  # G / D, with 1 / 0 = ∞ replaced by 0
            ratio = grad * distances.reciprocal().nan_to_num_(posinf=0.0)
        weights = ratio.sum(1) + ratio.sum(0)
        return x * weights[:, None] - ratio @ x - ratio.T @ x, None


def pairwise_distances(
    embeddings: torch.Tensor, squared: bool = False, *, check: bool = True
) -> torch.Tensor:
    """All Euclidean distances within a batch, shape (B, B) (notebook 01).

    Entry (i, j) is ||x_i − x_j|| (or its square with ``squared=True``). The
    matrix is symmetric up to round-off, never negative, exactly 0 on the
    diagonal, and has a finite gradient everywhere (first derivatives only).
    ``check=False`` skips :func:`check_embeddings`, for a caller that checked
    the batch already (each loss checks it once, on entry).
    """
    if check:
        check_embeddings(embeddings)
    return _PairwiseDistances.apply(_at_least_float32(embeddings), squared)


def cosine_distances(embeddings: torch.Tensor) -> torch.Tensor:
    """1 − cosine similarity of every pair in a batch, (B, B), in [0, 2] (notebook 01).

    Depends only on the directions of the embeddings; for unit-length
    embeddings it equals half the squared Euclidean distance. A zero vector
    has distance 1 to every other embedding; the diagonal is exactly 0.
    """
    check_embeddings(embeddings)
    unit = F.normalize(_at_least_float32(embeddings), dim=1)
    distances = (1 - unit @ unit.T).clamp(0, 2)
    diagonal = torch.eye(len(embeddings), dtype=torch.bool, device=embeddings.device)
    return distances.masked_fill(diagonal, 0.0)


def paired_distances(
    x: torch.Tensor, y: torch.Tensor, squared: bool = False, *, distance: str = "euclidean"
) -> torch.Tensor:
    """Distance between row i of ``x`` and row i of ``y``, shape (B,) (notebook 03).

    A Siamese pair's D, or a triplet's d(a, p) and d(a, n).
    """
    check_distance(distance, squared)
    check_embeddings(x, "the first embeddings")
    check_embeddings(y, "the second embeddings")
    if x.shape != y.shape:
        raise ValueError(
            f"paired embeddings must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if distance == "cosine":
        return 0.5 * (_unit(x) - _unit(y)).pow(2).sum(1)
    squared_distances = (_at_least_float32(x) - _at_least_float32(y)).pow(2).sum(1)
    return squared_distances if squared else safe_sqrt(squared_distances)


def _check_inputs(embeddings, references, distance: str, squared: bool) -> None:
    """The checks of :func:`distances_to` and :func:`distance_matrix`, in one place."""
    check_distance(distance, squared)
    check_embeddings(embeddings)
    if references is not None:
        check_embeddings(references, "references")


def distances_to(
    embeddings: torch.Tensor,
    index: torch.Tensor,
    squared: bool = False,
    *,
    references: torch.Tensor | None = None,
    distance: str = "euclidean",
    check: bool = True,
) -> torch.Tensor:
    """Distance from each embedding a to the embeddings listed in row a of ``index``.

    ``index`` is a (B, K) table of row numbers into ``references`` (the
    embeddings themselves when not given); the result (B, K) holds
    ||x_a − r_index[a, j]||. Mining losses use it to measure the few pairs
    they picked exactly, by subtraction, with a gradient only for those.
    ``check=False`` skips the checks (see ``pairwise_distances``).
    """
    if check:
        _check_inputs(embeddings, references, distance, squared)
    if distance == "cosine":
        unit = _unit(embeddings)
        return 0.5 * distances_to(unit, index, True, references=_unit(references), check=False)
    if index.ndim != 2 or len(index) != len(embeddings):
        raise ValueError(
            f"index must be a ({len(embeddings)}, K) table of row numbers, "
            f"got shape {tuple(index.shape)}"
        )
    x = _at_least_float32(embeddings)
    r = x if references is None else references.to(x)
    squared_distances = (x[:, None, :] - r[index]).pow(2).sum(2)
    return squared_distances if squared else safe_sqrt(squared_distances)


def distance_matrix(
    embeddings: torch.Tensor,
    references: torch.Tensor | None = None,
    distance: str = "euclidean",
    squared: bool = False,
    *,
    check: bool = True,
) -> torch.Tensor:
    """(A, R) distances from each embedding to each reference, (B, B) within the batch without.

    The distance matrix step of every online loss (notebook 04), ``distance``
    one of ``DISTANCES``. ``check=False`` skips the checks (see ``pairwise_distances``).
    """
    if check:
        _check_inputs(embeddings, references, distance, squared)
    if distance == "cosine":
        unit = _unit(embeddings)
        return 0.5 * distance_matrix(unit, _unit(references), squared=True, check=False)
    if references is None:
        return pairwise_distances(embeddings, squared, check=False)
    return cross_distances(embeddings, references.to(embeddings), squared, check=False)
