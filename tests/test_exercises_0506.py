"""Checkers of notebooks 05 (prototype classifier) and 06 (k nearest neighbours).

Each wrong answer below is one a student is likely to write; the checker must reject it with
the hint that names that mistake, and never raise.
"""

import pytest
import torch

from metric_course.distances import cross_distances
from metric_course.evaluation import classify_by_nearest_neighbour, classify_by_prototypes
from metric_course.exercises import check_k_nearest, check_prototype_classifier

# --------------------------------------------------------------------------- prototype classifier


def prototypes_by_loop(support, support_labels, queries):
    """The reference written the slow way: a mean per class, then the nearest mean per query."""
    classes = sorted(set(support_labels.tolist()))
    means = [support[support_labels == c].mean(0) for c in classes]
    predicted = []
    for query in queries:
        distances = [float((query - mean).norm()) for mean in means]
        predicted.append(classes[distances.index(min(distances))])
    return torch.tensor(predicted)


def _means(support, support_labels):
    classes = support_labels.unique()
    return classes, torch.stack([support[support_labels == c].mean(0) for c in classes])


def farthest_prototype(support, support_labels, queries):
    classes, means = _means(support, support_labels)
    return classes[cross_distances(queries, means).argmax(1)]


def positions_not_labels(support, support_labels, queries):
    _, means = _means(support, support_labels)
    return cross_distances(queries, means).argmin(1)


def first_support_image(support, support_labels, queries):
    classes = support_labels.unique()
    firsts = torch.stack([support[support_labels == c][0] for c in classes])
    return classes[cross_distances(queries, firsts).argmin(1)]


def reshape_assumes_sorted(support, support_labels, queries):
    n_way = len(support_labels.unique())
    means = support.reshape(n_way, -1, support.shape[1]).mean(1)
    return support_labels.reshape(n_way, -1)[:, 0][cross_distances(queries, means).argmin(1)]


def labels_as_floats(support, support_labels, queries):
    return classify_by_prototypes(support, support_labels, queries).float()


def test_prototype_checker_accepts_the_reference_and_a_loop(capsys):
    assert check_prototype_classifier(classify_by_prototypes)
    assert "✅ prototype classifier: correct" in capsys.readouterr().out
    assert check_prototype_classifier(prototypes_by_loop)


def test_prototype_checker_reports_an_unsolved_exercise(capsys):
    def unsolved(support, support_labels, queries):
        raise NotImplementedError

    assert not check_prototype_classifier(unsolved)
    assert "⏳" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (farthest_prototype, "use argmin, not argmax"),
        (positions_not_labels, "not class labels"),
        (first_support_image, "not its first one"),
        (classify_by_nearest_neighbour, "that is the nearest-neighbour classifier"),
        (reshape_assumes_sorted, "not sorted by class"),
        (labels_as_floats, "should hold integers"),
    ],
)
def test_prototype_checker_names_each_typical_mistake(wrong, hint, capsys):
    assert not check_prototype_classifier(wrong)
    out = capsys.readouterr().out
    assert "❌ prototype classifier" in out and hint in out


def test_prototype_checker_reports_a_crash_without_raising(capsys):
    def crashes(support, support_labels, queries):
        return support @ queries  # shapes do not fit

    assert not check_prototype_classifier(crashes)
    assert "raised RuntimeError" in capsys.readouterr().out


def test_prototype_checker_asks_for_a_tensor(capsys):
    def as_list(support, support_labels, queries):
        return classify_by_prototypes(support, support_labels, queries).tolist()

    assert not check_prototype_classifier(as_list)
    assert "should be a torch.Tensor" in capsys.readouterr().out


# --------------------------------------------------------------------------- k nearest


def k_nearest_by_loop(embeddings, query, k):
    distances = [
        (float((embeddings[i] - embeddings[query]).norm()), i)
        for i in range(len(embeddings))
        if i != query
    ]
    return torch.tensor([i for _, i in sorted(distances)[:k]])


def k_nearest_topk(embeddings, query, k):
    distances = (embeddings - embeddings[query]).norm(dim=1)
    distances[query] = float("inf")
    return distances.topk(k, largest=False).indices


def includes_itself(embeddings, query, k):
    return (embeddings - embeddings[query]).norm(dim=1).topk(k, largest=False).indices


def farthest(embeddings, query, k):
    distances = (embeddings - embeddings[query]).norm(dim=1)
    distances[query] = float("inf")
    return distances.masked_fill(distances.isinf(), -1).topk(k).indices


def farthest_first(embeddings, query, k):
    return k_nearest_topk(embeddings, query, k).flip(0)


def returns_distances(embeddings, query, k):
    distances = (embeddings - embeddings[query]).norm(dim=1)
    distances[query] = float("inf")
    return distances.topk(k, largest=False).values


def test_k_nearest_checker_accepts_the_reference_a_loop_and_topk(capsys):
    assert check_k_nearest(k_nearest_by_loop)
    assert "✅ k nearest neighbours: correct" in capsys.readouterr().out
    assert check_k_nearest(k_nearest_topk)


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (includes_itself, "its own nearest neighbour"),
        (farthest, "farthest"),
        (farthest_first, "nearest first"),
        (returns_distances, "return the *indices*"),
    ],
)
def test_k_nearest_checker_names_each_typical_mistake(wrong, hint, capsys):
    assert not check_k_nearest(wrong)
    out = capsys.readouterr().out
    assert "❌ k nearest neighbours" in out and hint in out


def test_k_nearest_checker_reports_unsolved(capsys):
    def unsolved(embeddings, query, k):
        raise NotImplementedError

    assert not check_k_nearest(unsolved)
    assert "⏳" in capsys.readouterr().out
