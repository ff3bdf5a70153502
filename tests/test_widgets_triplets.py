"""The triplet chooser of notebook 04: its figure, its description, the widget driven from code.

What it shows is mined by ``mining.anchor_triplets`` (tested in test_mining.py).
"""

import matplotlib
import matplotlib.pyplot as plt
import pytest
import torch

from metric_course.distances import pairwise_distances
from metric_course.mining import anchor_triplets
from metric_course.widgets import (
    TripletChooser,
    describe_anchor_triplets,
    draw_anchor_triplets,
)

NAMES = ("zero", "one", "two", "three")


@pytest.fixture
def batch():
    """A P×K batch of 4 classes × 6 images, shuffled, with a mix of easy, semi-hard, hard."""
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(4).repeat_interleave(6)[torch.randperm(24, generator=generator)]
    centres = torch.randn(4, 8, generator=generator)
    points = 1.5 * centres[labels] + torch.randn(24, 8, generator=generator)
    distances = pairwise_distances(torch.nn.functional.normalize(points, dim=1))
    return distances, labels


def test_draw_shows_counts_in_the_legend_and_four_images(batch):
    distances, labels = batch
    view = anchor_triplets(distances, labels, 2, margin=0.2)
    fig = draw_anchor_triplets(view, distances, labels, torch.rand(24, 1, 8, 8), NAMES)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert f"hard negatives: {view.counts['hard']}" in legend
    assert f"easy negatives: {view.counts['easy']}" in legend
    assert len(fig.axes) == 5  # the radial view and anchor, positive, two negatives
    plt.close(fig)
    fig = draw_anchor_triplets(view, distances, labels)  # without images: one panel
    assert len(fig.axes) == 1
    plt.close(fig)


def test_chooser_follows_its_controls(batch):
    distances, labels = batch
    chooser = TripletChooser(distances, labels, torch.rand(24, 1, 8, 8), NAMES, anchor=1)
    assert chooser.view.anchor == 1
    chooser.anchor_slider.value = 7
    assert chooser.view.anchor == 7
    options = chooser.positive_choice.options
    assert len(options) == 5 and "(farthest)" in options[0][0]
    assert chooser.view.positive == options[0][1]
    chooser.positive_choice.value = options[-1][1]
    assert chooser.view.positive == options[-1][1] and chooser.view.anchor == 7
    chooser.margin_slider.value = 0.5
    assert chooser.view.margin == 0.5 and chooser.view.positive == options[-1][1]
    assert "margin α = 0.50" in chooser.summary.value
    chooser.select(3, margin=0.1)
    assert chooser.anchor_slider.value == 3 and chooser.margin_slider.value == 0.1
    assert len(chooser.widget.children) == 3
    plt.close("all")
    with pytest.raises(ValueError, match="distances must be"):
        TripletChooser(distances[:5], labels, None)


def test_description_says_when_semi_hard_falls_back():
    distances = torch.tensor([[0.0, 0.9, 0.2, 0.3], [0.9, 0, 1, 1], [0.2, 1, 0, 1], [0.3, 1, 1, 0]])
    view = anchor_triplets(distances, torch.tensor([0, 0, 1, 2]), 0, margin=0.2)
    text = describe_anchor_triplets(view, distances, NAMES)
    assert "falls back to the farthest negative" in text and "TensorFlow" in text
    assert "FaceNet's rule" not in text  # the fall-back is TensorFlow's, not FaceNet's


def test_figure_tells_close_distances_apart_and_keeps_category_colours_for_categories():
    # d(a, p) = 0.516 and the semi-hard negative's 0.519 both read 0.52 with two digits
    distances = torch.tensor(
        [[0.0, 0.516, 0.519, 0.43], [0.516, 0, 1, 1], [0.519, 1, 0, 1], [0.43, 1, 1, 0]]
    )
    labels = torch.tensor([0, 0, 1, 2])
    view = anchor_triplets(distances, labels, 0, margin=0.05)
    images = torch.rand(4, 1, 8, 8)
    fig = draw_anchor_triplets(view, distances, labels, images, NAMES[:3])
    texts = [t.get_text() for ax in fig.axes for t in [*ax.texts, ax.title]]
    texts += [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().texts]
    joined = "\n".join(texts)
    assert "d = 0.519" in joined and "d(a, p) = 0.516" in joined
    names = [t for ax in fig.axes for t in ax.texts if t.get_text() in NAMES]
    category = {matplotlib.colors.to_hex(c) for c in ("tab:red", "tab:orange", "0.6", "tab:blue")}
    assert names and all(matplotlib.colors.to_hex(t.get_color()) not in category for t in names)
    plt.close(fig)
