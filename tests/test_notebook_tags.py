"""Where does this come from? (issue 23, item 6), read from the notebooks, nothing typed in.

Every function, class or module a notebook imports from the package (or uses as
``losses.name``) ends the first line of its docstring with "(notebook NN)", NN the notebook that
teaches it: the first that imports it, or an earlier one that names it. README's package map
says which notebooks use each module.
"""

import ast
import importlib
import importlib.util
import inspect
import json
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
PACKAGE = "metric_course"
TAG = re.compile(r"\bnotebook (\d\d)\)")  # "(notebook 04)", "(Schroff et al. 2015; notebook 03)"
PACKAGE_MAP_ROW = re.compile(r"^\| `(\w+)` \| ([^|]*) \|", re.MULTILINE)


def number(path: Path) -> str:
    return path.name[:2]


def sources(path: Path, cell_type: str | None = None) -> list[str]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return ["".join(c["source"]) for c in cells if cell_type in (None, c["cell_type"])]


def code(path: Path) -> list[ast.Module]:
    """Each code cell of a notebook, parsed, without its IPython lines (``%magic``, ``!shell``)."""
    magic = ("%", "!")
    return [
        ast.parse("\n".join(line for line in s.splitlines() if not line.lstrip().startswith(magic)))
        for s in sources(path, "code")
    ]


@cache
def imports() -> dict[tuple[str, str], frozenset[str]]:
    """(module, name) -> the notebooks ("00", "01", ...) whose code imports ``name`` from
    ``module``, or uses it as ``module.name`` after ``from metric_course import module``."""
    found: dict[tuple[str, str], set[str]] = {}
    for path in NOTEBOOKS:
        modules: dict[str, str] = {}  # "losses" -> "metric_course.losses", once imported
        for tree in code(path):
            for node in ast.walk(tree):  # breadth first: a cell's imports before its uses
                if (
                    isinstance(node, ast.ImportFrom)
                    and (node.module or "").split(".")[0] == PACKAGE
                ):
                    used = [(node.module, alias.name) for alias in node.names]
                    if node.module == PACKAGE:
                        modules.update(
                            {a.asname or a.name: f"{PACKAGE}.{a.name}" for a in node.names}
                        )
                elif isinstance(node, ast.Attribute) and getattr(node.value, "id", None) in modules:
                    used = [(modules[node.value.id], node.attr)]
                else:
                    continue
                for key in used:
                    found.setdefault(key, set()).add(number(path))
    return {key: frozenset(users) for key, users in found.items()}


def resolve(module: str, name: str):
    """What ``from module import name`` gives: an attribute, else the submodule."""
    parent = importlib.import_module(module)
    if hasattr(parent, name):
        return getattr(parent, name)
    return importlib.import_module(f"{module}.{name}")


def home(module: str, name: str) -> str:
    """The module that defines what ``from module import name`` gives."""
    value = resolve(module, name)
    if inspect.ismodule(value):
        return value.__name__
    if inspect.isfunction(value) or inspect.isclass(value):
        return value.__module__
    # A constant: follow the package's own re-exports (``from .files import NAME``) to its source.
    parent = importlib.import_module(module)
    for node in ast.parse(inspect.getsource(parent)).body:
        if isinstance(node, ast.ImportFrom) and any(
            alias.name == name and alias.asname is None for alias in node.names
        ):
            relative = "." * node.level + (node.module or "")
            return home(importlib.util.resolve_name(relative, parent.__package__), name)
    return module


def test_notebooks_import_from_the_package():
    assert len(imports()) > 20, "the notebooks' imports were not found; did their format change?"


@pytest.mark.parametrize("module, name", sorted(imports()))
def test_imported_name_says_which_notebook_teaches_it(module, name):
    value = resolve(module, name)
    if not (callable(value) or inspect.ismodule(value)):
        pytest.skip(f"{name} is a constant; its module's docstring describes it")
    first_line = (inspect.getdoc(value) or "").partition("\n")[0]
    tag = TAG.search(first_line)
    assert tag, (
        f"{module}.{name}: end the first line of its docstring with '(notebook NN)', NN the "
        f"notebook that teaches it; it reads {first_line!r}"
    )
    taught, first_user = tag.group(1), min(imports()[module, name])
    assert taught <= first_user, (
        f"{module}.{name} says notebook {taught} teaches it, but notebook {first_user} "
        "already imports it: name the first notebook that introduces it"
    )
    (notebook,) = (path for path in NOTEBOOKS if number(path) == taught)
    assert re.search(rf"\b{name}\b", "\n".join(sources(notebook))), (
        f"{module}.{name} says notebook {taught} teaches it, but {notebook.name} never names it"
    )


def notebook_list(numbers: set[str]) -> str:
    """``{"00", "01", "02", "05"}`` -> ``"00–02, 05"``: runs of three or more as a range."""
    runs: list[list[int]] = []
    for n in sorted(int(n) for n in numbers):
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return (
        ", ".join(
            f"{run[0]:02d}–{run[-1]:02d}" if len(run) > 2 else ", ".join(f"{n:02d}" for n in run)
            for run in runs
        )
        or "—"
    )


def test_notebook_list():
    assert notebook_list({"00", "01", "02", "05", "06"}) == "00–02, 05, 06"
    assert notebook_list({"07"}) == "07"
    assert notebook_list(set()) == "—"


def test_package_map_says_which_notebooks_use_each_module():
    users: dict[str, set[str]] = {}
    for (module, name), notebooks in imports().items():
        top = home(module, name).split(".")[1]
        users.setdefault(top, set()).update(notebooks)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.partition("\n## The package\n")[2].partition("\n## ")[0]
    header = "| module | notebooks | what it holds |"
    assert header in section, f"README's package map lost its header {header!r}"
    rows = dict(PACKAGE_MAP_ROW.findall(section))
    missing = sorted(set(users) - set(rows))
    assert not missing, f"README's package map has no row for {missing}, which notebooks use"
    wrong = {
        module: (cell.strip(), notebook_list(users.get(module, set())))
        for module, cell in rows.items()
        if cell.strip() != notebook_list(users.get(module, set()))
    }
    assert not wrong, "README's package map: write these notebooks, read from their imports: " + (
        ", ".join(f"{module}: {said!r} -> {true!r}" for module, (said, true) in wrong.items())
    )
