"""The drawing shared by the notebook-06 widgets: which point is the query, which a neighbour.

Widget callbacks never run under nbval, so everything a widget decides is a
plain function tested here; the widget itself is driven by setting its
controls' values from Python, which fires the same callbacks a click does.
"""

from metric_course.widgets.drawing import highlight_mask


def test_highlight_mask_marks_query_over_neighbours():
    assert highlight_mask(5, 2, [0, 2, 4]).tolist() == [1, 0, 2, 0, 1]
