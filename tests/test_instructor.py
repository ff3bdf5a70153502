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
    readme = course / "README.md"
    readme.write_text(
        readme.read_text(encoding="utf-8").replace(
            "/blob/main/notebooks/00", "/blob/dev/notebooks/00"
        ),
        encoding="utf-8",
    )
    assert instructor.main(["--root", str(course), "check-repository"]) == 1
    assert "opens branch dev" in capsys.readouterr().out
    status = instructor.main(["--root", str(course), "set-repository", "https://gitlab.com/x/y"])
    assert status == 2
    assert "not a GitHub repository address" in capsys.readouterr().err


def test_a_pyproject_without_the_address_is_explained(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"\[project.urls\]"):
        instructor.read_repository(tmp_path)
