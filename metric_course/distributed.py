"""Beyond one machine: online mining over the batches of several processes.

Online mining finds its hard triplets *inside* a batch, so a bigger batch
gives harder and more informative triplets. With N processes (one per GPU)
each holding B images, we want the loss of the **global batch** of N·B
images, not N separate losses of B images. Each training step:

1. every process embeds its own B images;
2. ``all_gather`` copies the N·B embeddings (and labels) to every process.
   The copies carry no gradient, so each process puts its *own* tensor,
   which does, back in its slot (:func:`gather_with_grad`);
3. every process computes the same loss L on the global batch; its backward
   pass reaches only its own B rows, giving g_r = Σ_{i in process r} ∂L/∂e_i · ∂e_i/∂θ;
4. DistributedDataParallel *averages* the processes' gradients: (1/N) Σ_r g_r.
   The true gradient of L is the *sum* Σ_r g_r, so each process backpropagates
   N·L (:func:`global_batch_backward`). Then N processes compute exactly the
   gradient that one process would on the concatenated batch
   (``--check-gradients`` and tests/test_distributed.py verify it).

One difference remains: batch normalisation computes its statistics per
process. On GPUs the script converts it to ``SyncBatchNorm`` (global
statistics); PyTorch's SyncBatchNorm runs only on GPUs, so on CPUs (gloo)
each process normalises its own B images.

Batches come from :class:`DistributedPKSampler`: every process builds the
same seeded P×K epoch plan and takes every N-th batch, so each process gets
whole class-balanced batches, no batch goes to two processes, and all
processes run the same number of steps.

Launch with torchrun (it starts the processes and sets RANK, WORLD_SIZE,
LOCAL_RANK, MASTER_ADDR and MASTER_PORT)::

    # one machine, every GPU (nccl), or CPU processes (gloo):
    torchrun --standalone --nproc_per_node=4 -m metric_course.distributed --epochs 5
    torchrun --standalone --nproc_per_node=2 -m metric_course.distributed --backend gloo

    # several machines: run on every node, with node_rank 0, 1, ... and the
    # address of node 0 (reachable by all nodes) as the rendezvous endpoint:
    torchrun --nnodes=2 --node_rank=0 --nproc_per_node=8 \\
        --rdzv_endpoint=node0.example.org:29500 -m metric_course.distributed

    # check that N processes give the gradients of one process (gloo works
    # anywhere; nccl needs one GPU per process):
    torchrun --standalone --nproc_per_node=2 -m metric_course.distributed \
        --check-gradients --backend gloo

Started without torchrun, the script runs as a single process. Its
training loop is the course's (:func:`metric_course.training.train`) with
one step changed: :func:`global_batch_step`. Joining the group
(:func:`~metric_course.launch.init_distributed`) and starting processes from
Python (:func:`~metric_course.launch.launch_local`, for tests and
notebooks) live in :mod:`metric_course.launch`.
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Sampler

from .data import course_data
from .evaluation import embed, retrieval_metrics
from .launch import DistributedContext, init_distributed
from .losses import ONLINE_LOSSES
from .models import EmbeddingNet
from .sampling import PKSampler
from .training import train


def _world() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def gather_with_grad(local: torch.Tensor) -> torch.Tensor:
    """Every process's rows in rank order; gradients reach this process's rows (notebook 07).

    ``all_gather`` returns copies without gradient; replacing this process's
    copy by ``local`` itself lets the backward pass reach the local network.
    Every process must pass the same number of rows.
    """
    rank, world_size = _world()
    if world_size == 1:
        return local
    sizes = [torch.zeros(1, dtype=torch.long, device=local.device) for _ in range(world_size)]
    dist.all_gather(sizes, torch.tensor([len(local)], device=local.device))
    if any(size.item() != len(local) for size in sizes):
        raise ValueError(
            f"every process must gather the same number of rows, got {[s.item() for s in sizes]}; "
            "use DistributedPKSampler so all processes get batches of one size"
        )
    gathered = [torch.empty_like(local) for _ in range(world_size)]
    dist.all_gather(gathered, local.detach().contiguous())
    gathered[rank] = local
    return torch.cat(gathered)


def global_batch_backward(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    loss_fn: Callable[..., Any],
) -> tuple[float, dict[str, float]]:
    """Embed this process's images, backpropagate the global batch's loss (notebook 07).

    ``loss_fn(embeddings, labels, stats=dict)`` returns the loss and writes its
    stats, as every loss of :mod:`metric_course.losses` does. Returns the
    global batch's loss and those stats (the same in every process).
    Backpropagating ``world_size × loss`` makes DDP's average of the
    processes' gradients equal the gradient of the loss itself (see the
    module docstring).
    """
    _, world_size = _world()
    embeddings = gather_with_grad(model(images))
    stats: dict[str, float] = {}
    loss = loss_fn(embeddings, gather_with_grad(labels), stats=stats)
    (loss * world_size).backward()
    return loss.item(), stats


def global_batch_step(
    model: nn.Module, batch: list[torch.Tensor], loss_fn: Callable[..., Any], device: torch.device
) -> tuple[float, dict[str, float]]:
    """The step of :func:`metric_course.training.train` for a global batch: ``train(step=...)``.

    ``batch`` is this process's ``(images, labels)``; the loss is the global
    batch's (:func:`global_batch_backward`), the same in every process.
    """
    images, labels = batch
    return global_batch_backward(model, images.to(device), labels.to(device), loss_fn)


class DistributedPKSampler(Sampler[list[int]]):
    """Whole P×K batches for each of ``num_replicas`` processes, one shared plan (notebook 07).

    Every process builds the same plan (a :class:`~metric_course.sampling.PKSampler`
    with the same seed and epoch) and keeps batch i when i mod N equals its
    rank. The last len(plan) mod N batches are dropped so that every process
    runs the same number of steps: a process waiting for a batch that never
    comes would stop all the others. Call ``set_epoch`` before every epoch.
    """

    def __init__(
        self,
        labels: torch.Tensor | np.ndarray | Sequence[int],
        p: int,
        k: int,
        num_replicas: int | None = None,
        rank: int | None = None,
        seed: int = 0,
    ) -> None:
        group_rank, group_size = _world()
        num_replicas = group_size if num_replicas is None else num_replicas
        rank = group_rank if rank is None else rank
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(
                f"rank must be in [0, num_replicas), got rank={rank}, num_replicas={num_replicas}"
            )
        if group_size > 1 and num_replicas != group_size:
            raise ValueError(
                f"num_replicas={num_replicas} does not match the {group_size} processes of the "
                "group; leave num_replicas and rank unset to take them from the group"
            )
        self.plan = PKSampler(labels, p, k, seed=seed)
        self.num_replicas, self.rank = num_replicas, rank
        if len(self) == 0:
            raise ValueError(
                f"one epoch holds {len(self.plan)} P×K batches, fewer than the {num_replicas} "
                "processes; lower p or k, or use fewer processes"
            )

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose batches the next iteration yields (same in every process)."""
        self.plan.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.plan) // self.num_replicas

    def __iter__(self) -> Iterator[list[int]]:
        for i, batch in enumerate(self.plan):
            if i >= len(self) * self.num_replicas:
                return
            if i % self.num_replicas == self.rank:
                yield batch


# --------------------------------------------------------------------------- the gradient check


def _check_network(seed: int) -> nn.Module:
    """A small float64 network without batch norm, so global and local batches agree exactly."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(36, 32), nn.Tanh(), nn.Linear(32, 8)).double()


def check_gradients(
    context: DistributedContext, loss: str = "batch_hard", p: int = 4, k: int = 3, seed: int = 0
) -> dict[str, float]:
    """One DDP step of all processes against one process on the whole batch (notebook 07).

    Every process draws the same global batch of ``world_size`` × P·K random
    6×6 "images" (float64) with labels of P classes shared across processes,
    runs :func:`global_batch_backward` on its own slice through DDP, then
    computes the reference loss and gradients of the whole batch on an
    undistributed copy of the network. Returns both losses and the largest
    gradient difference.
    """
    size = p * k
    generator = torch.Generator().manual_seed(seed)
    images = torch.randn(context.world_size * size, 1, 6, 6, generator=generator)
    images = images.double().to(context.device)
    labels = torch.randint(p, (len(images),), generator=generator).to(context.device)
    loss_fn = ONLINE_LOSSES[loss]
    network = _check_network(seed).to(context.device)
    reference = copy.deepcopy(network)
    ddp = DistributedDataParallel(network)
    mine = slice(context.rank * size, (context.rank + 1) * size)
    distributed_loss, _ = global_batch_backward(ddp, images[mine], labels[mine], loss_fn)
    reference_loss = loss_fn(reference(images), labels)
    reference_loss.backward()
    pairs = list(zip(network.parameters(), reference.parameters(), strict=True))
    return {
        "loss": distributed_loss,
        "reference_loss": reference_loss.item(),
        "max_gradient_difference": max((a.grad - b.grad).abs().max().item() for a, b in pairs),
        "max_gradient": max(b.grad.abs().max().item() for _, b in pairs),
    }


# --------------------------------------------------------------------------- training script


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="torchrun --standalone --nproc_per_node=N -m metric_course.distributed",
        description="Train an embedding with online mining over the global batch of all "
        "processes (see the module docstring for multi-machine launches).",
    )
    parser.add_argument("--backend", default="auto", choices=("auto", "nccl", "gloo"))
    parser.add_argument("--loss", default="batch_hard", choices=tuple(ONLINE_LOSSES))
    parser.add_argument("--margin", type=float, help="default: the recipe's (losses.MARGINS)")
    parser.add_argument("--epochs", type=int, default=2)
    # not --p: torchrun reads it as an abbreviation of its own --print-completion
    parser.add_argument(
        "--classes", dest="p", type=int, default=4, help="classes per batch, per process (P)"
    )
    parser.add_argument("--k", type=int, default=8, help="images per class (K)")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--embedding-dim", type=int, default=64)
    parser.add_argument("--max-per-class", type=int, default=1000, help="training images per class")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for peers")
    parser.add_argument(
        "--check-gradients",
        action="store_true",
        help="compare one step's gradients with one process on the concatenated batch, then exit",
    )
    return parser


def _train(context: DistributedContext, args: argparse.Namespace) -> None:
    """The script's training: :func:`~metric_course.training.train` with the global-batch step."""
    if context.rank == 0:  # one process downloads (if needed), the others wait and read
        data = course_data(max_per_class=args.max_per_class, download=True)
    dist.barrier()
    if context.rank != 0:
        data = course_data(max_per_class=args.max_per_class)
    torch.manual_seed(args.seed)  # the same initial weights everywhere (DDP also copies rank 0's)
    model = EmbeddingNet(args.embedding_dim).to(context.device)
    if context.device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    ddp = DistributedDataParallel(
        model, device_ids=[context.device] if context.device.index is not None else None
    )
    sampler = DistributedPKSampler(data.train.labels, args.p, args.k, seed=args.seed)
    margin = {} if args.margin is None else {"margin": args.margin}
    loss_fn = partial(ONLINE_LOSSES[args.loss], **margin)
    if context.rank == 0:
        print(
            f"{context.world_size} process(es), backend {context.backend}; global batch "
            f"{context.world_size} × {args.p}×{args.k} = {context.world_size * args.p * args.k} "
            f"images; {len(sampler)} steps per epoch",
            flush=True,
        )

    def report(row: dict[str, float]) -> None:  # rank 0 only: the others never wait for it
        unseen = retrieval_metrics(embed(model, data.test_unseen), data.test_unseen.labels)
        print(
            f"epoch {row['epoch']}: loss {row['loss']:.4f}, MAP@R on unseen classes "
            f"{unseen['map_at_r']:.3f} ({row['seconds']:.1f} s)",
            flush=True,
        )

    train(
        ddp,
        DataLoader(data.train, batch_sampler=sampler),
        loss_fn,
        epochs=args.epochs,
        lr=args.lr,
        schedule="constant",
        device=context.device,
        progress=False,
        step=global_batch_step,
        on_epoch=report if context.rank == 0 else None,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: ``torchrun ... -m metric_course.distributed [options]``."""
    args = _parser().parse_args(argv)
    context = init_distributed(args.backend, args.timeout)
    try:
        if args.check_gradients:
            report = check_gradients(context)
            print(
                f"rank {context.rank}/{context.world_size}: loss {report['loss']:.12f} "
                f"(one process: {report['reference_loss']:.12f}), largest gradient difference "
                f"{report['max_gradient_difference']:.1e} (largest gradient "
                f"{report['max_gradient']:.1e})",
                flush=True,
            )
        else:
            _train(context, args)
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
