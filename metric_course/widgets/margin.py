"""The margin playground of notebook 02: the contrastive loss of one pair and its slope.

NumPy formulas of one pair, checked against ``losses.contrastive_loss`` and
autograd in the tests, drawn against the distance with a margin slider.
"""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display
from matplotlib.figure import Figure

from .drawing import show_in


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
    """The loss and its slope against D, for a similar and a dissimilar pair (notebook 02).

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
    """Sliders for the margin m and a pair's distance D (notebook 02).

    They redraw :func:`draw_margin_playground`.
    """

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
        show_in(self.output, self.draw)

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
