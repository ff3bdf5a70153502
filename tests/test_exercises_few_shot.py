"""Checker of notebook 05 (prototype classifier): accept the reference, name each typical mistake.

Each wrong answer below is one a student is likely to write; the checker must reject it with
the hint that names that mistake, and never raise.
"""

import pytest
import torch

from metric_course.distances import cross_distances
from metric_course.evaluation import classify_by_nearest_neighbour, classify_by_prototypes
from metric_course.exercises import check_prototype_classifier


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


def test_prototype_checker_asks_for_a_tensor(capsys):
    def as_list(support, support_labels, queries):
        return classify_by_prototypes(support, support_labels, queries).tolist()

    assert not check_prototype_classifier(as_list)
    assert "should be a torch.Tensor" in capsys.readouterr().out
