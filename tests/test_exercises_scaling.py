"""Checker of notebook 07 (the loss one process backpropagates): accept it, name each mistake."""

import pytest
import torch

from metric_course import losses
from metric_course.exercises import check_global_batch_loss, solutions


def test_the_checker_accepts_the_solution(capsys):
    assert check_global_batch_loss(solutions.global_batch_loss)
    assert "✅ loss of the global batch" in capsys.readouterr().out


def factor_forgotten(gathered, local, labels, rank, margin=0.2):
    gathered = list(gathered)
    gathered[rank] = local
    return losses.batch_hard_triplet_loss(torch.cat(gathered), labels, margin)


def divided(gathered, local, labels, rank, margin=0.2):
    return factor_forgotten(gathered, local, labels, rank, margin) / len(gathered)


def copies_only(gathered, local, labels, rank, margin=0.2):
    return len(gathered) * losses.batch_hard_triplet_loss(torch.cat(gathered), labels, margin)


def detached_local(gathered, local, labels, rank, margin=0.2):
    gathered = list(gathered)
    gathered[rank] = local.detach()
    return len(gathered) * losses.batch_hard_triplet_loss(torch.cat(gathered), labels, margin)


def always_slot_zero(gathered, local, labels, rank, margin=0.2):
    gathered = list(gathered)
    gathered[0] = local
    return len(gathered) * losses.batch_hard_triplet_loss(torch.cat(gathered), labels, margin)


def fixed_margin(gathered, local, labels, rank, margin=0.2):
    return solutions.global_batch_loss(gathered, local, labels, rank, 0.2)


def local_rows_only(gathered, local, labels, rank, margin=0.2):
    rows = labels.split(len(local))[rank]
    return len(gathered) * losses.batch_hard_triplet_loss(local, rows, margin)


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (factor_forgotten, "must backpropagate N·L"),
        (divided, "don't divide"),
        (copies_only, "carries no gradient"),
        (detached_local, "carries no gradient"),
        (always_slot_zero, "the rows of process r in slot r"),
        (fixed_margin, "instead of a fixed 0.2"),
        (local_rows_only, "build the global batch"),
    ],
)
def test_the_checker_names_each_typical_mistake(wrong, hint, capsys):
    assert not check_global_batch_loss(wrong)
    out = capsys.readouterr().out
    assert "❌ loss of the global batch" in out and hint in out, out
