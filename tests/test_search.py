"""Nearest-neighbour search: faiss indexes, brute-force torch search, metrics through faiss."""

import sys

import numpy as np
import pytest
import torch

from metric_course import search
from metric_course.evaluation import retrieval_metrics
from metric_course.search import faiss_retrieval_metrics, neighbour_recall, torch_search

try:
    import faiss
except ImportError:
    faiss = None
needs_faiss = pytest.mark.skipif(faiss is None, reason="faiss-cpu is an optional extra")


def clustered(n_per_class=40, classes=5, dim=16, seed=0):
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, dim, generator=generator) * 2
    labels = torch.arange(classes).repeat_interleave(n_per_class)
    points = centres[labels] + 1.5 * torch.randn(len(labels), dim, generator=generator)
    return points, labels


def brute_force_neighbours(queries, gallery, k):
    """The k nearest gallery rows of each query by an explicit loop."""
    rows = []
    for q in queries.double():
        d = [float(torch.linalg.vector_norm(q - g)) for g in gallery.double()]
        rows.append(np.argsort(d, kind="stable")[:k])
    return torch.as_tensor(np.array(rows))


def test_torch_search_matches_a_loop_in_any_block_size():
    gallery, _ = clustered()
    queries = torch.randn(7, 16, generator=torch.Generator().manual_seed(1))
    expected = brute_force_neighbours(queries, gallery, 5)
    for max_elements in (2**25, 250):  # one block, and one query per block
        distances, indices = torch_search(queries, gallery, 5, max_elements=max_elements)
        assert torch.equal(indices, expected)
        exact = torch.stack([(queries[i] - gallery[expected[i]]).norm(dim=1) for i in range(7)])
        assert torch.allclose(distances, exact, atol=1e-4)


def test_torch_search_centres_and_measures_half_precision_in_float32():
    # Uncentred float32 found 23% of these neighbours; float16 norms of 400 gave inf distances.
    gallery, _ = clustered(n_per_class=100)
    queries = gallery[::25] + 0.05
    expected = brute_force_neighbours(queries, gallery, 10)
    assert torch.equal(torch_search(queries + 1000, gallery + 1000, 10)[1], expected)
    half_queries, half_gallery = (queries * 40).half(), (gallery * 40).half()
    assert half_gallery.float().norm(dim=1).mean() > 300
    distances, indices = torch_search(half_queries, half_gallery, 10)
    assert torch.isfinite(distances).all()
    assert torch.equal(
        indices, brute_force_neighbours(half_queries.float(), half_gallery.float(), 10)
    )


def test_neighbour_recall_counts_shared_items_in_any_order():
    exact = torch.tensor([[0, 1, 2, 3], [4, 5, 6, 7]])
    assert neighbour_recall(exact.flip(1), exact) == 1.0
    approximate = torch.tensor([[0, 1, 9, 9], [7, 8, 8, 8]])
    expected = np.mean(
        [
            len(set(a.tolist()) & set(e.tolist())) / 4
            for a, e in zip(approximate, exact, strict=True)
        ]
    )
    assert neighbour_recall(approximate, exact) == pytest.approx(expected)
    with pytest.raises(ValueError, match="one shape"):
        neighbour_recall(exact[:, :2], exact)


def test_missing_faiss_gives_an_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "faiss", None)  # makes `import faiss` fail
    with pytest.raises(ImportError, match=r"pip install .*metric-course\[search\]"):
        search.build_index(torch.randn(10, 4))


@needs_faiss
def test_flat_index_is_exact_and_returns_euclidean_distances():
    gallery, _ = clustered()
    queries = torch.randn(9, 16, generator=torch.Generator().manual_seed(2))
    index = search.build_index(gallery, "flat", device="cpu")
    distances, indices = index.search(queries, 6)
    assert len(index) == len(gallery) and index.dim == 16 and not index.on_gpu
    assert torch.equal(indices, brute_force_neighbours(queries, gallery, 6))
    exact = torch.stack([(queries[i] - gallery[indices[i]]).norm(dim=1) for i in range(9)])
    assert torch.allclose(distances, exact, atol=1e-4)


@needs_faiss
def test_ivf_visiting_every_cell_is_exact_and_hnsw_finds_most_neighbours():
    gallery, _ = clustered(n_per_class=200)
    queries = gallery[::50] + 0.01
    exact = torch_search(queries, gallery, 10)[1]
    ivf = search.build_index(gallery, "ivf", nlist=8, device="cpu")
    assert torch.equal(ivf.search(queries, 10, nprobe=8)[1], exact)
    assert neighbour_recall(ivf.search(queries, 10, nprobe=1)[1], exact) <= 1.0
    hnsw = search.build_index(gallery, "hnsw", hnsw_m=16, device="cpu")
    assert neighbour_recall(hnsw.search(queries, 10, ef_search=64)[1], exact) >= 0.9


@needs_faiss
def test_faiss_metrics_equal_the_torch_metrics_on_a_small_gallery():
    embeddings, labels = clustered()
    expected = retrieval_metrics(embeddings, labels, recall_k=(1, 5, 10))
    got = faiss_retrieval_metrics(embeddings, labels, recall_k=(1, 5, 10), batch_size=64)
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=1e-6), name
    ivf_all_cells = faiss_retrieval_metrics(embeddings, labels, kind="ivf", nlist=4, nprobe=4)
    assert ivf_all_cells["map_at_r"] == pytest.approx(expected["map_at_r"], abs=1e-6)


@needs_faiss
def test_faiss_metrics_skip_singleton_classes_like_the_torch_path():
    embeddings, labels = clustered(n_per_class=6, classes=4)
    labels = torch.cat([labels, torch.tensor([9])])
    embeddings = torch.cat([embeddings, torch.randn(1, 16)])
    expected = retrieval_metrics(embeddings, labels)
    got = faiss_retrieval_metrics(embeddings, labels)
    assert got == pytest.approx(expected, abs=1e-6)


@needs_faiss
def test_bad_input_is_explained():
    gallery = torch.randn(50, 8)
    index = search.build_index(gallery, device="cpu")
    with pytest.raises(ValueError, match="built for 8-dimensional"):
        index.search(torch.randn(3, 16), 5)
    with pytest.raises(ValueError, match="k must be between"):
        index.search(torch.randn(3, 8), 51)
    with pytest.raises(ValueError, match="nprobe is a setting of IVF"):
        index.search(torch.randn(3, 8), 5, nprobe=4)
    with pytest.raises(ValueError, match="unknown index kind"):
        search.build_index(gallery, "lsh")
    with pytest.raises(ValueError, match="NaN"):
        search.build_index(torch.full((4, 8), float("nan")))
    with pytest.raises(ValueError, match="nlist"):
        search.build_index(gallery, "ivf", nlist=100)
    with pytest.raises(ValueError, match="one label per embedding"):
        faiss_retrieval_metrics(gallery, torch.zeros(3, dtype=torch.long))


@needs_faiss
@pytest.mark.skipif(
    faiss is not None and search.faiss_gpu_available(), reason="faiss sees a GPU here"
)
def test_asking_for_a_gpu_without_the_gpu_build_says_what_to_do():
    with pytest.raises(RuntimeError, match="device='cpu'"):
        search.build_index(torch.randn(20, 4), device="gpu")


def test_synthetic_embeddings_are_seeded_unit_vectors():
    points = search.synthetic_embeddings(500, 8, clusters=5, seed=3)
    assert points.shape == (500, 8)
    torch.testing.assert_close(points.norm(dim=1), torch.ones(500))
    assert torch.equal(points, search.synthetic_embeddings(500, 8, clusters=5, seed=3))
