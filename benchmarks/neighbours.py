"""Benchmark: the neighbour search behind the retrieval metrics and the brute-force baseline.

    python benchmarks/neighbours.py                 # the sizes below, one thread
    python benchmarks/neighbours.py --scale 0.1     # everything ten times smaller

Times only calls that existed before ``metric_course.neighbours`` did
(``evaluation.retrieval_metrics`` and ``search.torch_search``), so the same
script measures an older checkout side by side with this one:

    git worktree add /tmp/before <commit>
    PYTHONPATH=/tmp/before python benchmarks/neighbours.py
    PYTHONPATH=. python benchmarks/neighbours.py

The data are synthetic (``search.synthetic_embeddings``): unit vectors around
random centres, one class per centre, shaped like Fashion-MNIST's test set
(10,000 items of 10 classes: R = 999 neighbours per query), Omniglot's
(13,180 drawings of 659 characters: R = 19) and a gallery of 200,000 for
``torch_search`` (k = 10). Wall-clock and CPU seconds, best of ``--repeats``.
"""

from __future__ import annotations

import argparse
import time

import torch

from metric_course.evaluation import retrieval_metrics
from metric_course.search import synthetic_embeddings, torch_search


def timed(fn, repeats: int) -> tuple[float, float]:
    """The fastest wall-clock and CPU seconds of ``repeats`` calls of ``fn``."""
    wall, cpu = [], []
    for _ in range(repeats):
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - wall_start)
        cpu.append(time.process_time() - cpu_start)
    return min(wall), min(cpu)


def labelled(n: int, classes: int, dim: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` embeddings around ``classes`` centres, labelled by centre (equal class sizes)."""
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, dim, generator=generator)
    labels = torch.arange(n) % classes
    points = centres[labels] + torch.randn(n, dim, generator=generator)
    return torch.nn.functional.normalize(points, dim=1), labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies every size")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    size = lambda n: max(int(n * args.scale), 20)  # noqa: E731

    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), dim {args.dim}")
    for name, n, classes in (
        ("Fashion-MNIST-like", size(10_000), 10),
        ("Omniglot-like", size(13_180), max(size(13_180) // 20, 2)),
    ):
        embeddings, labels = labelled(n, classes, args.dim, seed=0)
        wall, cpu = timed(lambda e=embeddings, y=labels: retrieval_metrics(e, y), args.repeats)
        print(f"retrieval_metrics  {name:20s} {n:7,d} items {classes:4d} classes: "
              f"{wall:7.2f} s wall {cpu:7.2f} s CPU")  # fmt: skip
    gallery_size, queries = size(200_000), size(1_000)
    points = synthetic_embeddings(gallery_size + queries, args.dim, clusters=1000, seed=0)
    gallery, query_points = points[:gallery_size], points[gallery_size:]
    wall, cpu = timed(lambda: torch_search(query_points, gallery, 10), args.repeats)
    print(f"torch_search       gallery {gallery_size:,}, {queries:,} queries, k = 10: "
          f"{wall:7.2f} s wall {cpu:7.2f} s CPU")  # fmt: skip


if __name__ == "__main__":
    main()
