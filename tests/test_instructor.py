"""Student copies without solutions, and the one place the repository address lives."""

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from metric_course import instructor

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


def tiny_notebook() -> dict:
    printed = {"name": "stdout", "output_type": "stream", "text": "✅ solved\n"}
    return {
        "cells": [
            {"cell_type": "markdown", "id": "m1", "metadata": {}, "source": "# 99 · Tiny"},
            code_cell("def f(x):\n    raise NotImplementedError  # your code here"),
            code_cell("check(f)", outputs=[printed]),
            code_cell(
                "def f(x):\n    return 2 * x\n\ncheck(f)",
                tags=["solution"],
                outputs=[printed],
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


def test_student_copies_of_the_course_notebooks(tmp_path):
    removed = instructor.write_student_copies(ROOT / "notebooks", tmp_path / "students")
    assert sorted(removed) == [path.name for path in NOTEBOOKS]
    assert (tmp_path / "students" / "nbval_sanitize.cfg").is_file()
    for path in NOTEBOOKS:
        original = json.loads(path.read_text(encoding="utf-8"))
        copy = json.loads((tmp_path / "students" / path.name).read_text(encoding="utf-8"))
        nbformat.validate(nbformat.from_dict(copy))
        solutions = [cell for cell in original["cells"] if instructor.is_solution(cell)]
        assert removed[path.name] == len(solutions)
        assert len(copy["cells"]) == len(original["cells"])
        for before, after in zip(original["cells"], copy["cells"], strict=True):
            if instructor.is_solution(before):
                assert after["source"] == instructor.SOLUTION_PLACEHOLDER
                assert after.get("outputs", []) == []
            else:
                assert after == before, f"{path.name}: a cell without solution changed"
        text = json.dumps(copy)
        for solution in solutions:
            assert json.dumps("".join(solution["source"]))[1:-1] not in text


def test_student_copies_refuse_to_write_into_the_notebooks_folder(tmp_path):
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks")
    with pytest.raises(ValueError, match="outside"):
        instructor.write_student_copies(tmp_path / "notebooks", tmp_path / "notebooks" / "copy")
    with pytest.raises(ValueError, match="not a folder"):
        instructor.write_student_copies(tmp_path / "nowhere", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no notebooks"):
        instructor.write_student_copies(tmp_path / "empty", tmp_path / "out")


def test_student_copies_command(tmp_path, capsys):
    status = instructor.main(["--root", str(ROOT), "student-copies", str(tmp_path / "out")])
    assert status == 0
    assert "student copies written to" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "out").glob("*.ipynb")) == [p.name for p in NOTEBOOKS]


def test_the_repository_address_agrees_everywhere():
    assert instructor.repository_problems(ROOT) == []
    mentions = instructor.repository_mentions(ROOT)
    readme = [m for m in mentions if m.path.name == "README.md"]
    linked = {m.what.removeprefix("Colab link to notebooks/") for m in readme}
    missing = {path.name for path in NOTEBOOKS} - linked
    assert not missing, f"README has no Colab badge for {sorted(missing)}"


@pytest.mark.parametrize(
    "url", ["https://github.com/a/b", "https://github.com/a/b/", "https://github.com/a/b.git"]
)
def test_normalise_repository_accepts_github_addresses(url):
    assert instructor.normalise_repository(url) == "https://github.com/a/b"


@pytest.mark.parametrize(
    "url", ["https://gitlab.com/a/b", "github.com/a/b", "https://github.com/a", "b"]
)
def test_normalise_repository_refuses_other_addresses(url):
    with pytest.raises(ValueError, match="OWNER/NAME"):
        instructor.normalise_repository(url)


def copy_course(tmp_path: Path) -> Path:
    course = tmp_path / "course"
    course.mkdir()
    shutil.copy(ROOT / "pyproject.toml", course)
    shutil.copy(ROOT / "README.md", course)
    shutil.copytree(ROOT / "notebooks", course / "notebooks")
    return course


def test_set_repository_rewrites_every_mention_and_nothing_else(tmp_path):
    course = copy_course(tmp_path)
    old = instructor.read_repository(course)
    new = "https://github.com/my-school/metric-learning-2027"
    before = {p: p.read_text(encoding="utf-8") for p in course.rglob("*") if p.is_file()}

    changed = instructor.set_repository(course, new + ".git")

    assert instructor.read_repository(course) == new
    assert instructor.repository_problems(course) == []
    mentions = instructor.repository_mentions(course)
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
    ref = instructor.read_ref(course)
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
        instructor.read_repository(tmp_path)


# ---------------------------------------------------------------- pinning Colab to a tag (issue 15)


def test_set_repository_ref_pins_badges_installs_and_pyproject(tmp_path, capsys):
    course = copy_course(tmp_path)
    url = instructor.read_repository(course)
    old = instructor.read_ref(course)
    before = {p: p.read_text(encoding="utf-8") for p in course.rglob("*") if p.is_file()}

    status = instructor.main(["--root", str(course), "set-repository", url, "--ref", "v2.0.1"])

    assert status == 0 and f"{url} at v2.0.1" in capsys.readouterr().out
    assert instructor.read_ref(course) == "v2.0.1"
    assert instructor.repository_problems(course) == []
    for path in sorted((course / "notebooks").glob("*.ipynb")):
        text = path.read_text(encoding="utf-8")
        assert '    COURSE_REF = \\"v2.0.1\\"' in text
        assert instructor.colab_url(url, path.name, "v2.0.1") in text
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
    ref = instructor.read_ref(course)
    path = course / "notebooks" / "01_embeddings_and_distances.ipynb"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace(f'COURSE_REF = \\"{ref}\\"', 'COURSE_REF = \\"v0.0.1\\"'))
    assert instructor.repository_problems(course) == [
        f"notebooks/{path.name}: COURSE_REF is v0.0.1, pyproject.toml says {ref}"
    ]


@pytest.mark.parametrize("ref", ["v1/2", "", "main branch", "v1?"])
def test_a_ref_colab_cannot_open_is_refused(tmp_path, ref):
    course = copy_course(tmp_path)
    with pytest.raises(ValueError, match="not a tag or commit name"):
        instructor.set_repository(course, instructor.read_repository(course), ref)


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
    assert "return 2 * x" not in copy


@pytest.mark.parametrize("tags", [[], ["soluton"]])
def test_an_exercise_without_a_solution_tag_is_refused(tmp_path, capsys, tags):
    notebook = tiny_notebook()
    notebook["cells"][3]["metadata"]["tags"] = tags
    write_notebooks(tmp_path / "notebooks", tiny=notebook)
    out = tmp_path / "students"

    status = instructor.main(["--root", str(tmp_path), "student-copies", str(out)])

    assert status == 2
    error = capsys.readouterr().err
    assert "tiny.ipynb has an exercise (cell 2: 'raise NotImplementedError')" in error
    assert "no cell tagged 'solution'" in error and "nothing was written" in error
    assert not out.exists()


def test_a_notebook_without_exercises_needs_no_solution(tmp_path):
    notebook = tiny_notebook()
    notebook["cells"] = notebook["cells"][:1] + notebook["cells"][4:]
    source = write_notebooks(tmp_path / "notebooks", tiny=notebook)
    assert instructor.write_student_copies(source, tmp_path / "out") == {"tiny.ipynb": 0}
