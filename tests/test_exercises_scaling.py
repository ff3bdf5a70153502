"""Checker of notebook 07: accept the gradient trick, name each typical mistake."""

import torch

from metric_course.exercises import check_global_batch


def reference(gathered, local, rank):
    gathered = list(gathered)
    gathered[rank] = local
    return torch.cat(gathered)


def no_gradient(gathered, local, rank):
    return torch.cat(gathered)


def detached_local(gathered, local, rank):
    gathered[rank] = local.detach()
    return torch.cat(gathered)


def local_first(gathered, local, rank):
    return torch.cat([local] + [g for r, g in enumerate(gathered) if r != rank])


def local_only(gathered, local, rank):
    return local


def copy_with_grad(gathered, local, rank):
    return torch.cat(gathered).requires_grad_()


def test_accepts_the_reference(capsys):
    assert check_global_batch(reference) is True
    assert "✅" in capsys.readouterr().out


def test_names_each_typical_mistake(capsys):
    expectations = {
        no_gradient: "carry no gradient",
        detached_local: "carry no gradient",
        local_first: "slot r",
        local_only: "rows of all processes",
        copy_with_grad: "does not reach `local`",
    }
    for wrong, hint in expectations.items():
        assert check_global_batch(wrong) is False, wrong.__name__
        out = capsys.readouterr().out
        assert "❌" in out and hint in out, (wrong.__name__, out)
