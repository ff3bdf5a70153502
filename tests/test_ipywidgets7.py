"""The widget code also works with ipywidgets 7.7, the version Google Colab ships.

Colab's widget manager speaks the ipywidgets 7 protocol; installing
ipywidgets 8 there breaks rendering, so the course's widgets must run on both.
The course's environment has ipywidgets 8; ``python3 course.py test`` also
puts ipywidgets 7.7.1 (pure Python, no dependencies of its own beyond
``ipython_genutils``) in ``build/ipywidgets7``. This test runs every test file
that uses widgets again, in a subprocess whose ``PYTHONPATH`` puts that
folder first, so ``import ipywidgets`` finds version 7. Run it alone with
``pytest -m ipywidgets7 tests/test_ipywidgets7.py``.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
IPYWIDGETS7 = Path(os.environ.get("METRIC_COURSE_IPYWIDGETS7", ROOT / "build" / "ipywidgets7"))
INSTALL = (
    f"{sys.executable} -m pip install --no-deps --target {IPYWIDGETS7} "
    "ipywidgets==7.7.1 ipython_genutils==0.2.0"
)
pytestmark = pytest.mark.ipywidgets7
USES_WIDGETS = re.compile(r"^\s*(from|import) (ipywidgets|metric_course\.widgets)\b", re.M)


def widget_test_files() -> list[Path]:
    """Test files that import ipywidgets or the course's widgets, this one and the browser aside."""
    skip = {Path(__file__).name, "test_browser.py"}
    return [
        path
        for path in sorted((ROOT / "tests").glob("test_*.py"))
        if path.name not in skip and USES_WIDGETS.search(path.read_text(encoding="utf-8"))
    ]


def test_widget_tests_pass_under_ipywidgets_7():
    if not (IPYWIDGETS7 / "ipywidgets").is_dir():
        pytest.skip(f"ipywidgets 7 is not in {IPYWIDGETS7}; install it with: {INSTALL}")
    files = widget_test_files()
    if not files:
        pytest.skip("no test file uses widgets yet")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(IPYWIDGETS7), str(ROOT)])}
    version = subprocess.run(
        [sys.executable, "-c", "import ipywidgets; print(ipywidgets.__version__)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert version.startswith("7."), f"{IPYWIDGETS7} holds ipywidgets {version}, not 7"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *map(str, files)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    names = ", ".join(path.name for path in files)
    assert run.returncode == 0, f"under ipywidgets {version}, {names} failed:\n{run.stdout[-6000:]}"
