"""Student copies without solutions, and the one place the repository address lives."""

import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from metric_course import instructor, repository
from metric_course.exercises import EXERCISES

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def code_cell(source: str, tags=(), outputs=(), hidden=False) -> dict:
    metadata = {"tags": list(tags)} if tags else {}
    if hidden:
        metadata["jupyter"] = {"source_hidden": True}
    return {
        "cell_type": "code",
        "execution_count": 1,
        "id": f"c{abs(hash(source)) % 10**8}",
        "metadata": metadata,
        "outputs": list(outputs),
        "source": source,
    }


STUB = "def distance_matrix(x):\n    raise NotImplementedError  # your code here"
CHECK = "check_pairwise_distances(distance_matrix);"
PASSED = {
    "name": "stdout",
    "output_type": "stream",
    "text": "✅ pairwise distance matrix: correct (8 checks passed).\n",
}


def tiny_notebook() -> dict:
    """An old-style notebook: an exercise, and its solution in a collapsed cell tagged solution."""
    printed = {"name": "stdout", "output_type": "stream", "text": "1\n"}
    return {
        "cells": [
            {"cell_type": "markdown", "id": "m1", "metadata": {}, "source": "# 99 · Tiny"},
            code_cell(STUB),
            code_cell(CHECK, outputs=[printed]),
            code_cell(
                f"def distance_matrix(x):\n    return torch.cdist(x, x)\n\n{CHECK}",
                tags=["solution"],
                outputs=[PASSED],
                hidden=True,
            ),
            code_cell("print(1)", outputs=[printed]),
        ],
        "metadata": {"accelerator": "GPU"},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def test_strip_solutions_replaces_only_the_solution_cells():
    notebook = tiny_notebook()
    student, removed = instructor.strip_solutions(notebook)
    assert removed == 1
    assert notebook == tiny_notebook(), "the original must not change"
    solution = student["cells"][3]
    assert solution["source"] == instructor.SOLUTION_PLACEHOLDER
    assert solution["outputs"] == [] and solution["execution_count"] is None
    assert solution["metadata"] == {"tags": ["solution"]}, "visible, still tagged"
    for index in (0, 1, 2, 4):
        assert student["cells"][index] == notebook["cells"][index]
    assert student["metadata"] == notebook["metadata"]
    nbformat.validate(nbformat.from_dict(student))


def test_the_course_notebooks_are_their_own_student_copies(tmp_path):
    removed = instructor.write_student_copies(ROOT / "notebooks", tmp_path / "students")
    assert sorted(removed) == [path.name for path in NOTEBOOKS]
    assert set(removed.values()) == {0}, "no cell of the course is tagged solution"
    assert (tmp_path / "students" / "nbval_sanitize.cfg").is_file()
    for path in NOTEBOOKS:
        copy = (tmp_path / "students" / path.name).read_text(encoding="utf-8")
        assert json.loads(copy) == json.loads(path.read_text(encoding="utf-8"))


def test_solution_notebooks_follow_each_exercise_with_its_reference(tmp_path):
    added = instructor.write_solution_notebooks(ROOT / "notebooks", tmp_path / "teachers")
    assert sum(added.values()) == len(EXERCISES)
    for path in NOTEBOOKS:
        original = instructor.read_notebook(path)
        copy = instructor.read_notebook(tmp_path / "teachers" / path.name)
        nbformat.validate(nbformat.from_dict(copy))
        stubs = instructor.exercise_stubs(original)
        inserted = [cell for cell in copy["cells"] if instructor.is_solution(cell)]
        assert added[path.name] == len(stubs) == len(inserted)
        assert [c for c in copy["cells"] if not instructor.is_solution(c)] == original["cells"]
        for stub, cell in zip(stubs, inserted, strict=True):
            exercise = EXERCISES[stub.name]
            source = instructor.source_of(cell)
            assert exercise.source() in source
            assert source.rstrip().endswith(f"{exercise.checker.__name__}({stub.name});")
            at = copy["cells"].index(cell)
            before = instructor.source_of(copy["cells"][at - 1])
            assert f"{exercise.checker.__name__}({stub.name})" in before, "after its checker"
            compile(source, f"{path.name} solution of {stub.name}", "exec")


# A cell's top-level imports (the setup cell's %pip lines, in the Colab guard, are IPython).
IMPORT = re.compile(r"^(?:import [\w.]+(?: as \w+)?|from [\w.]+ import (?:\([^)]*\)|[^\n]+))", re.M)


def test_each_solution_cell_passes_its_checker_with_its_notebooks_imports(tmp_path, capsys):
    """A solution notebook's cell runs where it stands: with the imports of the cells above."""
    instructor.write_solution_notebooks(ROOT / "notebooks", tmp_path / "teachers")
    for path in NOTEBOOKS:
        copy = instructor.read_notebook(tmp_path / "teachers" / path.name)
        imports = []  # those of every code cell above, as when the notebook runs in order
        for cell in copy["cells"]:
            if cell["cell_type"] != "code":
                continue
            if not instructor.is_solution(cell):
                imports += IMPORT.findall(instructor.source_of(cell))
                continue
            namespace: dict = {}
            exec("\n".join(imports), namespace)
            exec(instructor.source_of(cell).replace(");", ")"), namespace)
            out = capsys.readouterr().out
            assert out.startswith("✅"), f"{path.name}: {out}"


def test_student_copies_refuse_to_write_into_the_notebooks_folder(tmp_path):
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks")
    with pytest.raises(ValueError, match="outside"):
        instructor.write_student_copies(tmp_path / "notebooks", tmp_path / "notebooks" / "copy")
    with pytest.raises(ValueError, match="not a folder"):
        instructor.write_student_copies(tmp_path / "nowhere", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no notebooks"):
        instructor.write_student_copies(tmp_path / "empty", tmp_path / "out")


@pytest.mark.parametrize("command", ["student-copies", "solution-notebooks"])
def test_copy_commands(tmp_path, capsys, command):
    status = instructor.main(["--root", str(ROOT), command, str(tmp_path / "out")])
    assert status == 0
    assert "written to" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "out").glob("*.ipynb")) == [p.name for p in NOTEBOOKS]


def test_the_repository_address_agrees_everywhere():
    assert repository.repository_problems(ROOT) == []
    mentions = repository.repository_mentions(ROOT)
    readme = [m for m in mentions if m.path.name == "README.md"]
    linked = {m.what.removeprefix("Colab link to notebooks/") for m in readme}
    missing = {path.name for path in NOTEBOOKS} - linked
    assert not missing, f"README has no Colab badge for {sorted(missing)}"


@pytest.mark.parametrize(
    "url", ["https://github.com/a/b", "https://github.com/a/b/", "https://github.com/a/b.git"]
)
def test_normalize_repository_accepts_github_addresses(url):
    assert repository.normalize_repository(url) == "https://github.com/a/b"


@pytest.mark.parametrize(
    "url", ["https://gitlab.com/a/b", "github.com/a/b", "https://github.com/a", "b"]
)
def test_normalize_repository_refuses_other_addresses(url):
    with pytest.raises(ValueError, match="OWNER/NAME"):
        repository.normalize_repository(url)


def copy_course(tmp_path: Path) -> Path:
    course = tmp_path / "course"
    course.mkdir()
    shutil.copy(ROOT / "pyproject.toml", course)
    shutil.copy(ROOT / "README.md", course)
    shutil.copytree(ROOT / "notebooks", course / "notebooks")
    return course


def test_set_repository_rewrites_every_mention_and_nothing_else(tmp_path):
    course = copy_course(tmp_path)
    old = repository.read_repository(course)
    new = "https://github.com/my-school/metric-learning-2027"
    before = {p: p.read_text(encoding="utf-8") for p in course.rglob("*") if p.is_file()}

    changed = repository.set_repository(course, new + ".git")

    assert repository.read_repository(course) == new
    assert repository.repository_problems(course) == []
    mentions = repository.repository_mentions(course)
    assert mentions and {m.repository for m in mentions} == {new}
    assert set(changed) == {p for p in before if p.suffix in (".toml", ".md", ".ipynb")}
    old_colab = old.replace("https://github.com/", "https://colab.research.google.com/github/")
    new_colab = new.replace("https://github.com/", "https://colab.research.google.com/github/")
    for path, text in before.items():
        after = path.read_text(encoding="utf-8")
        restored = after.replace(new_colab, old_colab).replace(new, old)
        assert restored == text, f"{path.name}: something besides the address changed"


def test_set_repository_command_and_check(tmp_path, capsys):
    course = copy_course(tmp_path)
    assert instructor.main(["--root", str(course), "check-repository"]) == 0
    ref = repository.read_ref(course)
    readme = course / "README.md"
    readme.write_text(
        readme.read_text(encoding="utf-8").replace(
            f"/blob/{ref}/notebooks/00", "/blob/dev/notebooks/00"
        ),
        encoding="utf-8",
    )
    assert instructor.main(["--root", str(course), "check-repository"]) == 1
    assert f"opens dev, not {ref}" in capsys.readouterr().out
    status = instructor.main(["--root", str(course), "set-repository", "https://gitlab.com/x/y"])
    assert status == 2
    assert "not a GitHub repository address" in capsys.readouterr().err


def test_a_pyproject_without_the_address_is_explained(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"\[project.urls\]"):
        repository.read_repository(tmp_path)


# ---------------------------------------------------------------- pinning Colab to a tag (issue 15)


def test_set_repository_ref_pins_badges_installs_and_pyproject(tmp_path, capsys):
    course = copy_course(tmp_path)
    url = repository.read_repository(course)
    old = repository.read_ref(course)
    before = {p: p.read_text(encoding="utf-8") for p in course.rglob("*") if p.is_file()}

    status = instructor.main(["--root", str(course), "set-repository", url, "--ref", "v2.0.1"])

    assert status == 0 and f"{url} at v2.0.1" in capsys.readouterr().out
    assert repository.read_ref(course) == "v2.0.1"
    assert repository.repository_problems(course) == []
    for path in sorted((course / "notebooks").glob("*.ipynb")):
        text = path.read_text(encoding="utf-8")
        assert '    COURSE_REF = \\"v2.0.1\\"' in text
        assert repository.colab_url(url, path.name, "v2.0.1") in text
    for path, text in before.items():
        after = path.read_text(encoding="utf-8")
        restored = (
            after.replace("/blob/v2.0.1/", f"/blob/{old}/")
            .replace('COURSE_REF = \\"v2.0.1\\"', f'COURSE_REF = \\"{old}\\"')
            .replace('colab-ref = "v2.0.1"', f'colab-ref = "{old}"')
        )
        assert restored == text, f"{path.name}: something besides the ref changed"


def test_a_notebook_pinned_to_another_ref_is_reported(tmp_path):
    course = copy_course(tmp_path)
    ref = repository.read_ref(course)
    path = course / "notebooks" / "01_embeddings_and_distances.ipynb"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace(f'COURSE_REF = \\"{ref}\\"', 'COURSE_REF = \\"v0.0.1\\"'))
    assert repository.repository_problems(course) == [
        f"notebooks/{path.name}: COURSE_REF is v0.0.1, pyproject.toml says {ref}"
    ]


@pytest.mark.parametrize("ref", ["v1/2", "", "main branch", "v1?"])
def test_a_ref_colab_cannot_open_is_refused(tmp_path, ref):
    course = copy_course(tmp_path)
    with pytest.raises(ValueError, match="not a tag or commit name"):
        repository.set_repository(course, repository.read_repository(course), ref)


# ---------------------------------------------------------------- student copies under bad input


def write_notebooks(folder: Path, **notebooks: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, notebook in notebooks.items():
        (folder / f"{name}.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    return folder


def test_student_copies_refuse_a_folder_that_holds_files(tmp_path, capsys):
    source = write_notebooks(tmp_path / "notebooks", tiny=tiny_notebook())
    out = tmp_path / "students"
    out.mkdir()
    (out / "tiny.ipynb").write_text("a student's own work", encoding="utf-8")

    status = instructor.main(["--root", str(tmp_path), "student-copies", str(out)])

    assert status == 2
    error = capsys.readouterr().err
    assert f"{out} is not empty (it holds tiny.ipynb)" in error
    assert "pass --force" in error
    assert (out / "tiny.ipynb").read_text(encoding="utf-8") == "a student's own work"
    with pytest.raises(ValueError, match="not empty"):
        instructor.write_student_copies(source, out)


def test_student_copies_force_replaces_same_names_and_keeps_the_rest(tmp_path):
    source = write_notebooks(tmp_path / "notebooks", tiny=tiny_notebook())
    out = tmp_path / "students"
    out.mkdir()
    (out / "tiny.ipynb").write_text("old copy", encoding="utf-8")
    (out / "notes.txt").write_text("keep me", encoding="utf-8")
    (tmp_path / "students-empty").mkdir()

    assert instructor.write_student_copies(source, out, force=True) == {"tiny.ipynb": 1}
    assert instructor.write_student_copies(source, tmp_path / "students-empty") == {"tiny.ipynb": 1}
    copy = json.loads((out / "tiny.ipynb").read_text(encoding="utf-8"))
    assert copy["cells"][3]["source"] == instructor.SOLUTION_PLACEHOLDER
    assert (out / "notes.txt").read_text(encoding="utf-8") == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notebooks", "students", "students-empty"]


def test_invalid_notebook_json_is_named_and_nothing_is_written(tmp_path, capsys):
    source = write_notebooks(tmp_path / "notebooks", a_good=tiny_notebook())
    (source / "b_broken.ipynb").write_text('{"cells": [', encoding="utf-8")
    out = tmp_path / "students"

    status = instructor.main(["--root", str(tmp_path), "student-copies", str(out)])

    assert status == 2
    error = capsys.readouterr().err
    assert f"{source / 'b_broken.ipynb'} is not valid notebook JSON" in error
    assert "repair it" in error
    assert not out.exists(), "no half-written folder"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notebooks"], "no temporary folder left"


@pytest.mark.parametrize("tag", ["Solution", " solution ", "solutions", "SOLUTION"])
def test_solution_tags_are_matched_whatever_their_case_or_spaces(tmp_path, tag):
    notebook = tiny_notebook()
    notebook["cells"][3]["metadata"]["tags"] = [tag]
    source = write_notebooks(tmp_path / "notebooks", tiny=notebook)
    assert instructor.write_student_copies(source, tmp_path / "out") == {"tiny.ipynb": 1}
    copy = (tmp_path / "out" / "tiny.ipynb").read_text(encoding="utf-8")
    assert "torch.cdist" not in copy and "✅" not in copy


@pytest.mark.parametrize("tags", [[], ["soluton"]])
def test_an_untagged_solution_is_refused(tmp_path, capsys, tags):
    notebook = tiny_notebook()
    notebook["cells"][3]["metadata"]["tags"] = tags
    write_notebooks(tmp_path / "notebooks", tiny=notebook)
    out = tmp_path / "students"

    status = instructor.main(["--root", str(tmp_path), "student-copies", str(out)])

    assert status == 2
    error = capsys.readouterr().err
    assert "tiny.ipynb would still show a solution to students: cell 4 writes out" in error
    assert "distance_matrix()" in error and "nothing was written" in error
    assert not out.exists()


def test_a_notebook_without_exercises_needs_no_solution(tmp_path):
    notebook = tiny_notebook()
    notebook["cells"] = notebook["cells"][:1] + notebook["cells"][4:]
    source = write_notebooks(tmp_path / "notebooks", tiny=notebook)
    assert instructor.write_student_copies(source, tmp_path / "out") == {"tiny.ipynb": 0}


# ---------------------------------------------------------------- issue 22, items 15-17


def test_two_exercises_and_one_tagged_solution_are_refused(tmp_path, capsys):
    """Item 15: the untagged solution of the second exercise would reach students."""
    notebook = tiny_notebook()
    notebook["cells"] += [
        code_cell(
            "def my_triplet_loss(a, p, n, margin=0.2, squared=False):\n    "
            + "raise NotImplementedError"
        ),
        code_cell(
            "def my_triplet_loss(a, p, n, margin=0.2, squared=False):\n"
            "    return torch.relu((a - p).norm(dim=1) - (a - n).norm(dim=1) + margin).mean()\n"
            "\ncheck_triplet_loss(my_triplet_loss);"
        ),
    ]
    write_notebooks(tmp_path / "notebooks", tiny=notebook)

    status = instructor.main(["--root", str(tmp_path), "student-copies", str(tmp_path / "out")])

    assert status == 2
    error = capsys.readouterr().err
    assert "cell 7 writes out my_triplet_loss(), the function of an exercise" in error
    assert not (tmp_path / "out").exists()


def test_an_exercise_without_a_reference_solution_is_refused(tmp_path, capsys):
    """Item 15 in the new design: exercises and reference solutions must match in count."""
    notebook = tiny_notebook()
    notebook["cells"].insert(2, code_cell("def f(x):\n    raise NotImplementedError"))
    write_notebooks(tmp_path / "notebooks", tiny=notebook)
    for command in ("student-copies", "solution-notebooks"):
        out = tmp_path / command
        status = instructor.main(["--root", str(tmp_path), command, str(out)])
        assert status == 2
        error = capsys.readouterr().err
        assert "tiny.ipynb has 2 exercise(s) but 1 reference solution(s)" in error
        assert "no solution for f() in cell 3" in error and "solutions.py" in error
        assert not out.exists()


def test_a_markdown_solution_loses_its_attachments(tmp_path):
    """Item 16: an image of the answer, attached to a Markdown solution, must not reach students."""
    notebook = tiny_notebook()
    notebook["cells"][3] = {
        "attachments": {"answer.png": {"image/png": "iVBORw0KGgoAAAANSUhEUg=="}},
        "cell_type": "markdown",
        "id": "md-solution",
        "metadata": {"tags": ["solution"]},
        "source": "The answer: ![answer](attachment:answer.png)",
    }
    source = write_notebooks(tmp_path / "notebooks", tiny=notebook)
    assert instructor.write_student_copies(source, tmp_path / "out") == {"tiny.ipynb": 1}
    copy = json.loads((tmp_path / "out" / "tiny.ipynb").read_text(encoding="utf-8"))
    cell = copy["cells"][3]
    assert "attachments" not in cell and cell["source"] == instructor.SOLUTION_PLACEHOLDER
    assert "iVBORw0KGgo" not in json.dumps(copy)
    nbformat.validate(nbformat.from_dict(copy))


def test_notebooks_in_subfolders_are_copied_too(tmp_path):
    """Item 17: notebooks/extra/bonus.ipynb was silently left out."""
    source = write_notebooks(tmp_path / "notebooks", tiny=tiny_notebook())
    write_notebooks(source / "extra", bonus=tiny_notebook())
    (source / "extra" / ".ipynb_checkpoints").mkdir()
    (source / "extra" / ".ipynb_checkpoints" / "bonus-checkpoint.ipynb").write_text("{}")
    counts = instructor.write_student_copies(source, tmp_path / "out")
    assert counts == {"extra/bonus.ipynb": 1, "tiny.ipynb": 1}
    bonus = (tmp_path / "out" / "extra" / "bonus.ipynb").read_text(encoding="utf-8")
    assert "torch.cdist" not in bonus
    assert not (tmp_path / "out" / "extra" / ".ipynb_checkpoints").exists()
    teachers = instructor.write_solution_notebooks(source, tmp_path / "teachers")
    assert teachers == {"extra/bonus.ipynb": 1, "tiny.ipynb": 1}


def test_a_cell_with_null_tags_does_not_crash(tmp_path):
    """Item 17: "tags": null raised a TypeError."""
    notebook = tiny_notebook()
    notebook["cells"][4]["metadata"]["tags"] = None
    notebook["cells"][0]["metadata"] = None
    source = write_notebooks(tmp_path / "notebooks", tiny=notebook)
    assert instructor.write_student_copies(source, tmp_path / "out") == {"tiny.ipynb": 1}
    assert instructor.tags_of({"metadata": {"tags": "solution"}}) == ["solution"]


@pytest.mark.parametrize(
    "command", ["student-copies OUT", "solution-notebooks OUT", "check-repository"]
)
def test_outside_the_course_folder_the_hint_names_root(tmp_path, capsys, monkeypatch, command):
    """Item 17: the hint named an option that does not exist."""
    monkeypatch.chdir(tmp_path)
    argv = [str(tmp_path / "out") if word == "OUT" else word for word in command.split()]
    assert instructor.main(argv) == 2
    error = capsys.readouterr().err
    assert "is not the course folder" in error and "--root COURSE_FOLDER" in error


def test_root_works_after_the_command(tmp_path, capsys, monkeypatch):
    """Item 17: --root after the command was refused by argparse."""
    monkeypatch.chdir(tmp_path)
    course = copy_course(tmp_path)
    assert instructor.main(["check-repository", "--root", str(course)]) == 0
    out = tmp_path / "copies"
    assert instructor.main(["student-copies", str(out), "--root", str(ROOT)]) == 0
    assert sorted(p.name for p in out.glob("*.ipynb")) == [p.name for p in NOTEBOOKS]
    assert (
        instructor.main(["--root", str(tmp_path), "check-repository", "--root", str(course)]) == 0
    )
