"""Figures: each helper draws what it says, and refuses what it cannot draw."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from metric_course.plotting import (
    align_points,
    class_colour,
    distance_histograms,
    exact_neighbour_table,
    plot_history,
    plot_projections,
    project_pca,
    project_snapshots,
    project_umap,
    scatter_embeddings,
    show_distance_matrix,
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


def test_show_distance_matrix_names_each_class_block_and_separates_them():
    distances = torch.rand(6, 6)
    ax = show_distance_matrix(distances, ["a", "b", "c"], title="t")
    assert np.allclose(ax.images[0].get_array(), distances.numpy())
    assert [tick.get_text() for tick in ax.get_xticklabels()] == ["a", "b", "c"]
    assert np.allclose(ax.get_yticks(), [0.5, 2.5, 4.5])  # block centres
    assert len(ax.lines) == 4  # two white lines across, two down
    plt.close("all")
    with pytest.raises(ValueError, match="same number of rows"):
        show_distance_matrix(torch.rand(5, 5), ["a", "b"])


# --------------------------------------------------------------------------- projections


def test_exact_neighbour_table_puts_each_item_first():
    embeddings = torch.tensor([[0.0, 0], [0, 0], [3, 4], [1, 0]])  # items 0 and 1 coincide
    indices, distances = exact_neighbour_table(embeddings, 3)
    assert indices[:, 0].tolist() == [0, 1, 2, 3]
    assert indices[0].tolist() == [0, 1, 3] and np.allclose(distances[0], [0, 0, 1])
    assert np.allclose(distances[2], [0, np.sqrt(20), 5])
    with pytest.raises(ValueError, match="k must lie"):
        exact_neighbour_table(embeddings, 5)


def test_project_pca_keeps_the_two_largest_directions_with_fixed_signs():
    rng = np.random.default_rng(0)
    data = rng.normal(size=(200, 3)) * [5.0, 2.0, 0.1]
    points = project_pca(data)
    assert points.shape == (200, 2)
    assert np.allclose(np.abs(np.corrcoef(points[:, 0], data[:, 0])[0, 1]), 1, atol=1e-3)
    assert np.array_equal(project_pca(data), points)
    assert np.allclose(project_pca(-data), -points)  # signs follow the data, not the solver
    assert project_pca(np.arange(5.0)[:, None]).shape == (5, 2)


def test_align_points_undoes_a_rotation_and_a_mirror():
    rng = np.random.default_rng(1)
    reference = rng.normal(size=(50, 2))
    angle = 1.1
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = reference @ rotation @ np.diag([1, -1]) + 3.0
    assert np.allclose(align_points(moved, reference), reference, atol=1e-9)
    with pytest.raises(ValueError, match="same items"):
        align_points(moved[:10], reference)


def test_project_snapshots_align_every_epoch_to_the_last():
    rng = np.random.default_rng(2)
    final = rng.normal(size=(40, 6)) * [4, 2, 1, 1, 1, 1]
    rotation, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    frames = project_snapshots([torch.tensor(final @ rotation), torch.tensor(final)])
    assert len(frames) == 2 and np.allclose(frames[0], frames[1], atol=1e-6)
    with pytest.raises(ValueError, match="snapshot_images"):
        project_snapshots([])


def test_plot_projections_one_panel_per_projection():
    rng = np.random.default_rng(3)
    labels = np.arange(20) % 2
    fig = plot_projections(
        {"a": rng.normal(size=(20, 2)), "b": rng.normal(size=(20, 2))},
        labels,
        ["x", "y"],
        captions={"b": "MAP@R 0.5"},
    )
    assert [ax.get_title() for ax in fig.axes] == ["a", "b\nMAP@R 0.5"]
    plt.close(fig)


def test_project_umap_hands_umap_exact_neighbours_and_reproducible_settings(monkeypatch):
    """UMAP itself is slow to start (seconds of compilation), so a stand-in records the call."""
    import umap

    calls = {}

    class RecordingUMAP:
        def __init__(self, **settings):
            calls.update(settings)

        def fit_transform(self, rows):
            calls["rows"] = rows
            return rows[:, :2]

    monkeypatch.setattr(umap, "UMAP", RecordingUMAP)
    data = np.random.default_rng(4).normal(size=(40, 5))
    points = project_umap(data, n_neighbors=7)
    assert points.shape == (40, 2)
    assert calls["random_state"] == 0 and calls["n_jobs"] == 1 and calls["n_neighbors"] == 7
    indices, distances = calls["precomputed_knn"]
    expected_indices, expected_distances = exact_neighbour_table(data, 7)
    assert np.array_equal(indices, expected_indices)
    assert np.allclose(distances, expected_distances)
    assert calls["rows"].shape == (40, 5)
    with pytest.raises(ValueError, match="more than 15 points"):
        project_umap(data[:10])
