"""The side-by-side view of notebook 06: the same query's neighbours in several spaces.

Widget callbacks never run under nbval, so everything a widget decides is a
plain function tested here; the widget itself is driven by setting its
controls' values from Python, which fires the same callbacks a click does.
"""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from metric_course.widgets import SpaceComparison


def _data(n=30, dim=4, classes=3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    embeddings = torch.randn(n, dim, generator=generator)
    images = torch.rand(n, 1, 8, 8, generator=generator)
    labels = np.arange(n) % classes
    return embeddings, images, labels


def test_space_comparison_counts_same_class_neighbours_in_each_space():
    embeddings, images, labels = _data(n=24)
    spaces = {"A": (embeddings, torch.randn(24, 2)), "B": (-embeddings * 2, torch.randn(24, 2))}
    comparison = SpaceComparison(spaces, images, labels, k=4)
    comparison.picker.class_choice.value = 1
    assert comparison.query == 1
    found = comparison.neighbours()
    assert found["A"][0].tolist() == found["B"][0].tolist()  # scaling keeps the order
    fig = comparison.draw()
    same = int((labels[found["A"][0]] == 1).sum())
    assert f"{same} of 4 nearest are the same class" in fig.axes[1].get_title()
    plt.close("all")
    with pytest.raises(ValueError, match="space 'A'"):
        SpaceComparison({"A": (embeddings[:5], torch.randn(5, 2))}, images, labels)


def test_comparison_legend_names_only_the_classes_on_show_when_there_are_many():
    rng = np.random.default_rng(1)
    labels = np.arange(80) % 40
    spaces = {
        name: (
            torch.as_tensor(rng.normal(size=(80, 3)), dtype=torch.float32),
            rng.normal(size=(80, 2)),
        )
        for name in ("a", "b")
    }
    comparison = SpaceComparison(spaces, rng.random((80, 4, 4)), labels, k=3)
    comparison.select(11)
    found = comparison.neighbours()
    fig = comparison.draw()
    entries = {text.get_text() for text in fig.legends[0].get_texts()}
    on_show = {str(labels[i]) for i in [11, *found["a"][0], *found["b"][0]]}
    assert entries == on_show | {"other classes", "neighbours", "query"}
    plt.close("all")
