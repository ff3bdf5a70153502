"""The epoch slider of notebook 06: snapshot lookup, shared limits, the frames it draws.

Widget callbacks never run under nbval, so everything a widget decides is a
plain function tested here; the widget itself is driven by setting its
controls' values from Python, which fires the same callbacks a click does.
"""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from metric_course.widgets import SnapshotSlider, shared_limits, snapshot_index
from metric_course.widgets.snapshots import square_limits


def test_snapshot_index_and_shared_limits():
    assert snapshot_index([0, 1, 2, 3], 2) == 2
    with pytest.raises(ValueError, match="epochs \\[0, 1\\]"):
        snapshot_index([0, 1], 5)
    (x0, x1), (y0, y1) = shared_limits([np.array([[0, 0], [1, 2]]), np.array([[-1, 0], [0, 4]])])
    assert x0 < -1 and x1 > 1 and y0 < 0 and y1 > 4
    assert np.isclose(x1 - x0, 2 * 1.1) and np.isclose(y1 - y0, 4 * 1.1)


def test_snapshot_slider_draws_the_chosen_epoch_with_fixed_limits():
    rng = np.random.default_rng(0)
    projections = [rng.normal(size=(12, 2)) * scale for scale in (1, 2, 3)]
    slider = SnapshotSlider(projections, np.arange(12) % 2, captions=["x", "y", "z"])
    slider.slider.value = 2
    fig = slider.draw()
    ax = fig.axes[0]
    assert ax.get_title() == "after epoch 2\nz"
    assert np.allclose(np.concatenate([c.get_offsets() for c in ax.collections]).mean(), 0, atol=10)
    assert (ax.get_xlim(), ax.get_ylim()) == slider.limits
    plt.close(fig)
    fig = slider.draw_all(zoom="shared")
    assert [a.get_title().split("\n")[0] for a in fig.axes] == [
        "before training",
        "after epoch 1",
        "after epoch 2",
    ]
    plt.close("all")
    with pytest.raises(ValueError, match="one of each"):
        SnapshotSlider(projections, np.arange(12) % 2, epochs=[0, 1])


def test_own_zoom_fits_each_frame_to_its_points_and_both_rows_are_drawn():
    rng = np.random.default_rng(0)
    projections = [rng.normal(size=(12, 2)) * scale for scale in (0.01, 1, 3)]
    slider = SnapshotSlider(projections, np.arange(12) % 3)
    slider.own_zoom.value = True  # what ticking "own zoom" does
    ax = slider.draw(epoch=0).axes[0]
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    shared = slider.limits
    assert x1 - x0 < 0.1 * (shared[0][1] - shared[0][0])  # the tiny first frame, filled
    low, high = projections[0].min(0), projections[0].max(0)
    assert x0 <= low[0] and x1 >= high[0] and y0 <= low[1] and y1 >= high[1]
    plt.close("all")
    fig = slider.draw_all(zoom="both", columns=3)
    panels = [a for a in fig.axes if a.get_title()]
    assert len(panels) == 6
    assert [a.get_ylabel() for a in panels[::3]] == ["shared axes", "own zoom"]
    assert (panels[0].get_xlim(), panels[0].get_ylim()) == shared
    assert panels[3].get_xlim()[1] - panels[3].get_xlim()[0] < 0.1 * (shared[0][1] - shared[0][0])
    plt.close("all")
    (x0, x1), (y0, y1) = square_limits(np.array([[0, 0], [4, 1]]))
    assert np.isclose(x1 - x0, y1 - y0) and x0 < 0 and x1 > 4 and y0 < 0 and y1 > 1
    with pytest.raises(ValueError, match="zoom must be"):
        slider.draw_all(zoom="tight")
