"""Figures shared by the notebooks: image grids, embedding scatters, training curves.

Each function draws on a Matplotlib axis (made for you when not given) and
returns the figure or axis, so a notebook can add to it. Colours follow one
rule throughout the course: a class keeps the same colour in every figure.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

CLASS_COLOURS = plt.get_cmap("tab10").colors


def class_colour(label: int) -> tuple[float, float, float]:
    """The colour of a class, the same in every figure of the course."""
    return CLASS_COLOURS[int(label) % len(CLASS_COLOURS)]


def _numpy(values) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy()
    return np.asarray(values)


def show_images(
    images,
    labels=None,
    class_names: Sequence[str] | None = None,
    ncols: int = 10,
    titles: Sequence[str] | None = None,
    size: float = 1.2,
) -> Figure:
    """A grid of grey images, titled by class name (or by ``titles``)."""
    images = _numpy(images)
    if images.ndim == 4:
        images = images[:, 0]
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(size * ncols, size * nrows + 0.3), squeeze=False
    )
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(images[i], cmap="gray_r", vmin=0, vmax=1)
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)
        elif labels is not None:
            label = int(_numpy(labels)[i])
            name = class_names[label] if class_names is not None else str(label)
            ax.set_title(name, fontsize=8, color=class_colour(label))
    fig.tight_layout()
    return fig


def scatter_embeddings(
    points,
    labels,
    class_names: Sequence[str] | None = None,
    ax: Axes | None = None,
    title: str | None = None,
    size: float = 6,
    alpha: float = 0.6,
    legend: bool = True,
) -> Axes:
    """Scatter 2-D points coloured by class, with a legend of class names."""
    points, labels = _numpy(points), _numpy(labels)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(
            f"scatter_embeddings draws 2-D points, got shape {points.shape}; "
            "project first (e.g. with UMAP) or train with embedding_dim=2"
        )
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 5))
    for label in np.unique(labels):
        here = labels == label
        name = class_names[label] if class_names is not None else str(label)
        ax.scatter(*points[here].T, s=size, alpha=alpha, color=class_colour(label), label=name)
    if legend:
        ax.legend(markerscale=3, fontsize=8, loc="best", framealpha=0.8)
    if title:
        ax.set_title(title)
    ax.set_aspect("equal", adjustable="datalim")
    return ax


def plot_history(
    histories: dict[str, Sequence[dict[str, float]]],
    keys: Sequence[str] = ("loss",),
    labels: dict[str, str] | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Curves of history entries against the epoch, one panel per key, one line per run.

    ``histories`` maps a run's name to its list of per-epoch rows (as in
    ``TrainResult.history``); ``labels`` gives the y-axis label of each key.
    """
    labels = labels or {}
    fig, axes = plt.subplots(1, len(keys), figsize=figsize or (4.2 * len(keys), 3.2), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=True):
        for name, history in histories.items():
            epochs = [row["epoch"] for row in history]
            ax.plot(epochs, [row.get(key, np.nan) for row in history], marker="o", label=name)
        ax.set_xlabel("epoch")
        ax.set_ylabel(labels.get(key, key.replace("_", " ")))
        ax.grid(alpha=0.3)
    if len(histories) > 1:
        axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def distance_histograms(
    distances,
    same,
    ax: Axes | None = None,
    title: str | None = None,
    bins: int = 40,
) -> Axes:
    """Histograms of the distances of similar and of dissimilar pairs."""
    distances, same = _numpy(distances), _numpy(same).astype(bool)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.2))
    edges = np.linspace(0, max(float(distances.max()), 1e-6), bins + 1)
    ax.hist(distances[same], bins=edges, alpha=0.6, label="similar pairs", color="tab:green")
    ax.hist(distances[~same], bins=edges, alpha=0.6, label="dissimilar pairs", color="tab:red")
    ax.set_xlabel("distance")
    ax.set_ylabel("number of pairs")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return ax
