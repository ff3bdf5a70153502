"""The embedding explorer of notebook 06: pick a query image, see its nearest neighbours.

:class:`QueryPicker` names one item three ways (class, position in the class,
index) and keeps them in agreement through :func:`class_members` and
:func:`locate`; :class:`EmbeddingExplorer` shows the item's neighbours.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import display
from matplotlib.figure import Figure

from ..labels import as_labels
from ..neighbours import neighbour_table
from .drawing import (
    as_images,
    class_name_list,
    draw_query_and_neighbours,
    figure_colours,
    legend_handles,
    show_image,
    show_in,
)


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


class EmbeddingExplorer:
    """Pick a query image, see its nearest neighbours as images and in a projection (notebook 06).

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
        self.labels = as_labels(labels)
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
        self.images = as_images(images, n)
        self.class_names = class_name_list(self.labels, class_names)
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
        self._update(self.picker.query)

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
        indices, distances = neighbour_table(self.embeddings, self.k, items=[self.query])
        self.neighbours, self.distances = indices[0], distances[0]
        self._redraw()

    def _redraw(self) -> None:
        show_in(self.output, self.draw)

    def draw(self) -> Figure:
        """The projection with the query and its neighbours, and their images, as a figure."""
        columns = max((len(self.neighbours) + 1) // 2, 2)  # two rows of neighbours
        fig = plt.figure(figsize=(5.5 + 1.25 * columns, 5.8))
        grid = fig.add_gridspec(3, 2 + columns, width_ratios=[4.5, 0.25] + [1] * columns)
        ax = fig.add_subplot(grid[:, 0])
        colours = figure_colours(self.labels, [self.query, *self.neighbours])
        draw_query_and_neighbours(
            ax, self.points, self.labels, self.query, self.neighbours, colours
        )
        ax.set_title(self.title, fontsize=10)
        query_label = self.labels[self.query]
        same = int((self.labels[self.neighbours] == query_label).sum())
        show_image(
            fig.add_subplot(grid[0, 2:4]),
            self.images[self.query],
            f"query #{self.query}: {self.class_names[query_label]}\n"
            f"{same} of {len(self.neighbours)} nearest share its class",
            colour=colours[query_label],
            fontsize=9,
        )
        fig.legend(
            handles=legend_handles(self.labels, self.class_names, colours=colours),
            loc="lower center",
            ncol=6,
            fontsize=8,
            frameon=False,
        )
        fig.subplots_adjust(bottom=0.16, top=0.92, left=0.02, right=0.98)
        for i, (index, distance) in enumerate(zip(self.neighbours, self.distances, strict=True)):
            label = self.labels[index]
            mark = "✓" if label == query_label else "✗"
            show_image(
                fig.add_subplot(grid[1 + i // columns, 2 + i % columns]),
                self.images[index],
                f"{mark} {self.class_names[label]}\nd = {distance:.3f}",
                colour=colours[label],
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
