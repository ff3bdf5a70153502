"""Tools for instructors: solution notebooks, student copies, and the course's address.

    python -m metric_course.instructor solution-notebooks OUTDIR [--force]
    python -m metric_course.instructor student-copies OUTDIR [--force]
    python -m metric_course.instructor set-repository https://github.com/ORG/REPO [--ref REF]
    python -m metric_course.instructor check-repository

``--root COURSE_FOLDER`` (default: the current folder) goes before or after the command.

**Exercises and their solutions.** A notebook holds only its exercises: a stub
that raises ``NotImplementedError`` and a checker. Every exercise has a reference
solution in the package (``metric_course/exercises/solutions.py``, registered in
``metric_course.exercises.EXERCISES`` under the stub's function name); a student
who is stuck prints it with ``show_solution(name)`` in a new cell. So no
solution is readable where a notebook opens (JupyterLab, Colab, GitHub, VS Code)
until it is asked for.

**Solution notebooks.** ``solution-notebooks`` writes a copy of the notebooks
folder (subfolders included) in which each exercise is followed by a cell tagged
``solution`` holding its reference solution and the checker call, not executed:
run them to see every checker say ✅.

**Student copies.** The course's notebooks are the student copies. For notebooks
of one's own, ``student-copies`` writes a copy in which every cell tagged
``solution`` (any case, spaces around it, or ``solutions``; code or Markdown)
is replaced by a short note, with its outputs and attachments removed, and it
refuses, writing nothing, when a solution would still reach students: an
exercise whose solution is written out in an untagged cell, or an exercise
without a reference solution in the package (the counts must match).

Both commands read and check every notebook before anything is written, build
the copies in a temporary folder, and write into a folder that already holds
files only with ``--force``.

**The repository address and its ref** (:mod:`metric_course.repository`):
``set-repository`` rewrites the badges and setup cells from pyproject's
``Repository`` and ``colab-ref``, ``check-repository`` lists every place that
disagrees.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .exercises.catalogue import EXERCISES, normalize_spaces
from .repository import read_ref, read_repository, repository_problems, set_repository

SOLUTION_TAG = "solution"
# Tags read as a solution tag, after stripping spaces and lower-casing.
SOLUTION_TAGS = frozenset({"solution", "solutions"})
STUB = "raise NotImplementedError"
DEFINES = re.compile(r"^def (\w+)\(", re.MULTILINE)
# What a checker prints when an answer passes (see exercises.checking.run_checks).
PASSED_VERDICT = re.compile(r"✅ [^\n]*: correct \(\d+ checks passed\)")
SOLUTION_PLACEHOLDER = (
    "# The solution is not part of this copy of the notebook.\n"
    "# Solve the exercise above; the checker tells you when it is right."
)
REFERENCE_HEADER = "# Reference solution (metric_course/exercises/solutions.py), for instructors.\n"
OUTSIDE_THE_COURSE = (
    "run this from the course folder (the one with pyproject.toml and notebooks/), or name it "
    "with --root COURSE_FOLDER"
)


# ---------------------------------------------------------------- reading notebooks


def tags_of(cell: dict) -> list[str]:
    """A cell's tags as a list of strings, whatever the file holds (none, null, one string)."""
    tags = (cell.get("metadata") or {}).get("tags") or []
    return [tags] if isinstance(tags, str) else [str(tag) for tag in tags]


def is_solution(cell: dict) -> bool:
    """True for a cell tagged ``solution`` (any case, spaces around it, or ``solutions``)."""
    return any(tag.strip().lower() in SOLUTION_TAGS for tag in tags_of(cell))


def source_of(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _outputs_text(cell: dict) -> str:
    """Everything a cell's saved outputs show as text (streams, text/plain, HTML, Markdown)."""
    parts = []
    for output in cell.get("outputs") or []:
        parts.append(source_of({"source": output.get("text", "")}))
        for kind, value in (output.get("data") or {}).items():
            if kind.startswith("text/") or kind == "application/json":
                parts.append(source_of({"source": value}))
    return "\n".join(parts)


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


def notebook_paths(folder: Path) -> list[Path]:
    """Every notebook under ``folder``, subfolders included, Jupyter's checkpoints left out."""
    return sorted(
        path
        for path in folder.rglob("*.ipynb")
        if ".ipynb_checkpoints" not in path.relative_to(folder).parts
    )


# ---------------------------------------------------------------- exercises and solutions


@dataclass(frozen=True)
class Stub:
    """An exercise in a notebook: the cell (from 1) whose function raises NotImplementedError."""

    cell: int
    name: str


def exercise_stubs(notebook: dict) -> list[Stub]:
    """The exercises of a notebook, in order: functions whose body is still the stub."""
    stubs = []
    for number, cell in enumerate(notebook["cells"], start=1):
        source = source_of(cell)
        if cell.get("cell_type") == "code" and not is_solution(cell) and STUB in source:
            stubs += [Stub(number, name) for name in DEFINES.findall(source)]
    return stubs


def readable_solutions(notebook: dict) -> list[str]:
    """Where a notebook shows a solution before the student asks for it, one line per place.

    A cell tagged ``solution``; a code cell that defines an exercise's
    function with a body instead of the stub; a cell (source or saved output)
    with a line of a reference solution; a saved ✅ verdict of a checker.
    """
    exercises = {stub.name for stub in exercise_stubs(notebook)} | set(EXERCISES)
    giveaways = {
        line: name for name, exercise in EXERCISES.items() for line in exercise.distinctive_lines()
    }
    found = []
    for number, cell in enumerate(notebook["cells"], start=1):
        source = source_of(cell)
        where = f"cell {number}"
        if is_solution(cell):
            if source == SOLUTION_PLACEHOLDER and not (
                cell.get("outputs") or cell.get("attachments")
            ):
                continue  # a student copy's note where the solution was
            found.append(
                f"{where} is tagged {SOLUTION_TAG!r}: a solution, readable on GitHub and Colab"
            )
            continue
        if cell.get("cell_type") == "code" and STUB not in source:
            for name in DEFINES.findall(source):
                if name in exercises:
                    found.append(f"{where} writes out {name}(), the function of an exercise")
        shown = {
            normalize_spaces(line) for line in (source + "\n" + _outputs_text(cell)).splitlines()
        }
        for line in sorted(shown & set(giveaways)):
            found.append(f"{where} shows a line of the solution of {giveaways[line]}(): {line}")
        if PASSED_VERDICT.search(_outputs_text(cell)):
            found.append(f"{where} has a saved ✅ verdict: a solved exercise")
    return found


def unmatched_exercises(notebook: dict) -> list[Stub]:
    """The exercises of a notebook that have no reference solution in the package."""
    return [stub for stub in exercise_stubs(notebook) if stub.name not in EXERCISES]


def _refuse_unmatched(path: Path, notebook: dict) -> None:
    stubs = exercise_stubs(notebook)
    missing = unmatched_exercises(notebook)
    if missing:
        listed = ", ".join(f"{stub.name}() in cell {stub.cell}" for stub in missing)
        raise ValueError(
            f"{path.name} has {len(stubs)} exercise(s) but {len(stubs) - len(missing)} "
            f"reference solution(s): no solution for {listed}. Add one to "
            "metric_course/exercises/solutions.py and register it in "
            "metric_course.exercises.EXERCISES (nothing was written)"
        )


def strip_solutions(notebook: dict) -> tuple[dict, int]:
    """A copy of ``notebook`` without its cells tagged solution, and how many were removed.

    Each such cell keeps its place and tags, so the notebook's shape does not
    change, but its source becomes a short note, and its outputs, attachments
    and collapsed state are removed (the note is meant to be read).
    """
    student = json.loads(json.dumps(notebook))  # a deep copy that cannot share lists
    removed = 0
    for cell in student["cells"]:
        if not is_solution(cell):
            continue
        removed += 1
        cell["source"] = SOLUTION_PLACEHOLDER
        cell.pop("attachments", None)
        if cell["cell_type"] == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        metadata = cell.get("metadata") or {}
        jupyter = metadata.get("jupyter") or {}
        jupyter.pop("source_hidden", None)
        jupyter.pop("outputs_hidden", None)
        if not jupyter:
            metadata.pop("jupyter", None)
        cell["metadata"] = metadata
    return student, removed


def student_copy(path: Path) -> tuple[dict, int]:
    """The notebook at ``path`` without its solutions; refused where one would still show."""
    notebook = read_notebook(path)
    _refuse_unmatched(path, notebook)
    student, removed = strip_solutions(notebook)
    left = readable_solutions(student)
    if left:
        raise ValueError(
            f"{path.name} would still show a solution to students: {left[0]}"
            f"{f' (and {len(left) - 1} more)' if len(left) > 1 else ''}. Tag that cell "
            f"{SOLUTION_TAG!r}, or delete it: the package holds the reference solutions "
            "(nothing was written)"
        )
    return student, removed


def solution_notebook(path: Path) -> tuple[dict, int]:
    """The notebook at ``path`` with each exercise's reference solution after its checker.

    The solution cell (tagged ``solution``, not executed) holds the package's
    reference solution and the checker call, so running it shows ✅. It goes
    after the first cell, from the stub on, that calls the exercise's checker.
    """
    notebook = read_notebook(path)
    _refuse_unmatched(path, notebook)
    teacher = json.loads(json.dumps(notebook))
    cells = teacher["cells"]
    stubs = exercise_stubs(notebook)
    for stub in reversed(stubs):  # from the end, so the cell numbers stay right
        exercise = EXERCISES[stub.name]
        call = f"{exercise.checker.__name__}({stub.name})"
        after = next(
            (
                index
                for index in range(stub.cell - 1, len(cells))
                if call.replace(" ", "") in source_of(cells[index]).replace(" ", "")
            ),
            stub.cell - 1,
        )
        cells.insert(
            after + 1,
            {
                "cell_type": "code",
                "execution_count": None,
                "id": f"reference-{stub.name}".replace("_", "-"),
                "metadata": {"tags": [SOLUTION_TAG]},
                "outputs": [],
                "source": f"{REFERENCE_HEADER}{exercise.source()}\n\n{call};\n",
            },
        )
    return teacher, len(stubs)


def write_notebook_folder(
    source_dir: str | Path,
    out_dir: str | Path,
    make: Callable[[Path], tuple[dict, int]],
    force: bool = False,
) -> dict[str, int]:
    """Copy the notebooks folder to ``out_dir``, each notebook as ``make(path)`` returns it.

    Other files (the nbval sanitiser, images) are copied unchanged, subfolders
    included; Jupyter's checkpoint folders are left out. Every notebook is
    read and checked first, and the copies are built in a temporary folder,
    so an error leaves ``out_dir`` as it was. A folder that already holds
    files is refused unless ``force``; then files of the same name are
    replaced and the others kept. Returns ``make``'s count per notebook, by
    path relative to the notebooks folder.
    """
    source_dir, out_dir = Path(source_dir).resolve(), Path(out_dir).resolve()
    if not source_dir.is_dir():
        raise ValueError(f"{source_dir} is not a folder: {OUTSIDE_THE_COURSE}")
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
    notebooks = notebook_paths(source_dir)
    if not notebooks:
        raise ValueError(f"no notebooks (*.ipynb) in {source_dir}")
    copies = {path.relative_to(source_dir).as_posix(): make(path) for path in notebooks}

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        shutil.copytree(
            source_dir,
            build,
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "*.ipynb"),
        )
        for name, (notebook, _) in copies.items():
            (build / name).parent.mkdir(parents=True, exist_ok=True)
            (build / name).write_text(
                json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
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
    return {name: count for name, (_, count) in copies.items()}


def write_student_copies(
    source_dir: str | Path, out_dir: str | Path, force: bool = False
) -> dict[str, int]:
    """Student copies of the notebooks folder (see the module's docstring): solutions removed."""
    return write_notebook_folder(source_dir, out_dir, student_copy, force)


def write_solution_notebooks(
    source_dir: str | Path, out_dir: str | Path, force: bool = False
) -> dict[str, int]:
    """Solution notebooks for instructors: each exercise followed by its reference solution."""
    return write_notebook_folder(source_dir, out_dir, solution_notebook, force)


# ---------------------------------------------------------------- command line


def _parser() -> argparse.ArgumentParser:
    # --root is read before the command and after it: the same option on every parser, where
    # the commands' copies leave the value alone unless it is given there.
    root = argparse.ArgumentParser(add_help=False)
    root.add_argument(
        "--root",
        type=Path,
        default=argparse.SUPPRESS,
        help="the course folder (default: the current folder)",
    )
    parser = argparse.ArgumentParser(
        prog="python -m metric_course.instructor",
        description="Solution notebooks, student copies, and the course's repository address.",
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=Path.cwd(),
        help="the course folder (default: the current folder)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for command, help_text in (
        (
            "solution-notebooks",
            "write the notebooks with each exercise's reference solution after it",
        ),
        ("student-copies", "write the notebooks without any cell tagged solution"),
    ):
        copies = commands.add_parser(command, help=help_text, parents=[root])
        copies.add_argument("out_dir", type=Path, help="where to write the copies (a new folder)")
        copies.add_argument(
            "--force",
            action="store_true",
            help="write into a folder that holds files, replacing those of the same name",
        )
    address = commands.add_parser(
        "set-repository",
        help="point pyproject, README and notebooks at a new repository",
        parents=[root],
    )
    address.add_argument("url", help="https://github.com/OWNER/NAME")
    address.add_argument(
        "--ref",
        help="the tag or commit Colab opens and installs (default: keep pyproject's colab-ref)",
    )
    commands.add_parser("check-repository", help="list every place that disagrees", parents=[root])
    return parser


def _course_folder(root: Path, needs: str) -> None:
    """Refuse a root that is not the course folder, saying how to name the right one."""
    if not (root / needs).exists():
        raise ValueError(
            f"{root.resolve()} holds no {needs}, so it is not the course folder: "
            f"{OUTSIDE_THE_COURSE}"
        )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    root = args.root

    try:
        if args.command in ("student-copies", "solution-notebooks"):
            _course_folder(root, "notebooks")
            if args.command == "student-copies":
                counts = write_student_copies(root / "notebooks", args.out_dir, args.force)
                what = "solution cell{} removed"
            else:
                counts = write_solution_notebooks(root / "notebooks", args.out_dir, args.force)
                what = "reference solution{} added"
            for name, count in counts.items():
                print(f"{name}: {count} {what.format('s' * (count != 1))}")
            kind = "student copies" if args.command == "student-copies" else "solution notebooks"
            print(f"{kind} written to {args.out_dir}")
        elif args.command == "set-repository":
            _course_folder(root, "pyproject.toml")
            for path in set_repository(root, args.url, args.ref):
                print(f"updated {path.relative_to(root)}")
            print(f"repository: {read_repository(root)} at {read_ref(root)}")
        else:
            _course_folder(root, "pyproject.toml")
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
