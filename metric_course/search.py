"""Retrieval at scale: nearest-neighbour search with faiss (notebook 07).

Comparing a query with every gallery embedding costs Q × G distances. For the
3,000 test images of the course that is nothing; for a gallery of a million
faces or products it is most of the work, and an *approximate* index answers
in a fraction of the time by looking at a few promising places only:

- ``"flat"`` (``IndexFlatL2``): exact search, every distance computed; the
  reference the others are measured against.
- ``"ivf"`` (``IndexIVFFlat``): k-means cuts the gallery into ``nlist`` cells;
  a query visits the ``nprobe`` cells whose centres are nearest. Recall rises
  and speed falls with ``nprobe``.
- ``"hnsw"`` (``IndexHNSWFlat``): a graph where each point links to ``hnsw_m``
  neighbours; a query walks the graph greedily, keeping ``ef_search``
  candidates. Recall rises and speed falls with ``ef_search``.

faiss is an optional extra: ``pip install "metric-course[search]"`` (or
``pip install faiss-cpu``). Where the GPU build of faiss is installed and a
GPU is present, flat and IVF indexes are moved to the GPU.

Distances returned here are plain Euclidean distances, the course's
convention; faiss itself works with squared ones (same ranking).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .distances import check_embeddings
from .evaluation import retrieval_metrics
from .neighbours import Neighbours, nearest_neighbours

INDEX_KINDS = ("flat", "ivf", "hnsw")
INSTALL_HINT = (
    'install it with `pip install "metric-course[search]"` (or `pip install faiss-cpu`; '
    "for the GPU build: `conda install -c pytorch faiss-gpu`)"
)


def import_faiss() -> Any:
    """The faiss module, or an ImportError saying how to install it (notebook 07)."""
    try:
        import faiss
    except ImportError as error:
        raise ImportError(
            f"this needs the faiss library, which is not installed; {INSTALL_HINT}"
        ) from error
    return faiss


def faiss_gpu_available() -> bool:
    """True when the installed faiss is the GPU build and sees at least one GPU."""
    faiss = import_faiss()
    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


def _as_float32(vectors: torch.Tensor | np.ndarray, what: str) -> np.ndarray:
    """A C-contiguous float32 (N, D) array, the only layout faiss accepts."""
    if isinstance(vectors, torch.Tensor):
        vectors = vectors.detach().cpu().numpy()
    array = np.ascontiguousarray(vectors, dtype=np.float32)
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{what} must be a non-empty 2-D (N, D) array, got shape {array.shape}")
    check_embeddings(torch.from_numpy(array), what)
    return array


def _check_setting(name: str, value, minimum: int) -> None:
    """A faiss setting must be a whole number ≥ ``minimum``: faiss crashes or hangs on others.

    ``IndexHNSWFlat(d, 1)`` kills the interpreter, ``M = 0`` aborts it and a
    negative ``M`` hangs, so the values are checked before faiss sees them.
    """
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be a whole number of at least {minimum}, got {value!r}")


def default_nlist(gallery_size: int) -> int:
    """About 4·√N IVF cells, with at least 39 gallery points per cell for k-means."""
    return max(1, min(round(4 * math.sqrt(gallery_size)), gallery_size // 39))


@dataclass
class SearchIndex:
    """A built faiss index over a gallery, with the settings it was built with."""

    index: Any
    kind: str
    dim: int
    on_gpu: bool
    build_seconds: float

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def search(
        self,
        queries: torch.Tensor | np.ndarray,
        k: int,
        nprobe: int | None = None,
        ef_search: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``k`` nearest gallery items of each query: (distances, indices), each (Q, k).

        ``nprobe`` (IVF: cells visited) and ``ef_search`` (HNSW: candidates
        kept) trade speed for recall; they stay set for later searches.
        Where an approximate search finds fewer than ``k`` items, the missing
        indices are -1 and their distances infinite.
        """
        queries = _as_float32(queries, "queries")
        if queries.shape[1] != self.dim:
            raise ValueError(
                f"this index was built for {self.dim}-dimensional embeddings, but the queries "
                f"have {queries.shape[1]} dimensions; embed the queries with the same model as "
                "the gallery, or build a new index"
            )
        if not 1 <= k <= len(self):
            raise ValueError(f"k must be between 1 and the gallery size {len(self)}, got {k}")
        if nprobe is not None:
            if self.kind != "ivf":
                raise ValueError(f"nprobe is a setting of IVF indexes, this one is {self.kind!r}")
            _check_setting("nprobe", nprobe, 1)
            self.index.nprobe = nprobe
        if ef_search is not None:
            if self.kind != "hnsw":
                raise ValueError(
                    f"ef_search is a setting of HNSW indexes, this one is {self.kind!r}"
                )
            _check_setting("ef_search", ef_search, 1)
            self.index.hnsw.efSearch = ef_search
        squared, indices = self.index.search(queries, k)
        distances = torch.from_numpy(np.sqrt(np.maximum(squared, 0)))
        indices = torch.from_numpy(indices.astype(np.int64))
        distances[indices < 0] = math.inf
        return distances, indices


def build_index(
    gallery: torch.Tensor | np.ndarray,
    kind: str = "flat",
    *,
    nlist: int | None = None,
    nprobe: int = 8,
    hnsw_m: int = 32,
    ef_construction: int = 40,
    ef_search: int = 64,
    device: str = "auto",
    seed: int = 0,
) -> SearchIndex:
    """Build a faiss index of ``kind`` ("flat", "ivf", "hnsw") over ``gallery`` (notebook 07).

    ``nlist`` defaults to :func:`default_nlist`; ``device`` is "auto" (the
    GPU where faiss's GPU build finds one), "cpu" or "gpu". HNSW always runs
    on the CPU (faiss has no GPU version of it).
    """
    faiss = import_faiss()
    if kind not in INDEX_KINDS:
        raise ValueError(f"unknown index kind {kind!r}; choose one of {', '.join(INDEX_KINDS)}")
    if device not in ("auto", "cpu", "gpu"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'gpu', got {device!r}")
    if device == "gpu" and not faiss_gpu_available():
        raise RuntimeError(
            "device='gpu' was asked for, but the installed faiss is the CPU build or sees no "
            "GPU; use device='cpu', or install faiss-gpu (`conda install -c pytorch faiss-gpu`)"
        )
    for name, value, minimum in (
        ("nprobe", nprobe, 1),
        ("hnsw_m", hnsw_m, 2),
        ("ef_construction", ef_construction, 1),
        ("ef_search", ef_search, 1),
    ):
        _check_setting(name, value, minimum)
    if nlist is not None:
        _check_setting("nlist", nlist, 1)
    vectors = _as_float32(gallery, "gallery embeddings")
    n, dim = vectors.shape
    start = time.perf_counter()
    if kind == "flat":
        index = faiss.IndexFlatL2(dim)
    elif kind == "ivf":
        nlist = default_nlist(n) if nlist is None else nlist
        if not 1 <= nlist <= n:
            raise ValueError(f"nlist must be between 1 and the gallery size {n}, got {nlist}")
        index = faiss.IndexIVFFlat(faiss.IndexFlatL2(dim), dim, nlist)
        index.cp.seed = seed
        index.nprobe = min(nprobe, nlist)
    else:
        index = faiss.IndexHNSWFlat(dim, hnsw_m)
        index.hnsw.efConstruction = ef_construction
        index.hnsw.efSearch = ef_search
    on_gpu = kind != "hnsw" and device != "cpu" and faiss_gpu_available()
    if on_gpu:
        index = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)
    if not index.is_trained:
        index.train(vectors)
    index.add(vectors)
    return SearchIndex(index, kind, dim, on_gpu, time.perf_counter() - start)


def torch_search(
    queries: torch.Tensor, gallery: torch.Tensor, k: int, max_elements: int = 2**25
) -> Neighbours:
    """Exact k-nearest-neighbour search, brute force in PyTorch: (distances, indices) (notebook 07).

    The baseline notebook 07 times faiss against:
    :func:`metric_course.neighbours.nearest_neighbours` (centred, in float32
    at least), with as many queries at a time as keep the Q × G block under
    ``max_elements`` distances.
    """
    gallery = torch.as_tensor(gallery)
    chunk_size = max(1, max_elements // max(len(gallery), 1))
    return nearest_neighbours(queries, gallery, k, chunk_size=chunk_size)


def synthetic_embeddings(
    n: int, dim: int, clusters: int, spread: float = 1.0, seed: int = 0
) -> torch.Tensor:
    """``n`` unit vectors around ``clusters`` random centres: a stand-in gallery (notebook 07).

    Shaped like the L2-normalised embeddings of a trained network (points in
    clusters on the sphere), but not made by one: for timing searches on
    galleries larger than any dataset of the course.
    """
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(clusters, dim, generator=generator)
    which = torch.randint(clusters, (n,), generator=generator)
    points = centres[which] + spread * torch.randn(n, dim, generator=generator)
    return torch.nn.functional.normalize(points, dim=1)


def neighbour_recall(approximate: torch.Tensor, exact: torch.Tensor) -> float:
    """Share of the exact k nearest neighbours that an approximate search also found (notebook 07).

    Recall@k = (1/Q) Σ_q |A_q ∩ E_q| / k for the index sets A_q (approximate)
    and E_q (exact) of each query; the order inside the top k does not matter.
    """
    approximate, exact = torch.as_tensor(approximate), torch.as_tensor(exact)
    if approximate.shape != exact.shape or approximate.ndim != 2:
        raise ValueError(
            f"both results must be (Q, k) index tensors of one shape, got "
            f"{tuple(approximate.shape)} and {tuple(exact.shape)}"
        )
    found = (approximate[:, :, None] == exact[:, None, :]).any(1)
    return found.float().mean().item()


def faiss_retrieval_metrics(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    recall_k: Sequence[int] = (1, 5),
    kind: str = "flat",
    batch_size: int = 4096,
    **index_options,
) -> dict[str, float]:
    """Retrieval metrics with neighbours found by faiss (notebook 07).

    :func:`metric_course.evaluation.retrieval_metrics` through a faiss index
    of ``kind``: the same leave-one-out definitions and, with ``kind="flat"``, the same
    numbers; an approximate ``kind`` makes them an estimate for galleries too
    large to rank by brute force.
    """
    embeddings = torch.as_tensor(embeddings).float()
    index = build_index(embeddings, kind, **index_options)
    return retrieval_metrics(embeddings, labels, recall_k, batch_size, index=index)


__all__ = [
    "INDEX_KINDS",
    "SearchIndex",
    "build_index",
    "default_nlist",
    "faiss_gpu_available",
    "faiss_retrieval_metrics",
    "import_faiss",
    "neighbour_recall",
    "synthetic_embeddings",
    "torch_search",
]
