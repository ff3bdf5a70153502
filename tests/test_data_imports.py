"""The data package's modules import one way: no cycle, and no import hidden inside a function.

Each module of ``metric_course.data`` may import only those before it in
``ORDER``. A deferred (function-level) import of a sibling would hide a cycle
from Python at import time, so none is allowed. (Importing each module in a
fresh interpreter would prove nothing here: any ``metric_course.data.x``
import runs the package's ``__init__``, which imports them all.)
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "metric_course" / "data"
ORDER = ("files", "dataset", "fashion_mnist", "omniglot", "catalogue", "splits", "__main__")


def import_problems(package: Path, order: tuple[str, ...]) -> list[str]:
    """Each sibling import of ``package``'s modules that is deferred or goes against ``order``."""
    problems = []
    for module in order:
        tree = ast.parse((package / f"{module}.py").read_text())
        top_level = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.ImportFrom) and node.level == 1):
                continue
            sibling = node.module or ""
            if id(node) not in top_level:
                problems.append(f"{module} imports .{sibling} inside a function")
            if sibling not in order or order.index(sibling) >= order.index(module):
                problems.append(f"{module} imports .{sibling}, which comes after it")
    return problems


def test_the_modules_import_one_way_at_the_top():
    assert {path.stem for path in PACKAGE.glob("*.py")} - {"__init__"} == set(ORDER)
    assert import_problems(PACKAGE, ORDER) == []


def test_a_cycle_or_a_deferred_import_is_caught(tmp_path):
    (tmp_path / "files.py").write_text("from .splits import SPLITS\n")  # the cycle's back edge
    (tmp_path / "splits.py").write_text("def f():\n    from .files import x\n")
    assert import_problems(tmp_path, ("files", "splits")) == [
        "files imports .splits, which comes after it",
        "splits imports .files inside a function",
    ]


def test_no_module_is_over_600_lines():
    for path in PACKAGE.glob("*.py"):
        assert len(path.read_text().splitlines()) <= 600, path.name
