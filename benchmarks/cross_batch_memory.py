"""Benchmark: cross-batch memory against plain batch-hard, on classes never seen in training.

    python benchmarks/cross_batch_memory.py                 # 3 seeds, about two minutes on 2 cores
    python benchmarks/cross_batch_memory.py --seeds 5 --epochs 4

Fashion-MNIST: train on the seen classes 0-6 (``--max-per-class`` images
each), measure MAP@R on the 3,000 test images of the unseen classes 7-9.
Every method gets the same budget: the same network and initial weights,
the same P×K batches in the same order, the same optimiser (Adam, constant
learning rate, as in notebook 07) and steps. Two
losses, batch-hard (margin 0.2) and the XBM paper's contrastive loss on
cosine similarity (margin 0.5), each without and with a memory of the last
``--memory`` embeddings (switched on after ``--warmup`` steps): with the
memory the loss adds L(batch, memory) to L(batch, batch).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from torch.utils.data import DataLoader

from metric_course.data import course_data
from metric_course.evaluation import embed, retrieval_metrics
from metric_course.memory import CrossBatchMemoryLoss
from metric_course.models import EmbeddingNet
from metric_course.sampling import PKSampler
from metric_course.training import set_seed, train

# The margins this benchmark was measured with (docs/scaling.md), kept fixed on purpose.
MARGINS = {"batch_hard": 0.2, "contrastive": 0.5}


def run(
    method: tuple[str, int], data, args: argparse.Namespace, seed: int
) -> tuple[float, float, float]:
    """Train one model; its MAP@R on the unseen classes, and the wall and CPU seconds it took.

    CPU seconds (all threads of this process) do not grow when other programs
    share the machine; wall seconds do.
    """
    set_seed(seed)
    model = EmbeddingNet(args.embedding_dim)
    loader = DataLoader(
        data.train, batch_sampler=PKSampler(data.train.labels, args.p, args.k, seed)
    )
    loss, memory = method
    loss_fn = CrossBatchMemoryLoss(
        memory, loss=loss, margin=MARGINS[loss], warmup_steps=args.warmup
    )
    start, cpu_start = time.perf_counter(), time.process_time()
    train(
        model, loader, loss_fn, epochs=args.epochs, lr=args.lr, schedule="constant", progress=False
    )
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    unseen = retrieval_metrics(embed(model, data.test_unseen), data.test_unseen.labels)
    return unseen["map_at_r"], seconds, cpu_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--max-per-class", type=int, default=1000)
    parser.add_argument("--p", type=int, default=4, help="classes per batch")
    parser.add_argument("--k", type=int, default=4, help="images per class")
    parser.add_argument("--memory", type=int, default=1024, help="embeddings kept")
    parser.add_argument("--warmup", type=int, default=100, help="steps before the memory")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--embedding-dim", type=int, default=64)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    data = course_data(max_per_class=args.max_per_class, download=True)
    steps = args.epochs * len(PKSampler(data.train.labels, args.p, args.k))
    with_memory = f"+ memory of {args.memory} (after {args.warmup} steps)"
    methods = {
        "batch-hard": ("batch_hard", 0),
        f"batch-hard {with_memory}": ("batch_hard", args.memory),
        "contrastive (XBM paper's)": ("contrastive", 0),
        f"contrastive {with_memory}": ("contrastive", args.memory),
    }
    print(
        f"{len(data.train)} training images of classes {data.train_classes}, batches of "
        f"{args.p}×{args.k} = {args.p * args.k}, {steps} steps; MAP@R on "
        f"{len(data.test_unseen)} images of unseen classes {data.unseen_classes}; "
        f"Adam, constant learning rate {args.lr}; {torch.get_num_threads()} torch thread(s)\n"
    )
    rows = []
    for label, method in methods.items():
        results = [run(method, data, args, seed) for seed in range(args.seeds)]
        rows.append((label, *zip(*results, strict=True)))
        scores = rows[-1][1]
        print(f"  {label}: " + ", ".join(f"{s:.3f}" for s in scores), flush=True)

    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"\nload average at the end (1, 5, 15 min): {load}")
    print(
        f"\n| method | MAP@R unseen (mean ± sample std, {args.seeds} seeds) "
        "| seconds per run (wall) | CPU seconds per run |"
    )
    print("|---|---:|---:|---:|")
    for label, scores, seconds, cpu_seconds in rows:
        spread = np.std(scores, ddof=1) if len(scores) > 1 else 0.0
        print(
            f"| {label} | {np.mean(scores):.3f} ± {spread:.3f} | {np.mean(seconds):.1f} "
            f"| {np.mean(cpu_seconds):.1f} |"
        )


if __name__ == "__main__":
    main()
