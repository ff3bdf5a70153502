"""The exercise framework, and the contract every checker keeps.

Verdicts are printed, never raised: an unsolved exercise and a crashing answer
are reported, and the package's own answer is accepted, by every checker.
"""

import time
from functools import partial

import numpy as np
import pytest
import torch

from metric_course import exercises
from metric_course.distances import pairwise_distances
from metric_course.exercises import checking, compare_tensors, run_checks, show_solution, solutions


def test_run_checks_reports_pass_fail_unsolved_and_crash(capsys):
    assert run_checks("demo", [("always", lambda: None)]) is True
    assert "✅ demo: correct (1 checks passed)" in capsys.readouterr().out

    assert run_checks("demo", [("a case", lambda: "think again")]) is False
    out = capsys.readouterr().out
    assert "a case failed" in out and "Hint: think again" in out

    def unsolved():
        raise NotImplementedError

    assert run_checks("demo", [("x", unsolved)]) is False
    assert "not solved yet" in capsys.readouterr().out

    def crashes():
        return 1 / 0

    assert run_checks("demo", [("division", crashes)]) is False
    out = capsys.readouterr().out
    assert "ZeroDivisionError" in out and "while checking: division" in out


def test_compare_tensors_hints():
    expected = torch.ones(2, 2)
    assert compare_tensors(expected.clone(), expected, "d") is None
    assert "torch.Tensor" in compare_tensors([1.0], expected, "d")
    assert "shape (2, 2)" in compare_tensors(torch.ones(4), expected, "d")
    assert "NaN" in compare_tensors(torch.full((2, 2), float("nan")), expected, "d")
    assert "differs" in compare_tensors(expected * 2, expected, "d")


# --------------------------------------------------------------------------- the checker contract


REFERENCES = {exercise.checker: exercise.solution for exercise in exercises.EXERCISES.values()}
CHECKERS = pytest.mark.parametrize("check", REFERENCES, ids=lambda check: check.__name__)


def unsolved(*args, **kwargs):
    raise NotImplementedError  # your code here


def crashes(*args, **kwargs):
    return args[0].no_such_attribute


def test_every_checker_of_the_package_is_in_the_contract():
    names = {name for name in exercises.__all__ if name.startswith("check_")}
    assert names == {check.__name__ for check in REFERENCES}


@CHECKERS
def test_an_unsolved_exercise_is_reported_not_raised(check, capsys):
    assert check(unsolved) is False
    assert "⏳" in capsys.readouterr().out


@CHECKERS
def test_a_crashing_answer_is_reported_not_raised(check, capsys):
    assert check(crashes) is False
    assert "raised AttributeError" in capsys.readouterr().out


@CHECKERS
def test_the_reference_solution_is_accepted(check, capsys):
    assert check(REFERENCES[check]) is True
    assert "✅" in capsys.readouterr().out


def test_every_exercise_has_its_own_solution_named_as_its_stub():
    for name, exercise in exercises.EXERCISES.items():
        assert exercise.solution.__name__ == name
        assert exercise.solution is getattr(solutions, name)
        assert f"def {name}(" in exercise.source()
    written = {name for name in vars(solutions) if callable(getattr(solutions, name))}
    assert set(exercises.EXERCISES) <= written


def test_show_solution_prints_the_source_and_the_checker_to_rerun(capsys):
    show_solution("my_batch_all")
    out = capsys.readouterr().out
    assert exercises.EXERCISES["my_batch_all"].source() in out
    assert "run check_batch_all(my_batch_all) again" in out and "notebook 04" in out


def test_show_solution_names_the_exercises_when_the_name_is_wrong():
    with pytest.raises(
        ValueError, match=r"called 'distances'; the exercises are 'distance_matrix'"
    ):
        show_solution("distances")


def returns_none(*args, **kwargs):
    """An answer whose `return` is forgotten."""


def returns_numpy(*args, **kwargs):
    return np.zeros(3)


@CHECKERS
@pytest.mark.parametrize("answer", [returns_none, returns_numpy])
def test_none_or_numpy_is_explained_as_the_students_problem(check, answer, capsys):
    assert check(answer) is False
    out = capsys.readouterr().out
    assert out.startswith("❌") and "Hint:" in out
    assert "raised" not in out and "checker itself" not in out


def test_a_right_distance_matrix_in_numpy_is_explained(capsys):
    assert (
        exercises.check_pairwise_distances(lambda x: solutions.distance_matrix(x).numpy()) is False
    )
    assert "got a NumPy array: compute it with torch operations" in capsys.readouterr().out


def loops_forever(*args, **kwargs):
    while True:
        try:
            pass
        except Exception:  # a student's catch-all must not swallow the time limit
            pass


@CHECKERS
def test_an_endless_loop_is_stopped_with_a_message(check, capsys, monkeypatch):
    monkeypatch.setattr(checking, "TIME_LIMIT_SECONDS", 0.3)
    start = time.monotonic()
    assert check(loops_forever) is False
    assert time.monotonic() - start < 10
    out = capsys.readouterr().out
    assert out.startswith("⏱") and "stopped after 0.3 s while checking" in out


def triplet_in_place(anchor, positive, negative, margin=0.2, squared=False):
    positive -= anchor  # reuses the inputs' memory: fine, the inputs are the checker's copies
    negative -= anchor
    d_ap, d_an = positive.norm(dim=1), negative.norm(dim=1)
    if squared:
        d_ap, d_an = d_ap**2, d_an**2
    return (d_ap - d_an + margin).clamp(min=0).mean()


def batch_hard_in_place(distances, labels, margin=0.2):
    same = labels[:, None] == labels[None, :]
    nearest_negative = distances.masked_fill(same, float("inf")).amin(1)
    distances.masked_fill_(~same, 0)  # in place: only the positives are left
    farthest_positive = distances.amax(1)
    has_positive = same.sum(1) > 1
    return (farthest_positive - nearest_negative + margin).clamp(min=0)[has_positive].mean()


@pytest.mark.parametrize(
    ("check", "answer"),
    [
        (exercises.check_triplet_loss, triplet_in_place),
        (exercises.check_batch_hard, batch_hard_in_place),
    ],
)
def test_a_right_answer_that_works_in_place_is_accepted(check, answer, capsys):
    assert check(answer) is True, capsys.readouterr().out


def test_a_failure_inside_the_checker_is_not_blamed_on_the_student(capsys):
    assert run_checks("demo", [("a bug", partial(pairwise_distances, "not a tensor"))]) is False
    out = capsys.readouterr().out
    assert "the checker itself failed" in out and "bug of the course" in out
    assert "your function raised" not in out


def test_loop_hint_and_called_names_read_the_source():
    def with_loop(x):
        return sum(v for v in x)

    def without_loop(x):
        return torch.cdist(x, x).sum()

    assert "uses a Python loop" in checking.loop_hint(with_loop, "Use masks.")
    assert checking.loop_hint(without_loop, "Use masks.") is None
    assert {"cdist", "sum"} <= checking.called_names(without_loop)
    assert checking.loop_hint(print, "x") is None and checking.called_names(print) == set()


def test_distinctive_lines_are_the_body_without_def_docstring_or_comments():
    lines = exercises.EXERCISES["global_batch_loss"].distinctive_lines()
    assert "world_size = len(gathered)" in lines
    assert not any(line.startswith(("def ", '"""', "#")) for line in lines)
    assert all(len(line) >= 20 and "  " not in line for line in lines)
    assert "rows = list(gathered)" in lines, "a trailing comment is cut off"
