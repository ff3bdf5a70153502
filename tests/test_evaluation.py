"""Evaluation: retrieval metrics, few-shot episodes and verification."""

import math

import numpy as np
import pytest
import torch
from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator

from metric_course.evaluation import (
    accept_rates,
    classify_by_nearest_neighbour,
    classify_by_prototypes,
    embed,
    nearest_prototype,
    pair_distances,
    retrieval_metrics,
    sample_pairs,
    threshold_at_far,
    verification_roc,
)
from metric_course.few_shot import few_shot_accuracy
from metric_course.models import EmbeddingNet


def clustered(n_per_class=30, classes=4, dim=8, spread=1.5, seed=0):
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, dim, generator=generator) * 2
    labels = torch.arange(classes).repeat_interleave(n_per_class)
    points = centres[labels] + spread * torch.randn(len(labels), dim, generator=generator)
    return points, labels


def brute_force_metrics(embeddings, labels, ks=(1, 5)):
    """Leave-one-out metrics by an explicit loop over queries, ties counted pessimistically.

    Neighbours are ranked by squared distance in float64 (exact for small whole
    numbers), and among equal distances those of another class come first.
    """
    n = len(labels)
    embeddings = torch.as_tensor(embeddings).double()
    p1, rp, mapr, recall = [], [], [], {k: [] for k in ks}
    for q in range(n):
        others = [i for i in range(n) if i != q]
        keys = [
            (float((embeddings[q] - embeddings[i]).pow(2).sum()), int(labels[i] == labels[q]), i)
            for i in others
        ]
        ranked = [i for _, _, i in sorted(keys)]
        rel = [int(labels[i] == labels[q]) for i in ranked]
        r = sum(rel)
        if r == 0:
            continue
        p1.append(rel[0])
        rp.append(sum(rel[:r]) / r)
        hits, ap = 0, 0.0
        for i in range(r):
            if rel[i]:
                hits += 1
                ap += hits / (i + 1)
        mapr.append(ap / r)
        for k in ks:
            recall[k].append(max(rel[:k]))
    out = {"precision_at_1": np.mean(p1), "r_precision": np.mean(rp), "map_at_r": np.mean(mapr)}
    out.update({f"recall_at_{k}": np.mean(recall[k]) for k in ks})
    return out


def test_retrieval_metrics_match_brute_force_loops():
    embeddings, labels = clustered(n_per_class=12, classes=4)
    ours = retrieval_metrics(embeddings, labels, batch_size=7)
    for key, value in brute_force_metrics(embeddings, labels).items():
        assert ours[key] == pytest.approx(value, abs=1e-6), key


@pytest.mark.parametrize("seed", [0, 1])
def test_retrieval_metrics_match_pytorch_metric_learning(seed):
    embeddings, labels = clustered(n_per_class=50, classes=5, seed=seed)
    calculator = AccuracyCalculator(
        include=("precision_at_1", "r_precision", "mean_average_precision_at_r"),
        k="max_bin_count",
    )
    theirs = calculator.get_accuracy(embeddings, labels)
    ours = retrieval_metrics(embeddings, labels)
    assert ours["precision_at_1"] == pytest.approx(theirs["precision_at_1"], abs=1e-6)
    assert ours["r_precision"] == pytest.approx(theirs["r_precision"], abs=1e-6)
    assert ours["map_at_r"] == pytest.approx(theirs["mean_average_precision_at_r"], abs=1e-6)


def test_retrieval_metrics_small_case_by_hand():
    # Points on a line: a0=0, a1=1, b0=1.6, a2=3.
    # Query a0: neighbours a1 (right), b0, a2 (right). R=2: precisions 1, -, 2/3.
    #   P@1=1, R-Prec=1/2, AP@R=(1)/2=0.5
    # Query a1: b0 (0.6, wrong), a0 (1, right), a2 (2). R=2: P@1=0, R-Prec=1/2, AP@R=(1/2)/2
    # Query a2: b0 (1.4, wrong), a1 (2), a0 (3). R=2: P@1=0, R-Prec=1/2, AP@R=(1/2)/2
    # Query b0: alone in its class, skipped.
    embeddings = torch.tensor([[0.0], [1.0], [1.6], [3.0]])
    labels = torch.tensor([0, 0, 1, 0])
    m = retrieval_metrics(embeddings, labels, recall_k=(1, 2))
    assert m["precision_at_1"] == pytest.approx(1 / 3)
    assert m["r_precision"] == pytest.approx(0.5)
    assert m["map_at_r"] == pytest.approx((0.5 + 0.25 + 0.25) / 3)
    assert m["recall_at_2"] == pytest.approx(1.0)


def test_retrieval_metrics_reject_bad_input():
    with pytest.raises(ValueError, match="one label per embedding"):
        retrieval_metrics(torch.zeros(4, 2), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="2-D"):
        retrieval_metrics(torch.zeros(4), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="two or more"):
        retrieval_metrics(torch.zeros(3, 2), torch.tensor([0, 1, 2]))


def test_retrieval_metrics_refuse_fractional_labels_and_a_single_class():
    # .long() used to cut 0.1 .. 0.3 to one class 0, and one class scored 1.00 everywhere
    embeddings, labels = clustered(n_per_class=10, classes=4)
    with pytest.raises(ValueError, match=r"whole class ids 0, 1, 2, …, got \[0\.1"):
        retrieval_metrics(embeddings, labels.float() / 10)
    with pytest.raises(ValueError, match="all 40 items have the same label"):
        retrieval_metrics(embeddings, torch.zeros(40))
    whole = retrieval_metrics(embeddings, labels.double())  # whole floats are class ids
    assert whole == retrieval_metrics(embeddings, labels)


def test_retrieval_metrics_renumber_huge_class_ids():
    # bincount used to allocate a count for every id up to the largest (terabytes here)
    embeddings, labels = clustered(n_per_class=10, classes=4)
    assert retrieval_metrics(embeddings, labels * 10**12) == retrieval_metrics(embeddings, labels)
    assert retrieval_metrics(embeddings, labels - 7) == retrieval_metrics(embeddings, labels)


@pytest.mark.parametrize("recall_k", [(0,), (-1,), (1, 40), (2.5,), ()])
def test_retrieval_metrics_refuse_recall_depths_outside_1_to_n_minus_1(recall_k):
    embeddings, labels = clustered(n_per_class=10, classes=4)
    with pytest.raises(ValueError, match=r"recall_k lists the depths k of recall@k.* 1 to 39"):
        retrieval_metrics(embeddings, labels, recall_k=recall_k)


def test_retrieval_metrics_refuse_empty_input():
    with pytest.raises(ValueError, match="no items to retrieve: got 0 embeddings"):
        retrieval_metrics(torch.empty(0, 8), torch.empty(0, dtype=torch.long))


def test_retrieval_metrics_do_not_change_with_the_scale_of_the_embeddings():
    # × 1e20 used to overflow every squared norm into NaN distances and NaN metrics
    embeddings, labels = clustered(n_per_class=10, classes=4)
    expected = retrieval_metrics(embeddings, labels)
    for scale in (1e20, 1e-30):
        assert retrieval_metrics(embeddings * scale, labels) == pytest.approx(expected, abs=1e-12)


def collapsed():
    """Every item at one point: 30 of class 0, 10 of class 1 (a network that collapsed)."""
    return torch.ones(40, 8), (torch.arange(40) >= 30).long()


def rounded():
    """Clustered points rounded to whole numbers: many neighbours at equal distances."""
    embeddings, labels = clustered(n_per_class=10, classes=4, spread=1.0)
    return embeddings.round(), labels


@pytest.mark.parametrize("data", [collapsed, rounded])
def test_ties_never_depend_on_the_order_of_the_items(data):
    embeddings, labels = data()
    expected = brute_force_metrics(embeddings, labels)
    for seed in range(5):
        shuffle = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
        metrics = retrieval_metrics(embeddings[shuffle], labels[shuffle], batch_size=7)
        for key, value in expected.items():
            assert metrics[key] == pytest.approx(value, abs=1e-12), (seed, key)


def test_ties_are_counted_against_the_query():
    # All 40 items coincide: for a query of class 0, its 10 items of class 1 come first.
    metrics = retrieval_metrics(*collapsed())
    assert metrics["precision_at_1"] == 0.0
    class_0 = (29 - 10) / 29  # R = 29: 10 wrong, then 19 of the 29 right ones
    class_1 = 0.0  # R = 9: the 30 items of class 0 fill all 9 places
    assert metrics["r_precision"] == pytest.approx((30 * class_0 + 10 * class_1) / 40)


def test_prototype_and_nearest_neighbour_classifiers_by_hand():
    support = torch.tensor([[0.0, 0.0], [0.0, 2.0], [10.0, 0.0]])
    support_labels = torch.tensor([7, 7, 9])
    queries = torch.tensor([[0.0, 1.9], [6.0, 0.0], [4.0, 0.0]])
    # Prototypes: class 7 at (0, 1), class 9 at (10, 0).
    assert classify_by_prototypes(support, support_labels, queries).tolist() == [7, 9, 7]
    assert classify_by_nearest_neighbour(support, support_labels, queries).tolist() == [7, 9, 7]
    distances, labels = nearest_prototype(support, support_labels, queries)
    assert labels.tolist() == [7, 9, 7]
    # distances to the prototypes (0, 1), (10, 0) and (0, 1)
    assert distances.tolist() == pytest.approx([0.9, 4.0, math.sqrt(17)], abs=1e-5)


@pytest.mark.parametrize("scale", [1e20, 1e-30])
def test_the_classifiers_do_not_change_with_the_scale_of_the_embeddings(scale):
    # × 1e20 used to overflow every squared norm: NaN distances, and every query named class 0
    support, support_labels = clustered(n_per_class=5, classes=4, seed=3)
    queries, _ = clustered(n_per_class=5, classes=4, seed=4)
    for classify in (classify_by_prototypes, classify_by_nearest_neighbour):
        expected = classify(support, support_labels, queries)
        assert torch.equal(classify(support * scale, support_labels, queries * scale), expected)
    distances, _ = nearest_prototype(support * scale, support_labels, queries * scale)
    expected, _ = nearest_prototype(support, support_labels, queries)
    torch.testing.assert_close(distances / scale, expected)


def test_few_shot_accuracy_perfect_and_chance():
    separated, labels = clustered(n_per_class=25, classes=5, spread=0.01)
    result = few_shot_accuracy(separated, labels, n_way=5, k_shot=1, episodes=50)
    assert result.accuracy == 1.0 and result.ci95 == 0.0
    noise = torch.randn(len(labels), 8, generator=torch.Generator().manual_seed(0))
    chance = few_shot_accuracy(noise, labels, n_way=5, k_shot=5, episodes=200)
    assert abs(chance.accuracy - 0.2) < 4 * chance.ci95 + 0.02
    assert "5-way 5-shot" in str(chance)


def test_few_shot_accuracy_is_seeded():
    embeddings, labels = clustered(n_per_class=25, classes=5)
    first = few_shot_accuracy(embeddings, labels, n_way=3, k_shot=2, episodes=30, seed=4)
    again = few_shot_accuracy(embeddings, labels, n_way=3, k_shot=2, episodes=30, seed=4)
    assert first == again


def test_few_shot_accuracy_bad_input():
    embeddings, labels = clustered(n_per_class=5, classes=3)
    with pytest.raises(ValueError, match="only 0 have that"):
        few_shot_accuracy(embeddings, labels, n_way=3, k_shot=1, n_query=15)
    with pytest.raises(ValueError, match="unknown method"):
        few_shot_accuracy(embeddings, labels, n_query=2, method="svm")


def test_sample_pairs_are_half_similar_and_never_self():
    labels = torch.arange(5).repeat_interleave(4)
    first, second, same = sample_pairs(labels, n_pairs=101, seed=1)
    assert len(first) == 101 and same.sum() == 50
    assert (first != second).all()
    assert torch.equal(same, labels[first] == labels[second])


def test_verification_roc_and_threshold_at_far():
    embeddings, labels = clustered(n_per_class=40, classes=4)
    distances, same = pair_distances(embeddings, labels, n_pairs=400)
    roc = verification_roc(distances, same)
    assert 0.5 < roc.auc <= 1.0
    for target in (0.0, 0.01, 0.1, 0.5):
        t = threshold_at_far(distances, same, target)
        far, _ = accept_rates(distances, same, t)
        assert far <= target
        # The largest such threshold: the next impostor distance breaks the target.
        impostors = np.sort(distances[~same])
        above = impostors[impostors > t]
        if len(above):
            far_next, _ = accept_rates(distances, same, above[0])
            assert far_next > target
    perfect = verification_roc(np.array([0.1, 0.2, 0.9, 1.0]), np.array([True, True, False, False]))
    assert perfect.auc == 1.0


def test_verification_bad_input():
    with pytest.raises(ValueError, match="both similar and dissimilar"):
        verification_roc(np.array([0.1, 0.2]), np.array([True, True]))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        threshold_at_far(np.array([0.1, 0.2]), np.array([True, False]), 1.5)


def test_embed_batches_and_restores_training_mode():
    torch.manual_seed(0)
    model = EmbeddingNet(embedding_dim=5)
    model.train()
    images = torch.rand(10, 1, 28, 28)
    out = embed(model, images, batch_size=3)
    assert out.shape == (10, 5) and model.training
    model.eval()
    assert torch.allclose(out, model(images), atol=1e-5)
    assert math.isclose(out.norm(dim=1).mean().item(), 1.0, rel_tol=1e-5)
    with pytest.raises(ValueError, match="channels, height, width"):
        embed(model, torch.rand(10, 28, 28))
