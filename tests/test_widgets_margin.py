"""The margin playground of notebook 02: its logic, against the package's loss and autograd."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from metric_course.losses import contrastive_loss
from metric_course.widgets import (
    MarginPlayground,
    contrastive_pair_loss,
    contrastive_pair_slope,
    describe_pair_losses,
    draw_margin_playground,
)

DISTANCES = np.array([0.0, 0.1, 0.5, 0.99, 1.0, 1.01, 1.7, 3.0])


def pairs_at(distances: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Pairs of 2-D embeddings whose distances are ``distances``, gradients enabled."""
    b = torch.zeros(len(distances), 2, dtype=torch.float64)
    a = torch.stack([torch.tensor(distances), torch.zeros(len(distances))], dim=1)
    return a.requires_grad_(), b


@pytest.mark.parametrize("margin", [0.5, 1.0, 1.5])
@pytest.mark.parametrize("similar", [True, False])
def test_loss_and_slope_match_the_package_and_autograd(margin, similar):
    a, b = pairs_at(DISTANCES)
    y = torch.full((len(DISTANCES),), 0.0 if similar else 1.0, dtype=torch.float64)
    per_pair = [
        contrastive_loss(a[i : i + 1], b[i : i + 1], y[i : i + 1], margin)
        for i in range(len(DISTANCES))
    ]
    expected_loss = torch.stack(per_pair).detach().numpy()
    np.testing.assert_allclose(contrastive_pair_loss(DISTANCES, margin, similar), expected_loss)

    torch.stack(per_pair).sum().backward()  # d L / d a_x = d L / d D, as D = a_x here
    # At D = 0 the direction of the pair is undefined, so autograd gives the embeddings
    # gradient 0, while the loss still slopes in D; compare the others.
    np.testing.assert_allclose(
        contrastive_pair_slope(DISTANCES, margin, similar)[1:],
        a.grad[1:, 0].numpy(),
        atol=1e-12,
    )


def test_dissimilar_pairs_past_the_margin_cost_nothing():
    beyond = np.array([1.0, 1.2, 5.0])
    assert (contrastive_pair_loss(beyond, 1.0, similar=False) == 0).all()
    assert (contrastive_pair_slope(beyond, 1.0, similar=False) == 0).all()
    assert (contrastive_pair_slope(np.array([0.2, 0.9]), 1.0, similar=False) < 0).all()
    assert (contrastive_pair_slope(np.array([0.2, 3.0]), 1.0, similar=True) > 0).all()


def test_bad_margin_or_distance_raise_value_error():
    with pytest.raises(ValueError, match="margin"):
        contrastive_pair_loss(DISTANCES, 0.0, similar=True)
    with pytest.raises(ValueError, match="negative"):
        contrastive_pair_slope(np.array([-0.1]), 1.0, similar=False)


def test_description_names_pull_push_and_ignore():
    text = describe_pair_losses(0.5, 1.0)
    assert "similar pair (Y = 0) at D = 0.50: loss 0.125, pulled together" in text
    assert "dissimilar pair (Y = 1) at D = 0.50: loss 0.125, pushed apart" in text
    assert "ignored" in describe_pair_losses(1.2, 1.0)
    assert "nothing to do" in describe_pair_losses(0.0, 1.0)


def test_static_figure_and_widget_follow_the_sliders():
    fig = draw_margin_playground(1.0, distance=0.7)
    assert len(fig.axes) == 2
    assert all(ax.get_xlabel() and ax.get_ylabel() for ax in fig.axes)
    plt.close(fig)

    playground = MarginPlayground(margin=1.0, distance=0.7)
    playground.margin_slider.value = 0.5  # what the front end does; the observer redraws
    assert "m = 0.50" in playground.summary.value and "ignored" in playground.summary.value
    playground.distance_slider.value = 0.2
    assert "pushed apart" in playground.summary.value
    assert playground.widget.children[-1] is playground.output
    plt.close("all")
