"""Figures of notebook 02: comparable histograms, the Siamese diagram, neighbour rows."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from metric_course.plotting import distance_histograms, draw_siamese_diagram, show_neighbours


def test_distance_histograms_use_the_given_edges_in_every_panel():
    edges = np.linspace(0, 2, 21)
    fig, axes = plt.subplots(1, 2)
    distance_histograms(np.array([0.1, 0.2, 0.9]), np.array([1, 1, 0]), ax=axes[0], bins=edges)
    distance_histograms(np.array([1.5, 1.9, 0.4]), np.array([1, 0, 0]), ax=axes[1], bins=edges)
    for ax in axes:
        lefts = sorted({round(patch.get_x(), 9) for patch in ax.patches})
        assert lefts == [round(x, 9) for x in edges[:-1]]
    plt.close(fig)


def test_distance_histograms_refuse_edges_that_do_not_increase():
    with pytest.raises(ValueError, match="increasing bin edges"):
        distance_histograms(np.array([0.1, 0.5]), np.array([1, 0]), bins=[0.0, 1.0, 0.5])
    plt.close("all")


def test_siamese_diagram_prints_the_distance_of_the_two_embeddings():
    images = torch.rand(2, 1, 8, 8)
    embeddings = [torch.tensor([0.0, 0.0, 0.0]), torch.tensor([0.3, 0.4, 0.0])]
    fig = draw_siamese_diagram(images, embeddings, ["a", "b"], label=1)
    texts = " ".join(text.get_text() for text in fig.texts)
    assert "$= 0.50$" in texts and "$Y = 1$" in texts
    assert [ax.get_title() for ax in fig.axes[:1]] == ["$x_1$: a"]
    plt.close(fig)
    with pytest.raises(ValueError, match="one pair"):
        draw_siamese_diagram(images[:1], embeddings, ["a", "b"], label=0)


def test_show_neighbours_frames_wrong_neighbours_in_red():
    queries = torch.rand(2, 1, 8, 8)
    neighbours = torch.rand(2, 3, 1, 8, 8)
    correct = np.array([[True, False, True], [False, False, True]])
    fig = show_neighbours(queries, neighbours, correct, ["pixels", "network"])
    axes = np.array(fig.axes).reshape(2, 4)
    red = plt.matplotlib.colors.to_rgba("tab:red")
    for row in range(2):
        for column in range(3):
            edge = axes[row, column + 1].spines["left"].get_edgecolor()
            assert (tuple(edge) == red) == (not correct[row, column])
    assert axes[1, 0].get_ylabel() == "network"
    plt.close(fig)
    with pytest.raises(ValueError, match="must agree"):
        show_neighbours(queries, neighbours[:, :2], correct, ["a", "b"])
