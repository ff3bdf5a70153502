"""The losses' distance=, reducer= and references= against brute-force loops and PML."""

import itertools

import pytest
import torch
from pytorch_metric_learning import distances as pml_distances
from pytorch_metric_learning import losses as pml_losses
from pytorch_metric_learning import miners as pml_miners
from pytorch_metric_learning import reducers as pml_reducers

from metric_course.losses import (
    MARGINS,
    batch_all_triplet_loss,
    batch_hard_triplet_loss,
    contrastive_loss,
    contrastive_loss_all_pairs,
    reduce,
    semi_hard_triplet_loss,
    triplet_loss,
)

ONLINE = {
    "batch_all": batch_all_triplet_loss,
    "batch_hard": batch_hard_triplet_loss,
    "semi_hard": semi_hard_triplet_loss,
    "contrastive_all_pairs": contrastive_loss_all_pairs,
}


def batch_and_references(seed=0, n=12, r=10, dim=4):
    """A clustered batch (float64) with a class of its own, and references sharing some classes.

    Clustered, so that some hardest triplets are already easy and the reducers differ.
    """
    generator = torch.Generator().manual_seed(seed)
    centres = 2 * torch.randn(10, dim, generator=generator, dtype=torch.float64)
    labels = torch.randint(0, 4, (n,), generator=generator)
    labels[-1] = 9  # no positive anywhere
    reference_labels = torch.randint(0, 5, (r,), generator=generator)
    x = centres[labels] + torch.randn(n, dim, generator=generator, dtype=torch.float64)
    references = centres[reference_labels] + torch.randn(
        r, dim, generator=generator, dtype=torch.float64
    )
    return x, labels, references, reference_labels


# ---------------------------------------------------------------- brute force


def loop_distance(u, v, distance, squared):
    if distance == "cosine":
        return 1 - torch.dot(u, v) / (u.norm() * v.norm())
    s = ((u - v) ** 2).sum()
    return s if squared else s.sqrt()


def loop_reduce(terms, reducer, x):
    if reducer == "non_zero":
        terms = [t for t in terms if t.item() > 0]
    return torch.stack(terms).mean() if terms else x.sum() * 0


def candidates(x, labels, refs, ref_labels, a):
    """(positives, negatives) of anchor a: reference indices, the anchor itself left out."""
    same_items = refs is None
    refs, ref_labels = (x, labels) if same_items else (refs, ref_labels)
    positives = [
        r for r in range(len(refs)) if ref_labels[r] == labels[a] and not (same_items and r == a)
    ]
    return refs, positives, [r for r in range(len(refs)) if ref_labels[r] != labels[a]]


def loop_online(name, x, labels, margin, distance, squared, reducer, refs=None, ref_labels=None):
    """Every online loss by its definition, one (anchor, candidate) at a time."""
    terms = []
    for a in range(len(x)):
        others, positives, negatives = candidates(x, labels, refs, ref_labels, a)

        def d(r, a=a, others=others):
            return loop_distance(x[a], others[r], distance, squared)

        if name == "contrastive_all_pairs":
            pairs = [r for r in positives + negatives if refs is not None or r > a]
            for r in pairs:
                if r in positives:
                    terms.append(0.5 * d(r) ** 2)
                else:
                    terms.append(0.5 * (margin - d(r)).clamp(min=0) ** 2)
            continue
        if not negatives:
            continue
        if name == "batch_all":
            for p, n in itertools.product(positives, negatives):
                terms.append((d(p) - d(n) + margin).clamp(min=0))
        elif name == "batch_hard" and positives:
            p = max(positives, key=lambda r: d(r).item())
            n = min(negatives, key=lambda r: d(r).item())
            terms.append((d(p) - d(n) + margin).clamp(min=0))
        elif name == "semi_hard":
            for p in positives:
                farther = [n for n in negatives if d(n).item() >= d(p).item()]
                if farther:
                    n = min(farther, key=lambda r: d(r).item())
                else:
                    n = max(negatives, key=lambda r: d(r).item())
                terms.append((d(p) - d(n) + margin).clamp(min=0))
    return loop_reduce(terms, reducer, x)


def gradients(fn, *tensors):
    tensors = [t.detach().clone().requires_grad_() for t in tensors]
    loss = fn(*tensors)
    return loss.detach(), torch.autograd.grad(loss, tensors)


def assert_same(ours, loops):
    (loss, grads), (expected, expected_grads) = ours, loops
    assert expected > 0
    torch.testing.assert_close(loss, expected, rtol=1e-9, atol=1e-9)
    for g, e in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-8, atol=1e-9)


# ---------------------------------------------------------------- against loops

# (loss, distance, squared): the contrastive losses square D themselves and take no squared
CASES = [
    (name, distance, squared)
    for name in ONLINE
    for distance, squared in [("euclidean", False), ("euclidean", True), ("cosine", False)]
    if not (name == "contrastive_all_pairs" and squared)
]


@pytest.mark.parametrize("with_references", [False, True])
@pytest.mark.parametrize("reducer", ["mean", "non_zero"])
@pytest.mark.parametrize(("name", "distance", "squared"), CASES)
def test_online_losses_match_loops_for_every_distance_reducer_and_reference_set(
    name, distance, squared, reducer, with_references
):
    x, labels, refs, ref_labels = batch_and_references(seed=len(name))
    margin = {"euclidean": 1.0, "cosine": 0.1}[distance] * (4 if squared else 1)
    options = {"distance": distance, "reducer": reducer}
    if name != "contrastive_all_pairs":
        options["squared"] = squared
    if with_references:
        ours = gradients(
            lambda x, r: ONLINE[name](
                x, labels, margin, references=r, reference_labels=ref_labels, **options
            ),
            x,
            refs,
        )
        loops = gradients(
            lambda x, r: loop_online(
                name, x, labels, margin, distance, squared, reducer, r, ref_labels
            ),
            x,
            refs,
        )
    else:
        ours = gradients(lambda x: ONLINE[name](x, labels, margin, **options), x)
        loops = gradients(
            lambda x: loop_online(name, x, labels, margin, distance, squared, reducer), x
        )
        refs = ref_labels = None
    assert_same(ours, loops)
    # the case tells the reducers apart: some terms are 0
    other = {"mean": "non_zero", "non_zero": "mean"}[reducer]
    args = (name, x, labels, margin, distance, squared, other, refs, ref_labels)
    assert not torch.isclose(loop_online(*args), loops[0])


@pytest.mark.parametrize("reducer", ["mean", "non_zero"])
@pytest.mark.parametrize("distance", ["euclidean", "cosine"])
def test_pair_and_triplet_losses_match_loops_for_every_distance_and_reducer(distance, reducer):
    generator = torch.Generator().manual_seed(7)
    a, b, c = torch.randn(3, 16, 3, generator=generator, dtype=torch.float64)
    y = torch.tensor([0, 1] * 8)
    margin = 0.8 if distance == "euclidean" else 0.3

    def loop_pairs(a, b):
        d = [loop_distance(u, v, distance, False) for u, v in zip(a, b, strict=True)]
        return loop_reduce(
            [
                0.5 * di**2 if t == 0 else 0.5 * (margin - di).clamp(min=0) ** 2
                for di, t in zip(d, y.tolist(), strict=True)
            ],
            reducer,
            a,
        )

    def loop_triplets(a, b, c):
        terms = [
            (
                loop_distance(u, v, distance, False) - loop_distance(u, w, distance, False) + margin
            ).clamp(min=0)
            for u, v, w in zip(a, b, c, strict=True)
        ]
        return loop_reduce(terms, reducer, a)

    options = {"distance": distance, "reducer": reducer}
    assert_same(
        gradients(lambda a, b: contrastive_loss(a, b, y, margin, **options), a, b),
        gradients(loop_pairs, a, b),
    )
    assert_same(
        gradients(lambda a, b, c: triplet_loss(a, b, c, margin, **options), a, b, c),
        gradients(loop_triplets, a, b, c),
    )


def test_the_defaults_are_todays_losses():
    # every loss's default distance and reducer, spelled out, changes nothing
    x, labels, _, _ = batch_and_references()
    for name, fn in ONLINE.items():
        reducer = "non_zero" if name == "batch_all" else "mean"
        torch.testing.assert_close(
            fn(x, labels, MARGINS[name] * 20),
            fn(x, labels, MARGINS[name] * 20, distance="euclidean", reducer=reducer),
        )


def test_the_reducer_divides_by_all_terms_or_by_the_positive_ones():
    losses = torch.tensor([0.0, 2.0, 0.0, 1.0], requires_grad=True)
    assert reduce(losses, "mean") == 0.75 and reduce(losses, "non_zero") == 1.5
    assert reduce(losses, "mean", terms=6) == 0.5  # e.g. a matrix holding each pair twice
    assert reduce(torch.tensor(3.0), "non_zero", terms=6, non_zero=2) == 1.5  # batch-all's sum
    nothing = reduce(torch.zeros(0, requires_grad=True), "non_zero")
    assert nothing == 0 and nothing.requires_grad
    with pytest.raises(ValueError, match="unknown reducer 'median'; choose one of mean, non_zero"):
        reduce(losses, "median")


# ---------------------------------------------------------------- against PML


def unit_rows(seed, n=24):
    """A batch and references on the unit sphere, where PML's defaults normalise nothing away."""
    x, labels, refs, ref_labels = batch_and_references(seed=seed, n=n, r=20)
    return (torch.nn.functional.normalize(t, dim=1) for t in (x, refs)), labels, ref_labels


def value_and_gradient(fn, x):
    x = x.detach().clone().requires_grad_()
    loss = fn(x)
    return loss.detach(), torch.autograd.grad(loss, x)[0]


def assert_equal_to_pml(ours, theirs):
    for a, b in zip(value_and_gradient(*ours), value_and_gradient(*theirs), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("pml_distance", ["cosine", "normalised euclidean"])
def test_batch_hard_with_a_non_zero_reducer_is_pmls_default_triplet_loss_and_miner(pml_distance):
    # PML's defaults: L2-normalised embeddings, AvgNonZeroReducer
    (x, _), labels, _ = unit_rows(seed=1)
    distance = (
        pml_distances.CosineSimilarity() if pml_distance == "cosine" else pml_distances.LpDistance()
    )
    # ours takes the embeddings as given: normalised inside, the gradient goes through it too
    ours_distance = "cosine" if pml_distance == "cosine" else "euclidean"
    miner = pml_miners.BatchHardMiner(distance=distance)
    pml = pml_losses.TripletMarginLoss(margin=0.3, distance=distance)
    assert_equal_to_pml(
        (
            lambda x: batch_hard_triplet_loss(
                torch.nn.functional.normalize(x, dim=1),
                labels,
                0.3,
                distance=ours_distance,
                reducer="non_zero",
            ),
            x,
        ),
        (lambda x: pml(x, labels, miner(x, labels)), x),
    )


@pytest.mark.parametrize("distance", ["euclidean", "cosine"])
@pytest.mark.parametrize("reducer", ["mean", "non_zero"])
def test_batch_all_with_either_reducer_is_pmls_triplet_margin_loss(distance, reducer):
    (x, _), labels, _ = unit_rows(seed=2)
    pml = pml_losses.TripletMarginLoss(
        margin=0.3,
        distance=pml_distances.CosineSimilarity()
        if distance == "cosine"
        else pml_distances.LpDistance(normalize_embeddings=False),
        reducer=pml_reducers.MeanReducer()
        if reducer == "mean"
        else pml_reducers.AvgNonZeroReducer(),
    )
    assert_equal_to_pml(
        (lambda x: batch_all_triplet_loss(x, labels, 0.3, distance=distance, reducer=reducer), x),
        (lambda x: pml(x, labels), x),
    )


@pytest.mark.parametrize("name", ["batch_all", "batch_hard"])
def test_references_are_pmls_ref_emb(name):
    (x, refs), labels, ref_labels = unit_rows(seed=3)
    distance = pml_distances.LpDistance(normalize_embeddings=False)
    pml = pml_losses.TripletMarginLoss(
        margin=0.5, distance=distance, reducer=pml_reducers.MeanReducer()
    )
    miner = pml_miners.BatchHardMiner(distance=distance)

    def theirs(x):
        mined = miner(x, labels, refs, ref_labels) if name == "batch_hard" else None
        return pml(x, labels, mined, refs, ref_labels)

    assert_equal_to_pml(
        (
            lambda x: ONLINE[name](
                x, labels, 0.5, reducer="mean", references=refs, reference_labels=ref_labels
            ),
            x,
        ),
        (theirs, x),
    )


# ---------------------------------------------------------------- bad options


@pytest.mark.parametrize("name", list(ONLINE))
def test_bad_options_and_references_are_explained(name):
    x, labels, refs, ref_labels = batch_and_references()
    fn = ONLINE[name]
    with pytest.raises(ValueError, match="unknown distance 'l1'; choose one of euclidean, cosine"):
        fn(x, labels, distance="l1")
    with pytest.raises(ValueError, match="unknown reducer 'sum'"):
        fn(x, labels, reducer="sum")
    with pytest.raises(ValueError, match="together"):
        fn(x, labels, references=refs)
    with pytest.raises(ValueError, match="2 labels for 10"):
        fn(x, labels, references=refs, reference_labels=ref_labels[:2])
    with pytest.raises(ValueError, match=r"references must be \(R ≥ 1, 4\)"):
        fn(x, labels, references=refs[:, :2], reference_labels=ref_labels)
    with pytest.raises(ValueError, match="NaN or infinity in references"):
        fn(x, labels, references=refs * float("nan"), reference_labels=ref_labels)
    if name != "contrastive_all_pairs":
        with pytest.raises(ValueError, match="leave squared out"):
            fn(x, labels, squared=True, distance="cosine")
    with pytest.raises(ValueError, match="positive and finite"):
        fn(x, labels, margin=float("inf"))
