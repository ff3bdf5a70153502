"""The one nearest-neighbour search: against brute-force loops, in any block size, with ties."""

import numpy as np
import pytest
import torch

from metric_course.neighbours import nearest_neighbours, neighbour_table
from metric_course.search import build_index

try:
    import faiss
except ImportError:
    faiss = None
needs_faiss = pytest.mark.skipif(faiss is None, reason="faiss-cpu is an optional extra")


def brute_force(queries, gallery, k, own_rows=None, query_labels=None, gallery_labels=None):
    """Each query's k nearest gallery rows by a loop in float64: sorted by (distance, same, index).

    ``same`` is 1 where the gallery item shares the query's label (0 without labels), so
    other labels come first among equal distances; ``own_rows`` are left out.
    """
    rows = []
    for q, query in enumerate(queries.double()):
        keys = []
        for g, item in enumerate(gallery.double()):
            if own_rows is not None and g == own_rows[q]:
                continue
            same = 0 if query_labels is None else int(gallery_labels[g] == query_labels[q])
            keys.append((float((query - item).pow(2).sum()), same, g))
        rows.append([g for _, _, g in sorted(keys)[:k]])
    return torch.tensor(rows)


def random(n, dim=6, seed=0):
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("chunk_size", [None, 1, 7])
def test_nearest_neighbours_match_a_loop_in_any_block_size(chunk_size):
    queries, gallery = random(9, seed=1), random(50)
    found = nearest_neighbours(queries, gallery, 5, chunk_size=chunk_size)
    assert torch.equal(found.indices, brute_force(queries, gallery, 5))
    exact = torch.stack([(queries[i] - gallery[found.indices[i]]).norm(dim=1) for i in range(9)])
    torch.testing.assert_close(found.distances, exact, atol=1e-5, rtol=0)


def test_exclude_self_leaves_out_each_querys_own_item():
    gallery = random(30)
    everyone = nearest_neighbours(gallery, gallery, 4, exclude_self=True, chunk_size=4)
    assert torch.equal(everyone.indices, brute_force(gallery, gallery, 4, own_rows=range(30)))
    rows = [17, 3]
    some = nearest_neighbours(gallery[rows], gallery, 4, exclude_self=rows)
    assert torch.equal(some.indices, everyone.indices[rows])
    # equal to round-off: a matrix product's last bit depends on the shape of its block
    torch.testing.assert_close(some.distances, everyone.distances[rows])


def test_ties_go_to_the_lower_index_even_across_the_kth_place():
    # Integer points: every squared distance is exact, and most are shared by several items.
    gallery = torch.randint(-2, 3, (60, 3), generator=torch.Generator().manual_seed(0)).float()
    for chunk_size in (None, 5):
        found = nearest_neighbours(gallery, gallery, 9, exclude_self=True, chunk_size=chunk_size)
        assert torch.equal(found.indices, brute_force(gallery, gallery, 9, own_rows=range(60)))


def test_tie_labels_put_other_labels_first_among_equal_distances():
    gallery = torch.randint(-1, 2, (40, 2), generator=torch.Generator().manual_seed(1)).float()
    labels = torch.arange(40) % 3
    found = nearest_neighbours(
        gallery, gallery, 12, exclude_self=True, tie_labels=(labels, labels), chunk_size=6
    )
    expected = brute_force(gallery, gallery, 12, range(40), labels, labels)
    assert torch.equal(found.indices, expected)


def test_a_shift_a_scale_or_half_precision_changes_no_neighbour():
    queries, gallery = random(20, seed=2), random(200)
    expected = brute_force(queries, gallery, 10)
    shifted = nearest_neighbours(queries + 1000, gallery + 1000, 10)
    assert torch.equal(shifted.indices, expected)  # uncentred float32 found 23% of these
    for scale in (1e20, 1e-30):  # squared norms overflow or underflow float32
        scaled = nearest_neighbours(queries * scale, gallery * scale, 10)
        assert torch.equal(scaled.indices, expected)
        unscaled = nearest_neighbours(queries, gallery, 10).distances
        torch.testing.assert_close(scaled.distances / scale, unscaled)
    far = nearest_neighbours(queries * 1e37 + 2e38, gallery * 1e37 + 2e38, 10)  # near float32's max
    assert torch.equal(far.indices, brute_force(queries * 1e37 + 2e38, gallery * 1e37 + 2e38, 10))
    half_q, half_g = (queries * 100).half(), (gallery * 100).half()  # norms about 250
    half = nearest_neighbours(half_q, half_g, 10)
    assert half.distances.dtype == torch.float32 and torch.isfinite(half.distances).all()
    assert torch.equal(half.indices, brute_force(half_q.float(), half_g.float(), 10))


@needs_faiss
def test_a_faiss_index_is_the_other_backend_of_the_same_call():
    gallery = random(80, dim=8)
    gallery[5] = gallery[4]  # a duplicate: faiss may return either before the query itself
    index = build_index(gallery, "flat", device="cpu")
    exact = nearest_neighbours(gallery, gallery, 6, exclude_self=True)
    through_faiss = nearest_neighbours(gallery, gallery, 6, exclude_self=True, index=index)
    assert torch.equal(through_faiss.indices, exact.indices)
    torch.testing.assert_close(through_faiss.distances, exact.distances, atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="the index holds 80 items but the gallery 79"):
        nearest_neighbours(gallery, gallery[:79], 3, index=index)


def test_bad_arguments_are_explained():
    gallery = random(10)
    with pytest.raises(ValueError, match=r"k must be between 1 and 9 \(the gallery size, less"):
        nearest_neighbours(gallery, gallery, 10, exclude_self=True)
    with pytest.raises(ValueError, match="k must be between 1 and 10"):
        nearest_neighbours(gallery, gallery, 0)
    with pytest.raises(ValueError, match="3 queries for 10 gallery items; pass exclude_self=rows"):
        nearest_neighbours(gallery[:3], gallery, 2, exclude_self=True)
    with pytest.raises(ValueError, match="one gallery row number per query"):
        nearest_neighbours(gallery[:3], gallery, 2, exclude_self=[0, 1])
    with pytest.raises(ValueError, match=r"must lie in 0\.\.9"):
        nearest_neighbours(gallery[:2], gallery, 2, exclude_self=[0, 10])
    with pytest.raises(ValueError, match="same embedding size"):
        nearest_neighbours(gallery[:, :3], gallery, 2)
    with pytest.raises(ValueError, match="tie_labels must be one label per query"):
        nearest_neighbours(gallery, gallery, 2, tie_labels=(torch.zeros(10), torch.zeros(9)))
    with pytest.raises(ValueError, match=r"NaN or infinity in gallery: 1 of 10 rows \(4\)"):
        nearest_neighbours(gallery, torch.where(torch.arange(10)[:, None] == 4, np.nan, gallery), 2)


def test_neighbour_table_is_the_search_of_every_item_or_of_some():
    embeddings = torch.tensor([[0.0], [1.0], [-1.0], [1.0], [5.0]])
    indices, distances = neighbour_table(embeddings, k=10)  # k is capped at N - 1
    assert indices.tolist() == [
        [1, 2, 3, 4],
        [3, 0, 2, 4],
        [0, 1, 3, 4],
        [1, 0, 2, 4],
        [1, 3, 0, 2],
    ]
    assert distances[0].tolist() == [1, 1, 1, 5] and distances.dtype == np.float64
    some, _ = neighbour_table(embeddings, k=2, items=[4, 1])
    assert some.tolist() == [[1, 3], [3, 0]]
    with pytest.raises(ValueError, match=r"item indices must lie in 0\.\.4"):
        neighbour_table(embeddings, items=[5])
