"""Losses against brute-force loops, pytorch-metric-learning, properties and bad input."""

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from pytorch_metric_learning import distances as pml_distances
from pytorch_metric_learning import losses as pml_losses
from pytorch_metric_learning import miners as pml_miners
from pytorch_metric_learning import reducers as pml_reducers

from metric_course import mining
from metric_course.losses import (
    batch_all_triplet_loss,
    batch_hard_triplet_loss,
    contrastive_loss,
    contrastive_loss_all_pairs,
    semi_hard_triplet_loss,
    triplet_loss,
)

TRIPLET_LOSSES = {
    "batch_all": batch_all_triplet_loss,
    "batch_hard": batch_hard_triplet_loss,
    "semi_hard": semi_hard_triplet_loss,
}
ONLINE_LOSSES = {**TRIPLET_LOSSES, "contrastive_all_pairs": contrastive_loss_all_pairs}
DTYPES = [torch.float32, torch.float64]
TOLERANCE = {torch.float32: 2e-4, torch.float64: 1e-9}
STAT_KEYS = {"active_fraction", "mean_positive_distance", "mean_negative_distance"}
STAT_KEYS |= {"embedding_norm", "positive_pairs"}
FAST = settings(max_examples=15, deadline=None, derandomize=True)


def labelled_batch(n=14, classes=4, dim=4, seed=0, dtype=torch.float64):
    """Random embeddings and labels; the last label is a class of its own (no positive)."""
    generator = torch.Generator().manual_seed(seed)
    embeddings = torch.randn(n, dim, generator=generator, dtype=torch.float64).to(dtype)
    labels = torch.randint(0, classes, (n,), generator=generator)
    labels[-1] = classes
    return embeddings, labels


# ---------------------------------------------------------------- brute-force references


class LoopDistances:
    """d(i, j) by an explicit difference, cached, differentiable (float64)."""

    def __init__(self, embeddings, squared=False):
        self.x, self.squared, self.cache = embeddings, squared, {}

    def __call__(self, i, j):
        if (i, j) not in self.cache:
            squared = ((self.x[i] - self.x[j]) ** 2).sum()
            self.cache[i, j] = squared if self.squared else squared.sqrt()
        return self.cache[i, j]


def mean_or_zero(terms, x):
    return torch.stack(terms).mean() if terms else x.sum() * 0


def loop_batch_all(x, labels, margin, squared):
    d, terms = LoopDistances(x, squared), []
    for a, p, n in itertools.product(range(len(x)), repeat=3):
        if a != p and labels[a] == labels[p] and labels[a] != labels[n]:
            term = d(a, p) - d(a, n) + margin
            if term.item() > 0:
                terms.append(term)
    return mean_or_zero(terms, x)


def loop_batch_hard(x, labels, margin, squared):
    d, terms = LoopDistances(x, squared), []
    for a in range(len(x)):
        positives = [p for p in range(len(x)) if p != a and labels[p] == labels[a]]
        negatives = [n for n in range(len(x)) if labels[n] != labels[a]]
        if positives and negatives:
            p = max(positives, key=lambda p: d(a, p).item())
            n = min(negatives, key=lambda n: d(a, n).item())
            terms.append((d(a, p) - d(a, n) + margin).clamp(min=0))
    return mean_or_zero(terms, x)


def loop_semi_hard(x, labels, margin, squared):
    """FaceNet / TF-Addons rule: nearest negative not closer than the positive, else farthest."""
    d, terms = LoopDistances(x, squared), []
    for a, p in itertools.product(range(len(x)), repeat=2):
        negatives = [n for n in range(len(x)) if labels[n] != labels[a]]
        if a == p or labels[a] != labels[p] or not negatives:
            continue
        farther = [n for n in negatives if d(a, n).item() >= d(a, p).item()]
        if farther:
            n = min(farther, key=lambda n: d(a, n).item())
        else:
            n = max(negatives, key=lambda n: d(a, n).item())
        terms.append((d(a, p) - d(a, n) + margin).clamp(min=0))
    return mean_or_zero(terms, x)


def loop_contrastive_all_pairs(x, labels, margin, squared=False):
    d, terms = LoopDistances(x), []
    for i, j in itertools.combinations(range(len(x)), 2):
        if labels[i] == labels[j]:
            terms.append(0.5 * ((x[i] - x[j]) ** 2).sum())
        else:
            terms.append(0.5 * (margin - d(i, j)).clamp(min=0) ** 2)
    return mean_or_zero(terms, x)


LOOPS = {
    "batch_all": loop_batch_all,
    "batch_hard": loop_batch_hard,
    "semi_hard": loop_semi_hard,
    "contrastive_all_pairs": loop_contrastive_all_pairs,
}


def with_stats(loss_fn, *args, **kwargs):
    """``(loss, stats)``: the loss, and the stats it writes into the dict it is given."""
    stats = {}
    loss = loss_fn(*args, stats=stats, **kwargs)
    return loss, stats


def value_and_gradient(loss_fn, embeddings, *args, **kwargs):
    x = embeddings.detach().clone().requires_grad_()
    out = loss_fn(x, *args, **kwargs)
    loss = out[0] if isinstance(out, tuple) else out
    (gradient,) = torch.autograd.grad(loss, x)
    return loss.detach(), gradient


def assert_close(actual, expected, dtype):
    tolerance = TOLERANCE[dtype]
    torch.testing.assert_close(actual.double(), expected.double(), rtol=tolerance, atol=tolerance)


# ---------------------------------------------------------------- online losses vs loops


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("name", list(TRIPLET_LOSSES))
def test_triplet_losses_match_loops(name, squared, dtype):
    for seed, margin in [(0, 0.5), (1, 2.0), (2, 0.1)]:
        embeddings, labels = labelled_batch(seed=seed, dtype=dtype)
        if squared:
            margin *= 4
        kwargs = {"margin": margin, "squared": squared}
        loss, gradient = value_and_gradient(TRIPLET_LOSSES[name], embeddings, labels, **kwargs)
        expected, expected_gradient = value_and_gradient(
            LOOPS[name], embeddings.double(), labels, margin, squared
        )
        assert loss.dtype == dtype
        assert expected > 0
        assert_close(loss, expected, dtype)
        assert_close(gradient, expected_gradient, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_contrastive_all_pairs_matches_loops(dtype):
    for seed, margin in [(0, 1.0), (1, 3.0)]:
        embeddings, labels = labelled_batch(seed=seed, dtype=dtype)
        loss, gradient = value_and_gradient(contrastive_loss_all_pairs, embeddings, labels, margin)
        expected, expected_gradient = value_and_gradient(
            loop_contrastive_all_pairs, embeddings.double(), labels, margin
        )
        assert_close(loss, expected, dtype)
        assert_close(gradient, expected_gradient, dtype)


def test_losses_give_the_same_result_in_many_small_chunks(monkeypatch):
    embeddings, labels = labelled_batch(n=24, classes=4)
    whole = [value_and_gradient(f, embeddings, labels) for f in TRIPLET_LOSSES.values()]
    monkeypatch.setattr(mining, "_CHUNK_ELEMENTS", 60)  # one anchor per chunk
    chunked = [value_and_gradient(f, embeddings, labels) for f in TRIPLET_LOSSES.values()]
    for (loss, gradient), (loss_c, gradient_c) in zip(whole, chunked, strict=True):
        torch.testing.assert_close(loss, loss_c)
        torch.testing.assert_close(gradient, gradient_c)


# ---------------------------------------------------------------- pytorch-metric-learning


def pml_distance(squared):
    return pml_distances.LpDistance(normalize_embeddings=False, power=2 if squared else 1)


@pytest.mark.parametrize("squared", [False, True])
def test_batch_all_equals_pml_triplet_margin_loss_with_all_triplets(squared):
    # PML's default AvgNonZeroReducer averages the positive losses, as batch-all does
    embeddings, labels = labelled_batch(n=24, seed=3)
    pml = pml_losses.TripletMarginLoss(margin=0.5, distance=pml_distance(squared))
    ours = value_and_gradient(batch_all_triplet_loss, embeddings, labels, 0.5, squared)
    theirs = value_and_gradient(pml, embeddings, labels)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-7)  # PML uses cdist


@pytest.mark.parametrize("squared", [False, True])
def test_batch_hard_equals_pml_batch_hard_miner_with_mean_reducer(squared):
    embeddings, labels = labelled_batch(n=24, seed=4)
    distance = pml_distance(squared)
    miner = pml_miners.BatchHardMiner(distance=distance)
    pml = pml_losses.TripletMarginLoss(
        margin=0.5, distance=distance, reducer=pml_reducers.MeanReducer()
    )
    ours = value_and_gradient(batch_hard_triplet_loss, embeddings, labels, 0.5, squared)
    theirs = value_and_gradient(lambda x, y: pml(x, y, miner(x, y)), embeddings, labels)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-7)


def test_contrastive_all_pairs_from_pml_per_pair_losses():
    # PML's per-pair terms are D (similar) and relu(m - D) (dissimilar), label 1 = similar;
    # ours are ½ D² and ½ relu(m - D)², averaged once over all pairs, zeros included.
    embeddings, labels = labelled_batch(n=16, seed=5)
    margin = 3.0

    def per_pair(power, part):
        pml = pml_losses.ContrastiveLoss(
            pos_margin=0,
            neg_margin=margin,
            distance=pml_distances.LpDistance(normalize_embeddings=False, power=power),
            reducer=pml_reducers.DoNothingReducer(),
        )
        return pml(embeddings, labels)[part]["losses"]

    similar, dissimilar = per_pair(2, "pos_loss"), per_pair(1, "neg_loss")
    expected = (0.5 * similar.sum() + 0.5 * (dissimilar**2).sum()) / (
        len(similar) + len(dissimilar)
    )
    assert dissimilar.count_nonzero() > 0
    torch.testing.assert_close(contrastive_loss_all_pairs(embeddings, labels, margin), expected)
    pml_default = pml_losses.ContrastiveLoss(neg_margin=margin)(embeddings, labels)
    assert not torch.isclose(pml_default, expected)  # the documented difference is real


# ---------------------------------------------------------------- pairs and given triplets


@pytest.mark.parametrize("dtype", DTYPES)
def test_contrastive_loss_matches_the_formula_of_hadsell_et_al(dtype):
    generator = torch.Generator().manual_seed(0)
    emb_a, emb_b = torch.randn(2, 10, 3, generator=generator, dtype=dtype)
    y = torch.tensor([0, 1] * 5)
    expected = []
    for a, b, target in zip(emb_a.double(), emb_b.double(), y.tolist(), strict=True):
        distance = (a - b).norm()
        expected.append(0.5 * distance**2 if target == 0 else 0.5 * max(0.0, 2.0 - distance) ** 2)
    loss = contrastive_loss(emb_a, emb_b, y, margin=2.0)
    assert_close(loss, torch.stack([torch.as_tensor(e) for e in expected]).mean(), dtype)
    # float and bool targets with the same 0/1 meaning give the same loss
    torch.testing.assert_close(contrastive_loss(emb_a, emb_b, y.double(), margin=2.0), loss)
    torch.testing.assert_close(contrastive_loss(emb_a, emb_b, y.bool(), margin=2.0), loss)


def test_contrastive_loss_past_the_margin_is_zero():
    emb_a = torch.zeros(2, 2)
    emb_b = torch.tensor([[3.0, 4.0], [0.0, 0.0]])  # dissimilar at D = 5 > m; similar at D = 0
    assert contrastive_loss(emb_a, emb_b, torch.tensor([1, 0]), margin=1.0) == 0


@pytest.mark.parametrize("squared", [False, True])
def test_triplet_loss_matches_loops_and_torch(squared):
    generator = torch.Generator().manual_seed(0)
    anchor, positive, negative = torch.randn(3, 12, 5, generator=generator, dtype=torch.float64)
    expected = []
    for a, p, n in zip(anchor, positive, negative, strict=True):
        d_ap, d_an = ((a - p) ** 2).sum(), ((a - n) ** 2).sum()
        if not squared:
            d_ap, d_an = d_ap.sqrt(), d_an.sqrt()
        expected.append(max(0.0, d_ap - d_an + 0.5))
    loss = triplet_loss(anchor, positive, negative, margin=0.5, squared=squared)
    torch.testing.assert_close(loss, torch.tensor(expected, dtype=torch.float64).mean())
    if not squared:  # torch adds eps=1e-6 inside its distance
        torch_loss = torch.nn.functional.triplet_margin_loss(anchor, positive, negative, 0.5)
        torch.testing.assert_close(loss, torch_loss, atol=1e-5, rtol=0)


# ---------------------------------------------------------------- semi-hard details


def test_semi_hard_picks_the_nearest_negative_not_closer_than_the_positive():
    # one dimension: anchor 0, positive at 1; negatives at 0.5 (hard), 1.1 and 1.15
    # (semi-hard for margin 0.2) and 3 (easy). FaceNet's choice is 1.1: loss 0.1.
    x = torch.tensor([[0.0], [1.0], [0.5], [1.1], [1.15], [3.0]], dtype=torch.float64)
    labels = torch.tensor([0, 0, 1, 2, 3, 4])
    loss, stats = with_stats(semi_hard_triplet_loss, x, labels, margin=0.2)
    # pairs: (0, 1) picks 1.1 -> 0.1; (1, 0) from x=1: negatives at 0.5, 0.1, 0.15, 2.0;
    # the positive is 1 away, 2.0 is the only one not closer -> 1 - 2 + 0.2 < 0 -> 0
    torch.testing.assert_close(loss, torch.tensor(0.05, dtype=torch.float64))
    assert stats["fallback_pairs"] == 0
    assert stats["active_fraction"] == 0.5


def test_semi_hard_falls_back_to_the_farthest_negative_when_all_are_hard():
    x = torch.tensor([[0.0], [2.0], [0.5], [1.0]], dtype=torch.float64)
    labels = torch.tensor([0, 0, 1, 2])
    loss, stats = with_stats(semi_hard_triplet_loss, x, labels, margin=0.2)
    # (0, 1): negatives at 0.5 and 1.0 are both closer than 2 -> farthest, 1.0: 2 - 1 + 0.2
    # (1, 0): from x=2 negatives at 1.5 and 1.0, positive 2 away -> farthest 1.5: 0.7
    torch.testing.assert_close(loss, torch.tensor((1.2 + 0.7) / 2, dtype=torch.float64))
    assert stats["fallback_pairs"] == 2


# ---------------------------------------------------------------- properties


@FAST
@given(seed=st.integers(0, 10_000), n=st.integers(2, 16), data=st.data())
@pytest.mark.parametrize("name", list(ONLINE_LOSSES))
def test_permuting_the_batch_leaves_the_loss_unchanged(name, seed, n, data):
    embeddings, labels = labelled_batch(n=n, classes=3, seed=seed)
    order = torch.tensor(data.draw(st.permutations(range(n))))
    loss_fn = ONLINE_LOSSES[name]
    torch.testing.assert_close(
        loss_fn(embeddings[order], labels[order]), loss_fn(embeddings, labels)
    )


@FAST
@given(
    seed=st.integers(0, 10_000),
    shift=st.lists(st.floats(-100, 100), min_size=4, max_size=4),
    squared=st.booleans(),
)
@pytest.mark.parametrize("name", list(ONLINE_LOSSES))
def test_translating_all_embeddings_leaves_the_loss_unchanged(name, seed, shift, squared):
    embeddings, labels = labelled_batch(seed=seed)
    loss_fn = ONLINE_LOSSES[name]
    kwargs = {} if name == "contrastive_all_pairs" else {"squared": squared}
    moved = embeddings + torch.tensor(shift, dtype=torch.float64)
    torch.testing.assert_close(
        loss_fn(moved, labels, **kwargs),
        loss_fn(embeddings, labels, **kwargs),
        atol=1e-9,
        rtol=1e-9,
    )


@FAST
@given(
    seed=st.integers(0, 10_000),
    margin=st.floats(0.0, 1.0, exclude_min=True),
    spread=st.floats(0.0, 0.1),
    squared=st.booleans(),
)
@pytest.mark.parametrize("name", list(TRIPLET_LOSSES))
def test_loss_is_zero_when_every_negative_is_past_the_margin(name, seed, margin, spread, squared):
    # class centres 10 apart, points within 0.1 of them: d(a,n) - d(a,p) > 9 > margin
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 4, (12,), generator=generator)
    centres = 10 * torch.eye(4, dtype=torch.float64)
    noise = torch.rand(12, 4, generator=generator, dtype=torch.float64) - 0.5
    embeddings = centres[labels] + spread * noise / 2
    loss, gradient = value_and_gradient(
        TRIPLET_LOSSES[name], embeddings, labels, margin=margin, squared=squared
    )
    assert loss == 0 and (gradient == 0).all()


def test_contrastive_all_pairs_is_zero_for_collapsed_classes_beyond_the_margin():
    labels = torch.tensor([0, 0, 1, 1, 2])
    embeddings = 3.0 * torch.eye(3)[labels]  # classes 4.2 apart, each on one point
    assert contrastive_loss_all_pairs(embeddings, labels, margin=4.0) == 0


# ---------------------------------------------------------------- degenerate batches


@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("name", list(ONLINE_LOSSES))
def test_identical_embeddings_give_finite_gradients(name, squared):
    embeddings, labels = labelled_batch(n=8, classes=2)
    embeddings[1] = embeddings[0]
    embeddings[2] = embeddings[0]
    kwargs = {} if name == "contrastive_all_pairs" else {"squared": squared}
    for x in (embeddings, torch.zeros_like(embeddings)):  # a duplicate; a full collapse
        loss, gradient = value_and_gradient(ONLINE_LOSSES[name], x, labels, **kwargs)
        assert torch.isfinite(loss) and torch.isfinite(gradient).all()


@pytest.mark.parametrize("name", list(TRIPLET_LOSSES))
def test_a_collapsed_batch_costs_exactly_the_margin(name):
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    loss, gradient = value_and_gradient(TRIPLET_LOSSES[name], torch.ones(6, 3), labels, 0.3)
    torch.testing.assert_close(loss, torch.tensor(0.3))
    assert torch.isfinite(gradient).all()


@pytest.mark.parametrize(
    ("labels", "reason"),
    [
        (torch.zeros(6, dtype=torch.long), "valid_triplets"),  # one class: no negative
        (torch.arange(6), "positive_pairs"),  # all different: no positive
        (torch.tensor([3]), "positive_pairs"),  # a batch of one
    ],
)
@pytest.mark.parametrize("name", list(TRIPLET_LOSSES))
def test_a_batch_without_triplets_gives_zero_loss_zero_gradient_and_says_why(name, labels, reason):
    embeddings = labelled_batch(n=len(labels))[0].float().requires_grad_()
    loss, stats = with_stats(TRIPLET_LOSSES[name], embeddings, labels)
    loss.backward()
    assert loss == 0 and loss.requires_grad
    assert (embeddings.grad == 0).all()
    assert stats[reason] == 0 and stats["anchors_used"] == 0
    assert all(value == value for value in stats.values())  # no NaN


def test_contrastive_all_pairs_of_a_single_embedding_is_zero_and_says_why():
    embedding = torch.randn(1, 3, requires_grad=True)
    loss, stats = with_stats(contrastive_loss_all_pairs, embedding, torch.tensor([3]))
    loss.backward()
    assert loss == 0 and (embedding.grad == 0).all()
    assert stats["positive_pairs"] == 0 and stats["negative_pairs"] == 0


def test_an_empty_batch_is_an_error_that_says_so():
    for loss_fn in ONLINE_LOSSES.values():
        with pytest.raises(ValueError, match="empty"):
            loss_fn(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long))


# ---------------------------------------------------------------- stats


@pytest.mark.parametrize("name", list(ONLINE_LOSSES))
def test_stats_are_python_floats_with_the_promised_keys(name):
    embeddings, labels = labelled_batch()
    embeddings.requires_grad_()
    loss, stats = with_stats(ONLINE_LOSSES[name], embeddings, labels)
    assert STAT_KEYS <= set(stats)
    assert all(type(value) is float for value in stats.values())
    assert 0 < stats["active_fraction"] <= 1
    assert stats["embedding_norm"] == pytest.approx(embeddings.norm(dim=1).mean().item())
    torch.testing.assert_close(loss, ONLINE_LOSSES[name](embeddings, labels))
    if name != "contrastive_all_pairs":
        assert {"valid_triplets", "anchors_used"} <= set(stats)


def test_batch_all_stats_count_triplets_like_loops():
    embeddings, labels = labelled_batch()
    _, stats = with_stats(batch_all_triplet_loss, embeddings, labels, margin=0.5)
    d = LoopDistances(embeddings)
    valid = [
        (a, p, n)
        for a, p, n in itertools.product(range(len(labels)), repeat=3)
        if a != p and labels[a] == labels[p] and labels[a] != labels[n]
    ]
    active = [t for t in valid if d(t[0], t[1]) - d(t[0], t[2]) + 0.5 > 0]
    assert stats["valid_triplets"] == len(valid)
    assert stats["active_triplets"] == len(active)
    assert stats["active_fraction"] == pytest.approx(len(active) / len(valid))
    assert stats["anchors_used"] == len({a for a, _, _ in valid})


# ---------------------------------------------------------------- precision and bad input


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", list(ONLINE_LOSSES))
def test_half_precision_gives_finite_results(name, dtype):
    embeddings, labels = labelled_batch(n=32, classes=4, dim=16, dtype=torch.float32)
    embeddings = (embeddings * 20).to(dtype)  # squared distances beyond float16's range
    loss, gradient = value_and_gradient(ONLINE_LOSSES[name], embeddings, labels)
    reference = ONLINE_LOSSES[name](embeddings.float(), labels)
    assert torch.isfinite(loss) and torch.isfinite(gradient.float()).all()
    torch.testing.assert_close(loss, reference, rtol=1e-3, atol=1e-3)


def test_half_precision_pairs_and_triplets():
    emb = torch.randn(3, 8, 16).half() * 40
    assert torch.isfinite(contrastive_loss(emb[0], emb[1], torch.tensor([0, 1] * 4)))
    assert torch.isfinite(triplet_loss(emb[0], emb[1], emb[2], squared=True))


BAD_ONLINE_INPUT = [
    (torch.randn(4, 3), torch.tensor([0, 1, 1]), "3 labels for 4 embeddings"),
    (torch.randn(4, 3), torch.tensor([0.0, 1.0, 1.0, 0.0]), "integer class ids"),
    (torch.randn(4, 3), torch.zeros(4, 1, dtype=torch.long), "1-D"),
    (torch.randn(4), torch.tensor([0, 1, 1, 0]), "2-D"),
    (torch.randn(4, 3, 2), torch.tensor([0, 1, 1, 0]), "2-D"),
    (torch.ones(4, 3, dtype=torch.long), torch.tensor([0, 1, 1, 0]), "floating point"),
]


@pytest.mark.parametrize(("embeddings", "labels", "message"), BAD_ONLINE_INPUT)
@pytest.mark.parametrize("name", list(ONLINE_LOSSES))
def test_online_losses_reject_bad_input(name, embeddings, labels, message):
    with pytest.raises(ValueError, match=message):
        ONLINE_LOSSES[name](embeddings, labels)
    with pytest.raises(ValueError, match="margin"):
        ONLINE_LOSSES[name](torch.randn(4, 3), torch.tensor([0, 1, 1, 0]), margin=-1.0)


@pytest.mark.parametrize(
    ("y", "message"),
    [
        (torch.tensor([0, 1, 2]), "0 \\(similar pair\\) or 1"),
        (torch.tensor([0.0, 0.5, 1.0]), "0 \\(similar pair\\) or 1"),
        (torch.tensor([-1, 1, 1]), "0 \\(similar pair\\) or 1"),
        (torch.tensor([0, 1]), "shape"),
        (torch.tensor([[0, 1, 1]]), "shape"),
        ([0, 1, 1], "shape"),
    ],
)
def test_contrastive_loss_rejects_targets_that_are_not_0_or_1(y, message):
    with pytest.raises(ValueError, match=message):
        contrastive_loss(torch.randn(3, 2), torch.randn(3, 2), y)


def test_pair_and_triplet_losses_reject_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        contrastive_loss(torch.randn(3, 2), torch.randn(4, 2), torch.tensor([0, 1, 1]))
    with pytest.raises(ValueError, match="same shape"):
        triplet_loss(torch.randn(3, 2), torch.randn(3, 2), torch.randn(3, 4))
    with pytest.raises(ValueError, match="2-D"):
        triplet_loss(torch.randn(3), torch.randn(3), torch.randn(3))


@pytest.mark.parametrize("name", list(ONLINE_LOSSES))
@pytest.mark.parametrize("stats", [None, {}])
def test_online_losses_check_the_embeddings_once_per_call(monkeypatch, name, stats):
    import metric_course.distances as distances_module
    import metric_course.losses as losses_module

    calls = []
    original = distances_module.check_embeddings

    def counting(embeddings, *args, **kwargs):
        calls.append(embeddings.shape)
        return original(embeddings, *args, **kwargs)

    monkeypatch.setattr(distances_module, "check_embeddings", counting)
    monkeypatch.setattr(losses_module, "check_embeddings", counting)
    embeddings, labels = labelled_batch()
    ONLINE_LOSSES[name](embeddings.requires_grad_(), labels, stats=stats)
    assert calls == [embeddings.shape]
