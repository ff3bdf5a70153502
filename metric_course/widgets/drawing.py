"""Drawing shared by the widgets: the explorer, the snapshot slider, the side-by-side view.

Class names, images in any common layout, a query with its ringed
neighbours, one legend style (so the widgets look alike), and
:func:`show_in`, how every widget redraws its figure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import clear_output

from ..plotting import class_colour, scatter_embeddings


def show_in(output, draw: Callable[[], object]) -> None:
    """Show the figure ``draw()`` makes in the ``Output`` widget, in place of the last one.

    ``clear_output(wait=True)`` keeps the old figure until the new one is
    drawn, so a slider dragged quickly does not flicker.
    """
    with output:
        clear_output(wait=True)
        draw()
        plt.show()


def highlight_mask(n: int, query: int, neighbours: Sequence[int]) -> np.ndarray:
    """Per point: 2 for the query, 1 for a neighbour, 0 for the rest (for drawing)."""
    mask = np.zeros(n, dtype=np.int8)
    mask[np.asarray(neighbours, dtype=int)] = 1
    mask[query] = 2
    return mask


def class_name_list(labels: np.ndarray, class_names: Sequence[str] | None) -> list[str]:
    if len(labels) and labels.min() < 0:
        raise ValueError(
            f"labels must be class ids 0, 1, 2, …, got {labels.min()}: a negative id would be "
            "shown under the last class name; shift them, e.g. labels - labels.min()"
        )
    if class_names is not None:
        if labels.max() >= len(class_names):
            raise ValueError(
                f"labels go up to {labels.max()} but only {len(class_names)} class names given"
            )
        return list(class_names)
    return [str(c) for c in range(int(labels.max()) + 1)]


def as_images(images, n: int) -> np.ndarray:
    images = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else images
    images = np.asarray(images, dtype=float)
    if len(images) != n:
        raise ValueError(f"got {len(images)} images for {n} items")
    if images.ndim == 4 and images.shape[1] in (1, 3):  # (N, C, H, W) -> (N, H, W[, C])
        images = images[:, 0] if images.shape[1] == 1 else images.transpose(0, 2, 3, 1)
    if not (images.ndim == 3 or (images.ndim == 4 and images.shape[3] == 3)):
        raise ValueError(
            f"images must be (N, H, W) grey, or (N, 1, H, W), (N, 3, H, W) or (N, H, W, 3), got "
            f"{images.shape}; with another number of channels, show one, e.g. images[:, :1]"
        )
    return images


def show_image(ax, image: np.ndarray, title: str, colour="black", fontsize: int = 8) -> None:
    ax.imshow(image, cmap="gray_r", vmin=min(0.0, image.min()), vmax=max(1.0, image.max()))
    ax.set_title(title, fontsize=fontsize, color=colour)
    ax.axis("off")


def draw_query_and_neighbours(ax, points, labels, names, query, neighbours, size=4) -> None:
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


LEGEND_CLASSES = 12  # more classes than this, and a legend lists only the classes on show


def legend_labels(labels: np.ndarray, shown: Sequence[int]) -> np.ndarray:
    """The labels a legend lists: every class when there are few, else those of ``shown`` items.

    With Omniglot's hundreds of characters a legend of every class would cover
    the figure; the query's and its neighbours' classes are the ones to name.
    """
    labels = np.asarray(labels)
    if len(np.unique(labels)) <= LEGEND_CLASSES:
        return labels
    return labels[np.asarray(shown, dtype=int)]


def legend_handles(labels: np.ndarray, names: Sequence[str], marks: bool = True) -> list:
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
