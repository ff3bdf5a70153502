"""Notebook 05's exercise: the prototype classifier (:func:`check_prototype_classifier`)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..distances import cross_distances
from ..evaluation import classify_by_nearest_neighbour, classify_by_prototypes
from .checking import name_mistake, run_checks


def _episode(
    seed: int,
    classes: list[int],
    k_shot: int,
    n_query: int = 12,
    dim: int = 8,
    shuffle: bool = False,
    noise: float = 0.9,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A made-up few-shot episode: (support, support_labels, queries), classes overlapping a bit."""
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(len(classes), dim, generator=generator)
    which = torch.arange(len(classes)).repeat_interleave(k_shot)
    support = centres[which] + noise * torch.randn(len(which), dim, generator=generator)
    support_labels = torch.tensor(classes)[which]
    if shuffle:
        order = torch.randperm(len(which), generator=generator)
        support, support_labels = support[order], support_labels[order]
    asked = torch.randint(len(classes), (n_query,), generator=generator)
    queries = centres[asked] + noise * torch.randn(n_query, dim, generator=generator)
    return support, support_labels, queries


def _prototype_mistakes(support, support_labels, queries) -> list[tuple[torch.Tensor, str]]:
    """What typical wrong prototype classifiers answer on this episode, with a hint for each."""

    classes = support_labels.unique()
    means = torch.stack([support[support_labels == c].mean(0) for c in classes])
    firsts = torch.stack([support[support_labels == c][0] for c in classes])
    to_means = cross_distances(queries, means)
    n_way = len(classes)
    grouped = support.reshape(n_way, -1, support.shape[1]).mean(1)  # assumes sorted support
    grouped_labels = support_labels.reshape(n_way, -1)[:, 0]
    return [
        (
            classes[to_means.argmax(1)],
            "you picked the *farthest* prototype. The nearest one has the smallest distance: "
            "use argmin, not argmax.",
        ),
        (
            to_means.argmin(1),
            "you returned positions 0..N-1 of the prototypes, not class labels. Here the "
            f"classes are {classes.tolist()}: index your tensor of classes with the argmin.",
        ),
        (
            classes[cross_distances(queries, firsts).argmin(1)],
            "each prototype should be the mean of all K support embeddings of its class, not "
            "its first one: support[support_labels == c].mean(0).",
        ),
        (
            classify_by_nearest_neighbour(support, support_labels, queries),
            "that is the nearest-neighbour classifier. Average each class's support embeddings "
            "into one prototype first, then name each query by its nearest prototype.",
        ),
        (
            grouped_labels[cross_distances(queries, grouped).argmin(1)],
            "the support set is not sorted by class, so a reshape mixes classes. Pick each "
            "class's rows with a mask: support[support_labels == c].",
        ),
    ]


def check_prototype_classifier(fn: Callable) -> bool:
    """Check ``fn(support, support_labels, queries) -> labels``: nearest class mean (notebook 05).

    Notebook 05: each class's prototype is the mean of its support embeddings;
    a query gets the label of the nearest prototype (Euclidean distance).
    """

    def compare(support, support_labels, queries) -> str | None:
        expected = classify_by_prototypes(support, support_labels, queries)
        got = fn(support.clone(), support_labels.clone(), queries.clone())
        mistakes = _prototype_mistakes(support, support_labels, queries)
        return name_mistake(got, expected, "the predicted labels", mistakes)

    return run_checks(
        "prototype classifier",
        [
            (
                "3-way 5-shot, classes 0, 1, 2, well apart",
                lambda: compare(*_episode(0, [0, 1, 2], k_shot=5, noise=0.3)),
            ),
            (
                "3-way 5-shot, classes 0, 1, 2, overlapping",
                lambda: compare(*_episode(1, [0, 1, 2], k_shot=5, n_query=40)),
            ),
            (
                "3-way 5-shot with class labels 7, 8, 9",
                lambda: compare(*_episode(2, [7, 8, 9], k_shot=5, n_query=40)),
            ),
            (
                "support images in shuffled order",
                lambda: compare(*_episode(3, [0, 1, 2, 3], k_shot=4, n_query=40, shuffle=True)),
            ),
            (
                "5-way 1-shot and 10-way 10-shot episodes in 32 dimensions",
                lambda: (
                    compare(*_episode(4, [3, 1, 4, 0, 2], k_shot=1, dim=32, n_query=30))
                    or compare(*_episode(5, list(range(10)), k_shot=10, dim=32, n_query=50))
                ),
            ),
        ],
    )
