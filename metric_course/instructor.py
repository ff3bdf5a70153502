"""Tools for instructors: student copies of the notebooks, and the course's address.

    python -m metric_course.instructor student-copies OUTDIR [--force]
    python -m metric_course.instructor set-repository https://github.com/ORG/REPO [--ref REF]
    python -m metric_course.instructor check-repository

**Student copies.** Exercise solutions live in code cells tagged ``solution``
(collapsed in JupyterLab; ``Solution``, `` solution `` and ``solutions`` count
too). ``student-copies`` writes a copy of the notebooks folder in which each
solution cell is replaced by a short note and its outputs are removed; every
other cell, output and file is kept as it is. The copies still run top to
bottom: checkers print a verdict and never raise, and later cells use the
package's functions, never the student's. Every notebook is read and checked
before anything is written (a notebook with an exercise but no solution cell
is refused, since its solution would leak), the copies are built in a
temporary folder, and a folder that already holds files is written into only
with ``--force``.

**The repository address and its ref.** Both are written in one place,
``pyproject.toml``: ``Repository`` under ``[project.urls]``, and ``colab-ref``
under ``[tool.metric-course]``, the tag or commit the notebooks belong to. The
Colab badges (in the README and at the top of each notebook) open the
notebooks at that ref, and the ``COURSE_REPOSITORY`` and ``COURSE_REF`` lines
of each notebook's setup cell install the package from it, so a notebook and
its package always match. ``set-repository`` rewrites them all,
``check-repository`` lists every place that disagrees.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

SOLUTION_TAG = "solution"
# Tags read as a solution tag, after stripping spaces and lower-casing.
SOLUTION_TAGS = frozenset({"solution", "solutions"})
# An exercise: a function for the student to write, or a checker called on it.
EXERCISE = re.compile(r"raise NotImplementedError|\bcheck_\w+\(")
SOLUTION_PLACEHOLDER = (
    "# The solution is not part of this copy of the notebook.\n"
    "# Solve the exercise in the cell above; the checker tells you when it is right."
)
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"

REPOSITORY_URL = re.compile(r"^https://github\.com/(?P<owner>[\w.-]+)/(?P<name>[\w.-]+)$")
REF_NAME = re.compile(r"^[\w.-]+$")  # a tag or a commit: one path segment of a Colab link
# The repository's part of a Colab link: colab.research.google.com/github/OWNER/NAME/blob/REF/
COLAB_LINK = re.compile(
    r"https://colab\.research\.google\.com/github/(?P<owner>[\w.-]+)/(?P<name>[\w.-]+)"
    r"/blob/(?P<branch>[\w.-]+)/(?P<path>[\w./-]+\.ipynb)"
)
# Inside a notebook's JSON the quotes around the address are escaped: \"...\".
COURSE_REPOSITORY_LINE = re.compile(
    r'COURSE_REPOSITORY = (?P<quote>\\?")(?P<url>[^"\\]*)(?P=quote)'
)
COURSE_REF_LINE = re.compile(r'COURSE_REF = (?P<quote>\\?")(?P<ref>[^"\\]*)(?P=quote)')
URLS, TOOL = "project.urls", "tool.metric-course"  # the pyproject tables of the address and ref
PYPROJECT_REPOSITORY = re.compile(
    r'^(?P<key>Repository\s*=\s*")(?P<url>[^"]*)(?P<end>")', re.MULTILINE
)
PYPROJECT_REF = re.compile(r'^(?P<key>colab-ref\s*=\s*")(?P<ref>[^"]*)(?P<end>")', re.MULTILINE)


# ---------------------------------------------------------------- student copies


def is_solution(cell: dict) -> bool:
    """True for a cell tagged ``solution`` (any case, spaces around it, or ``solutions``)."""
    tags = cell.get("metadata", {}).get("tags", [])
    if isinstance(tags, str):
        tags = [tags]
    return any(str(tag).strip().lower() in SOLUTION_TAGS for tag in tags)


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


def read_notebook(path: Path) -> dict:
    """A notebook's JSON; a file that is not a notebook raises an error that names it."""
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(
            f"{path} is not valid notebook JSON ({error}); repair it (open and save it in "
            "JupyterLab, or restore it with git) or move it out of the folder"
        ) from None
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise ValueError(f"{path} is JSON but not a notebook: it has no list of cells")
    return notebook


def student_copy(path: Path) -> tuple[dict, int]:
    """The notebook at ``path`` without its solutions; refused when an exercise has none."""
    student, removed = strip_solutions(read_notebook(path))
    if removed == 0:
        for number, cell in enumerate(student["cells"], start=1):
            source = "".join(cell.get("source", ""))
            if cell.get("cell_type") == "code" and EXERCISE.search(source):
                raise ValueError(
                    f"{path.name} has an exercise (cell {number}: "
                    f"{EXERCISE.search(source)[0]!r}) but no cell tagged {SOLUTION_TAG!r}, so "
                    "its solution would be handed out: tag the solution cell "
                    f"{SOLUTION_TAG!r} (nothing was written)"
                )
    return student, removed


def write_student_copies(
    source_dir: str | Path, out_dir: str | Path, force: bool = False
) -> dict[str, int]:
    """Copy the notebooks folder to ``out_dir`` with every solution removed.

    Other files (the nbval sanitiser, images) are copied unchanged; Jupyter's
    checkpoint folders are left out. Every notebook is read and checked first,
    and the copies are built in a temporary folder, so an error leaves
    ``out_dir`` as it was. A folder that already holds files is refused unless
    ``force``; then files of the same name are replaced and the others kept.
    Returns the number of solutions removed per notebook.
    """
    source_dir, out_dir = Path(source_dir).resolve(), Path(out_dir).resolve()
    if not source_dir.is_dir():
        raise ValueError(f"{source_dir} is not a folder; pass the course's notebooks folder")
    if out_dir == source_dir or source_dir in out_dir.parents:
        raise ValueError(
            f"{out_dir} is inside the notebooks folder {source_dir}: choose a folder outside it, "
            "so the copies cannot overwrite the originals"
        )
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"{out_dir} is a file: choose a folder for the copies")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not force:
        held = sorted(path.name for path in out_dir.iterdir())
        raise ValueError(
            f"{out_dir} is not empty (it holds {', '.join(held[:3])}"
            f"{', …' if len(held) > 3 else ''}): choose a new folder, or pass --force to "
            "replace the files of the same name there (a student's work would be lost)"
        )
    notebooks = sorted(source_dir.glob("*.ipynb"))
    if not notebooks:
        raise ValueError(f"no notebooks (*.ipynb) in {source_dir}")
    copies = {path.name: student_copy(path) for path in notebooks}

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        shutil.copytree(
            source_dir,
            build,
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "*.ipynb"),
        )
        for name, (student, _) in copies.items():
            (build / name).write_text(
                json.dumps(student, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
            )
        if out_dir.is_dir() and not any(out_dir.iterdir()):
            out_dir.rmdir()
        if not out_dir.exists():
            os.replace(build, out_dir)
        else:  # --force: replace what the copies name, keep everything else
            for path in sorted(build.rglob("*"), key=lambda p: len(p.parts)):
                target = out_dir / path.relative_to(build)
                if path.is_dir():
                    target.mkdir(exist_ok=True)
                else:
                    os.replace(path, target)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return {name: removed for name, (_, removed) in copies.items()}


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


def normalise_ref(ref: str) -> str:
    """A tag or commit name that a Colab link and ``pip install git+URL@REF`` can both use."""
    ref = ref.strip()
    if not REF_NAME.match(ref):
        raise ValueError(
            f"{ref!r} is not a tag or commit name a Colab link can open: use letters, digits, "
            "'.', '-' and '_' only, e.g. v0.1.0 or a commit hash"
        )
    return ref


def colab_url(repository: str, notebook: str, ref: str) -> str:
    """The address that opens ``notebooks/<notebook>`` of ``repository`` at ``ref`` in Colab."""
    return f"{_colab_base(repository, ref)}/notebooks/{notebook}"


def _colab_base(repository: str, ref: str) -> str:
    match = REPOSITORY_URL.match(normalise_repository(repository))
    return f"https://colab.research.google.com/github/{match['owner']}/{match['name']}/blob/{ref}"


def read_repository(root: str | Path) -> str:
    """The repository address from ``[project.urls] Repository`` in ``pyproject.toml``."""
    pyproject = Path(root) / "pyproject.toml"
    match = PYPROJECT_REPOSITORY.search(_table(pyproject.read_text(encoding="utf-8"), URLS))
    if match is None:
        raise ValueError(
            f'{pyproject} has no Repository = "https://github.com/OWNER/NAME" under '
            "[project.urls]: add it, it is the one place the course's address is written"
        )
    return normalise_repository(match["url"])


def read_ref(root: str | Path) -> str:
    """The tag or commit Colab uses: ``[tool.metric-course] colab-ref`` in ``pyproject.toml``."""
    pyproject = Path(root) / "pyproject.toml"
    match = PYPROJECT_REF.search(_table(pyproject.read_text(encoding="utf-8"), TOOL))
    if match is None:
        raise ValueError(
            f'{pyproject} has no colab-ref = "TAG" under [tool.metric-course]: add it (the tag '
            "or commit whose notebooks and package Colab should use, e.g. v0.1.0)"
        )
    return normalise_ref(match["ref"])


def _table(text: str, name: str) -> str:
    """The body of the table ``[name]`` of a pyproject file's text ("" when there is none)."""
    header = re.escape(f"[{name}]")
    match = re.search(rf"^{header}\s*$(?P<body>.*?)(?=^\[|\Z)", text, re.M | re.S)
    return match["body"] if match else ""


@dataclass(frozen=True)
class Mention:
    """One place that names the repository: the file, what it is, and the address it uses."""

    path: Path
    what: str
    repository: str
    ref: str | None = None  # for Colab links


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
    """What disagrees with ``pyproject.toml``'s address and ref; an empty list when all agree."""
    root = Path(root)
    expected, ref = read_repository(root), read_ref(root)
    problems = []
    for mention in repository_mentions(root):
        where = mention.path.relative_to(root)
        if mention.repository != expected:
            problems.append(
                f"{where}: {mention.what} uses {mention.repository}, pyproject.toml says {expected}"
            )
        if mention.ref not in (None, ref):
            problems.append(f"{where}: {mention.what} opens {mention.ref}, not {ref}")
    for notebook in sorted((root / "notebooks").glob("*.ipynb")):
        text = notebook.read_text(encoding="utf-8")
        if colab_url(expected, notebook.name, ref) not in text:
            problems.append(f"notebooks/{notebook.name}: no Colab badge that opens this notebook")
        if not COURSE_REPOSITORY_LINE.search(text):
            problems.append(f"notebooks/{notebook.name}: no COURSE_REPOSITORY line in the setup")
        pins = [line["ref"] for line in COURSE_REF_LINE.finditer(text)]
        if not pins:
            problems.append(f"notebooks/{notebook.name}: no COURSE_REF line in the setup")
        problems += [
            f"notebooks/{notebook.name}: COURSE_REF is {pin}, pyproject.toml says {ref}"
            for pin in pins
            if pin != ref
        ]
    return problems


def set_repository(root: str | Path, url: str, ref: str | None = None) -> list[Path]:
    """Write ``url`` (and ``ref``, when given) into pyproject, the README's badges and notebooks.

    Only the addresses and refs change: the files keep their formatting byte
    for byte otherwise. Returns the files that changed.
    """
    root = Path(root)
    url = normalise_repository(url)
    ref = read_ref(root) if ref is None else normalise_ref(ref)
    changed = []

    pyproject = root / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    urls, tool = _table(text, URLS), _table(text, TOOL)
    if not PYPROJECT_REPOSITORY.search(urls):
        read_repository(root)  # raises the explanation
    if not PYPROJECT_REF.search(tool):
        read_ref(root)  # raises the explanation
    new = text.replace(
        urls, PYPROJECT_REPOSITORY.sub(lambda m: f"{m['key']}{url}{m['end']}", urls), 1
    )
    new = new.replace(tool, PYPROJECT_REF.sub(lambda m: f"{m['key']}{ref}{m['end']}", tool), 1)
    changed += _write_if_changed(pyproject, text, new)

    def new_link(link: re.Match) -> str:
        return f"{_colab_base(url, ref)}/{link['path']}"

    for path in [root / "README.md", *sorted((root / "notebooks").glob("*.ipynb"))]:
        text = path.read_text(encoding="utf-8")
        new = COLAB_LINK.sub(new_link, text)
        new = COURSE_REPOSITORY_LINE.sub(
            lambda m: f"COURSE_REPOSITORY = {m['quote']}{url}{m['quote']}", new
        )
        new = COURSE_REF_LINE.sub(lambda m: f"COURSE_REF = {m['quote']}{ref}{m['quote']}", new)
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
    copies.add_argument("out_dir", type=Path, help="where to write the copies (a new folder)")
    copies.add_argument(
        "--force",
        action="store_true",
        help="write into a folder that holds files, replacing those of the same name",
    )
    address = commands.add_parser(
        "set-repository", help="point pyproject, README and notebooks at a new repository"
    )
    address.add_argument("url", help="https://github.com/OWNER/NAME")
    address.add_argument(
        "--ref",
        help="the tag or commit Colab opens and installs (default: keep pyproject's colab-ref)",
    )
    commands.add_parser("check-repository", help="list every place that disagrees")
    args = parser.parse_args(argv)
    root = args.root

    try:
        if args.command == "student-copies":
            removed = write_student_copies(root / "notebooks", args.out_dir, args.force)
            for name, count in removed.items():
                print(f"{name}: {count} solution cell{'s' * (count != 1)} removed")
            print(f"student copies written to {args.out_dir}")
        elif args.command == "set-repository":
            for path in set_repository(root, args.url, args.ref):
                print(f"updated {path.relative_to(root)}")
            print(f"repository: {read_repository(root)} at {read_ref(root)}")
        else:
            problems = repository_problems(root)
            for problem in problems:
                print(problem)
            print(
                f"repository: {read_repository(root)} at {read_ref(root)}; "
                f"{len(problems)} problem(s)"
            )
            return 1 if problems else 0
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
