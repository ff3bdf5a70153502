"""Distance matrices: brute-force loops, exact zeros, finite gradients, bad input."""

import pytest
import torch

from metric_course.distances import (
    check_distance,
    cosine_distances,
    cross_distances,
    distance_matrix,
    distances_to,
    paired_distances,
    pairwise_distances,
)

DTYPES = [torch.float32, torch.float64]
TOLERANCE = {torch.float32: 1e-4, torch.float64: 1e-10}


def random_embeddings(n=20, dim=6, dtype=torch.float64, seed=0, offset=0.0):
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(n, dim, generator=generator, dtype=torch.float64) + offset).to(dtype)


def loop_distances(queries, gallery, squared=False):
    """Reference: one explicit difference per pair, in float64."""
    out = torch.empty(len(queries), len(gallery), dtype=torch.float64)
    for i, q in enumerate(queries.double()):
        for j, g in enumerate(gallery.double()):
            out[i, j] = ((q - g) ** 2).sum() if squared else ((q - g) ** 2).sum().sqrt()
    return out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("squared", [False, True])
def test_pairwise_distances_match_loops(dtype, squared):
    x = random_embeddings(dtype=dtype)
    got = pairwise_distances(x, squared=squared)
    assert got.dtype == dtype
    torch.testing.assert_close(got.double(), loop_distances(x, x, squared), **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("squared", [False, True])
def test_cross_distances_match_loops(dtype, squared):
    queries, gallery = random_embeddings(7, dtype=dtype), random_embeddings(11, dtype=dtype, seed=1)
    got = cross_distances(queries, gallery, squared=squared)
    assert got.shape == (7, 11)
    torch.testing.assert_close(
        got.double(), loop_distances(queries, gallery, squared), **tol(dtype)
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_paired_and_cosine_distances_match_loops(dtype):
    a, b = random_embeddings(9, dtype=dtype), random_embeddings(9, dtype=dtype, seed=1)
    expected = torch.stack([(a[i] - b[i]).double().norm() for i in range(9)])
    torch.testing.assert_close(paired_distances(a, b).double(), expected, **tol(dtype))
    cosine = torch.tensor(
        [[1 - torch.cosine_similarity(u, v, dim=0).item() for v in a.double()] for u in a.double()],
        dtype=torch.float64,
    ).fill_diagonal_(0)
    torch.testing.assert_close(cosine_distances(a).double(), cosine, **tol(dtype))


def tol(dtype):
    return {"rtol": TOLERANCE[dtype], "atol": TOLERANCE[dtype]}


def test_diagonal_is_exactly_zero_and_nothing_is_negative_above_25_rows():
    # torch.cdist leaves self-distances near 1e-3 here; far from the origin it gets worse
    x = random_embeddings(200, 32, dtype=torch.float32, offset=50.0)
    x[1] = x[0]  # a duplicate
    for squared in (False, True):
        d = pairwise_distances(x, squared=squared)
        assert (d.diagonal() == 0).all()
        assert (d >= 0).all()
        assert d[0, 1] < 1e-2
    assert (cosine_distances(x).diagonal() == 0).all()
    assert (cross_distances(x, x) >= 0).all()


def test_translation_far_from_the_origin_keeps_the_digits():
    x = random_embeddings(50, 16, dtype=torch.float32)
    torch.testing.assert_close(
        pairwise_distances(x + 1000.0), pairwise_distances(x), atol=1e-3, rtol=0
    )


@pytest.mark.parametrize("squared", [False, True])
def test_gradient_is_finite_where_embeddings_coincide(squared):
    x = torch.tensor([[1.0, 2.0], [1.0, 2.0], [0.0, 5.0], [3.0, -1.0]], requires_grad=True)
    pairwise_distances(x, squared=squared).sum().backward()
    cross_distances(x[:2], x, squared=squared).sum().backward()
    paired_distances(x[:2], x[1:3], squared=squared).sum().backward()
    cosine_distances(x).sum().backward()
    assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize("squared", [False, True])
def test_gradients_pass_gradcheck(squared):
    x = random_embeddings(12, 4).requires_grad_()
    g = random_embeddings(5, 4, seed=1).requires_grad_()
    assert torch.autograd.gradcheck(lambda z: pairwise_distances(z, squared=squared), (x,))
    assert torch.autograd.gradcheck(lambda a, b: cross_distances(a, b, squared=squared), (x, g))
    assert torch.autograd.gradcheck(lambda a, b: paired_distances(a, b, squared), (x[:5], g))
    assert torch.autograd.gradcheck(cosine_distances, (x,))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_is_measured_in_float32(dtype):
    x = (random_embeddings(40, 64, dtype=torch.float32) * 30).to(dtype).requires_grad_()
    d = pairwise_distances(x, squared=True)  # squared norms here exceed float16's range
    assert d.dtype == torch.float32 and torch.isfinite(d).all()
    torch.testing.assert_close(
        d, pairwise_distances(x.detach().float(), squared=True), rtol=1e-4, atol=1e-2
    )
    d.sum().backward()
    assert torch.isfinite(x.grad.float()).all()
    assert torch.isfinite(cross_distances(x, x)).all()
    assert torch.isfinite(cosine_distances(x)).all()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: pairwise_distances(torch.randn(5)), "2-D"),
        (lambda: pairwise_distances(torch.randn(2, 3, 4)), "2-D"),
        (lambda: pairwise_distances(torch.ones(3, 2, dtype=torch.long)), "floating point"),
        (lambda: pairwise_distances([[0.0, 1.0]]), "torch.Tensor"),
        (lambda: cross_distances(torch.randn(3, 2), torch.randn(4, 5)), "same embedding size"),
        (lambda: paired_distances(torch.randn(3, 2), torch.randn(4, 2)), "same shape"),
        (lambda: cosine_distances(torch.randn(4)), "2-D"),
    ],
)
def test_bad_input_raises_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def loop_cosine(queries, gallery):
    return torch.tensor(
        [[1 - torch.dot(q, g) / (q.norm() * g.norm()) for g in gallery] for q in queries],
        dtype=torch.float64,
    )


@pytest.mark.parametrize("squared", [False, True])
def test_distance_matrix_picked_and_paired_distances_agree_with_loops(squared):
    x, refs = random_embeddings(seed=1), random_embeddings(n=7, seed=2, offset=3.0)
    index = torch.randint(0, 7, (20, 3), generator=torch.Generator().manual_seed(0))
    for distance in ("euclidean", "cosine"):
        if distance == "cosine" and squared:
            continue
        within = (
            loop_cosine(x, x) if distance == "cosine" else loop_distances(x, x, squared=squared)
        )
        across = (
            loop_cosine(x, refs)
            if distance == "cosine"
            else loop_distances(x, refs, squared=squared)
        )
        torch.testing.assert_close(distance_matrix(x, None, distance, squared), within)
        assert (distance_matrix(x, None, distance, squared).diagonal() == 0).all()
        torch.testing.assert_close(distance_matrix(x, refs, distance, squared), across)
        picked = distances_to(x, index, squared, references=refs, distance=distance)
        torch.testing.assert_close(picked, across.gather(1, index))
        torch.testing.assert_close(
            paired_distances(x[:7], refs, squared, distance=distance), across[:7].diagonal()
        )
    torch.testing.assert_close(distance_matrix(x, distance="cosine"), cosine_distances(x))


def test_an_unknown_or_squared_cosine_distance_is_explained():
    with pytest.raises(ValueError, match="unknown distance 'cityblock'; choose one of"):
        check_distance("cityblock")
    with pytest.raises(ValueError, match="leave squared out"):
        distance_matrix(random_embeddings(), distance="cosine", squared=True)
    with pytest.raises(ValueError, match="NaN or infinity in references"):
        distance_matrix(random_embeddings(), random_embeddings() * float("nan"))
