"""Interactive front ends (core ipywidgets, versions 7.7 and 8).

Each widget is a thin shell around plain functions: the logic (which points
are neighbours, which snapshot an epoch shows) lives in functions that tests
call directly, because widget callbacks never run outside a live front end.
Every widget draws with Matplotlib into an ``Output``, which renders the same
in JupyterLab, classic Jupyter and Google Colab.
"""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import clear_output, display
from matplotlib.figure import Figure

from .distances import cross_distances
from .plotting import class_colour, scatter_embeddings


def nearest_neighbours(
    embeddings: torch.Tensor, query: int, k: int = 8
) -> tuple[np.ndarray, np.ndarray]:
    """Indices and distances of the ``k`` items nearest to item ``query`` (itself excluded)."""
    embeddings = torch.as_tensor(embeddings, dtype=torch.float32)
    if not 0 <= query < len(embeddings):
        raise ValueError(f"query index {query} is outside 0..{len(embeddings) - 1}")
    k = min(k, len(embeddings) - 1)
    distances = cross_distances(embeddings[query : query + 1], embeddings)[0]
    distances[query] = float("inf")
    nearest = distances.topk(k, largest=False)
    return nearest.indices.numpy(), nearest.values.numpy()


def highlight_mask(n: int, query: int, neighbours: Sequence[int]) -> np.ndarray:
    """Per point: 2 for the query, 1 for a neighbour, 0 for the rest (for drawing)."""
    mask = np.zeros(n, dtype=np.int8)
    mask[np.asarray(neighbours, dtype=int)] = 1
    mask[query] = 2
    return mask


def snapshot_index(epochs: Sequence[int], epoch: int) -> int:
    """Position of the snapshot of ``epoch`` (0 = before training) in a snapshot list."""
    epochs = list(epochs)
    if epoch not in epochs:
        raise ValueError(f"no snapshot for epoch {epoch}; snapshots exist for epochs {epochs}")
    return epochs.index(epoch)


class EmbeddingExplorer:
    """Pick a query image and see its nearest neighbours, in the image and in the projection.

    Works with any data: ``embeddings`` (N, D) define the neighbours,
    ``points`` (N, 2) is where each item is drawn (a UMAP projection, say),
    ``images`` (N, H, W) or (N, 1, H, W) are shown, ``labels`` (N,) colour them.

    Choose the query by class and index within the class, or by global index.
    Call :meth:`select` from code to do what the controls do.
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
        self.embeddings = torch.as_tensor(embeddings, dtype=torch.float32)
        self.points = np.asarray(points, dtype=float)
        self.images = np.asarray(images, dtype=float).reshape(
            len(self.points), *np.shape(images)[-2:]
        )
        self.labels = np.asarray(labels, dtype=int)
        n = len(self.labels)
        if not (len(self.embeddings) == len(self.points) == len(self.images) == n):
            raise ValueError(
                "embeddings, points, images and labels must describe the same items: got "
                f"{len(self.embeddings)}, {len(self.points)}, {len(self.images)} and {n}"
            )
        if self.points.ndim != 2 or self.points.shape[1] != 2:
            raise ValueError(f"points must be (N, 2) coordinates, got {self.points.shape}")
        self.class_names = class_names or [str(c) for c in range(self.labels.max() + 1)]
        self.k = k
        self.title = title
        self.query = 0
        self.neighbours, self.distances = nearest_neighbours(self.embeddings, 0, k)

        classes = [(self.class_names[c], int(c)) for c in np.unique(self.labels)]
        self.class_choice = widgets.Dropdown(options=classes, description="class")
        self.position = widgets.IntSlider(min=0, max=0, description="example")
        self.index = widgets.BoundedIntText(min=0, max=n - 1, description="index")
        self.output = widgets.Output()
        self.class_choice.observe(self._on_class, names="value")
        self.position.observe(self._on_position, names="value")
        self.index.observe(self._on_index, names="value")
        self._on_class()

    def members(self, label: int) -> np.ndarray:
        """Indices of the items of one class, in order."""
        return np.flatnonzero(self.labels == label)

    def select(self, query: int) -> None:
        """Make item ``query`` the query: find its neighbours and redraw."""
        self.query = int(query)
        self.neighbours, self.distances = nearest_neighbours(self.embeddings, self.query, self.k)
        if self.index.value != self.query:
            self.index.value = self.query
        with self.output:
            clear_output(wait=True)
            self.draw()
            plt.show()

    def _on_class(self, change=None) -> None:
        members = self.members(self.class_choice.value)
        self.position.max = len(members) - 1
        self.position.value = 0
        self.select(members[0])

    def _on_index(self, change) -> None:
        if change["new"] != self.query:  # not an echo of select() updating the box
            self.select(change["new"])

    def _on_position(self, change) -> None:
        self.select(self.members(self.class_choice.value)[change["new"]])

    def draw(self):
        """Draw the projection with the query and its neighbours, and their images."""
        columns = (self.k + 1) // 2  # neighbours fill two rows under the query
        fig = plt.figure(figsize=(5.5 + 1.3 * columns, 5.2))
        grid = fig.add_gridspec(3, 2 + columns, width_ratios=[4.5, 0.3] + [1] * columns)
        ax = fig.add_subplot(grid[:, 0])
        scatter_embeddings(self.points, self.labels, self.class_names, ax=ax, size=4, alpha=0.25)
        ax.scatter(
            *self.points[self.neighbours].T,
            s=60,
            facecolors="none",
            edgecolors="black",
            linewidths=1.2,
            label="neighbours",
        )
        ax.scatter(*self.points[self.query], s=220, marker="*", color="black", label="query")
        ax.legend(markerscale=1, fontsize=7, loc="best", framealpha=0.8)
        ax.set_title(self.title)
        query_label = self.labels[self.query]
        ax_query = fig.add_subplot(grid[0, 2:4])
        ax_query.imshow(self.images[self.query], cmap="gray_r")
        ax_query.set_title(f"query #{self.query}\n{self.class_names[query_label]}", fontsize=9)
        ax_query.axis("off")
        for i, (index, distance) in enumerate(zip(self.neighbours, self.distances, strict=True)):
            ax_n = fig.add_subplot(grid[1 + i // columns, 2 + i % columns])
            label = self.labels[index]
            ax_n.imshow(self.images[index], cmap="gray_r")
            mark = "✓" if label == query_label else "✗"
            ax_n.set_title(
                f"{mark} {self.class_names[label]}\nd={distance:.2f}",
                fontsize=7,
                color=class_colour(label),
            )
            ax_n.axis("off")
        return fig

    @property
    def widget(self) -> widgets.Widget:
        """The controls and the figure, ready to ``display``."""
        controls = widgets.HBox([self.class_choice, self.position, self.index])
        return widgets.VBox([controls, self.output])

    def show(self) -> None:
        """Display the explorer."""
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
