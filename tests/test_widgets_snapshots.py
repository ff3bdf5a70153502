"""The epoch slider of notebook 06: snapshot lookup, shared limits, the frames it draws.

Widget callbacks never run under nbval, so everything a widget decides is a
plain function tested here; the widget itself is driven by setting its
controls' values from Python, which fires the same callbacks a click does.
"""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from metric_course.widgets import SnapshotSlider, shared_limits, snapshot_index


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
    fig = slider.draw_all()
    assert [a.get_title().split("\n")[0] for a in fig.axes] == [
        "before training",
        "after epoch 1",
        "after epoch 2",
    ]
    plt.close("all")
    with pytest.raises(ValueError, match="one of each"):
        SnapshotSlider(projections, np.arange(12) % 2, epochs=[0, 1])
