"""Benchmark: a training step of the course's network, channels-first against channels-last.

    python benchmarks/training_step.py                 # every recipe, 2 threads
    python benchmarks/training_step.py --threads 1 --steps 20

``EmbeddingNet`` stores its weights channels-last (``torch.channels_last``),
the layout of the fast convolution kernels on x86 CPUs (oneDNN). This
measures why: the same step (forward, batch-hard loss, backward, Adam) of
each recipe's network, with the weights in PyTorch's default layout and in
the network's, side by side in one run, alternating so that a busy machine
slows both alike. It prints milliseconds per step (the
median of the rounds) and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from metric_course.losses import batch_hard_triplet_loss
from metric_course.recipe import RECIPES, Recipe


def step_time(recipe: Recipe, memory_format: torch.memory_format, steps: int) -> float:
    """Seconds per training step of ``recipe``'s network with its weights in ``memory_format``."""
    torch.manual_seed(0)
    network = recipe.network().to(memory_format=memory_format)
    optimiser = torch.optim.Adam(network.parameters(), lr=recipe.lr)
    k = recipe.batch_images // recipe.p
    images = torch.rand(recipe.p * k, 1, 28, 28)
    labels = torch.arange(recipe.p).repeat_interleave(k)

    def step() -> None:
        loss = batch_hard_triplet_loss(network(images), labels, recipe.margins["batch_hard"])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()

    for _ in range(3):  # warm-up: the first calls choose kernels
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--steps", type=int, default=30, help="steps per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{args.threads} threads, {args.rounds} rounds of {args.steps} steps, median ms/step")
    print("| recipe | batch | channels-first ms | channels-last ms | ratio |")
    print("|---|---:|---:|---:|---:|")
    for name in ("omniglot", "omniglot-notebook", "fashion-mnist"):
        recipe = RECIPES[name]
        times = {torch.contiguous_format: [], torch.channels_last: []}
        for _ in range(args.rounds):
            for memory_format, measured in times.items():
                measured.append(step_time(recipe, memory_format, args.steps))
        first, last = (1000 * statistics.median(t) for t in times.values())
        print(
            f"| {name} | {recipe.batch_images} | {first:.1f} | {last:.1f} | {last / first:.2f}× |"
        )


if __name__ == "__main__":
    main()
