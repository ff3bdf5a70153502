"""The exercise framework, and the contract every checker keeps.

Verdicts are printed, never raised: an unsolved exercise and a crashing answer
are reported, and the package's own answer is accepted, by every checker.
"""

import pytest
import torch

from metric_course import exercises, losses
from metric_course.distances import pairwise_distances
from metric_course.evaluation import classify_by_prototypes, nearest_neighbours, threshold_at_far
from metric_course.exercises import compare_tensors, run_checks


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


def k_nearest(embeddings, query, k):
    return torch.as_tensor(nearest_neighbours(embeddings, query, k)[0])


def global_batch(gathered, local, rank):
    gathered = list(gathered)
    gathered[rank] = local
    return torch.cat(gathered)


REFERENCES = {
    exercises.check_pairwise_distances: pairwise_distances,
    exercises.check_contrastive_loss: losses.contrastive_loss,
    exercises.check_threshold_at_far: threshold_at_far,
    exercises.check_triplet_loss: losses.triplet_loss,
    exercises.check_batch_hard: exercises.batch_hard_from_distances,
    exercises.check_prototype_classifier: classify_by_prototypes,
    exercises.check_k_nearest: k_nearest,
    exercises.check_global_batch: global_batch,
}
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
def test_the_reference_is_accepted(check, capsys):
    assert check(REFERENCES[check]) is True
    assert "✅" in capsys.readouterr().out
