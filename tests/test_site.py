"""The website of the executed notebooks, opened in headless Chromium, with no network.

``python3 course.py site`` builds it into ``artifacts/site/`` (``course.py test`` builds it
before its tests). Here it is served on a free localhost port and Debian's Chromium, driven by
Playwright as in tests/test_browser.py, opens the pages of notebooks 03 and 06. Every request
that leaves 127.0.0.1 is refused (the Colab badge's image aside, which is only counted), so a
page that still needs a CDN fails here: the math must be typeset by the site's own MathJax (no
raw ``\\(`` left), every figure must load, the saved ipywidgets of 06 must be drawn, and a click
on a point of 06's saved ``ProjectionView`` must make it the query. Screenshots go to
``artifacts/browser/site-*.png``.

    python3 course.py site && pytest -m browser -v tests/test_site.py

Skipped, with the reason, where the site is not built or Chromium or Playwright is missing.
"""

from __future__ import annotations

import functools
import http.server
import threading

import pytest
from test_browser import ARTIFACTS, ROOT, browser, playwright_api  # noqa: F401 (fixtures)

from metric_course import repository

pytestmark = pytest.mark.browser

SITE = ROOT / "artifacts" / "site"
# The one outside address a page may name: the Colab badge's picture (the link is not followed).
ALLOWED_OUTSIDE = ("https://colab.research.google.com/assets/colab-badge.svg",)
# jupyter-book 1.0.4 writes sphinx-thebe's settings twice on every page (an upstream bug: the
# second `const` fails, harmlessly; thebe is off).
KNOWN_PAGE_ERRORS = ("Identifier 'THEBE_JS_URL' has already been declared",)

MATH_STATE = """() => {
    const math = [...document.querySelectorAll('main .math')];
    return {
        math: math.length,
        typeset: math.filter(node => node.querySelector('mjx-container')).length,
        raw: math.filter(node => /\\\\\\(|\\\\\\[|\\$\\$/.test(node.textContent)).length,
    };
}"""
FIGURES = """() => [...document.querySelectorAll('main img')]
    .filter(img => img.getAttribute('src').includes('_images/'))
    .map(img => ({src: img.getAttribute('src'), width: img.naturalWidth, done: img.complete}))"""
# Where, on the screen, is the point of a ProjectionView farthest from its query.
FARTHEST_POINT = """view => {
    const centre = circle => {
        const box = circle.getBoundingClientRect();
        return [box.x + box.width / 2, box.y + box.height / 2];
    };
    const [qx, qy] = centre(view.querySelector('circle.mc-query-mark'));
    let best = null, bestD = -1;
    for (const circle of view.querySelectorAll('circle.mc-point')) {
        const [x, y] = centre(circle), d = (x - qx) ** 2 + (y - qy) ** 2;
        if (d > bestD) { best = [x, y]; bestD = d; }
    }
    return best;
}"""


@pytest.fixture(scope="module")
def site():
    """The built site served on 127.0.0.1; yields its address."""
    if not (SITE / "index.html").is_file():
        pytest.skip(f"no website in {SITE}: build it with `python3 course.py site`")
    handler = functools.partial(QuietHandler, directory=str(SITE))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


def open_offline(browser, url: str, outside: list[str]):  # noqa: F811 (a fixture's value)
    """A page at ``url`` whose requests beyond 127.0.0.1 are refused and listed in ``outside``."""
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    page.set_default_timeout(20_000)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    def route(request_route):
        address = request_route.request.url
        if address.startswith("http://127.0.0.1:"):
            request_route.continue_()
        else:
            outside.append(address)
            request_route.abort()

    page.route("**/*", route)
    page.goto(url)
    page.wait_for_load_state("load")
    return page, errors


def check_math_and_figures(page, name: str, outside: list[str]) -> None:
    try:
        page.wait_for_function("() => window.MathJax?.startup?.promise !== undefined")
    except Exception:  # Playwright's TimeoutError: say why rather than how long
        pytest.fail(f"{name}: MathJax never started (requests refused beyond 127.0.0.1: {outside})")
    page.evaluate("() => window.MathJax.startup.promise")
    state = page.evaluate(MATH_STATE)
    assert state["math"] > 0, f"{name}: no math on the page"
    assert state["typeset"] == state["math"], f"{name}: math left untypeset: {state}"
    assert state["raw"] == 0, f"{name}: raw TeX shows: {state}"
    page.wait_for_function(
        "() => [...document.querySelectorAll('main img')].every(img => img.complete)"
    )
    figures = page.evaluate(FIGURES)
    assert figures, f"{name}: no figure on the page"
    broken = [figure["src"] for figure in figures if figure["width"] == 0]
    assert not broken, f"{name}: figures that did not load: {broken}"


def test_notebook_03_math_and_figures(browser, site):  # noqa: F811
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    outside = []
    page, errors = open_offline(browser, f"{site}/notebooks/03_triplet_loss.html", outside)
    try:
        check_math_and_figures(page, "03", outside)
        page.screenshot(path=ARTIFACTS / "site-03-page.png")
        page.locator("main .math").nth(3).scroll_into_view_if_needed()
        page.screenshot(path=ARTIFACTS / "site-03-math.png")
        page.locator("main img[src*='_images/']").first.screenshot(
            path=ARTIFACTS / "site-03-figure.png"
        )
        footer = page.locator(".extra_footer").first
        assert "CC BY 4.0" in footer.inner_text(), "the footer does not say who may reuse the page"
        footer.scroll_into_view_if_needed()
        page.screenshot(path=ARTIFACTS / "site-03-footer.png")
        assert set(outside) <= set(ALLOWED_OUTSIDE), f"the page asked the network for {outside}"
        assert set(errors) <= set(KNOWN_PAGE_ERRORS), f"the page's scripts failed: {errors}"
    except BaseException:
        page.screenshot(path=ARTIFACTS / "site-03-failure.png", full_page=True)
        raise
    finally:
        page.close()


def test_notebook_06_widgets_and_a_click_on_the_projection(browser, site):  # noqa: F811
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    outside = []
    url = f"{site}/notebooks/06_exploring_the_embedding_space.html"
    page, errors = open_offline(browser, url, outside)
    try:
        check_math_and_figures(page, "06", outside)
        # The saved ipywidgets are drawn by the site's own HTML manager.
        page.locator("main .widget-slider").first.wait_for()
        assert page.get_by_text("Error displaying widget").count() == 0
        page.locator("main .widget-slider").first.scroll_into_view_if_needed()
        page.screenshot(path=ARTIFACTS / "site-06-widget.png")

        view = page.locator("main .metric-course-view").first
        view.scroll_into_view_if_needed()
        view.locator("circle.mc-point").first.wait_for()
        before_query = view.get_attribute("data-query")
        before = view.locator(".mc-neighbours").inner_text()
        view.screenshot(path=ARTIFACTS / "site-06-projection-before.png")
        # Click the point farthest from the query (the page makes the point nearest the click,
        # within 12 px, the query: where two points coincide, the lower index).
        x, y = view.evaluate(FARTHEST_POINT)
        page.mouse.click(x, y)
        page.wait_for_function(
            "([node, before]) => node.dataset.query !== before",
            arg=[view.element_handle(), before_query],
        )
        query = view.get_attribute("data-query")
        mark = view.locator(f"circle.mc-point[data-index='{query}']").bounding_box()
        assert abs(mark["x"] + 3 - x) <= 12 and abs(mark["y"] + 3 - y) <= 12, "another point"
        assert f"#{query}:" in view.locator(".mc-query-caption").inner_text()
        assert view.locator(".mc-neighbours").inner_text() != before, "the neighbours stayed"
        view.screenshot(path=ARTIFACTS / "site-06-projection-after.png")
        assert set(outside) <= set(ALLOWED_OUTSIDE), f"the page asked the network for {outside}"
        assert set(errors) <= set(KNOWN_PAGE_ERRORS), f"the page's scripts failed: {errors}"
    except BaseException:
        page.screenshot(path=ARTIFACTS / "site-06-failure.png", full_page=True)
        raise
    finally:
        page.close()


def test_the_sites_colab_badges_agree_with_pyproject():
    """Every notebook page opens itself in Colab at pyproject's repository and ref, none other."""
    if not (SITE / "index.html").is_file():
        pytest.skip(f"no website in {SITE}: build it with `python3 course.py site`")
    address, ref = repository.read_repository(ROOT), repository.read_ref(ROOT)
    wrong = []
    for page in sorted(SITE.rglob("*.html")):
        text = page.read_text(encoding="utf-8")
        for link in repository.COLAB_LINK.finditer(text):
            used = f"https://github.com/{link['owner']}/{link['name']}"
            if (used, link["branch"]) != (address, ref):
                wrong.append(f"{page.relative_to(SITE)}: {link[0]}")
    assert not wrong, f"badges that disagree with pyproject.toml (rebuild the site?): {wrong}"
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        page = SITE / "notebooks" / f"{notebook.stem}.html"
        badge = repository.colab_url(address, notebook.name, ref)
        assert badge in page.read_text(encoding="utf-8"), f"{page} has no badge opening it"
