"""Tools for instructors: student copies of the notebooks, and the course's address.

    python -m metric_course.instructor student-copies OUTDIR
    python -m metric_course.instructor set-repository https://github.com/ORG/REPO
    python -m metric_course.instructor check-repository

**Student copies.** Exercise solutions live in code cells tagged ``solution``
(collapsed in JupyterLab). ``student-copies`` writes a copy of the notebooks
folder in which each solution cell is replaced by a short note and its
outputs are removed; every other cell, output and file is kept as it is. The
copies still run top to bottom: checkers print a verdict and never raise, and
later cells use the package's functions, never the student's.

**The repository address.** It is written in one place, ``Repository`` under
``[project.urls]`` in ``pyproject.toml``. The Colab badges (in the README and
at the top of each notebook) and the ``COURSE_REPOSITORY`` line of each
notebook's setup cell are derived from it: ``set-repository`` rewrites them
all, ``check-repository`` lists every place that disagrees.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

SOLUTION_TAG = "solution"
SOLUTION_PLACEHOLDER = (
    "# The solution is not part of this copy of the notebook.\n"
    "# Solve the exercise in the cell above; the checker tells you when it is right."
)
BRANCH = "main"
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"

REPOSITORY_URL = re.compile(r"^https://github\.com/(?P<owner>[\w.-]+)/(?P<name>[\w.-]+)$")
# The repository's part of a Colab link: colab.research.google.com/github/OWNER/NAME/blob/BRANCH/
COLAB_LINK = re.compile(
    r"https://colab\.research\.google\.com/github/(?P<owner>[\w.-]+)/(?P<name>[\w.-]+)"
    r"/blob/(?P<branch>[\w.-]+)/(?P<path>[\w./-]+\.ipynb)"
)
# Inside a notebook's JSON the quotes around the address are escaped: \"...\".
COURSE_REPOSITORY_LINE = re.compile(
    r'COURSE_REPOSITORY = (?P<quote>\\?")(?P<url>[^"\\]*)(?P=quote)'
)
PYPROJECT_REPOSITORY = re.compile(
    r'^(?P<key>Repository\s*=\s*")(?P<url>[^"]*)(?P<end>")', re.MULTILINE
)


# ---------------------------------------------------------------- student copies


def is_solution(cell: dict) -> bool:
    """True for a cell tagged ``solution``."""
    return SOLUTION_TAG in cell.get("metadata", {}).get("tags", [])


def strip_solutions(notebook: dict) -> tuple[dict, int]:
    """A copy of ``notebook`` (nbformat 4 JSON) without solutions, and how many were removed.

    Each solution cell keeps its place and tags, so the notebook's shape does
    not change, but its source becomes a short note, its outputs are removed,
    and it is no longer collapsed (the note is meant to be read).
    """
    student = json.loads(json.dumps(notebook))  # a deep copy that cannot share lists
    removed = 0
    for cell in student["cells"]:
        if not is_solution(cell):
            continue
        removed += 1
        cell["source"] = SOLUTION_PLACEHOLDER
        if cell["cell_type"] == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        jupyter = cell["metadata"].get("jupyter", {})
        jupyter.pop("source_hidden", None)
        jupyter.pop("outputs_hidden", None)
        if not jupyter:
            cell["metadata"].pop("jupyter", None)
    return student, removed


def write_student_copies(source_dir: str | Path, out_dir: str | Path) -> dict[str, int]:
    """Copy the notebooks folder to ``out_dir`` with every solution removed.

    Other files (the nbval sanitiser, images) are copied unchanged; Jupyter's
    checkpoint folders are left out. Returns the number of solutions removed
    per notebook.
    """
    source_dir, out_dir = Path(source_dir).resolve(), Path(out_dir).resolve()
    if not source_dir.is_dir():
        raise ValueError(f"{source_dir} is not a folder; pass the course's notebooks folder")
    if out_dir == source_dir or source_dir in out_dir.parents:
        raise ValueError(
            f"{out_dir} is inside the notebooks folder {source_dir}: choose a folder outside it, "
            "so the copies cannot overwrite the originals"
        )
    notebooks = sorted(source_dir.glob("*.ipynb"))
    if not notebooks:
        raise ValueError(f"no notebooks (*.ipynb) in {source_dir}")
    shutil.copytree(
        source_dir,
        out_dir,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "*.ipynb"),
    )
    removed = {}
    for path in notebooks:
        notebook = json.loads(path.read_text(encoding="utf-8"))
        student, removed[path.name] = strip_solutions(notebook)
        (out_dir / path.name).write_text(
            json.dumps(student, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
        )
    return removed


# ---------------------------------------------------------------- the repository address


def normalise_repository(url: str) -> str:
    """``https://github.com/OWNER/NAME`` from a GitHub address (trailing ``/`` or ``.git`` dropped).

    Colab opens notebooks from GitHub only, so other hosts are refused.
    """
    url = url.strip().removesuffix("/").removesuffix(".git")
    if not REPOSITORY_URL.match(url):
        raise ValueError(
            f"{url!r} is not a GitHub repository address; write it as "
            "https://github.com/OWNER/NAME (Colab badges open notebooks from GitHub only)"
        )
    return url


def colab_url(repository: str, notebook: str, branch: str = BRANCH) -> str:
    """The address that opens ``notebooks/<notebook>`` of ``repository`` in Google Colab."""
    return f"{_colab_base(repository, branch)}/notebooks/{notebook}"


def _colab_base(repository: str, branch: str) -> str:
    match = REPOSITORY_URL.match(normalise_repository(repository))
    return (
        f"https://colab.research.google.com/github/{match['owner']}/{match['name']}/blob/{branch}"
    )


def read_repository(root: str | Path) -> str:
    """The repository address from ``[project.urls] Repository`` in ``pyproject.toml``."""
    pyproject = Path(root) / "pyproject.toml"
    match = PYPROJECT_REPOSITORY.search(_urls_table(pyproject.read_text(encoding="utf-8")))
    if match is None:
        raise ValueError(
            f'{pyproject} has no Repository = "https://github.com/OWNER/NAME" under '
            "[project.urls]: add it, it is the one place the course's address is written"
        )
    return normalise_repository(match["url"])


def _urls_table(text: str) -> str:
    """The ``[project.urls]`` table of a pyproject file's text ("" when there is none)."""
    match = re.search(r"^\[project\.urls\]\s*$(?P<body>.*?)(?=^\[|\Z)", text, re.M | re.S)
    return match["body"] if match else ""


@dataclass(frozen=True)
class Mention:
    """One place that names the repository: the file, what it is, and the address it uses."""

    path: Path
    what: str
    repository: str
    branch: str | None = None  # for Colab links


def repository_mentions(root: str | Path) -> list[Mention]:
    """Every Colab link and ``COURSE_REPOSITORY`` line in the README and the notebooks."""
    root = Path(root)
    mentions = []
    for path in [root / "README.md", *sorted((root / "notebooks").glob("*.ipynb"))]:
        text = path.read_text(encoding="utf-8")
        for link in COLAB_LINK.finditer(text):
            repository = f"https://github.com/{link['owner']}/{link['name']}"
            what = f"Colab link to {link['path']}"
            mentions.append(Mention(path, what, repository, link["branch"]))
        for line in COURSE_REPOSITORY_LINE.finditer(text):
            mentions.append(Mention(path, "COURSE_REPOSITORY line", line["url"]))
    return mentions


def repository_problems(root: str | Path) -> list[str]:
    """What disagrees with ``pyproject.toml``'s address; an empty list when all agree."""
    root = Path(root)
    expected = read_repository(root)
    problems = []
    for mention in repository_mentions(root):
        if mention.repository != expected:
            problems.append(
                f"{mention.path.relative_to(root)}: {mention.what} uses {mention.repository}, "
                f"pyproject.toml says {expected}"
            )
        if mention.branch not in (None, BRANCH):
            problems.append(
                f"{mention.path.relative_to(root)}: {mention.what} opens branch "
                f"{mention.branch}, not {BRANCH}"
            )
    for notebook in sorted((root / "notebooks").glob("*.ipynb")):
        text = notebook.read_text(encoding="utf-8")
        if colab_url(expected, notebook.name) not in text:
            problems.append(f"notebooks/{notebook.name}: no Colab badge that opens this notebook")
        if not COURSE_REPOSITORY_LINE.search(text):
            problems.append(f"notebooks/{notebook.name}: no COURSE_REPOSITORY line in the setup")
    return problems


def set_repository(root: str | Path, url: str) -> list[Path]:
    """Write ``url`` into ``pyproject.toml``, the README's badges and every notebook.

    Only the addresses change: the files keep their formatting byte for byte
    otherwise. Returns the files that changed.
    """
    root = Path(root)
    url = normalise_repository(url)
    changed = []

    pyproject = root / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    table = _urls_table(text)
    if not PYPROJECT_REPOSITORY.search(table):
        read_repository(root)  # raises the explanation
    new_table = PYPROJECT_REPOSITORY.sub(lambda m: f"{m['key']}{url}{m['end']}", table)
    changed += _write_if_changed(pyproject, text, text.replace(table, new_table, 1))

    def new_link(link: re.Match) -> str:
        return f"{_colab_base(url, link['branch'])}/{link['path']}"

    for path in [root / "README.md", *sorted((root / "notebooks").glob("*.ipynb"))]:
        text = path.read_text(encoding="utf-8")
        new = COLAB_LINK.sub(new_link, text)
        new = COURSE_REPOSITORY_LINE.sub(
            lambda m: f"COURSE_REPOSITORY = {m['quote']}{url}{m['quote']}", new
        )
        changed += _write_if_changed(path, text, new)
    return changed


def _write_if_changed(path: Path, old: str, new: str) -> list[Path]:
    if new == old:
        return []
    path.write_text(new, encoding="utf-8")
    return [path]


# ---------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m metric_course.instructor",
        description="Student copies of the notebooks, and the course's repository address.",
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=Path.cwd(),
        help="the course folder (default: the current folder)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    copies = commands.add_parser(
        "student-copies", help="write the notebooks without the exercise solutions"
    )
    copies.add_argument("out_dir", type=Path, help="where to write the copies")
    address = commands.add_parser(
        "set-repository", help="point pyproject, README and notebooks at a new repository"
    )
    address.add_argument("url", help="https://github.com/OWNER/NAME")
    commands.add_parser("check-repository", help="list every place that disagrees")
    args = parser.parse_args(argv)
    root = args.root

    try:
        if args.command == "student-copies":
            removed = write_student_copies(root / "notebooks", args.out_dir)
            for name, count in removed.items():
                print(f"{name}: {count} solution cell{'s' * (count != 1)} removed")
            print(f"student copies written to {args.out_dir}")
        elif args.command == "set-repository":
            for path in set_repository(root, args.url):
                print(f"updated {path.relative_to(root)}")
            print(f"repository: {read_repository(root)}")
        else:
            problems = repository_problems(root)
            for problem in problems:
                print(problem)
            print(f"repository: {read_repository(root)}; {len(problems)} problem(s)")
            return 1 if problems else 0
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
