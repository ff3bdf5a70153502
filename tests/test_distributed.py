"""Distributed mining: N gloo processes on the CPU give the gradients of one process.

The processes are real (spawned on 127.0.0.1 by ``launch_local``); the
worker functions live at module level so the spawned processes can import
them. Every launch has a timeout, so a broken test fails instead of hanging.
"""

import os

import numpy as np
import pytest
import torch
import torch.distributed as dist

from metric_course import distributed
from metric_course.distributed import (
    DistributedPKSampler,
    check_gradients,
    gather_with_grad,
    global_batch_backward,
)
from metric_course.launch import launch_local
from metric_course.losses import batch_hard_triplet_loss
from metric_course.sampling import PKSampler

WORLD_SIZE = 2
MODULE = "metric_course.distributed"


def _happy_path_worker(context):
    """All checks that need a live group, in one launch (starting processes is slow)."""
    report = {name: check_gradients(context, loss=name) for name in ("batch_hard", "batch_all")}

    # Without the ×N scaling, DDP's average gives 1/N of the true gradient.
    generator = torch.Generator().manual_seed(1)
    images = torch.randn(WORLD_SIZE * 8, 1, 6, 6, generator=generator).double()
    labels = torch.arange(4).repeat(2 * WORLD_SIZE)
    network = distributed._check_network(1)
    reference = distributed._check_network(1)
    ddp = torch.nn.parallel.DistributedDataParallel(network)
    mine = slice(context.rank * 8, (context.rank + 1) * 8)
    loss = batch_hard_triplet_loss(gather_with_grad(ddp(images[mine])), labels)
    loss.backward()  # no ×N
    batch_hard_triplet_loss(reference(images), labels).backward()
    report["unscaled_ratio"] = [
        (a.grad / b.grad)[b.grad.abs() > 1e-8].tolist()
        for a, b in zip(network.parameters(), reference.parameters(), strict=True)
    ]

    # gather_with_grad: values in rank order, gradient only into this process's rows.
    local = torch.full((3, 2), float(context.rank), requires_grad=True)
    gathered = gather_with_grad(local)
    (gathered * torch.arange(len(gathered))[:, None]).sum().backward()
    report["gathered"] = gathered.detach().tolist()
    report["local_grad"] = local.grad.tolist()

    # Mismatched sizes and world sizes are reported, on every process.
    try:
        gather_with_grad(torch.zeros(2 + context.rank, 2))
    except ValueError as error:
        report["unequal_sizes"] = str(error)
    try:
        DistributedPKSampler(np.repeat(np.arange(4), 10), p=2, k=2, num_replicas=3)
    except ValueError as error:
        report["wrong_replicas"] = str(error)
    sampler = DistributedPKSampler(np.repeat(np.arange(4), 10), p=2, k=2)
    report["sampler"] = (sampler.rank, sampler.num_replicas)
    return report


@pytest.fixture(scope="module")
def reports():
    return launch_local(_happy_path_worker, WORLD_SIZE, timeout_seconds=120)


@pytest.mark.parametrize("loss", ["batch_hard", "batch_all"])
def test_two_processes_give_the_loss_and_gradients_of_one_process(reports, loss):
    for report in (r[loss] for r in reports):
        assert report["loss"] == pytest.approx(report["reference_loss"], abs=1e-12)
        assert report["max_gradient"] > 1e-3  # the check is not vacuous
        assert report["max_gradient_difference"] < 1e-12


def test_without_the_world_size_factor_ddp_gives_a_fraction_of_the_gradient(reports):
    ratios = np.concatenate([np.ravel(r) for r in reports[0]["unscaled_ratio"]])
    assert len(ratios) > 0
    np.testing.assert_allclose(ratios, 1 / WORLD_SIZE, rtol=1e-9)


def test_gather_with_grad_concatenates_in_rank_order_and_keeps_the_local_gradient(reports):
    for rank, report in enumerate(reports):
        expected = torch.arange(WORLD_SIZE).repeat_interleave(3)[:, None].expand(-1, 2)
        assert report["gathered"] == expected.float().tolist()
        own_rows = torch.arange(3 * rank, 3 * rank + 3, dtype=torch.float)
        assert report["local_grad"] == own_rows[:, None].expand(-1, 2).tolist()


def test_mismatched_sizes_and_world_sizes_are_explained(reports):
    for rank, report in enumerate(reports):
        assert "same number of rows" in report["unequal_sizes"]
        assert "does not match the 2 processes" in report["wrong_replicas"]
        assert report["sampler"] == (rank, WORLD_SIZE)


def test_distributed_pk_sampler_splits_one_plan_into_whole_disjoint_batches():
    labels = np.repeat(np.arange(6), [13, 9, 11, 8, 12, 10])
    plan = PKSampler(labels, p=3, k=4, seed=5)
    samplers = [
        DistributedPKSampler(labels, 3, 4, num_replicas=3, rank=r, seed=5) for r in range(3)
    ]
    for epoch in (0, 1):
        plan.set_epoch(epoch)
        for sampler in samplers:
            sampler.set_epoch(epoch)
        expected = list(plan)
        per_rank = [list(sampler) for sampler in samplers]
        assert {len(batches) for batches in per_rank} == {len(expected) // 3}
        assert all(len(s) == len(expected) // 3 for s in samplers)
        for rank, batches in enumerate(per_rank):
            assert batches == expected[rank : len(samplers[0]) * 3 : 3]
            for batch in batches:
                classes, counts = np.unique(labels[batch], return_counts=True)
                assert len(classes) == 3 and set(counts) == {4}
    samplers[0].set_epoch(0)
    first = list(samplers[0])
    samplers[0].set_epoch(1)
    assert list(samplers[0]) != first


def test_distributed_pk_sampler_rejects_bad_ranks_and_tiny_epochs():
    labels = np.repeat(np.arange(4), 10)
    with pytest.raises(ValueError, match="rank must be in"):
        DistributedPKSampler(labels, 2, 2, num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="fewer than the 50 processes"):
        DistributedPKSampler(labels, 2, 2, num_replicas=50, rank=0)


def test_the_script_checks_gradients_as_a_single_process(monkeypatch, capsys):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert distributed.main(["--check-gradients", "--backend", "gloo"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("rank 0/1: loss") and "largest gradient difference 0.0e+00" in out
    assert not dist.is_initialized()
    assert "MASTER_ADDR" not in os.environ


def test_global_batch_backward_in_one_process_is_the_plain_loss():
    network = distributed._check_network(0)
    reference = distributed._check_network(0)
    images = torch.randn(12, 1, 6, 6, generator=torch.Generator().manual_seed(0)).double()
    labels = torch.arange(3).repeat(4)
    loss, stats = global_batch_backward(network, images, labels, batch_hard_triplet_loss)
    expected = batch_hard_triplet_loss(reference(images), labels)
    expected.backward()
    assert loss == pytest.approx(expected.item()) and "active_fraction" in stats
    for a, b in zip(network.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad)


def test_every_option_of_the_script_reaches_it_through_torchrun():
    """torchrun parses its own options first: one of ours that abbreviates one of its fails."""
    from torch.distributed.run import get_args_parser

    parser = distributed._parser()
    options = {  # each option with a value it accepts
        option: action.choices[0] if action.choices else "1"
        for action in parser._actions
        if action.option_strings and action.nargs != 0 and "-h" not in action.option_strings
        for option in action.option_strings
    }
    assert "--classes" in options and "--k" in options
    for option, value in options.items():
        ours = [option, str(value)]
        launched = get_args_parser().parse_args(["--standalone", "-m", MODULE, *ours])
        assert launched.training_script_args == ours
        parser.parse_args(ours)  # and the script takes it
