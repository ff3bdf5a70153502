"""The side-by-side view of notebook 06: the same query in several embedding spaces."""

from __future__ import annotations

from collections.abc import Sequence

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
from .explorer import QueryPicker


class SpaceComparison:
    """The same query in several embedding spaces side by side, with its neighbours (notebook 06).

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
        self.labels = as_labels(labels)
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
        self.images = as_images(images, n)
        self.class_names = class_name_list(self.labels, class_names)
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
        found = {
            name: neighbour_table(embeddings, self.k, items=[self.query])
            for name, (embeddings, _) in self.spaces.items()
        }
        return {name: (indices[0], distances[0]) for name, (indices, distances) in found.items()}

    def draw(self) -> Figure:
        """One column per space: the projection on top, the neighbours' images below."""
        query, label = self.query, self.labels[self.query]
        found = self.neighbours()
        shown = [query, *(i for neighbours, _ in found.values() for i in neighbours)]
        colours = figure_colours(self.labels, shown)
        columns = len(self.spaces)
        fig = plt.figure(figsize=(1.6 + 4.0 * columns, 6.2))
        grid = fig.add_gridspec(
            2, 1 + columns, width_ratios=[0.5] + [1] * columns, height_ratios=[3, 1.6]
        )
        show_image(
            fig.add_subplot(grid[0, 0]),
            self.images[query],
            f"query #{query}\n{self.class_names[label]}",
            colours[label],
            fontsize=9,
        )
        per_row = (self.k + 1) // 2
        for column, (name, (_, points)) in enumerate(self.spaces.items(), start=1):
            neighbours, distances = found[name]
            ax = fig.add_subplot(grid[0, column])
            draw_query_and_neighbours(ax, points, self.labels, query, neighbours, colours)
            same = int((self.labels[neighbours] == label).sum())
            ax.set_title(
                f"{name}\n{same} of {len(neighbours)} nearest are the same class", fontsize=10
            )
            strip = grid[1, column].subgridspec(2, per_row, wspace=0.1, hspace=0.45)
            for i, (index, distance) in enumerate(zip(neighbours, distances, strict=True)):
                mark = "✓" if self.labels[index] == label else "✗"
                show_image(
                    fig.add_subplot(strip[i // per_row, i % per_row]),
                    self.images[index],
                    f"{mark} d={distance:.3f}",
                    colours[self.labels[index]],
                    fontsize=7,
                )
        fig.legend(
            handles=legend_handles(self.labels, self.class_names, colours=colours),
            loc="lower center",
            ncol=12,
            fontsize=8,
            frameon=False,
        )
        fig.subplots_adjust(left=0.02, right=0.99, top=0.9, bottom=0.08, wspace=0.15)
        return fig

    def _redraw(self) -> None:
        show_in(self.output, self.draw)

    @property
    def widget(self) -> widgets.Widget:
        return widgets.VBox([self.picker.widget, self.output])

    def show(self) -> None:
        """Display the controls and the side-by-side figure."""
        display(self.widget)
