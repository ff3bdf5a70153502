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

from ..plotting import CLASS_COLOURS, class_colour


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


def draw_query_and_neighbours(
    ax, points, labels, query, neighbours, colours: dict[int, tuple], size=4
) -> None:
    """Scatter every point faintly, ring the neighbours, star the query (see ``highlight_mask``).

    ``colours`` comes from :func:`figure_colours`; classes it leaves out are drawn light grey.
    """
    mask = highlight_mask(len(points), query, neighbours)
    labels = np.asarray(labels)
    others = ~np.isin(labels, list(colours))
    ax.scatter(*points[others].T, s=size, alpha=0.25, color=OTHER_COLOUR)
    for label, colour in colours.items():
        ax.scatter(*points[labels == label].T, s=size, alpha=0.35, color=colour)
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
        color=colours[labels[query]],
        edgecolors="black",
        linewidths=1.0,
        label="query",
    )
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xticks([])
    ax.set_yticks([])


LEGEND_CLASSES = 12  # more classes than this, and only the classes on show get colours
OTHER_COLOUR = (0.8, 0.8, 0.8)
# tab10 without its grey, which would read as the other classes' light grey
HIGHLIGHT_COLOURS = tuple(c for c in CLASS_COLOURS if len(set(c)) > 1)


def figure_colours(labels, shown: Sequence[int]) -> dict[int, tuple]:
    """The colour of each class named in one figure: ``{label: colour}``.

    With few classes every class keeps its course colour (``class_colour``).
    With many, such as Omniglot's hundreds of characters, ten colours would
    repeat every ten classes and a legend naming "grey" would name every tenth
    character; so only the classes of the ``shown`` items (query first, then
    its neighbours) get colours, distinct ones in that order, and every other
    point is drawn light grey as "other classes".
    """
    labels = np.asarray(labels)
    classes = np.unique(labels)
    if len(classes) <= LEGEND_CLASSES:
        return {int(c): class_colour(c) for c in classes}
    on_show = dict.fromkeys(int(labels[i]) for i in shown)  # in order, once each
    return {c: HIGHLIGHT_COLOURS[i % len(HIGHLIGHT_COLOURS)] for i, c in enumerate(on_show)}


def legend_handles(
    labels: np.ndarray,
    names: Sequence[str],
    marks: bool = True,
    colours: dict[int, tuple] | None = None,
) -> list:
    """Legend entries of one size: a dot per class, the neighbour ring, the query star.

    With ``colours`` (from :func:`figure_colours`) the classes listed are its
    keys, plus "other classes" in light grey when some labels are not among them.
    """
    from matplotlib.lines import Line2D

    def dot(**style):
        return Line2D([], [], linestyle="none", **style)

    if colours is None:
        colours = {int(c): class_colour(c) for c in np.unique(labels)}
    handles = [
        dot(marker="o", markersize=6, color=colour, label=names[c]) for c, colour in colours.items()
    ]
    if not np.isin(labels, list(colours)).all():
        handles.append(dot(marker="o", markersize=6, color=OTHER_COLOUR, label="other classes"))
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
