"""The logic behind the widgets, and the projections they draw.

Widget callbacks never run under nbval, so everything a widget decides is a
plain function tested here; the widgets themselves are driven by setting
their controls' values from Python, which fires the same callbacks a click does.
"""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from metric_course.plotting import (
    align_points,
    exact_neighbour_table,
    plot_projections,
    project_pca,
    project_snapshots,
    project_umap,
)
from metric_course.widgets import (
    EmbeddingExplorer,
    SnapshotSlider,
    SpaceComparison,
    class_members,
    highlight_mask,
    locate,
    nearest_neighbours,
    shared_limits,
    snapshot_index,
)


def _data(n=30, dim=4, classes=3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    embeddings = torch.randn(n, dim, generator=generator)
    images = torch.rand(n, 1, 8, 8, generator=generator)
    labels = np.arange(n) % classes
    return embeddings, images, labels


# --------------------------------------------------------------------------- logic


def test_nearest_neighbours_match_a_brute_force_loop():
    embeddings, _, _ = _data(n=25, dim=5)
    for query in (0, 7, 24):
        order = sorted(
            (float((embeddings[i] - embeddings[query]).norm()), i) for i in range(25) if i != query
        )
        indices, distances = nearest_neighbours(embeddings, query, k=6)
        assert indices.tolist() == [i for _, i in order[:6]]
        assert np.allclose(distances, [d for d, _ in order[:6]], atol=1e-5)


def test_nearest_neighbours_exclude_the_query_break_ties_by_index_and_cap_k():
    embeddings = torch.tensor([[0.0], [1.0], [-1.0], [0.0]])  # item 3 duplicates the query
    indices, distances = nearest_neighbours(embeddings, 0, k=10)
    assert indices.tolist() == [3, 1, 2] and distances.tolist() == [0.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="outside"):
        nearest_neighbours(embeddings, 4)
    with pytest.raises(ValueError, match="at least 1"):
        nearest_neighbours(embeddings, 0, k=0)


def test_highlight_mask_marks_query_over_neighbours():
    assert highlight_mask(5, 2, [0, 2, 4]).tolist() == [1, 0, 2, 0, 1]


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


def test_snapshot_index_and_shared_limits():
    assert snapshot_index([0, 1, 2, 3], 2) == 2
    with pytest.raises(ValueError, match="epochs \\[0, 1\\]"):
        snapshot_index([0, 1], 5)
    (x0, x1), (y0, y1) = shared_limits([np.array([[0, 0], [1, 2]]), np.array([[-1, 0], [0, 4]])])
    assert x0 < -1 and x1 > 1 and y0 < 0 and y1 > 4
    assert np.isclose(x1 - x0, 2 * 1.1) and np.isclose(y1 - y0, 4 * 1.1)


# --------------------------------------------------------------------------- widgets


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
    assert explorer.neighbours.tolist() == nearest_neighbours(embeddings, 13, 4)[0].tolist()
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


def test_snapshot_slider_draws_the_chosen_epoch_with_fixed_limits():
    rng = np.random.default_rng(0)
    projections = [rng.normal(size=(12, 2)) * scale for scale in (1, 2, 3)]
    slider = SnapshotSlider(projections, np.arange(12) % 2, captions=["x", "y", "z"])
    slider.slider.value = 2
    fig = slider.draw()
    ax = fig.axes[0]
    assert ax.get_title() == "after epoch 2\nz"
    assert np.allclose(np.concatenate([c.get_offsets() for c in ax.collections]).mean(), 0, atol=10)
    assert (ax.get_xlim(), ax.get_ylim()) == slider.limits
    plt.close(fig)
    fig = slider.draw_all()
    assert [a.get_title().split("\n")[0] for a in fig.axes] == [
        "before training",
        "after epoch 1",
        "after epoch 2",
    ]
    plt.close("all")
    with pytest.raises(ValueError, match="one of each"):
        SnapshotSlider(projections, np.arange(12) % 2, epochs=[0, 1])


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
