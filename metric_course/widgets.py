"""Interactive front ends (core ipywidgets, versions 7.7 and 8).

Each widget is a thin shell around plain functions: the logic (which points
are neighbours, which snapshot an epoch shows) lives in functions that tests
call directly, because widget callbacks never run outside a live front end.
Every widget draws with Matplotlib into an ``Output``, which renders the same
in JupyterLab, classic Jupyter and Google Colab.
"""

from __future__ import annotations

from collections.abc import Sequence
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
