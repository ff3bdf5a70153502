"""The exercise framework: verdicts are printed, never raised."""

import torch

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
