"""Figures: each helper draws what it says, and refuses what it cannot draw."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from metric_course.plotting import (
    class_colour,
    distance_histograms,
    plot_history,
    scatter_embeddings,
    show_images,
)


def test_show_images_titles_by_class_name():
    fig = show_images(
        torch.rand(5, 1, 8, 8), torch.tensor([0, 1, 2, 0, 1]), ["a", "b", "c"], ncols=3
    )
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:5] == ["a", "b", "c", "a", "b"] and len(fig.axes) == 6
    plt.close(fig)


def test_scatter_embeddings_one_collection_per_class_with_consistent_colours():
    points = np.random.default_rng(0).normal(size=(30, 2))
    labels = np.repeat([3, 7, 9], 10)
    ax = scatter_embeddings(points, labels, class_names=[str(i) for i in range(10)])
    assert len(ax.collections) == 3
    assert np.allclose(ax.collections[1].get_facecolor()[0][:3], class_colour(7))
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["3", "7", "9"]
    plt.close("all")
    with pytest.raises(ValueError, match="2-D points"):
        scatter_embeddings(np.zeros((4, 3)), np.zeros(4, dtype=int))


def test_plot_history_draws_one_line_per_run_and_panel_per_key():
    history = [{"epoch": 1, "loss": 1.0, "val_map_at_r": 0.5}, {"epoch": 2, "loss": 0.5}]
    fig = plot_history({"a": history, "b": history}, keys=("loss", "val_map_at_r"))
    assert len(fig.axes) == 2 and all(len(ax.lines) == 2 for ax in fig.axes)
    assert fig.axes[1].get_ylabel() == "val map at r"
    plt.close(fig)


def test_distance_histograms_split_similar_and_dissimilar():
    ax = distance_histograms(np.array([0.1, 0.2, 0.9, 1.0]), np.array([1, 1, 0, 0]))
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "similar pairs",
        "dissimilar pairs",
    ]
    plt.close("all")
