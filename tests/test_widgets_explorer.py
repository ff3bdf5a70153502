"""The embedding explorer of notebook 06: its query logic, and the widget driven from code.

Widget callbacks never run under nbval, so everything a widget decides is a
plain function tested here; the widget itself is driven by setting its
controls' values from Python, which fires the same callbacks a click does.
"""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from metric_course.neighbours import neighbour_table
from metric_course.widgets import EmbeddingExplorer, class_members, locate


def _data(n=30, dim=4, classes=3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    embeddings = torch.randn(n, dim, generator=generator)
    images = torch.rand(n, 1, 8, 8, generator=generator)
    labels = np.arange(n) % classes
    return embeddings, images, labels


def test_class_members_and_locate_are_inverses():
    labels = np.array([2, 0, 2, 1, 2, 0])
    assert class_members(labels, 2).tolist() == [0, 2, 4]
    for index in range(len(labels)):
        label, position = locate(labels, index)
        assert class_members(labels, label)[position] == index
    with pytest.raises(ValueError, match="no item has label 5"):
        class_members(labels, 5)
    with pytest.raises(ValueError, match="outside"):
        locate(labels, 6)


def test_explorer_controls_stay_in_agreement():
    embeddings, images, labels = _data()
    explorer = EmbeddingExplorer(embeddings, torch.randn(30, 2), images, labels, k=4)
    assert explorer.query == 0 and len(explorer.neighbours) == 4
    explorer.position.value = 2  # third item of class 0
    assert explorer.query == 6 and explorer.index.value == 6
    explorer.class_choice.value = 2
    assert explorer.query == 2 and explorer.position.value == 0
    explorer.index.value = 13  # class 1, position 4
    assert (explorer.class_choice.value, explorer.position.value) == (1, 4)
    assert explorer.neighbours.tolist() == neighbour_table(embeddings, 4)[0][13].tolist()
    explorer.k_choice.value = 7
    assert len(explorer.neighbours) == 7
    explorer.select(29)
    assert (explorer.query, explorer.class_choice.value, explorer.position.value) == (29, 2, 9)
    plt.close("all")


def test_explorer_draws_query_and_neighbours():
    embeddings, images, labels = _data()
    explorer = EmbeddingExplorer(
        embeddings,
        np.random.default_rng(0).normal(size=(30, 2)),
        images[:, 0],
        labels,
        class_names=["a", "b", "c"],
        k=4,
    )
    explorer.select(5)
    fig = explorer.draw()
    titles = [ax.get_title() for ax in fig.axes]
    n_same = int((labels[explorer.neighbours] == labels[5]).sum())
    assert titles[1] == f"query #5: c\n{n_same} of 4 nearest share its class"
    same = [title.startswith("✓") for title in titles[2:]]
    assert same == [labels[i] == labels[5] for i in explorer.neighbours]
    scatter = fig.axes[0]
    star = scatter.collections[-1].get_offsets()
    assert np.allclose(star, explorer.points[[5]])
    plt.close("all")


def test_explorer_refuses_mismatched_inputs():
    embeddings, images, labels = _data()
    with pytest.raises(ValueError, match="same items"):
        EmbeddingExplorer(embeddings, np.zeros((29, 2)), images, labels)
    with pytest.raises(ValueError, match="\\(N, 2\\)"):
        EmbeddingExplorer(embeddings, np.zeros((30, 3)), images, labels)
    with pytest.raises(ValueError, match="class names"):
        EmbeddingExplorer(embeddings, np.zeros((30, 2)), images, labels, class_names=["a"])


def test_many_classes_colour_only_those_on_show_each_distinct_and_the_rest_grey():
    from metric_course.plotting import class_colour
    from metric_course.widgets.drawing import LEGEND_CLASSES, OTHER_COLOUR, figure_colours

    few = np.arange(30) % 3
    assert figure_colours(few, [0]) == {c: class_colour(c) for c in range(3)}
    many = np.arange(60) % 40  # Omniglot-like: ten colours would repeat every ten classes
    assert LEGEND_CLASSES < 40
    colours = figure_colours(many, [0, 41, 5, 10])  # classes 0, 1, 5 and 10, in that order
    assert list(colours) == [0, 1, 5, 10]
    assert len(set(colours.values())) == 4  # 0 and 10 share class_colour; not here
    assert OTHER_COLOUR not in colours.values()

    rng = np.random.default_rng(0)
    embeddings = torch.as_tensor(rng.normal(size=(60, 4)), dtype=torch.float32)
    explorer = EmbeddingExplorer(embeddings, rng.normal(size=(60, 2)), rng.random((60, 5, 5)), many)
    explorer.select(7)
    fig = explorer.draw()
    entries = [text.get_text() for text in fig.legends[0].get_texts()]
    shown = {str(c) for c in many[[7, *explorer.neighbours]]}
    assert set(entries) == shown | {"other classes", "neighbours", "query"}
    titles = [ax.get_title() for ax in fig.axes if ax.get_title().startswith(("✓", "✗"))]
    assert all(
        title.split("d = ")[1].count(".") == 1 and len(title.split(".")[-1]) == 3
        for title in titles
    )  # three decimals: 0.031 and 0.034 do not both read 0.03
    plt.close("all")
