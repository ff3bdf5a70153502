"""Interactive front ends (core ipywidgets, versions 7.7 and 8).

Each widget is a thin shell around plain functions: the logic (which points
are neighbours, which item a class and position name, which snapshot an epoch
shows) lives in functions that tests call directly, because widget callbacks
never run outside a live front end. Every widget draws with Matplotlib into an
``Output``, which renders the same in JupyterLab, classic Jupyter and Google
Colab, and has a ``draw`` method that returns the same picture as a static
figure (for GitHub, printed notes and nbval).

- :class:`EmbeddingExplorer`: pick a query image, see its nearest neighbours.
- :class:`SnapshotSlider`: slide through the epochs of a training run.
- :class:`SpaceComparison`: the same query in several embedding spaces.

All three take plain arrays, so they work on any embeddings you bring.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import clear_output, display
from matplotlib.figure import Figure

from .distances import cross_distances
from .mining import (
    CATEGORY_NAMES,
    EASY,
    HARD,
    INVALID,
    SEMI_HARD,
    negative_categories,
    negative_mask,
    positive_mask,
    triplet_categories,
)
from .plotting import class_colour, scatter_embeddings

# --------------------------------------------------------------------------- logic (tested)


def nearest_neighbours(
    embeddings: torch.Tensor, query: int, k: int = 8
) -> tuple[np.ndarray, np.ndarray]:
    """Indices and distances of the ``k`` items nearest to item ``query`` (itself excluded).

    Nearest first; Euclidean distance. Ties keep the lower index first.
    """
    embeddings = torch.as_tensor(np.asarray(embeddings), dtype=torch.float32)
    embeddings = embeddings.reshape(len(embeddings), -1)
    if not 0 <= query < len(embeddings):
        raise ValueError(f"query index {query} is outside 0..{len(embeddings) - 1}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    k = min(k, len(embeddings) - 1)
    distances = cross_distances(embeddings[query : query + 1], embeddings)[0].double()
    distances[query] = float("inf")
    order = np.lexsort((np.arange(len(distances)), distances.numpy()))[:k]  # stable on ties
    return order, distances.numpy()[order]


def highlight_mask(n: int, query: int, neighbours: Sequence[int]) -> np.ndarray:
    """Per point: 2 for the query, 1 for a neighbour, 0 for the rest (for drawing)."""
    mask = np.zeros(n, dtype=np.int8)
    mask[np.asarray(neighbours, dtype=int)] = 1
    mask[query] = 2
    return mask


def class_members(labels, label: int) -> np.ndarray:
    """Indices of the items of class ``label``, in order."""
    members = np.flatnonzero(np.asarray(labels) == label)
    if len(members) == 0:
        raise ValueError(f"no item has label {label}; labels present: {np.unique(labels)}")
    return members


def locate(labels, index: int) -> tuple[int, int]:
    """``(label, position)``: the class of item ``index`` and its place among that class's items.

    The inverse of ``class_members(labels, label)[position]``; keeps the
    explorer's class, example and index controls in agreement.
    """
    labels = np.asarray(labels)
    if not 0 <= index < len(labels):
        raise ValueError(f"index {index} is outside 0..{len(labels) - 1}")
    label = int(labels[index])
    return label, int(np.searchsorted(class_members(labels, label), index))


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


# --------------------------------------------------------------------------- drawing helpers


def _class_names(labels: np.ndarray, class_names: Sequence[str] | None) -> list[str]:
    if class_names is not None:
        if labels.max() >= len(class_names):
            raise ValueError(
                f"labels go up to {labels.max()} but only {len(class_names)} class names given"
            )
        return list(class_names)
    return [str(c) for c in range(int(labels.max()) + 1)]


def _as_images(images, n: int) -> np.ndarray:
    images = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else images
    images = np.asarray(images, dtype=float)
    if len(images) != n:
        raise ValueError(f"got {len(images)} images for {n} items")
    if images.ndim == 4 and images.shape[1] in (1, 3):  # (N, C, H, W) -> (N, H, W[, C])
        images = images[:, 0] if images.shape[1] == 1 else images.transpose(0, 2, 3, 1)
    if images.ndim not in (3, 4):
        raise ValueError(
            f"images must be (N, H, W), (N, 1, H, W) or (N, 3, H, W), got {images.shape}"
        )
    return images


def _show_image(ax, image: np.ndarray, title: str, colour="black", fontsize: int = 8) -> None:
    ax.imshow(image, cmap="gray_r", vmin=min(0.0, image.min()), vmax=max(1.0, image.max()))
    ax.set_title(title, fontsize=fontsize, color=colour)
    ax.axis("off")


def _draw_query_and_neighbours(ax, points, labels, names, query, neighbours, size=4) -> None:
    """Scatter every point faintly, ring the neighbours, star the query (see ``highlight_mask``)."""
    mask = highlight_mask(len(points), query, neighbours)
    scatter_embeddings(points, labels, names, ax=ax, size=size, alpha=0.25, legend=False)
    ax.scatter(
        *points[mask == 1].T,
        s=70,
        facecolors="none",
        edgecolors="black",
        linewidths=1.3,
        label="neighbours",
    )
    ax.scatter(
        *points[mask == 2].T,
        s=260,
        marker="*",
        color=class_colour(labels[query]),
        edgecolors="black",
        linewidths=1.0,
        label="query",
    )
    ax.set_xticks([])
    ax.set_yticks([])


def _legend_handles(labels: np.ndarray, names: Sequence[str], marks: bool = True) -> list:
    """Legend entries of one size: a dot per class present, the neighbour ring, the query star."""
    from matplotlib.lines import Line2D

    def dot(**style):
        return Line2D([], [], linestyle="none", **style)

    handles = [
        dot(marker="o", markersize=6, color=class_colour(c), label=names[c])
        for c in np.unique(labels)
    ]
    if marks:
        handles += [
            dot(
                marker="o",
                markersize=8,
                markerfacecolor="none",
                markeredgecolor="black",
                label="neighbours",
            ),
            dot(marker="*", markersize=12, color="0.5", markeredgecolor="black", label="query"),
        ]
    return handles


class QueryPicker:
    """Three linked controls naming one item: its class, its position in the class, its index.

    Changing any of them updates the other two (through :func:`class_members`
    and :func:`locate`) and calls ``on_change(query)`` once.
    """

    def __init__(
        self, labels: np.ndarray, class_names: Sequence[str], on_change: Callable[[int], None]
    ) -> None:
        self.labels = np.asarray(labels)
        self.on_change = on_change
        options = [(class_names[c], int(c)) for c in np.unique(self.labels)]
        first = options[0][1]
        self.class_choice = widgets.Dropdown(options=options, value=first, description="class")
        self.position = widgets.IntSlider(
            min=0,
            max=len(class_members(self.labels, first)) - 1,
            description="example",
            continuous_update=False,
        )
        self.index = widgets.BoundedIntText(
            min=0,
            max=len(self.labels) - 1,
            value=int(class_members(self.labels, first)[0]),
            description="index",
        )
        self.query = self.index.value
        self._syncing = False
        self.class_choice.observe(self._on_class, names="value")
        self.position.observe(self._on_position, names="value")
        self.index.observe(self._on_index, names="value")

    def set_query(self, query: int) -> None:
        """Make item ``query`` the query: move every control to it, then call ``on_change``."""
        label, position = locate(self.labels, int(query))
        self._syncing = True
        try:
            self.class_choice.value = label
            self.position.max = len(class_members(self.labels, label)) - 1
            self.position.value = position
            self.index.value = int(query)
        finally:
            self._syncing = False
        self.query = int(query)
        self.on_change(self.query)

    def _on_class(self, change) -> None:
        if not self._syncing:
            self.set_query(class_members(self.labels, change["new"])[0])

    def _on_position(self, change) -> None:
        if not self._syncing:
            self.set_query(class_members(self.labels, self.class_choice.value)[change["new"]])

    def _on_index(self, change) -> None:
        if not self._syncing:
            self.set_query(change["new"])

    @property
    def widget(self) -> widgets.Widget:
        return widgets.HBox([self.class_choice, self.position, self.index])


# --------------------------------------------------------------------------- the explorer


class EmbeddingExplorer:
    """Pick a query image and see its nearest neighbours, in the image and in the projection.

    Works with any data: ``embeddings`` (N, D) define the neighbours,
    ``points`` (N, 2) is where each item is drawn (a UMAP projection, say),
    ``images`` (N, H, W), (N, 1, H, W) or (N, 3, H, W) are shown, ``labels``
    (N,) integers colour them and name them through ``class_names``.

    Choose the query by class and example, or by global index; ``k`` sets the
    number of neighbours. :meth:`select` does from code what the controls do,
    and :meth:`draw` returns the picture as a static figure.
    """

    def __init__(
        self,
        embeddings,
        points,
        images,
        labels,
        class_names: Sequence[str] | None = None,
        k: int = 8,
        title: str = "embedding space",
    ) -> None:
        self.labels = np.asarray(labels, dtype=int)
        n = len(self.labels)
        self.embeddings = torch.as_tensor(np.asarray(embeddings), dtype=torch.float32)
        self.points = np.asarray(points, dtype=float)
        if not len(self.embeddings) == len(self.points) == n:
            raise ValueError(
                "embeddings, points and labels must describe the same items: got "
                f"{len(self.embeddings)}, {len(self.points)} and {n}"
            )
        if self.points.ndim != 2 or self.points.shape[1] != 2:
            raise ValueError(f"points must be (N, 2) coordinates, got {self.points.shape}")
        if n < 2:
            raise ValueError("the explorer needs at least two items")
        self.images = _as_images(images, n)
        self.class_names = _class_names(self.labels, class_names)
        self.title = title
        self.k_choice = widgets.IntSlider(
            value=k,
            min=1,
            max=min(16, n - 1),
            description="neighbours",
            continuous_update=False,
        )
        self.output = widgets.Output()
        self.picker = QueryPicker(self.labels, self.class_names, self._update)
        self.k_choice.observe(lambda change: self._update(self.query), names="value")
        self.query = self.picker.query
        self.neighbours, self.distances = nearest_neighbours(self.embeddings, self.query, k)
        self._redraw()

    @property
    def k(self) -> int:
        return self.k_choice.value

    # The picker's controls, reachable from the explorer (set their .value from code).
    @property
    def class_choice(self) -> widgets.Dropdown:
        return self.picker.class_choice

    @property
    def position(self) -> widgets.IntSlider:
        return self.picker.position

    @property
    def index(self) -> widgets.BoundedIntText:
        return self.picker.index

    def members(self, label: int) -> np.ndarray:
        """Indices of the items of one class, in order."""
        return class_members(self.labels, label)

    def select(self, query: int) -> None:
        """Make item ``query`` the query: move the controls, find its neighbours, redraw."""
        self.picker.set_query(query)

    def _update(self, query: int) -> None:
        self.query = int(query)
        self.neighbours, self.distances = nearest_neighbours(self.embeddings, self.query, self.k)
        self._redraw()

    def _redraw(self) -> None:
        with self.output:
            clear_output(wait=True)
            self.draw()
            plt.show()

    def draw(self) -> Figure:
        """The projection with the query and its neighbours, and their images, as a figure."""
        columns = max((len(self.neighbours) + 1) // 2, 2)  # two rows of neighbours
        fig = plt.figure(figsize=(5.5 + 1.25 * columns, 5.8))
        grid = fig.add_gridspec(3, 2 + columns, width_ratios=[4.5, 0.25] + [1] * columns)
        ax = fig.add_subplot(grid[:, 0])
        _draw_query_and_neighbours(
            ax, self.points, self.labels, self.class_names, self.query, self.neighbours
        )
        ax.set_title(self.title, fontsize=10)
        query_label = self.labels[self.query]
        same = int((self.labels[self.neighbours] == query_label).sum())
        _show_image(
            fig.add_subplot(grid[0, 2:4]),
            self.images[self.query],
            f"query #{self.query}: {self.class_names[query_label]}\n"
            f"{same} of {len(self.neighbours)} nearest share its class",
            colour=class_colour(query_label),
            fontsize=9,
        )
        fig.legend(
            handles=_legend_handles(self.labels, self.class_names),
            loc="lower center",
            ncol=6,
            fontsize=8,
            frameon=False,
        )
        fig.subplots_adjust(bottom=0.16, top=0.92, left=0.02, right=0.98)
        for i, (index, distance) in enumerate(zip(self.neighbours, self.distances, strict=True)):
            label = self.labels[index]
            mark = "✓" if label == query_label else "✗"
            _show_image(
                fig.add_subplot(grid[1 + i // columns, 2 + i % columns]),
                self.images[index],
                f"{mark} {self.class_names[label]}\nd = {distance:.2f}",
                colour=class_colour(label),
                fontsize=7,
            )
        return fig

    @property
    def widget(self) -> widgets.Widget:
        """The controls and the figure, ready to ``display``."""
        return widgets.VBox([self.picker.widget, self.k_choice, self.output])

    def show(self) -> None:
        """Display the explorer."""
        display(self.widget)


# --------------------------------------------------------------------------- epoch slider


class SnapshotSlider:
    """Slide through the epochs of a training run and watch the embedding space form.

    ``projections`` holds one (N, 2) array per snapshot (the same N items each
    time, e.g. from ``plotting.project_snapshots``), ``epochs`` the epoch of
    each (default 0, 1, 2, ...; 0 is before training), ``captions`` an
    optional line per snapshot (a measured score). Every frame is drawn with
    the same axis limits, so what moves has really moved.
    """

    def __init__(
        self,
        projections: Sequence,
        labels,
        class_names: Sequence[str] | None = None,
        epochs: Sequence[int] | None = None,
        captions: Sequence[str] | None = None,
        title: str = "",
    ) -> None:
        self.projections = [np.asarray(points, dtype=float) for points in projections]
        self.labels = np.asarray(labels, dtype=int)
        self.epochs = list(range(len(self.projections))) if epochs is None else list(epochs)
        self.captions = list(captions) if captions is not None else [""] * len(self.projections)
        if not len(self.projections) == len(self.epochs) == len(self.captions) > 0:
            raise ValueError(
                f"got {len(self.projections)} projections, {len(self.epochs)} epochs and "
                f"{len(self.captions)} captions: pass one of each per snapshot"
            )
        if any(points.shape != (len(self.labels), 2) for points in self.projections):
            raise ValueError(f"every projection must be ({len(self.labels)}, 2), one row per label")
        self.class_names = _class_names(self.labels, class_names)
        self.title = title
        self.limits = shared_limits(self.projections)
        self.slider = widgets.SelectionSlider(
            options=self.epochs,
            value=self.epochs[0],
            description="epoch",
            continuous_update=False,
        )
        self.output = widgets.Output()
        self.slider.observe(lambda change: self._redraw(), names="value")
        self._redraw()

    def _frame(self, ax, epoch: int) -> None:
        i = snapshot_index(self.epochs, epoch)
        scatter_embeddings(
            self.projections[i], self.labels, self.class_names, ax=ax, size=5, legend=False
        )
        ax.set_aspect("equal", adjustable="box")
        ax.set_xlim(*self.limits[0])
        ax.set_ylim(*self.limits[1])
        ax.set_xticks([])
        ax.set_yticks([])
        name = "before training" if epoch == 0 else f"after epoch {epoch}"
        ax.set_title(f"{name}\n{self.captions[i]}".strip(), fontsize=10)

    def draw(self, epoch: int | None = None) -> Figure:
        """One frame: the snapshot of ``epoch`` (default: the slider's)."""
        fig, ax = plt.subplots(figsize=(6, 6.2), layout="constrained")
        self._frame(ax, self.slider.value if epoch is None else epoch)
        self._legend_and_title(fig, ncol=5)
        return fig

    def draw_all(
        self, epochs: Sequence[int] | None = None, panel_size: float = 3.0, columns: int = 4
    ) -> Figure:
        """Small multiples: one panel per epoch (all by default), the static twin of the slider."""
        epochs = self.epochs if epochs is None else list(epochs)
        columns = min(columns, len(epochs))
        rows = -(-len(epochs) // columns)
        fig, axes = plt.subplots(
            rows,
            columns,
            figsize=(panel_size * columns, (panel_size + 0.25) * rows + 0.8),
            squeeze=False,
            layout="constrained",
        )
        for ax in axes.flat[len(epochs) :]:
            ax.axis("off")
        for ax, epoch in zip(axes.flat, epochs, strict=False):
            self._frame(ax, epoch)
        self._legend_and_title(fig, ncol=min(len(np.unique(self.labels)), 10))
        return fig

    def _legend_and_title(self, fig: Figure, ncol: int) -> None:
        handles = _legend_handles(self.labels, self.class_names, marks=False)
        fig.legend(handles=handles, loc="outside lower center", ncol=ncol, fontsize=8)
        if self.title:
            fig.suptitle(self.title, fontsize=11)

    def _redraw(self) -> None:
        with self.output:
            clear_output(wait=True)
            self.draw()
            plt.show()

    @property
    def widget(self) -> widgets.Widget:
        return widgets.VBox([self.slider, self.output])

    def show(self) -> None:
        """Display the slider and its figure."""
        display(self.widget)


# --------------------------------------------------------------------------- side by side


class SpaceComparison:
    """The same query in several embedding spaces side by side, with its neighbours in each.

    ``spaces`` maps a name to ``(embeddings, points)`` for the same N items
    (embeddings (N, D) define neighbours, points (N, 2) where items are drawn);
    ``images`` and ``labels`` describe the items. Pick a query as in the
    :class:`EmbeddingExplorer`; each panel rings its ``k`` nearest neighbours
    and counts how many share the query's class.
    """

    def __init__(
        self,
        spaces: dict[str, tuple],
        images,
        labels,
        class_names: Sequence[str] | None = None,
        k: int = 6,
    ) -> None:
        self.labels = np.asarray(labels, dtype=int)
        n = len(self.labels)
        if not spaces:
            raise ValueError("pass at least one space: {name: (embeddings, points)}")
        self.spaces = {}
        for name, (embeddings, points) in spaces.items():
            embeddings = torch.as_tensor(np.asarray(embeddings), dtype=torch.float32)
            points = np.asarray(points, dtype=float)
            if len(embeddings) != n or points.shape != (n, 2):
                raise ValueError(
                    f"space {name!r}: expected {n} embeddings and ({n}, 2) points, got "
                    f"{len(embeddings)} and {points.shape}"
                )
            self.spaces[name] = (embeddings, points)
        self.images = _as_images(images, n)
        self.class_names = _class_names(self.labels, class_names)
        self.k = min(k, n - 1)
        self.output = widgets.Output()
        self.picker = QueryPicker(self.labels, self.class_names, lambda query: self._redraw())
        self._redraw()

    @property
    def query(self) -> int:
        return self.picker.query

    def select(self, query: int) -> None:
        """Make item ``query`` the query in every space and redraw."""
        self.picker.set_query(query)

    def neighbours(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """For each space, the query's ``k`` nearest neighbours and their distances."""
        return {
            name: nearest_neighbours(embeddings, self.query, self.k)
            for name, (embeddings, _) in self.spaces.items()
        }

    def draw(self) -> Figure:
        """One column per space: the projection on top, the neighbours' images below."""
        query, label = self.query, self.labels[self.query]
        found = self.neighbours()
        columns = len(self.spaces)
        fig = plt.figure(figsize=(1.6 + 4.0 * columns, 6.2))
        grid = fig.add_gridspec(
            2, 1 + columns, width_ratios=[0.5] + [1] * columns, height_ratios=[3, 1.6]
        )
        _show_image(
            fig.add_subplot(grid[0, 0]),
            self.images[query],
            f"query #{query}\n{self.class_names[label]}",
            class_colour(label),
            fontsize=9,
        )
        per_row = (self.k + 1) // 2
        for column, (name, (_, points)) in enumerate(self.spaces.items(), start=1):
            neighbours, distances = found[name]
            ax = fig.add_subplot(grid[0, column])
            _draw_query_and_neighbours(ax, points, self.labels, self.class_names, query, neighbours)
            same = int((self.labels[neighbours] == label).sum())
            ax.set_title(
                f"{name}\n{same} of {len(neighbours)} nearest are the same class", fontsize=10
            )
            strip = grid[1, column].subgridspec(2, per_row, wspace=0.1, hspace=0.45)
            for i, (index, distance) in enumerate(zip(neighbours, distances, strict=True)):
                mark = "✓" if self.labels[index] == label else "✗"
                _show_image(
                    fig.add_subplot(strip[i // per_row, i % per_row]),
                    self.images[index],
                    f"{mark} d={distance:.2f}",
                    class_colour(self.labels[index]),
                    fontsize=7,
                )
        fig.legend(
            handles=_legend_handles(self.labels, self.class_names),
            loc="lower center",
            ncol=12,
            fontsize=8,
            frameon=False,
        )
        fig.subplots_adjust(left=0.02, right=0.99, top=0.9, bottom=0.08, wspace=0.15)
        return fig

    def _redraw(self) -> None:
        with self.output:
            clear_output(wait=True)
            self.draw()
            plt.show()

    @property
    def widget(self) -> widgets.Widget:
        return widgets.VBox([self.picker.widget, self.output])

    def show(self) -> None:
        """Display the controls and the side-by-side figure."""
        display(self.widget)


# ------------------------------------------------------------------ triplet chooser (notebook 04)

CATEGORY_COLOURS = {HARD: "tab:red", SEMI_HARD: "tab:orange", EASY: "0.6"}


@dataclass(frozen=True)
class AnchorTriplets:
    """The triplets of one anchor-positive pair in a batch, sorted by how hard each negative is.

    ``categories[j]`` says what sample ``j`` is as the negative of the pair
    (``mining.EASY``, ``SEMI_HARD``, ``HARD``, or ``INVALID`` for the anchor's
    own class). ``hardest_negative`` is batch-hard's choice (the nearest
    negative); ``semi_hard_negative`` is FaceNet's (the nearest negative not
    closer than the positive), ``None`` when every negative is closer.
    """

    anchor: int
    positive: int
    margin: float
    positive_distance: float
    categories: np.ndarray
    hardest_negative: int
    semi_hard_negative: int | None

    @property
    def counts(self) -> dict[str, int]:
        """How many negatives of each category: ``{"hard": ..., "semi-hard": ..., "easy": ...}``."""
        return {
            CATEGORY_NAMES[c]: int((self.categories == c).sum()) for c in (HARD, SEMI_HARD, EASY)
        }


def anchor_triplets(
    distances, labels, anchor: int, margin: float, positive: int | None = None
) -> AnchorTriplets:
    """Classify every negative of ``anchor`` as easy, semi-hard or hard for one of its positives.

    ``positive`` defaults to the anchor's *farthest* positive, the one
    batch-hard uses. With d = ``distances`` a (B, B) matrix, a negative n is
    hard when d(a, n) < d(a, p), semi-hard when d(a, p) ≤ d(a, n) < d(a, p) + α,
    easy otherwise (see :mod:`metric_course.mining`).
    """
    distances = torch.as_tensor(np.asarray(distances), dtype=torch.float64)
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    if not 0 <= anchor < len(labels):
        raise ValueError(f"anchor {anchor} is outside 0..{len(labels) - 1}")
    if margin < 0:
        raise ValueError(f"the margin must be ≥ 0, got {margin}")
    positives = positive_mask(labels)[anchor].nonzero().flatten()
    if len(positives) == 0:
        raise ValueError(
            f"anchor {anchor} has no other image of its class in the batch, so no positive; "
            "use a P×K batch (K ≥ 2) or another anchor"
        )
    row = distances[anchor]
    if positive is None:
        positive = int(positives[row[positives].argmax()])
    categories = negative_categories(distances, labels, anchor, positive, margin)
    to_negatives = row.masked_fill(~negative_mask(labels)[anchor], float("inf"))
    not_closer = to_negatives.masked_fill(to_negatives < row[positive], float("inf"))
    return AnchorTriplets(
        anchor=anchor,
        positive=positive,
        margin=float(margin),
        positive_distance=float(row[positive]),
        categories=categories.numpy(),
        hardest_negative=int(to_negatives.argmin()),
        semi_hard_negative=int(not_closer.argmin()) if torch.isfinite(not_closer).any() else None,
    )


def category_shares(distances, labels, margin: float) -> dict[str, float]:
    """Share of all valid triplets (a, p, n) of a batch that are hard, semi-hard and easy."""
    distances = torch.as_tensor(np.asarray(distances), dtype=torch.float64)
    categories = triplet_categories(distances, torch.as_tensor(np.asarray(labels)), margin)
    valid = max(int((categories != INVALID).sum()), 1)
    return {
        CATEGORY_NAMES[c]: int((categories == c).sum()) / valid for c in (HARD, SEMI_HARD, EASY)
    }


def _triplet_class_names(labels: np.ndarray, class_names: Sequence[str] | None) -> list[str]:
    return (
        list(class_names) if class_names is not None else [str(c) for c in range(labels.max() + 1)]
    )


def _grey_images(images, n: int) -> np.ndarray:
    """(N, H, W) or (N, 1, H, W) grey images as an (N, H, W) array."""
    images = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else images
    images = np.asarray(images, dtype=float)
    if len(images) != n or images.ndim not in (3, 4):
        raise ValueError(f"expected {n} grey images (N, H, W) or (N, 1, H, W), got {images.shape}")
    return images.reshape(n, *images.shape[-2:])


def _sector_angles(labels: np.ndarray, anchor: int) -> np.ndarray:
    """An angle per sample: one sector per class, the anchor's class first (at the top)."""
    classes = [labels[anchor], *sorted(set(labels.tolist()) - {labels[anchor]})]
    width = 2 * np.pi / len(classes)
    angles = np.zeros(len(labels))
    for i, label in enumerate(classes):
        members = np.flatnonzero((labels == label) & (np.arange(len(labels)) != anchor))
        start = np.pi / 2 + (i - 0.5) * width
        angles[members] = start + width * (np.arange(len(members)) + 0.75) / (len(members) + 0.5)
    return angles


def draw_anchor_triplets(
    view: AnchorTriplets,
    distances,
    labels,
    images=None,
    class_names: Sequence[str] | None = None,
) -> plt.Figure:
    """The batch seen from the anchor: each sample at its true distance, coloured by category.

    Distance from the centre is the real embedding distance to the anchor;
    the angle only groups the samples by class. Circles mark d(a, p) and
    d(a, p) + α: negatives inside the first are hard, in the ring semi-hard,
    outside easy. With ``images`` the anchor, the positive and the negatives
    chosen by batch-hard and by FaceNet's semi-hard rule are shown beside it.
    """
    distances = np.asarray(distances, dtype=float)
    labels = np.asarray(labels, dtype=int)
    names = _triplet_class_names(labels, class_names)
    radius = distances[view.anchor]
    angles = _sector_angles(labels, view.anchor)
    x, y = radius * np.cos(angles), radius * np.sin(angles)
    d_ap, outer = view.positive_distance, view.positive_distance + view.margin

    fig = plt.figure(figsize=(11.5, 5.8) if images is not None else (6.5, 6))
    grid = fig.add_gridspec(2, 4, width_ratios=[2.2, 2.2, 1, 1]) if images is not None else None
    ax = fig.add_subplot(grid[:, :2]) if grid is not None else fig.add_subplot()
    limit = 1.18 * max(radius.max(), outer)
    for r in np.arange(0.5, limit, 0.5):
        ax.add_patch(plt.Circle((0, 0), r, fill=False, color="0.85", lw=0.8, ls=":"))
        ax.text(r * np.cos(np.pi / 4), r * np.sin(np.pi / 4), f"{r:g}", color="0.6", fontsize=7)
    ax.add_patch(plt.Circle((0, 0), outer, color=CATEGORY_COLOURS[SEMI_HARD], alpha=0.14, lw=0))
    ax.add_patch(plt.Circle((0, 0), d_ap, color="white", lw=0))
    ax.add_patch(plt.Circle((0, 0), d_ap, color=CATEGORY_COLOURS[HARD], alpha=0.12, lw=0))
    ax.add_patch(plt.Circle((0, 0), d_ap, fill=False, color="tab:blue", lw=1.2))
    ax.add_patch(plt.Circle((0, 0), outer, fill=False, color="tab:blue", lw=1.2, ls="--"))
    counts = view.counts
    for category in (HARD, SEMI_HARD, EASY):
        chosen = view.categories == category
        name = CATEGORY_NAMES[category]
        ax.scatter(
            x[chosen],
            y[chosen],
            s=36,
            color=CATEGORY_COLOURS[category],
            zorder=3,
            edgecolors="white",
            linewidths=0.5,
            label=f"{name} negatives: {counts[name]}",
        )
    own = (labels == labels[view.anchor]) & (np.arange(len(labels)) != view.anchor)
    ax.scatter(
        x[own],
        y[own],
        s=36,
        facecolors="none",
        edgecolors="tab:blue",
        zorder=3,
        label="other positives",
    )
    ax.scatter(
        x[view.positive],
        y[view.positive],
        s=80,
        color="tab:blue",
        zorder=4,
        label=f"positive p: d(a, p) = {d_ap:.2f}",
    )
    ax.scatter(0, 0, s=260, marker="*", color="black", zorder=5, label="anchor a")
    picks = {view.hardest_negative: "batch-hard"}
    if view.semi_hard_negative is not None:
        both = view.semi_hard_negative == view.hardest_negative
        picks[view.semi_hard_negative] = "batch-hard and semi-hard" if both else "semi-hard"
    for index, who in picks.items():
        ax.scatter(
            x[index], y[index], s=170, facecolors="none", edgecolors="black", lw=1.4, zorder=4
        )
        ax.annotate(
            who,
            (x[index], y[index]),
            xytext=(8, -12),
            textcoords="offset points",
            fontsize=8,
            zorder=6,
        )
    for label in np.unique(labels):
        members = labels == label
        mid = np.angle(
            np.exp(1j * angles[members & (np.arange(len(labels)) != view.anchor)]).mean()
        )
        ax.text(
            limit * 0.97 * np.cos(mid),
            limit * 0.97 * np.sin(mid),
            names[label],
            ha="center",
            va="center",
            fontsize=9,
            color=class_colour(label),
            fontweight="bold",
        )
    ax.set_xlim(-limit, limit)
    ax.set_ylim(-limit, limit)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.legend(loc="upper left", bbox_to_anchor=(-0.02, -0.01), ncol=3, fontsize=8, frameon=False)
    ax.set_title(
        f"the batch seen from anchor #{view.anchor} ({names[labels[view.anchor]]}), α = "
        f"{view.margin:.2f}\nradius = distance to the anchor; rings at d(a, p) and d(a, p) + α",
        fontsize=10,
    )
    if images is not None:
        images = _grey_images(images, len(labels))
        shown = [
            (view.anchor, "anchor", "black"),
            (view.positive, "positive", "tab:blue"),
            (view.hardest_negative, "batch-hard negative", "black"),
        ]
        if view.semi_hard_negative is not None:
            shown.append((view.semi_hard_negative, "semi-hard negative (FaceNet)", "black"))
        for slot, (index, role, colour) in zip(
            ((0, 2), (0, 3), (1, 2), (1, 3)), shown, strict=False
        ):
            category = view.categories[index]
            kind = f", {CATEGORY_NAMES[category]}" if category != INVALID else ""
            distance = "" if index == view.anchor else f"\nd = {radius[index]:.2f}{kind}"
            ax_image = fig.add_subplot(grid[slot])
            ax_image.imshow(images[index], cmap="gray_r", vmin=0, vmax=1)
            ax_image.set_title(
                f"{role} #{index}\n{names[labels[index]]}{distance}", fontsize=8, color=colour
            )
            ax_image.axis("off")
    fig.tight_layout()
    return fig


def describe_anchor_triplets(view: AnchorTriplets, distances, class_names: Sequence[str]) -> str:
    """One paragraph saying what the figure shows, with the numbers."""
    distances = np.asarray(distances, dtype=float)
    counts = view.counts
    text = (
        f"d(a, p) = {view.positive_distance:.3f}, margin α = {view.margin:.2f}: "
        f"{counts['hard']} hard, {counts['semi-hard']} semi-hard and {counts['easy']} easy "
        f"negatives. Batch-hard picks #{view.hardest_negative} "
        f"(d = {distances[view.anchor, view.hardest_negative]:.3f}); "
    )
    if view.semi_hard_negative is None:
        return text + "every negative is closer than the positive, so FaceNet's rule falls back."
    return text + (
        f"FaceNet's semi-hard rule picks #{view.semi_hard_negative} "
        f"(d = {distances[view.anchor, view.semi_hard_negative]:.3f})."
    )


class TripletChooser:
    """Choose an anchor, one of its positives and a margin; see its negatives sorted by hardness.

    ``distances`` (B, B) and ``labels`` (B,) describe one batch, ``images``
    its pictures. Call :meth:`select` from code to do what the controls do;
    :meth:`draw` returns the current figure.
    """

    def __init__(
        self,
        distances,
        labels,
        images,
        class_names: Sequence[str] | None = None,
        anchor: int = 0,
        margin: float = 0.2,
    ) -> None:
        self.distances = np.asarray(distances, dtype=float)
        self.labels = np.asarray(labels, dtype=int)
        self.images = images
        self.class_names = _triplet_class_names(self.labels, class_names)
        if self.distances.shape != (len(self.labels), len(self.labels)):
            raise ValueError(
                f"distances must be ({len(self.labels)}, {len(self.labels)}) for "
                f"{len(self.labels)} labels, got {self.distances.shape}"
            )
        self.anchor_slider = widgets.IntSlider(
            value=anchor, min=0, max=len(self.labels) - 1, description="anchor"
        )
        self.positive_choice = widgets.Dropdown(description="positive")
        self.margin_slider = widgets.FloatSlider(
            value=margin, min=0.0, max=1.0, step=0.05, description="margin α"
        )
        self.summary = widgets.HTML()
        self.output = widgets.Output()
        self.view = None
        self._syncing = False  # True while select() sets the controls: ignore their echoes
        self.select(anchor, margin=margin)
        self.anchor_slider.observe(self._on_anchor, names="value")
        self.positive_choice.observe(self._on_positive, names="value")
        self.margin_slider.observe(self._on_margin, names="value")

    def _on_anchor(self, change) -> None:
        if not self._syncing:
            self.select(change["new"])

    def _on_positive(self, change) -> None:
        if not self._syncing and change["new"] is not None:
            self.select(self.view.anchor, positive=change["new"])

    def _on_margin(self, change) -> None:
        if not self._syncing:
            self.select(self.view.anchor, self.view.positive, change["new"])

    def positive_options(self, anchor: int) -> list[tuple[str, int]]:
        """The anchor's positives for the drop-down, farthest (batch-hard's choice) first."""
        positives = np.flatnonzero(
            (self.labels == self.labels[anchor]) & (np.arange(len(self.labels)) != anchor)
        )
        positives = positives[np.argsort(-self.distances[anchor, positives], kind="stable")]
        return [
            (
                f"#{p}  d = {self.distances[anchor, p]:.2f}" + ("  (farthest)" if i == 0 else ""),
                int(p),
            )
            for i, p in enumerate(positives)
        ]

    def select(self, anchor: int, positive: int | None = None, margin: float | None = None) -> None:
        """Show ``anchor`` with ``positive`` (default: its farthest) at ``margin``."""
        margin = self.margin_slider.value if margin is None else margin
        self.view = anchor_triplets(self.distances, self.labels, anchor, margin, positive)
        self._syncing = True
        try:
            options = self.positive_options(anchor)
            if self.positive_choice.options != tuple(options):
                self.positive_choice.options = options
            self.positive_choice.value = self.view.positive
            self.anchor_slider.value = anchor
            self.margin_slider.value = margin
        finally:
            self._syncing = False
        self.summary.value = describe_anchor_triplets(self.view, self.distances, self.class_names)
        with self.output:
            clear_output(wait=True)
            self.draw()
            plt.show()

    def draw(self) -> plt.Figure:
        """The figure of the current choice."""
        return draw_anchor_triplets(
            self.view, self.distances, self.labels, self.images, self.class_names
        )

    @property
    def widget(self) -> widgets.Widget:
        """The controls, the summary and the figure, ready to ``display``."""
        controls = widgets.HBox([self.anchor_slider, self.positive_choice, self.margin_slider])
        return widgets.VBox([controls, self.summary, self.output])

    def show(self) -> None:
        """Display the chooser."""
        display(self.widget)


# ------------------------------------------------------------------ margin playground (notebook 02)


def _check_margin_and_distances(distances, margin: float) -> np.ndarray:
    distances = np.asarray(distances, dtype=float)
    if not margin > 0:
        raise ValueError(f"the margin m must be positive, got {margin}")
    if (distances < 0).any():
        raise ValueError("distances cannot be negative")
    return distances


def contrastive_pair_loss(distances, margin: float, similar: bool) -> np.ndarray:
    """The contrastive loss of one pair at each distance D (Hadsell et al. 2006).

    ½·D² for a similar pair (Y = 0), ½·max(0, m − D)² for a dissimilar one (Y = 1).
    """
    distances = _check_margin_and_distances(distances, margin)
    if similar:
        return 0.5 * distances**2
    return 0.5 * np.maximum(0.0, margin - distances) ** 2


def contrastive_pair_slope(distances, margin: float, similar: bool) -> np.ndarray:
    """dL/dD, how the loss of one pair changes with its distance D.

    D for a similar pair (positive: gradient descent pulls the pair together),
    −max(0, m − D) for a dissimilar pair (negative: it is pushed apart, and
    not at all once D ≥ m).
    """
    distances = _check_margin_and_distances(distances, margin)
    if similar:
        return distances.copy()
    return -np.maximum(0.0, margin - distances)


def describe_pair_losses(distance: float, margin: float) -> str:
    """One sentence per kind of pair at ``distance``: its loss and what the gradient does."""
    lines = []
    for similar, kind in ((True, "similar pair (Y = 0)"), (False, "dissimilar pair (Y = 1)")):
        loss = float(contrastive_pair_loss(distance, margin, similar))
        slope = float(contrastive_pair_slope(distance, margin, similar))
        if slope > 0:
            effect = f"pulled together with strength {slope:.2f}"
        elif slope < 0:
            effect = f"pushed apart with strength {-slope:.2f}"
        elif similar:
            effect = "already at the same point: nothing to do"
        else:
            effect = f"farther than the margin m = {margin:.2f}: no loss, no gradient, ignored"
        lines.append(f"{kind} at D = {distance:.2f}: loss {loss:.3f}, {effect}")
    return "\n".join(lines)


def draw_margin_playground(
    margin: float, distance: float | None = None, max_distance: float = 2.0
) -> Figure:
    """The loss and its slope against the distance, for a similar and a dissimilar pair.

    A dashed line marks the margin m; with ``distance`` a dot marks one pair
    of each kind at that distance.
    """
    grid = np.linspace(0.0, max_distance, 401)
    fig, (ax_loss, ax_slope) = plt.subplots(1, 2, figsize=(10, 3.6))
    kinds = (
        (True, "similar pair (Y = 0)", "tab:green"),
        (False, "dissimilar pair (Y = 1)", "tab:red"),
    )
    for similar, label, colour in kinds:
        ax_loss.plot(grid, contrastive_pair_loss(grid, margin, similar), color=colour, label=label)
        ax_slope.plot(grid, contrastive_pair_slope(grid, margin, similar), color=colour, lw=2)
        if distance is not None:
            ax_loss.plot(
                distance, contrastive_pair_loss(distance, margin, similar), "o", ms=8, color=colour
            )
            ax_slope.plot(
                distance, contrastive_pair_slope(distance, margin, similar), "o", ms=8, color=colour
            )
    for ax in (ax_loss, ax_slope):
        ax.axvline(margin, color="grey", ls="--", lw=1)
        ax.axvspan(margin, max_distance, color="grey", alpha=0.08)
        ax.set_xlim(0, max_distance)
        ax.set_xlabel("distance D between the two embeddings")
        ax.grid(alpha=0.3)
    top = 0.5 * max_distance**2
    ax_loss.set_ylim(-0.03 * top, top)
    ax_loss.text(margin, 0.93 * top, f" margin m = {margin:.2f}", color="grey", va="top")
    ax_loss.text(
        (margin + max_distance) / 2,
        0.55 * top,
        "dissimilar pairs\ncost nothing here",
        ha="center",
        color="tab:red",
        fontsize=9,
    )
    ax_loss.set_ylabel("loss L")
    ax_loss.set_title("the contrastive loss of one pair")
    ax_loss.legend(loc="upper left", fontsize=9)
    ax_slope.axhline(0, color="black", lw=0.8)
    ax_slope.set_ylim(-1.05 * max(margin, 0.1), 1.05 * max_distance)
    ax_slope.set_ylabel("dL/dD  (> 0 pulls together,\n< 0 pushes apart)")
    ax_slope.set_title("its gradient: how hard the pair is moved")
    fig.tight_layout()
    return fig


class MarginPlayground:
    """Sliders for the margin m and a pair's distance D, over :func:`draw_margin_playground`."""

    def __init__(self, margin: float = 1.0, distance: float = 0.7, max_distance: float = 2.0):
        self.max_distance = max_distance
        self.margin_slider = widgets.FloatSlider(
            value=margin, min=0.1, max=max_distance, step=0.05, description="margin m"
        )
        self.distance_slider = widgets.FloatSlider(
            value=distance, min=0.0, max=max_distance, step=0.01, description="distance D"
        )
        self.summary = widgets.HTML()
        self.output = widgets.Output()
        self.margin_slider.observe(self._redraw, names="value")
        self.distance_slider.observe(self._redraw, names="value")
        self._redraw()

    def _redraw(self, change=None) -> None:
        text = describe_pair_losses(self.distance_slider.value, self.margin_slider.value)
        self.summary.value = "<br>".join(text.splitlines())
        with self.output:
            clear_output(wait=True)
            self.draw()
            plt.show()

    def draw(self) -> Figure:
        """The figure for the current slider values."""
        return draw_margin_playground(
            self.margin_slider.value, self.distance_slider.value, self.max_distance
        )

    @property
    def widget(self) -> widgets.Widget:
        """The sliders, the summary and the figure, ready to ``display``."""
        controls = widgets.HBox([self.margin_slider, self.distance_slider])
        return widgets.VBox([controls, self.summary, self.output])

    def show(self) -> None:
        """Display the playground."""
        display(self.widget)
