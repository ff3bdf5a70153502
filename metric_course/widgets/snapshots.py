"""The epoch slider of notebook 06: watch the embedding space form, epoch by epoch.

Frames drawn with the same axis limits (:func:`shared_limits`) show real
motion and real shrinking; a frame drawn with its own limits shows its
structure, however small the space has become. The static figure shows both.
"""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display
from matplotlib.figure import Figure

from ..labels import as_labels
from ..plotting import scatter_embeddings
from .drawing import class_name_list, legend_handles, show_in


def snapshot_index(epochs: Sequence[int], epoch: int) -> int:
    """Position of the snapshot of ``epoch`` (0 = before training) in a snapshot list."""
    epochs = list(epochs)
    if epoch not in epochs:
        raise ValueError(f"no snapshot for epoch {epoch}; snapshots exist for epochs {epochs}")
    return epochs.index(epoch)


def shared_limits(
    projections: Sequence, margin: float = 0.05
) -> tuple[tuple[float, float], tuple[float, float]]:
    """``(xlim, ylim)`` holding every point of every projection, plus a margin on each side.

    Frames of a slider drawn with the same limits show real motion, not
    rescaling.
    """
    if len(projections) == 0:
        raise ValueError("no projections to bound")
    stacked = np.concatenate([np.asarray(points, dtype=float) for points in projections])
    low, high = stacked.min(0), stacked.max(0)
    pad = margin * np.maximum(high - low, 1e-9)
    return (low[0] - pad[0], high[0] + pad[0]), (low[1] - pad[1], high[1] + pad[1])


def square_limits(points, margin: float = 0.05) -> tuple[tuple[float, float], tuple[float, float]]:
    """``(xlim, ylim)`` of one square around ``points``: a frame's own zoom at equal aspect."""
    (x0, x1), (y0, y1) = shared_limits([points], margin)
    half = max(x1 - x0, y1 - y0) / 2
    centre = ((x0 + x1) / 2, (y0 + y1) / 2)
    return (centre[0] - half, centre[0] + half), (centre[1] - half, centre[1] + half)


class SnapshotSlider:
    """Slide through the epochs of a training run and watch the embedding space form (notebook 06).

    ``projections`` holds one (N, 2) array per snapshot (the same N items each
    time, e.g. from ``plotting.project_snapshots``), ``epochs`` the epoch of
    each (default 0, 1, 2, ...; 0 is before training), ``captions`` an
    optional line per snapshot (a measured score). Frames share their axis
    limits, so what moves has really moved; tick "own zoom" (or pass
    ``own_zoom=True``) to fit each frame to its own points instead.
    """

    def __init__(
        self,
        projections: Sequence,
        labels,
        class_names: Sequence[str] | None = None,
        epochs: Sequence[int] | None = None,
        captions: Sequence[str] | None = None,
        title: str = "",
        own_zoom: bool = False,
    ) -> None:
        self.projections = [np.asarray(points, dtype=float) for points in projections]
        self.labels = as_labels(labels)
        self.epochs = list(range(len(self.projections))) if epochs is None else list(epochs)
        self.captions = list(captions) if captions is not None else [""] * len(self.projections)
        if not len(self.projections) == len(self.epochs) == len(self.captions) > 0:
            raise ValueError(
                f"got {len(self.projections)} projections, {len(self.epochs)} epochs and "
                f"{len(self.captions)} captions: pass one of each per snapshot"
            )
        if any(points.shape != (len(self.labels), 2) for points in self.projections):
            raise ValueError(f"every projection must be ({len(self.labels)}, 2), one row per label")
        self.class_names = class_name_list(self.labels, class_names)
        self.title = title
        self.limits = shared_limits(self.projections)
        self.slider = widgets.SelectionSlider(
            options=self.epochs,
            value=self.epochs[0],
            description="epoch",
            continuous_update=False,
        )
        self.own_zoom = widgets.Checkbox(value=own_zoom, description="own zoom")
        self.output = widgets.Output()
        self.slider.observe(lambda change: self._redraw(), names="value")
        self.own_zoom.observe(lambda change: self._redraw(), names="value")
        self._redraw()

    def _frame(self, ax, epoch: int, own_zoom: bool = False) -> None:
        i = snapshot_index(self.epochs, epoch)
        scatter_embeddings(
            self.projections[i], self.labels, self.class_names, ax=ax, size=5, legend=False
        )
        xlim, ylim = square_limits(self.projections[i]) if own_zoom else self.limits
        ax.set_aspect("equal", adjustable="box")
        ax.set_xlim(*xlim)
        ax.set_ylim(*ylim)
        ax.set_xticks([])
        ax.set_yticks([])
        name = "before training" if epoch == 0 else f"after epoch {epoch}"
        ax.set_title(f"{name}\n{self.captions[i]}".strip(), fontsize=10)

    def draw(self, epoch: int | None = None) -> Figure:
        """One frame: the snapshot of ``epoch`` (default: the slider's), zoomed as ticked."""
        fig, ax = plt.subplots(figsize=(6, 6.2), layout="constrained")
        self._frame(ax, self.slider.value if epoch is None else epoch, self.own_zoom.value)
        self._legend_and_title(fig, ncol=5)
        return fig

    def draw_all(
        self,
        epochs: Sequence[int] | None = None,
        panel_size: float = 3.0,
        columns: int = 4,
        zoom: str = "both",
    ) -> Figure:
        """Small multiples, one panel per epoch (all by default): the static twin of the slider.

        ``zoom`` "shared": every panel on the same axes (shrinking shows);
        "own": each panel fitted to its points (structure shows); "both": a
        row of each per group of ``columns`` epochs.
        """
        if zoom not in ("shared", "own", "both"):
            raise ValueError(f"zoom must be 'shared', 'own' or 'both', got {zoom!r}")
        epochs = self.epochs if epochs is None else list(epochs)
        columns = min(columns, len(epochs))
        groups = [epochs[i : i + columns] for i in range(0, len(epochs), columns)]
        zooms = {"shared": [False], "own": [True], "both": [False, True]}[zoom]
        rows = [(group, own) for group in groups for own in zooms]
        fig, axes = plt.subplots(
            len(rows),
            columns,
            figsize=(panel_size * columns, (panel_size + 0.25) * len(rows) + 0.8),
            squeeze=False,
            layout="constrained",
        )
        for row_axes, (group, own) in zip(axes, rows, strict=True):
            for ax in row_axes[len(group) :]:
                ax.axis("off")
            for ax, epoch in zip(row_axes, group, strict=False):
                self._frame(ax, epoch, own)
            if zoom == "both":
                row_axes[0].set_ylabel(
                    "own zoom" if own else "shared axes", fontsize=10, labelpad=6
                )
        self._legend_and_title(fig, ncol=min(len(np.unique(self.labels)), 10))
        return fig

    def _legend_and_title(self, fig: Figure, ncol: int) -> None:
        handles = legend_handles(self.labels, self.class_names, marks=False)
        fig.legend(handles=handles, loc="outside lower center", ncol=ncol, fontsize=8)
        if self.title:
            fig.suptitle(self.title, fontsize=11)

    def _redraw(self) -> None:
        show_in(self.output, self.draw)

    @property
    def widget(self) -> widgets.Widget:
        return widgets.VBox([widgets.HBox([self.slider, self.own_zoom]), self.output])

    def show(self) -> None:
        """Display the slider and its figure."""
        display(self.widget)
