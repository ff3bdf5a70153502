"""The clickable projection of notebook 06: what a click and a box show, and the page it writes.

The page's JavaScript runs only in a browser (tests/test_browser.py clicks it);
here the same decisions are checked as plain functions against brute-force loops.
"""

import base64
import io
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from metric_course.neighbours import nearest_neighbours
from metric_course.widgets import (
    ProjectionView,
    class_mix,
    neighbour_table,
    points_in_box,
    sprite_sheet,
)
from metric_course.widgets.projection_view import page_script


def _data(n=40, dim=5, classes=4, seed=0):
    generator = torch.Generator().manual_seed(seed)
    embeddings = torch.randn(n, dim, generator=generator)
    points = torch.randn(n, 2, generator=generator).numpy()
    images = torch.rand(n, 1, 6, 7, generator=generator)
    labels = np.arange(n) % classes
    return embeddings, points, images, labels


def test_neighbour_table_matches_a_brute_force_search_row_by_row():
    embeddings, *_ = _data()
    indices, distances = neighbour_table(embeddings, k=6, chunk=7)  # chunks that do not divide N
    for query in range(len(embeddings)):
        brute = sorted(
            (float(torch.linalg.norm(embeddings[query] - embeddings[other])), other)
            for other in range(len(embeddings))
            if other != query
        )[:6]
        assert indices[query].tolist() == [other for _, other in brute]
        np.testing.assert_allclose(distances[query], [d for d, _ in brute], atol=1e-5)
        one = nearest_neighbours(embeddings[[query]], embeddings, 6, exclude_self=[query])
        assert indices[query].tolist() == one.indices[0].tolist()
    some = neighbour_table(embeddings, k=6, items=[5, 0])
    assert some[0].tolist() == indices[[5, 0]].tolist()


def test_neighbour_table_breaks_ties_by_lower_index_and_caps_k():
    embeddings = torch.tensor([[0.0], [1.0], [-1.0], [1.0], [5.0]])
    indices, distances = neighbour_table(embeddings, k=10)
    assert indices.shape == (5, 4)  # at most N - 1 neighbours
    assert indices[0].tolist() == [1, 2, 3, 4]  # 1, 2 and 3 are all at distance 1
    assert distances[1, 0] == 0 and indices[1, 0] == 3  # a duplicate is a neighbour at 0
    with pytest.raises(ValueError, match="at least two"):
        neighbour_table(embeddings[:1])
    with pytest.raises(ValueError, match="k must be at least 1"):
        neighbour_table(embeddings, k=0)


def test_points_in_box_matches_a_loop_from_any_corner():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(200, 2))
    points[0] = [0.5, -0.25]  # on the edge: inside
    corners = [(-0.3, -0.25), (0.5, 0.8)]
    expected = [i for i, (x, y) in enumerate(points) if -0.3 <= x <= 0.5 and -0.25 <= y <= 0.8]
    assert 0 in expected
    assert points_in_box(points, *corners).tolist() == expected
    assert points_in_box(points, (0.5, -0.25), (-0.3, 0.8)).tolist() == expected
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        points_in_box(points[:, :1], (0, 0), (1, 1))


def test_class_mix_counts_most_common_first_then_by_label():
    labels = np.array([2, 0, 2, 1, 2, 0, 1, 3])
    names = ["zero", "one", "two", "three"]
    assert class_mix(labels, [0, 1, 2, 3, 4, 5, 6], names) == [("two", 3), ("zero", 2), ("one", 2)]
    assert class_mix(labels, [], names) == []
    assert class_mix(labels, [7]) == [("3", 1)]


def test_sprite_sheet_tiles_every_image_in_order_dark_on_light():
    images = np.zeros((5, 3, 4))
    for i in range(5):
        images[i, 0, 0] = i / 4  # a pixel whose darkness names the image
    png, columns = sprite_sheet(images)
    sheet = np.asarray(Image.open(io.BytesIO(png)))
    assert columns == 3 and sheet.shape == (2 * 3, 3 * 4)
    for i in range(5):
        row, column = divmod(i, columns)
        tile = sheet[row * 3 : (row + 1) * 3, column * 4 : (column + 1) * 4]
        assert tile[0, 0] == round(255 * (1 - i / 4))
        assert (tile.ravel()[1:] == 255).all()  # 0 is white paper


def _payload(html: str) -> dict:
    match = re.search(r'<script type="application/json">(.*?)</script>', html, re.S)
    return json.loads(match.group(1).replace("<\\/", "</"))


def test_view_embeds_points_images_and_the_neighbour_table(tmp_path):
    embeddings, points, images, labels = _data()
    names = ["a</script>", "b", "c", "d"]  # a name that would end the script early
    view = ProjectionView(embeddings, points, images, labels, names, k=5, query=3)
    html = view._repr_html_()
    assert html.count("</script>") == 2  # the data and the code, nothing cut short
    data = _payload(html)
    assert data["query"] == 3 and data["names"] == names and data["tile"] == [6, 7]
    assert data["neighbours"] == neighbour_table(embeddings, 5)[0].tolist()
    assert np.array(data["points"]).min() == 0 and np.array(data["points"]).max() == 1000
    assert data["labels"] == labels.tolist()
    sheet = Image.open(io.BytesIO(base64.b64decode(data["sprite"].split(",", 1)[1])))
    assert sheet.size == (data["columns"] * 7, 6 * 6)  # 40 images 6×7: 7 columns, 6 rows
    assert "40 items of 4 classes, 5 neighbours each" in repr(view)
    page = view.save(tmp_path / "view.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "metric-course-view" in page


def test_view_colours_by_group_while_classes_decide_the_marks():
    embeddings, points, images, labels = _data()
    alphabets = labels // 2  # classes 0, 1 in group 0; 2, 3 in group 1
    view = ProjectionView(
        embeddings, points, images, labels, groups=alphabets, group_names=["Greek", "Latin"]
    )
    data = _payload(view.html())
    assert data["groups"] == alphabets.tolist() and data["group_names"] == ["Greek", "Latin"]
    assert data["labels"] == labels.tolist()
    plain = _payload(ProjectionView(embeddings, points, images, labels).html())
    assert plain["groups"] == labels.tolist() and plain["group_names"] == plain["names"]
    with pytest.raises(ValueError, match="one group per item"):
        ProjectionView(embeddings, points, images, labels, groups=alphabets[:5])


def test_two_views_of_the_same_data_get_different_element_ids():
    view = ProjectionView(*_data())
    ids = [re.search(r'<div id="([^"]+)"', view.html()).group(1) for _ in range(2)]
    assert ids[0] != ids[1]


def test_view_rejects_mismatched_or_broken_input():
    embeddings, points, images, labels = _data()
    with pytest.raises(ValueError, match="same items"):
        ProjectionView(embeddings[:-1], points, images, labels)
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        ProjectionView(embeddings, np.zeros((40, 3)), images, labels)
    bad = points.copy()
    bad[4, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ProjectionView(embeddings, bad, images, labels)
    with pytest.raises(ValueError, match="query 40 is outside"):
        ProjectionView(embeddings, points, images, labels, query=40)
    with pytest.raises(ValueError, match="40 items"):
        ProjectionView(embeddings, points, images[:3], labels)


# ------------------------------------------------------------------ the page's JavaScript file

ROOT = Path(__file__).resolve().parents[1]
NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="node is not installed: no JavaScript syntax check")
def test_the_page_script_is_valid_javascript(tmp_path):
    check = subprocess.run(
        [NODE, "--check", str(ROOT / "metric_course" / "widgets" / "projection_view.js")],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr
    # The page as the browser gets it: the wrapped script of one view, checked the same way.
    html = ProjectionView(*_data(n=6)).html()
    code = re.findall(r"<script>(.*?)</script>", html, re.S)
    assert len(code) == 1
    (tmp_path / "page.js").write_text(code[0], encoding="utf-8")
    check = subprocess.run([NODE, "--check", str(tmp_path / "page.js")], capture_output=True)
    assert check.returncode == 0, check.stderr


def test_the_page_carries_the_script_file_whole():
    script = page_script()
    assert script == (ROOT / "metric_course" / "widgets" / "projection_view.js").read_text("utf-8")
    assert "function drawProjectionView(root)" in script
    assert "</" not in script  # would end the <script> element early
    assert script in ProjectionView(*_data(n=6)).html()


def test_a_built_wheel_holds_the_script(tmp_path):
    # A plain `pip install` installs the wheel setuptools builds: the .js must be in it.
    source = tmp_path / "source"
    shutil.copytree(
        ROOT / "metric_course",
        source / "metric_course",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for licence in ROOT.glob("LICEN[CS]E*"):
        shutil.copy(licence, source / licence.name)
    build = (
        "import sys; from setuptools import build_meta; print(build_meta.build_wheel(sys.argv[1]))"
    )
    built = subprocess.run(
        [sys.executable, "-c", build, str(tmp_path / "dist")],
        cwd=source,
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = tmp_path / "dist" / built.stdout.strip().splitlines()[-1]
    with zipfile.ZipFile(wheel) as archive:
        assert "metric_course/widgets/projection_view.js" in archive.namelist()
