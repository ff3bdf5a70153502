"""Benchmark: how long each notebook takes under nbval, slowest first.

    python benchmarks/notebook_times.py                        # every notebook, on the CPU
    python benchmarks/notebook_times.py notebooks/02_*.ipynb   # some of them
    python benchmarks/notebook_times.py --cores 2              # as on a 2-core laptop
    python benchmarks/notebook_times.py --junit artifacts/pytest.xml   # times of a finished run
    python benchmarks/notebook_times.py --markdown             # the table for the README
    python benchmarks/notebook_times.py --runs 3               # reproducible: 3 runs out of 3?
    python benchmarks/notebook_times.py --saved                # as last executed, no run

It runs ``pytest --nbval-lax`` once over the notebooks, in order (later
notebooks may load models that earlier ones trained and cached), with a JUnit
report, and adds up the time of each notebook's cells, including starting its
kernel. ``python3 course.py test`` writes that report to
``artifacts/pytest.xml``, so ``--junit`` reads the times of the full test run
without running anything.

``--saved`` reads the times the notebooks recorded when they were last
executed and saved (Jupyter's per-cell ``execution`` metadata: from the first
cell's start to the last cell's end, kernel start not included).

Each run starts with an empty model cache (a temporary ``METRIC_COURSE_DATA``
that links the datasets of the course data folder but not its ``models/``), so
every notebook trains as on a clean checkout; ``--runs 3`` repeats that and
says in how many runs every checked number matched.

The course's budget: at most 90 s per notebook and 6 minutes in all on a
2-core CPU with no GPU. ``METRIC_COURSE_DEVICE=cpu`` is set, so a GPU is not
used; ``--cores N`` pins the run to N cores with ``taskset`` (Linux). The
machine should be otherwise quiet. This measures; it is not a test, and it
exits non-zero only when a notebook fails.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_BUDGET_S = 90
COURSE_BUDGET_S = 6 * 60
NOTEBOOK_NAME = re.compile(r"([^./]+\.ipynb)$")


@dataclass
class NotebookTime:
    """One notebook's cells under nbval: their total time, and how many failed."""

    notebook: str
    seconds: float = 0.0
    cells: int = 0
    failed: int = 0


def read_junit(path: str | Path) -> list[NotebookTime]:
    """Per-notebook times from a pytest JUnit XML report (unit tests are left out)."""
    times: dict[str, NotebookTime] = {}
    for case in ElementTree.parse(path).iter("testcase"):
        match = NOTEBOOK_NAME.search(case.get("classname", ""))
        if match is None:
            continue
        entry = times.setdefault(match[1], NotebookTime(match[1]))
        entry.seconds += float(case.get("time", 0))
        entry.cells += 1
        entry.failed += any(case.iter("failure")) or any(case.iter("error"))
    return sorted(times.values(), key=lambda entry: entry.seconds, reverse=True)


def read_saved(paths: list[Path]) -> list[NotebookTime]:
    """Per-notebook times recorded in the notebooks' execution metadata (executed ones only)."""
    times = []
    for path in paths:
        notebook = json.loads(path.read_text(encoding="utf-8"))
        cells = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
        stamps = [cell["metadata"].get("execution", {}) for cell in cells]
        if not cells or not all(
            "iopub.execute_input" in s and "shell.execute_reply" in s for s in stamps
        ):
            continue
        start = datetime.fromisoformat(stamps[0]["iopub.execute_input"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(stamps[-1]["shell.execute_reply"].replace("Z", "+00:00"))
        times.append(NotebookTime(path.name, (end - start).total_seconds(), len(cells)))
    return sorted(times, key=lambda entry: entry.seconds, reverse=True)


def empty_model_cache(folder: Path) -> Path:
    """A data folder in ``folder`` with the course's datasets linked in and no cached models."""
    data = Path(os.environ.get("METRIC_COURSE_DATA") or ROOT / "data")
    fresh = folder / "data"
    fresh.mkdir()
    for entry in data.iterdir() if data.is_dir() else []:
        if entry.name != "models":
            (fresh / entry.name).symlink_to(entry.resolve())
    return fresh


def run_nbval(notebooks: list[str], junit: Path, cores: int | None) -> int:
    """Run the notebooks under nbval on the CPU, writing a JUnit report; pytest's exit status.

    The run starts with no cached models, so every notebook trains what it needs.
    """
    command = [
        sys.executable,
        "-m",
        "pytest",
        *notebooks,
        "--nbval-lax",
        "--nbval-current-env",
        "--nbval-sanitize-with",
        str(ROOT / "notebooks" / "nbval_sanitize.cfg"),
        "-p",
        "no:cacheprovider",
        "-q",
        f"--junit-xml={junit}",
    ]
    if cores:
        if not shutil.which("taskset"):
            raise SystemExit("--cores needs taskset (util-linux, Linux only)")
        command = ["taskset", "-c", f"0-{cores - 1}", *command]
    env = {
        **os.environ,
        "METRIC_COURSE_DEVICE": "cpu",
        "CUDA_VISIBLE_DEVICES": "",
        "METRIC_COURSE_DATA": str(empty_model_cache(junit.parent)),
    }
    print("+", " ".join(command), flush=True)
    return subprocess.run(command, cwd=ROOT, env=env, check=False).returncode


def format_table(times: list[NotebookTime], markdown: bool = False) -> str:
    """The times, slowest first, with the total and the budget verdicts."""
    total = sum(entry.seconds for entry in times)
    rows = [
        (
            entry.notebook,
            f"{entry.seconds:.0f}",
            str(entry.cells),
            ("over 90 s" if entry.seconds > NOTEBOOK_BUDGET_S else "ok")
            + (f", {entry.failed} failed" if entry.failed else ""),
        )
        for entry in times
    ]
    verdict = "within 6 min" if total <= COURSE_BUDGET_S else "over 6 min"
    rows.append(("total", f"{total:.0f}", str(sum(e.cells for e in times)), verdict))
    header = ("notebook", "seconds", "cells", "budget")
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|---|---:|---:|---|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            cell.ljust(width) if i in (0, 3) else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in [header, *rows]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="notebooks to time (default: all)")
    parser.add_argument("--junit", type=Path, help="read this pytest JUnit report, run nothing")
    parser.add_argument("--cores", type=int, help="run on this many cores only (taskset)")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--runs", type=int, default=1, help="repeat the whole run this many times")
    parser.add_argument("--saved", action="store_true", help="read the saved times, run nothing")
    args = parser.parse_args()

    notebooks = args.notebooks or sorted(str(p) for p in (ROOT / "notebooks").glob("*.ipynb"))
    if args.junit or args.saved:
        times = read_junit(args.junit) if args.junit else read_saved(list(map(Path, notebooks)))
        print(format_table(times, markdown=args.markdown))
        return 1 if not times or any(entry.failed for entry in times) else 0
    passed = 0
    for run in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory() as folder:
            junit = Path(folder) / "nbval.xml"
            status = run_nbval(notebooks, junit, args.cores)
            times = read_junit(junit) if junit.exists() else []
        print(f"\nrun {run} of {args.runs}: pytest exit status {status}")
        if times:
            print(format_table(times, markdown=args.markdown))
        passed += status == 0 and bool(times) and not any(entry.failed for entry in times)
    print(f"\nevery checked output matched in {passed} of {args.runs} run(s)")
    return 0 if passed == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
