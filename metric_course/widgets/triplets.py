"""The triplet chooser of notebook 04: one anchor's negatives sorted by how hard they are.

What is mined (:func:`metric_course.mining.anchor_triplets`) lives in
``mining``; this module draws it and wraps it in controls.
"""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import display

from ..labels import as_labels
from ..mining import (
    CATEGORY_NAMES,
    EASY,
    HARD,
    INVALID,
    SEMI_HARD,
    AnchorTriplets,
    anchor_triplets,
)
from .drawing import show_in

CATEGORY_COLOURS = {HARD: "tab:red", SEMI_HARD: "tab:orange", EASY: "0.6"}


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
    """The batch seen from the anchor, each sample coloured by its category (notebook 04).

    Distance from the centre is the real embedding distance to the anchor;
    the angle only groups the samples by class. Circles mark d(a, p) and
    d(a, p) + α: negatives inside the first are hard, in the ring semi-hard,
    outside easy. With ``images`` the anchor, the positive and the negatives
    chosen by batch-hard and by the semi-hard rule (TensorFlow's reading of FaceNet)
    are shown beside it.
    """
    distances = np.asarray(distances, dtype=float)
    labels = as_labels(labels)
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
        label=f"positive p: d(a, p) = {d_ap:.3f}",
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
            color="0.2",  # not a category colour: those say hard, semi-hard, easy, positive
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
            shown.append((view.semi_hard_negative, "semi-hard rule's negative", "black"))
        for slot, (index, role, colour) in zip(
            ((0, 2), (0, 3), (1, 2), (1, 3)), shown, strict=False
        ):
            category = view.categories[index]
            kind = f", {CATEGORY_NAMES[category]}" if category != INVALID else ""
            distance = "" if index == view.anchor else f"\nd = {radius[index]:.3f}{kind}"
            ax_image = fig.add_subplot(grid[slot])
            ax_image.imshow(images[index], cmap="gray_r", vmin=0, vmax=1)
            ax_image.set_title(
                f"{role} #{index}\n{names[labels[index]]}{distance}", fontsize=8, color=colour
            )
            ax_image.axis("off")
    fig.tight_layout()
    return fig


def describe_anchor_triplets(view: AnchorTriplets, distances, class_names: Sequence[str]) -> str:
    """One paragraph saying what the anchor's figure shows, with the numbers (notebook 04)."""
    distances = np.asarray(distances, dtype=float)
    counts = view.counts
    text = (
        f"d(a, p) = {view.positive_distance:.3f}, margin α = {view.margin:.2f}: "
        f"{counts['hard']} hard, {counts['semi-hard']} semi-hard and {counts['easy']} easy "
        f"negatives. Batch-hard picks #{view.hardest_negative} "
        f"(d = {distances[view.anchor, view.hardest_negative]:.3f}); "
    )
    if view.semi_hard_negative is None:
        return text + (
            "every negative is closer than the positive, so the semi-hard rule falls back to the "
            "farthest negative, a hard one (TensorFlow's TripletSemiHardLoss does this; FaceNet "
            "does not say)."
        )
    return text + (
        f"the semi-hard rule (TensorFlow's reading of FaceNet) picks #{view.semi_hard_negative} "
        f"(d = {distances[view.anchor, view.semi_hard_negative]:.3f})."
    )


class TripletChooser:
    """Pick an anchor, one of its positives and a margin: its negatives by hardness (notebook 04).

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
        self.labels = as_labels(labels)
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
        show_in(self.output, self.draw)

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
