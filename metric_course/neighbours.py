"""The one nearest-neighbour search of the package (notebooks 01, 06 and 07).

Retrieval metrics (notebook 01), the explorer and the clickable projection
(notebook 06), UMAP's neighbour graph and the brute-force baseline that faiss
is timed against (notebook 07) all ask one question: which gallery items are
nearest to each query? :func:`nearest_neighbours` answers it for all of them:

- exactly, in PyTorch, by the formula of :func:`metric_course.distances.cross_distances`
  (``centred_squared_distances``), a block of queries at a time, so memory
  stays at block × gallery distances;
- or through a faiss index (``index=``, built over the gallery by
  :func:`metric_course.search.build_index`): exact (flat) or approximate
  (IVF, HNSW), for galleries too large to rank by brute force.

Numerics. Every block is measured from one centre, the midpoint of the
embeddings' range, and in units of a power of two near their spread. The
midpoint, unlike a mean, does not depend on the order of the items (a sum's
rounding does); scaling by a power of two is exact, and keeps squared norms
from overflowing (embeddings × 1e20) or underflowing. float16 and bfloat16
embeddings are measured in float32 (a squared norm of 400² overflows float16).

Ties. Nearest first; among equal distances, the lower gallery index first, so
a search never flickers between equal answers. With ``tie_labels``, equal
distances put the gallery items of *another* label than the query's first:
the pessimistic order, in which a tie never flatters a retrieval metric and
the metrics do not depend on the order of the items (pytorch-metric-learning
leaves ties to ``topk``, whose order among equal values is unspecified).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol

import numpy as np
import torch

from .distances import centred_squared_distances, check_embeddings

# Distances per block of queries when no chunk size is given: 16M float32 numbers, 64 MB.
BLOCK_ELEMENTS = 2**24


class Neighbours(NamedTuple):
    """Each query's ``k`` nearest gallery items, nearest first: two (Q, k) tensors."""

    distances: torch.Tensor
    indices: torch.Tensor


class NeighbourIndex(Protocol):
    """A search index over a gallery, such as :class:`metric_course.search.SearchIndex`."""

    def __len__(self) -> int: ...

    def search(self, queries: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]: ...


def _rows(values, what: str) -> torch.Tensor:
    values = values if isinstance(values, torch.Tensor) else torch.as_tensor(np.asarray(values))
    check_embeddings(values, what, squared=False)  # rescaled below: any finite size
    return values.to(torch.promote_types(values.dtype, torch.float32))


def _self_rows(exclude_self, n_queries: int, n_gallery: int) -> torch.Tensor | None:
    """Each query's own gallery row, or None when no query is in the gallery."""
    if exclude_self is False:
        return None
    if exclude_self is True:
        if n_queries != n_gallery:
            raise ValueError(
                "exclude_self=True means the queries are the gallery's own items (query i is "
                f"gallery item i), but there are {n_queries} queries for {n_gallery} gallery "
                "items; pass exclude_self=rows, each query's row in the gallery"
            )
        return torch.arange(n_queries)
    rows = torch.as_tensor(exclude_self)
    if rows.shape != (n_queries,) or rows.is_floating_point() or rows.dtype == torch.bool:
        raise ValueError(
            f"exclude_self must be True, False or one gallery row number per query "
            f"({n_queries}), got {exclude_self!r}"
        )
    if n_queries and not (0 <= rows.min() and rows.max() < n_gallery):
        raise ValueError(f"exclude_self rows must lie in 0..{n_gallery - 1}, got {rows.tolist()}")
    return rows.long()


def _take_ties(block: torch.Tensor, kth: torch.Tensor, k: int, same: torch.Tensor | None):
    """Rows whose k-th distance is shared beyond the k-th place: the k items the rule picks.

    All items nearer than the k-th distance, then, of those at it, the other-label
    items (when ``same`` says which share the query's label) and lower indices first.
    """
    below, tied = block < kth, block == kth
    slots = k - below.sum(1, keepdim=True)
    if same is None:
        rank = tied.cumsum(1)
    else:
        first, second = tied & ~same, tied & same
        rank = torch.where(first, first.cumsum(1), first.sum(1, keepdim=True) + second.cumsum(1))
    take = below | (tied & (rank <= slots))
    return take.nonzero()[:, 1].view(len(block), k)


def _in_order(
    distances: torch.Tensor, indices: torch.Tensor, same: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sort each row by (distance, shares the query's label, index): three stable sorts."""
    order = indices.argsort(1)
    keys = [same] if same is not None else []
    for key in [*keys, distances]:
        order = order.gather(1, key.gather(1, order).argsort(dim=1, stable=True))
    return distances.gather(1, order), indices.gather(1, order)


def nearest_neighbours(
    queries: torch.Tensor,
    gallery: torch.Tensor,
    k: int,
    *,
    exclude_self: bool | Sequence[int] | torch.Tensor = False,
    index: NeighbourIndex | None = None,
    chunk_size: int | None = None,
    tie_labels: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> Neighbours:
    """Each query's ``k`` nearest gallery items by Euclidean distance: ``(distances, indices)``.

    Both are (Q, k), nearest first (notebook 06; notebook 07 for faiss).
    ``exclude_self`` leaves each query's own item out: ``True`` when the
    queries *are* the gallery (query i is gallery item i), or each query's
    gallery row. ``index`` searches a faiss index built over ``gallery``
    instead of comparing every pair; an approximate one may find fewer than
    ``k`` items (index -1, distance ∞). ``chunk_size`` queries are taken at
    a time (default: as many as make 16M distances). Ties follow the rule of
    the module's docstring; ``tie_labels=(query_labels, gallery_labels)``
    ranks other labels first. Through an index, the rule orders the items it
    returned, but which of several items tied at the k-th place it returns is
    faiss's choice.
    """
    queries, gallery = _rows(queries, "queries"), _rows(gallery, "gallery")
    if queries.shape[1] != gallery.shape[1]:
        raise ValueError(
            f"queries and gallery must have the same embedding size, got {queries.shape[1]} "
            f"and {gallery.shape[1]}"
        )
    own_rows = _self_rows(exclude_self, len(queries), len(gallery))
    limit = len(gallery) - (own_rows is not None)
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= limit:
        leaving = ", less the query itself" if own_rows is not None else ""
        raise ValueError(f"k must be between 1 and {limit} (the gallery size{leaving}), got {k}")
    if index is not None and len(index) != len(gallery):
        raise ValueError(
            f"the index holds {len(index)} items but the gallery {len(gallery)}: build the "
            "index over this gallery (search.build_index(gallery))"
        )
    if tie_labels is not None:
        query_labels, gallery_labels = (
            torch.as_tensor(labels).to(queries.device) for labels in tie_labels
        )
        if query_labels.shape != (len(queries),) or gallery_labels.shape != (len(gallery),):
            raise ValueError(
                f"tie_labels must be one label per query ({len(queries)}) and per gallery item "
                f"({len(gallery)}), got shapes {tuple(query_labels.shape)} and "
                f"{tuple(gallery_labels.shape)}"
            )
    if chunk_size is None:
        chunk_size = max(1, BLOCK_ELEMENTS // max(len(gallery), 1))
    elif chunk_size < 1:
        raise ValueError(f"chunk_size is a number of queries, at least 1, got {chunk_size}")

    if len(queries) == 0:
        return Neighbours(queries.new_zeros(0, k), torch.zeros(0, k, dtype=torch.long))
    if index is None:  # one centre and one power-of-two unit for every block
        low = torch.minimum(queries.amin(0), gallery.amin(0))
        high = torch.maximum(queries.amax(0), gallery.amax(0))
        centre = low / 2 + high / 2  # (low + high) / 2 would overflow near 3.4e38
        spread = torch.maximum((high - centre).max(), (centre - low).max())
        unit = torch.ldexp(torch.ones_like(spread), torch.frexp(spread).exponent)
        unit = torch.where(spread > 0, unit, 1.0)
        gallery_units = (gallery - centre).div_(unit)
        gallery_norms = gallery_units.pow(2).sum(1)

    found_distances, found_indices = [], []
    for start in range(0, len(queries), chunk_size):
        block_queries = queries[start : start + chunk_size]
        block_rows = torch.arange(start, start + len(block_queries))
        own = own_rows[block_rows] if own_rows is not None else None
        if index is not None:
            distances, indices = index.search(block_queries, k + (own is not None))
            distances, indices = distances.to(queries.device), indices.to(queries.device)
            if own is not None:  # drop the query itself, or the farthest where it was missed
                keep = indices != own[:, None].to(indices.device)
                keep[keep.all(1), -1] = False
                distances = distances[keep].view(len(block_queries), k)
                indices = indices[keep].view(len(block_queries), k)
        else:
            block_units = (block_queries - centre).div_(unit)
            block = centred_squared_distances(block_units, gallery_units, gallery_norms)
            if own is not None:
                block[torch.arange(len(block)), own] = torch.inf  # a query is not its own answer
            values, indices = block.topk(k, dim=1, largest=False)
            kth = values[:, -1:]
            crowded = ((block <= kth).sum(1) > k).nonzero().flatten()
            if len(crowded):  # ties at the k-th place: the rule, not topk, picks which
                same = None
                if tie_labels is not None:
                    same = gallery_labels[None, :] == query_labels[block_rows[crowded], None]
                indices[crowded] = _take_ties(block[crowded], kth[crowded], k, same)
            distances = block.gather(1, indices)  # squared, in units: sorted, then converted
        same = None
        if tie_labels is not None:
            same = gallery_labels[indices.clamp(min=0)] == query_labels[block_rows, None]
        distances, indices = _in_order(distances, indices, same)
        if index is None:
            distances = distances.sqrt_().mul_(unit)
        found_distances.append(distances)
        found_indices.append(indices)
    return Neighbours(torch.cat(found_distances), torch.cat(found_indices))


def neighbour_table(
    embeddings, k: int = 8, chunk: int = 1024, items: Sequence[int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest others of every item (or of ``items``): indices, distances (notebook 06).

    Both numpy arrays, (N, k) or (len(items), k), nearest first, each item
    itself left out, ties to the lower index, ``k`` capped at N − 1: what the
    explorer shows and the clickable projection embeds (notebook 06). A view
    of :func:`nearest_neighbours`, ``chunk`` items at a time.
    """
    embeddings = torch.as_tensor(np.asarray(embeddings), dtype=torch.float32)
    embeddings = embeddings.reshape(len(embeddings), -1)
    check_embeddings(embeddings, squared=False)  # names the bad rows of the whole set
    n = len(embeddings)
    if n < 2:
        raise ValueError(f"neighbours need at least two items, got {n}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    rows = torch.arange(n) if items is None else torch.as_tensor(items, dtype=torch.long)
    if len(rows) and not (0 <= rows.min() and rows.max() < n):
        raise ValueError(f"item indices must lie in 0..{n - 1}, got {rows.tolist()}")
    found = nearest_neighbours(
        embeddings[rows], embeddings, min(k, n - 1), exclude_self=rows, chunk_size=chunk
    )
    return found.indices.numpy(), found.distances.double().numpy()


__all__ = ["NeighbourIndex", "Neighbours", "nearest_neighbours", "neighbour_table"]
