"""Widgets in a real browser: JupyterLab in headless Chromium runs a notebook, then moves a slider.

A second test clicks a point of notebook 06's clickable projection
(``ProjectionView``), in a small notebook of its own, and checks that the query
and its neighbours changed; hovering shows a point's image, a dragged box lists
what it holds (``projection-view-before.png`` and ``-after.png``).

nbval runs every cell but has no front end, so it cannot see a widget. Here a
JupyterLab server is started on a free localhost port over a temporary copy of
the notebooks; Debian's Chromium (driven by Playwright) opens a notebook, runs
all cells, checks that the widgets rendered and no cell failed, moves a slider
with the keyboard, and checks that what the widget shows changed. Screenshots
go to ``artifacts/browser/``: ``<notebook>-before.png``, ``-after.png`` and ``-page.png``,
or ``-failure.png`` when the check fails.

    pytest -m browser -v tests/test_browser.py

Skipped, with the reason, where Chromium or Playwright is missing;
``python3 course.py test`` installs both.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts" / "browser"
CHROMIUM = Path(os.environ.get("METRIC_COURSE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TOKEN = "metric-course-browser-test"


@dataclass(frozen=True)
class WidgetCheck:
    """A notebook with a widget, the slider to move, and the time to run the notebook.

    ``slider`` is a regular expression matched against the slider's description
    (the label left of it); the first slider it matches is moved.
    """

    notebook: str
    slider: str
    run_seconds: int


WIDGET_CHECKS = [
    WidgetCheck("00_setup.ipynb", slider="^images$", run_seconds=120),
    WidgetCheck("02_siamese_contrastive.ipynb", slider="^margin", run_seconds=300),
    WidgetCheck("06_exploring_the_embedding_space.ipynb", slider="^example$", run_seconds=420),
]
PRESENT = [check for check in WIDGET_CHECKS if (ROOT / "notebooks" / check.notebook).exists()]

# JupyterLab settings for the test: every cell in the page (windowing off, so outputs
# far down exist in the DOM), nothing saved back, no news or update requests.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/apputils-extension/notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def playwright_api():
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium (CI installs it)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="Playwright is missing: pip install -e '.[browser]'"
    )
    return sync_api


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server over a copy of the notebooks; yields its address with the token."""
    home = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "notebooks", home / "notebooks")
    for plugin, values in LAB_SETTINGS.items():
        settings = home / "settings" / f"{plugin}.jupyterlab-settings"
        settings.parent.mkdir(parents=True, exist_ok=True)
        settings.write_text(json.dumps(values))
    port = free_port()
    env = {
        **os.environ,
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.allow_root=True",  # CI runs as root
        f"--ServerApp.root_dir={home / 'notebooks'}",
        f"--IdentityProvider.token={TOKEN}",
        "--LabApp.expose_app_in_browser=True",
    ]
    log = (home / "server.log").open("w")
    server = subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(url, server, home / "server.log")
        yield url
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        try:  # kernels the server started and left behind
            os.killpg(server.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        log.close()


def wait_for_server(url: str, server: subprocess.Popen, log: Path, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"JupyterLab exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"JupyterLab did not answer within {seconds} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def browser(playwright_api):
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


KERNEL_IDLE = (
    "() => window.jupyterapp?.shell.currentWidget?.sessionContext?.session?.kernel"
    "?.status === 'idle'"
)
OUTPUT_ERRORS = """() => {
    const notebook = window.jupyterapp.shell.currentWidget.content;
    return notebook.widgets
        .filter(cell => cell.model.type === 'code')
        .flatMap(cell => cell.model.outputs.toJSON())
        .filter(output => output.output_type === 'error')
        .map(output => `${output.ename}: ${output.evalue}`);
}"""

# What a widget shows, besides the moved slider itself: labels, HTML, text and images.
SHOWN = """(area, slider) => {
    const parts = [];
    for (const element of area.querySelectorAll(
        '.widget-label, .widget-html-content, .jp-RenderedText, img, .widget-readout')) {
        if (slider.contains(element)) continue;
        parts.push(element.tagName === 'IMG' ? element.src : element.innerText);
    }
    return parts.join('\\n');
}"""


def wait_for_kernel(page, seconds: float) -> None:
    """Wait until the notebook's kernel is idle, accepting the kernel choice if Lab asks for one.

    JupyterLab asks which kernel to start when a notebook's metadata names none
    (tests/test_notebooks.py requires the name, so students are not asked).
    """
    deadline = time.monotonic() + seconds
    choose = page.locator(".jp-Dialog .jp-mod-accept")
    while not page.evaluate(KERNEL_IDLE):
        if time.monotonic() > deadline:
            pytest.fail(f"the kernel was not ready within {seconds} s")
        if choose.count():
            choose.first.click()
        page.wait_for_timeout(500)


@pytest.mark.skipif(not PRESENT, reason="no notebook with a widget check is present")
@pytest.mark.parametrize("check", PRESENT, ids=[check.notebook for check in PRESENT])
def test_widget_renders_and_responds(browser, lab, check):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    stem = check.notebook.removesuffix(".ipynb")
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    try:
        # A workspace of its own, so the tabs of the notebooks tested before are not restored.
        page.goto(f"{lab}/lab/workspaces/{stem}/tree/{check.notebook}?token={TOKEN}")
        wait_for_kernel(page, seconds=90)
        page.evaluate(
            "() => { window.ranAll = undefined; window.jupyterapp.commands"
            ".execute('notebook:run-all-cells').then(ok => { window.ranAll = String(ok); },"
            " error => { window.ranAll = String(error); }); }"
        )
        page.wait_for_function(
            f"() => window.ranAll !== undefined && ({KERNEL_IDLE})()",
            timeout=check.run_seconds * 1000,
            polling=1000,
        )
        assert page.evaluate(OUTPUT_ERRORS) == [], f"{check.notebook}: a cell failed in the browser"
        assert page.locator(".jp-OutputArea .jupyter-widgets").count() > 0, "no widget rendered"
        assert page.get_by_text("Error displaying widget").count() == 0

        label = page.locator(".widget-label", has_text=re.compile(check.slider))
        slider = page.locator(".widget-slider", has=label).first
        sliders = page.locator(".widget-slider .widget-label").all_inner_texts()
        assert slider.count() == 1, f"no slider matches {check.slider!r}; there are {sliders}"
        area = slider.locator("xpath=ancestor::div[contains(@class, 'jp-Cell-outputArea')][1]")
        area.scroll_into_view_if_needed()
        handle = slider.element_handle()
        before = area.evaluate(SHOWN, handle)
        area.screenshot(path=ARTIFACTS / f"{stem}-before.png")

        slider.locator(".noUi-handle").first.focus()
        page.keyboard.press("ArrowRight")
        deadline = time.monotonic() + 60
        after = before
        while after == before and time.monotonic() < deadline:
            page.wait_for_timeout(500)
            after = area.evaluate(SHOWN, handle)
        assert after != before, f"{check.notebook}: moving {check.slider!r} changed nothing shown"
        page.wait_for_function(KERNEL_IDLE, timeout=60_000)  # the redraw has finished
        page.wait_for_timeout(1000)
        area.screenshot(path=ARTIFACTS / f"{stem}-after.png")
        page.screenshot(path=ARTIFACTS / f"{stem}-page.png")
    except BaseException:
        page.screenshot(path=ARTIFACTS / f"{stem}-failure.png")
        raise
    finally:
        page.evaluate("() => window.jupyterapp?.shell.currentWidget?.sessionContext?.shutdown()")
        page.close()


# A small notebook for the clickable projection: three classes in three clumps, 90 points.
PROJECTION_NOTEBOOK = {
    "cells": [
        {
            "cell_type": "code",
            "metadata": {},
            "outputs": [],
            "execution_count": None,
            "source": (
                "import numpy as np\n"
                "from metric_course.widgets import ProjectionView\n"
                "rng = np.random.default_rng(0)\n"
                "labels = np.arange(90) % 3\n"
                "points = rng.normal(size=(90, 2)) + 6 * np.eye(3)[labels][:, :2]\n"
                "embeddings = np.hstack([points, rng.normal(size=(90, 2))])\n"
                "images = rng.random((90, 12, 12)) * (labels[:, None, None] + 1) / 3\n"
                "ProjectionView(embeddings, points, images, labels, ['ring', 'bar', 'dot'], k=5)"
            ),
        }
    ],
    "metadata": {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
    },
    "nbformat": 4,
    "nbformat_minor": 5,
}


def put_notebook(lab: str, name: str, notebook: dict) -> None:
    """Save ``notebook`` as ``name`` in the server's folder, through Jupyter's contents API."""
    body = json.dumps({"type": "notebook", "format": "json", "content": notebook}).encode()
    request = urllib.request.Request(
        f"{lab}/api/contents/{name}?token={TOKEN}",
        data=body,
        method="PUT",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30):
        pass


def test_projection_view_click_hover_and_box(browser, lab):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    stem = "projection-view"
    put_notebook(lab, f"{stem}.ipynb", PROJECTION_NOTEBOOK)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    page_errors = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    try:
        page.goto(f"{lab}/lab/workspaces/{stem}/tree/{stem}.ipynb?token={TOKEN}")
        wait_for_kernel(page, seconds=90)
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        view = page.locator(".jp-OutputArea .metric-course-view")
        view.locator(".mc-neighbour").first.wait_for()
        assert page.evaluate(OUTPUT_ERRORS) == []
        view.scroll_into_view_if_needed()
        before_query = view.get_attribute("data-query")
        before = view.locator(".mc-neighbours").inner_text()
        assert before_query == "0" and view.locator(".mc-neighbour").count() == 5
        view.screenshot(path=ARTIFACTS / f"{stem}-before.png")

        # Item 89 is a "dot" (class 2), far from item 0 (a "ring"): click it.
        target = view.locator("circle.mc-point[data-index='89']").bounding_box()
        x, y = target["x"] + target["width"] / 2, target["y"] + target["height"] / 2
        page.mouse.move(x, y)
        hover = view.locator(".mc-hover")
        hover.wait_for(state="visible")
        assert "#89 dot" in hover.inner_text()
        page.mouse.click(x, y)
        page.wait_for_function(
            "() => document.querySelector('.metric-course-view').dataset.query === '89'"
        )
        assert "query #89: dot" in view.locator(".mc-query-caption").inner_text()
        after = view.locator(".mc-neighbours").inner_text()
        assert after != before, "clicking a point left its neighbours as they were"
        assert after.count("✓") == 5, f"the clumps are apart, all 5 neighbours are dots: {after}"

        # A box over the whole projection lists all 90 items of the 3 classes.
        frame = view.locator("svg.mc-projection").bounding_box()
        page.mouse.move(frame["x"] + 1, frame["y"] + 1)
        page.mouse.down()
        page.mouse.move(frame["x"] + frame["width"] - 1, frame["y"] + frame["height"] - 1, steps=8)
        page.mouse.up()
        selection = view.locator(".mc-selection").inner_text()
        assert "box: 90 items of 3 classes" in selection
        assert "ring ×30, bar ×30, dot ×30" in selection
        page.mouse.move(x, y)  # the hover card in the picture
        hover.wait_for(state="visible")
        view.screenshot(path=ARTIFACTS / f"{stem}-after.png")
        assert page_errors == [], f"the page's script failed: {page_errors}"
    except BaseException:
        page.screenshot(path=ARTIFACTS / f"{stem}-failure.png")
        raise
    finally:
        page.evaluate("() => window.jupyterapp?.shell.currentWidget?.sessionContext?.shutdown()")
        page.close()
