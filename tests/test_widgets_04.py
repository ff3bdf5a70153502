"""The triplet chooser of notebook 04: its logic against loops, and the widget driven from code."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from metric_course.distances import pairwise_distances
from metric_course.mining import EASY, HARD, INVALID, SEMI_HARD
from metric_course.widgets import (
    TripletChooser,
    anchor_triplets,
    category_shares,
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


def loop_categories(distances, labels, anchor, positive, margin):
    categories = []
    for n in range(len(labels)):
        d_ap, d_an = float(distances[anchor, positive]), float(distances[anchor, n])
        if labels[n] == labels[anchor]:
            categories.append(INVALID)
        elif d_an < d_ap:
            categories.append(HARD)
        elif d_an < d_ap + margin:
            categories.append(SEMI_HARD)
        else:
            categories.append(EASY)
    return np.array(categories)


def test_anchor_triplets_agrees_with_loops(batch):
    distances, labels = batch
    seen = set()
    for anchor in range(len(labels)):
        view = anchor_triplets(distances, labels, anchor, margin=0.3)
        positives = [p for p in range(len(labels)) if p != anchor and labels[p] == labels[anchor]]
        negatives = [n for n in range(len(labels)) if labels[n] != labels[anchor]]
        row = distances[anchor]
        assert view.positive == max(positives, key=lambda p: row[p])  # batch-hard's positive
        assert view.hardest_negative == min(negatives, key=lambda n: row[n])
        farther = [n for n in negatives if row[n] >= row[view.positive]]
        expected_semi = min(farther, key=lambda n: row[n]) if farther else None
        assert view.semi_hard_negative == expected_semi
        expected = loop_categories(distances, labels, anchor, view.positive, 0.3)
        np.testing.assert_array_equal(view.categories, expected)
        assert sum(view.counts.values()) == len(negatives)
        seen.update(c for c in view.categories.tolist() if c != INVALID)
    assert seen == {EASY, SEMI_HARD, HARD}  # the batch exercises every category


def test_anchor_triplets_with_a_chosen_positive_and_errors(batch):
    distances, labels = batch
    anchor = 0
    nearest = min(
        (p for p in range(24) if p != anchor and labels[p] == labels[anchor]),
        key=lambda p: distances[anchor, p],
    )
    view = anchor_triplets(distances, labels, anchor, margin=0.2, positive=nearest)
    assert view.positive == nearest
    assert view.positive_distance == pytest.approx(float(distances[anchor, nearest]))
    with pytest.raises(ValueError, match="outside"):
        anchor_triplets(distances, labels, 24, margin=0.2)
    with pytest.raises(ValueError, match="margin"):
        anchor_triplets(distances, labels, 0, margin=-0.1)
    other = int((labels != labels[anchor]).nonzero()[0])
    with pytest.raises(ValueError, match="not an anchor-positive pair"):
        anchor_triplets(distances, labels, anchor, margin=0.2, positive=other)
    lonely = labels.clone()
    lonely[anchor] = 9
    with pytest.raises(ValueError, match="no positive"):
        anchor_triplets(distances, lonely, anchor, margin=0.2)


def test_semi_hard_negative_is_none_when_every_negative_is_closer():
    distances = torch.tensor([[0.0, 0.9, 0.2, 0.3], [0.9, 0, 1, 1], [0.2, 1, 0, 1], [0.3, 1, 1, 0]])
    view = anchor_triplets(distances, torch.tensor([0, 0, 1, 2]), 0, margin=0.2)
    assert view.semi_hard_negative is None and view.hardest_negative == 2
    assert view.counts == {"hard": 2, "semi-hard": 0, "easy": 0}
    assert "falls back" in describe_anchor_triplets(view, distances, NAMES)


def test_category_shares_count_every_valid_triplet(batch):
    distances, labels = batch
    counts = {HARD: 0, SEMI_HARD: 0, EASY: 0}
    for a in range(24):
        for p in range(24):
            if p != a and labels[p] == labels[a]:
                for c in loop_categories(distances, labels, a, p, 0.2):
                    if c != INVALID:
                        counts[c] += 1
    total = sum(counts.values())
    shares = category_shares(distances, labels, 0.2)
    assert shares == pytest.approx(
        {
            "hard": counts[HARD] / total,
            "semi-hard": counts[SEMI_HARD] / total,
            "easy": counts[EASY] / total,
        }
    )


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
