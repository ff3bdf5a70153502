"""A clickable projection (notebook 06): click a point to see its neighbours, hover, select a box.

:class:`ProjectionView` writes one self-contained piece of HTML and JavaScript:
the points, every item's image (one PNG sprite sheet as a data URI) and every
item's nearest neighbours, computed here in Python beforehand. The browser
needs no kernel and no widget manager, so the view works the same in
JupyterLab, classic Jupyter, VS Code and Colab (without its custom widget
manager), keeps working after the kernel stops, and :meth:`ProjectionView.save`
writes it as a standalone page. The logic the page runs is plain Python here
and tested: :func:`neighbour_table` (what a click shows), :func:`points_in_box`
and :func:`class_mix` (what a box selection lists). The page's own behaviour
is ``projection_view.js`` beside this module, a file that editors, linters and
``node --check`` read (tests/test_widgets_projection_view.py runs the check).

In the page: click (or tap) a point to make it the query; hover to see a
point's image and label; drag a box over an empty area to list what it holds.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import itertools
import json
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np
from matplotlib.colors import to_hex
from PIL import Image

from ..labels import as_labels
from ..neighbours import neighbour_table
from ..plotting import CLASS_COLOURS
from .drawing import as_images, class_name_list

_VIEW_NUMBERS = itertools.count()  # tells apart two views of the same data on one page


def points_in_box(points, corner, opposite) -> np.ndarray:
    """Indices of the points inside the box with corners ``corner`` and ``opposite`` (edges in).

    The corners may be given in any order, as a drag from any direction does.
    """
    points = np.asarray(points, dtype=float)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points must be (N, 2) coordinates, got {points.shape}")
    low = np.minimum(corner, opposite)
    high = np.maximum(corner, opposite)
    inside = np.all((points >= low) & (points <= high), axis=1)
    return np.flatnonzero(inside)


def class_mix(labels, indices, class_names: Sequence[str] | None = None) -> list[tuple[str, int]]:
    """``(class name, count)`` for the items ``indices``: most common first, then by label."""
    labels = as_labels(labels)
    names = class_name_list(labels, class_names)
    chosen, counts = np.unique(labels[np.asarray(indices, dtype=int)], return_counts=True)
    order = sorted(zip(chosen, counts, strict=True), key=lambda pair: (-pair[1], pair[0]))
    return [(names[label], int(count)) for label, count in order]


def sprite_sheet(images) -> tuple[bytes, int]:
    """All images tiled into one PNG, row by row: ``(png bytes, tiles per row)``.

    Grey images are drawn dark on light (as the course's figures draw them,
    larger values darker); colour images are clipped to [0, 1].
    """
    images = as_images(images, len(images))
    if images.ndim == 3:  # grey: one scale for all, the course's gray_r convention
        low, high = min(0.0, images.min()), max(1.0, images.max())
        pixels = 255 * (1 - (images - low) / (high - low))
    else:
        pixels = 255 * np.clip(images, 0, 1)
    pixels = pixels.round().astype(np.uint8)
    n, height, width = pixels.shape[:3]
    columns = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / columns))
    sheet = np.full((rows * height, columns * width, *pixels.shape[3:]), 255, dtype=np.uint8)
    for i, tile in enumerate(pixels):
        row, column = divmod(i, columns)
        sheet[row * height : (row + 1) * height, column * width : (column + 1) * width] = tile
    buffer = io.BytesIO()
    Image.fromarray(sheet).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue(), columns


@functools.cache
def page_script() -> str:
    """The page's JavaScript, ``projection_view.js`` beside this module (package data).

    It defines ``drawProjectionView(root)``; :meth:`ProjectionView.html` wraps
    it in a function of its own, so two views on one page share no names.
    """
    return resources.files(__package__).joinpath("projection_view.js").read_text("utf-8")


class ProjectionView:
    """The projection as a clickable page: query, neighbours, hover, box selection (notebook 06).

    Takes the same arrays as :class:`EmbeddingExplorer`: ``embeddings`` (N, D)
    define the neighbours, ``points`` (N, 2) place the items (a UMAP
    projection, say), ``images`` are shown and ``labels`` colour and name them
    through ``class_names``; ``query`` is the item shown first. With many
    classes (Omniglot's characters), colour by ``groups`` instead (integers,
    named by ``group_names``: the alphabets, say) while ✓ and ✗ still compare
    classes. Display it
    (the last line of a cell, or ``display(view)``), or :meth:`save` it as a
    page. Nothing runs in the kernel after it is drawn.
    """

    def __init__(
        self,
        embeddings,
        points,
        images,
        labels,
        class_names: Sequence[str] | None = None,
        k: int = 8,
        query: int = 0,
        title: str = "embedding space",
        size: int = 480,
        groups=None,
        group_names: Sequence[str] | None = None,
    ) -> None:
        self.labels = as_labels(labels)
        n = len(self.labels)
        self.points = np.asarray(points, dtype=float)
        if self.points.ndim != 2 or self.points.shape[1] != 2:
            raise ValueError(f"points must be (N, 2) coordinates, got {self.points.shape}")
        if not len(embeddings) == len(self.points) == n:
            raise ValueError(
                "embeddings, points and labels must describe the same items: got "
                f"{len(embeddings)}, {len(self.points)} and {n}"
            )
        if not np.isfinite(self.points).all():
            raise ValueError("points hold NaN or infinite coordinates; project finite embeddings")
        if not 0 <= query < n:
            raise ValueError(f"query {query} is outside 0..{n - 1}")
        self.class_names = class_name_list(self.labels, class_names)
        colour_by = self.labels if groups is None else np.asarray(groups, dtype=int)
        if colour_by.shape != self.labels.shape:
            raise ValueError(f"groups must give one group per item: got {colour_by.shape}")
        self.groups = colour_by
        self.group_names = (
            class_name_list(colour_by, group_names) if groups is not None else self.class_names
        )
        self.neighbours, self.distances = neighbour_table(embeddings, k)
        self.images = as_images(images, n)
        self.query = int(query)
        self.title = title
        self.size = int(size)

    def payload(self) -> dict:
        """What the page is given: plain lists, the points scaled into [0, 1000]."""
        low, high = self.points.min(axis=0), self.points.max(axis=0)
        scaled = (self.points - low) / np.where(high > low, high - low, 1) * 1000
        sheet, columns = sprite_sheet(self.images)
        return {
            "title": self.title,
            "size": self.size,
            "query": self.query,
            "points": scaled.round().astype(int).tolist(),
            "labels": self.labels.tolist(),
            "names": self.class_names,
            "groups": self.groups.tolist(),
            "group_names": self.group_names,
            "colours": [to_hex(c) for c in CLASS_COLOURS],
            "neighbours": self.neighbours.tolist(),
            "distances": np.round(self.distances, 4).tolist(),  # shown with three decimals
            "sprite": "data:image/png;base64," + base64.b64encode(sheet).decode("ascii"),
            "columns": columns,
            "tile": list(self.images.shape[1:3]),
        }

    def html(self) -> str:
        """The view as one ``<div>`` with its data and script inside."""
        data = json.dumps(self.payload(), separators=(",", ":"))
        digest = hashlib.sha1(data.encode()).hexdigest()[:10]
        element = f"metric-course-view-{digest}-{next(_VIEW_NUMBERS)}"
        # "</" inside the JSON would end the <script> element early.
        data = data.replace("</", "<\\/")
        return (
            f'<div id="{element}" class="metric-course-view">'
            "<noscript>This view needs JavaScript; the static figure shows the same.</noscript>"
            f'<script type="application/json">{data}</script>'
            f"<script>(() => {{\n{page_script()}\n"
            f"drawProjectionView(document.getElementById({json.dumps(element)}));\n}})();</script>"
            "</div>"
        )

    def _repr_html_(self) -> str:
        return self.html()

    def __repr__(self) -> str:
        n, k = self.neighbours.shape
        return (
            f"ProjectionView: {n} items of {len(np.unique(self.labels))} classes, "
            f"{k} neighbours each (shown as HTML where the front end runs JavaScript)"
        )

    def save(self, path: str | Path) -> Path:
        """Write the view as a standalone HTML page that opens in any browser."""
        path = Path(path)
        page = (
            '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
            f"<title>{self.title}</title></head><body>{self.html()}</body></html>\n"
        )
        path.write_text(page, encoding="utf-8")
        return path
