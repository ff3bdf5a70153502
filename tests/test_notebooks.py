"""Every notebook has the course's shape (read from the files; nothing is executed).

nbval runs the notebooks; these checks catch, in a second, what a reader would
stumble on: a missing title, badge or parameters cell, a Colab setup that would
upgrade torch, a solution readable before it is asked for, an error or warning saved in an output, a
notebook with no checked number. See docs/instructors.md for the shape.
"""

import re
from pathlib import Path

import nbformat
import pytest

from metric_course import instructor, repository
from metric_course.exercises import EXERCISES

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
REPOSITORY = repository.read_repository(ROOT)
REF = repository.read_ref(ROOT)

COLAB_GUARD = 'if "google.colab" in sys.modules:'
# Colab's own versions must stay: upgrading torch or numpy forces a restart,
# ipywidgets 8 breaks Colab's widget manager.
KEEP_COLABS_OWN = ("torch", "torchvision", "numpy", "ipywidgets")
# Training: the course's loops, or an optimiser step in a notebook's own loop.
TRAINS = re.compile(r"(?<![\w.])(train|train_embedding)\(|\boptimi[sz]er\.step\(\)")
PIP_INSTALL = re.compile(r"^\s*(#\s*)*[%!]\s*pip3? install\b")  # commented out or not
NBVAL_MARKERS = {
    "NBVAL_CHECK_OUTPUT",
    "NBVAL_IGNORE_OUTPUT",
    "NBVAL_SKIP",
    "NBVAL_RAISES_EXCEPTION",
}
WARNING = re.compile(r"\b\w*Warning\b|Traceback")


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks in notebooks/"


@pytest.fixture(params=NOTEBOOKS, ids=[path.name for path in NOTEBOOKS])
def notebook(request):
    """The notebook as nbformat reads it, with its ``path`` attached (outside the JSON)."""
    return Notebook(request.param)


class Notebook(nbformat.NotebookNode):
    def __init__(self, path: Path) -> None:
        super().__init__(nbformat.read(path, as_version=4))
        object.__setattr__(self, "path", path)


def code_cells(notebook) -> list:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def tags(cell) -> list[str]:
    return cell.metadata.get("tags", [])


def where(notebook, cell) -> str:
    """Name a cell the way nbval does ("Cell N", counting code cells from 0) and show its start."""
    index = code_cells(notebook).index(cell) if cell.cell_type == "code" else "markdown"
    first_line = cell.source.splitlines()[0] if cell.source else ""
    return f"{notebook.path.name} cell {index} ({first_line[:60]!r})"


def is_checked(cell) -> bool:
    """True for a cell nbval --nbval-lax compares (marker alone on a comment line, or tag)."""
    markers = {line.strip().lstrip("#").strip() for line in cell.source.splitlines()}
    return "NBVAL_CHECK_OUTPUT" in markers or "nbval-check-output" in tags(cell)


def test_valid_name_and_title(notebook):
    nbformat.validate(notebook)
    name = notebook.path.name
    assert re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", name), f"{name}: name it NN_words.ipynb"
    first = notebook.cells[0]
    assert first.cell_type == "markdown", f"{name}: start with a Markdown title cell"
    assert first.source.startswith(f"# {name[:2]} · "), f"{name}: title '# {name[:2]} · Title'"


def test_metadata_names_the_kernel(notebook):
    """Without it, JupyterLab asks the student which kernel to start."""
    kernelspec = notebook.metadata.get("kernelspec", {})
    assert kernelspec.get("name") == "python3", (
        f"{notebook.path.name}: add to the notebook metadata "
        '"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", '
        '"language": "python"}'
    )


def test_opening_has_colab_badge_and_objectives(notebook):
    opening = notebook.cells[0].source
    badge = f"[![Open In Colab]({repository.COLAB_BADGE})]"
    link = f"({repository.colab_url(REPOSITORY, notebook.path.name, REF)})"
    assert badge + link in opening, f"{notebook.path.name}: the Colab badge must open this notebook"
    objectives = [line for line in opening.splitlines() if line.startswith(("- ", "* ", "1. "))]
    assert len(objectives) >= 2, f"{notebook.path.name}: list the learning objectives"


def test_setup_cell_installs_the_course_on_colab_only(notebook):
    setup = code_cells(notebook)[0]
    name = notebook.path.name
    lines = setup.source.splitlines()
    assert COLAB_GUARD in lines, f"{name}: the first code cell needs the Colab guard {COLAB_GUARD}"
    assert f'    COURSE_REPOSITORY = "{REPOSITORY}"' in lines, (
        f"{name}: the guard sets COURSE_REPOSITORY (python -m metric_course.instructor "
        "set-repository keeps it right)"
    )
    assert any(line.startswith(f'    COURSE_REF = "{REF}"') for line in lines), (
        f"{name}: the guard pins COURSE_REF to the tag or commit of pyproject's colab-ref "
        "(python -m metric_course.instructor set-repository URL --ref REF keeps it right)"
    )
    installs = [line for line in lines if PIP_INSTALL.match(line)]
    course = "{COURSE_REPOSITORY}@{COURSE_REF}"
    assert any(course in line and "--no-deps" in line for line in installs), (
        f"{name}: install the course with "
        '%pip install -q --no-deps "metric-course @ git+{COURSE_REPOSITORY}@{COURSE_REF}"'
    )
    for line in installs:
        assert not line.lstrip().startswith("#"), (
            f"{name}: the install line is commented out, so Colab would not install the course "
            f"(in a jupytext source, write '# %pip' once, not '# # %pip'): {line.strip()}"
        )
        assert line.startswith("    %pip install "), f"{name}: install inside the guard: {line}"
        words = line.split()
        assert not {"-U", "--upgrade"} & set(words), f"{name}: never upgrade on Colab: {line}"
        # pinning numpy to the version already loaded keeps it; any other numpy spec moves it
        words = [word for word in words if word.strip("\"'") != "numpy=={numpy.__version__}"]
        named = {re.split(r"[<>=!~\[ @]", word.strip("\"'"))[0] for word in words}
        assert not named & set(KEEP_COLABS_OWN), f"{name}: keep Colab's own versions: {line}"


def test_parameters_cell_reads_lecture_mode(notebook):
    name = notebook.path.name
    parameters = [cell for cell in code_cells(notebook) if "parameters" in tags(cell)]
    assert len(parameters) == 1, f"{name}: tag exactly one code cell 'parameters'"
    assert "lecture_mode()" in parameters[0].source, (
        f"{name}: the parameters cell reads METRIC_COURSE_LECTURE: LECTURE = lecture_mode()"
    )
    cells = code_cells(notebook)
    training = [i for i, cell in enumerate(cells) if TRAINS.search(cell.source)]
    if training:
        assert cells.index(parameters[0]) < training[0], f"{name}: parameters before training"


def test_notebooks_sized_for_a_cpu_do_not_ask_colab_for_a_gpu(notebook):
    metadata = notebook.metadata
    assert "accelerator" not in metadata, (
        f'{notebook.path.name} runs in minutes on a CPU: remove "accelerator" from the '
        "metadata (Colab's GPU quota is scarce; a GPU runtime stays optional)"
    )
    if not any(TRAINS.search(cell.source) for cell in code_cells(notebook)):
        return
    assert isinstance(metadata.get("colab", {}).get("provenance"), list), (
        f'{notebook.path.name} trains: add "colab": {{"provenance": []}} to the metadata'
    )


def test_no_solution_is_readable_before_the_student_asks(notebook):
    """Issue 25: no solution shows where the notebook opens (JupyterLab, Colab, GitHub).

    No cell tagged solution, no exercise function written out, no line of a
    reference solution in a cell or a saved output, no saved ✅ verdict.
    """
    found = instructor.readable_solutions(notebook)
    assert not found, f"{notebook.path.name}: " + "; ".join(found)


def test_every_exercise_has_a_reference_solution_and_says_how_to_ask(notebook):
    stubs = instructor.exercise_stubs(notebook)
    missing = [stub.name for stub in instructor.unmatched_exercises(notebook)]
    assert not missing, f"{notebook.path.name}: no reference solution in the package: {missing}"
    markdown = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    for stub in stubs:
        assert f'show_solution("{stub.name}")' in markdown, (
            f"{notebook.path.name}: the exercise's text must say how to ask for its solution: "
            f'run show_solution("{stub.name}") in a new cell'
        )


def test_no_later_cell_uses_the_students_function(notebook):
    """The notebook runs to the end with every exercise unsolved: later cells use the package."""
    for stub in instructor.exercise_stubs(notebook):
        checker = EXERCISES[stub.name].checker.__name__
        for cell in notebook.cells[stub.cell :]:
            if cell.cell_type != "code":
                continue
            source = cell.source.replace(f"{checker}({stub.name})", "")
            assert not re.search(rf"(?<![.\w]){stub.name}\b", source), (
                f"{where(notebook, cell)} uses the student's {stub.name}(), which raises "
                "NotImplementedError until it is solved: use the package's version"
            )


def test_saved_outputs_have_no_errors_or_warnings(notebook):
    """The committed notebook ran top to bottom, and a student sees no error or warning."""
    counts = [cell.execution_count for cell in code_cells(notebook)]
    assert None not in counts, f"{notebook.path.name}: save it executed (outputs show on GitHub)"
    assert counts == sorted(counts), f"{notebook.path.name}: run it top to bottom, then save"
    for cell in code_cells(notebook):
        for output in cell.outputs:
            assert output.output_type != "error", f"{where(notebook, cell)}: saved an error"
            if output.get("name") == "stderr" and "expected-warning" not in tags(cell):
                found = WARNING.search(output.text)
                assert not found, (
                    f"{where(notebook, cell)} prints {found.group()}: fix it at the source, or "
                    "explain it in the text and tag the cell 'expected-warning'"
                )


def test_no_cell_saves_execution_timestamps(notebook):
    """Timestamps change on every run and say nothing (`python3 course.py execute` drops them)."""
    stamped = [where(notebook, cell) for cell in notebook.cells if "execution" in cell.metadata]
    assert not stamped, f"cells saved with execution timestamps: {stamped[:3]}"


def test_saved_widgets_have_their_state(notebook):
    """Every saved widget view's model is in the notebook's widget state, so GitHub and the
    website can draw it (an executor that does not save the state leaves stale or none)."""
    views = [
        output.data["application/vnd.jupyter.widget-view+json"]["model_id"]
        for cell in code_cells(notebook)
        for output in cell.outputs
        if "application/vnd.jupyter.widget-view+json" in output.get("data", {})
    ]
    state = notebook.metadata.get("widgets", {}).get(
        "application/vnd.jupyter.widget-state+json", {}
    )
    missing = [view for view in views if view not in state.get("state", {})]
    assert not missing, (
        f"{notebook.path.name}: widget views without saved state {missing[:3]}: re-execute "
        "with `python3 course.py execute` (nbconvert saves the state)"
    )


def test_key_numbers_are_checked_by_nbval(notebook):
    checked = [cell for cell in code_cells(notebook) if is_checked(cell)]
    assert checked, f"{notebook.path.name}: mark a cell of key numbers # NBVAL_CHECK_OUTPUT"
    for cell in code_cells(notebook):
        for line in cell.source.splitlines():
            comment = line.strip().lstrip("#").strip()
            if line.strip().startswith("#") and comment.startswith("NBVAL"):
                assert comment in NBVAL_MARKERS, (
                    f"{where(notebook, cell)}: nbval only knows a marker alone on its line: {line}"
                )
    for cell in checked:
        assert cell.outputs, f"{where(notebook, cell)}: a checked cell must show something"
        for output in cell.outputs:
            assert output.get("name") != "stderr", (
                f"{where(notebook, cell)}: prints to stderr (progress bar, warning): nbval "
                "compares it, so the cell would fail on another machine"
            )


def test_training_cells_are_never_compared(notebook):
    """Training shows a progress bar and prints times: nbval must not compare such a cell."""
    for cell in code_cells(notebook):
        if TRAINS.search(cell.source):
            assert not is_checked(cell), (
                f"{where(notebook, cell)} trains (its bar and times differ run to run): print "
                "the conclusions in a checked cell of their own"
            )


def test_ends_with_summary_and_references(notebook):
    markdown = [cell.source for cell in notebook.cells if cell.cell_type == "markdown"]
    assert any(re.search(r"^#+ .*Summary", text, re.M) for text in markdown), (
        f"{notebook.path.name}: add a '## Summary' with the measured numbers"
    )
    assert re.search(r"reference", markdown[-1], re.I) or any(
        re.search(r"^#+ .*References", text, re.M) for text in markdown
    ), f"{notebook.path.name}: end with references"
