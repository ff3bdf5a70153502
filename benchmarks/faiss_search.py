"""Benchmark: exact and approximate nearest-neighbour search over a large gallery.

    python benchmarks/faiss_search.py                      # 1,000,000 × 128, 1,000 queries
    python benchmarks/faiss_search.py --gallery 200000     # quicker

The data are **synthetic** (``metric_course.search.synthetic_embeddings``):
unit-length points around ``--clusters`` random centres (Gaussian noise,
then normalised), shaped like the L2-normalised embeddings of a trained
network but not made by one. The queries are fresh
points from the same clusters, not gallery items.

For each method the table gives the build time, queries per second (all
queries searched in one call; best of three for the approximate indexes) and
recall@10: the share of the exact 10 nearest neighbours (brute force in
PyTorch) that the method found. Times are given twice: wall-clock, and CPU
time of the process, which does not grow when other programs share the
machine (with ``--threads 1`` it is the time one core needs).
Needs faiss: ``pip install "metric-course[search]"``.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from metric_course.search import (
    build_index,
    import_faiss,
    neighbour_recall,
    synthetic_embeddings,
    torch_search,
)


def timed(fn, repeats: int = 1):
    """Run ``fn()`` ``repeats`` times: its last result, the fastest wall and CPU seconds.

    CPU seconds (all threads of this process) do not grow when other
    programs share the machine; wall seconds do.
    """
    wall, cpu = [], []
    for _ in range(repeats):
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        result = fn()
        wall.append(time.perf_counter() - wall_start)
        cpu.append(time.process_time() - cpu_start)
    return result, min(wall), min(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gallery", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--queries", type=int, default=1_000)
    parser.add_argument("--clusters", type=int, default=10_000)
    parser.add_argument("--spread", type=float, default=1.0, help="noise around each centre")
    parser.add_argument("--nlist", type=int, default=1024, help="IVF cells")
    parser.add_argument("--hnsw-m", type=int, default=32, help="HNSW links per point")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--threads", type=int, help="torch and faiss threads (default: all)")
    args = parser.parse_args()
    faiss = import_faiss()
    if args.threads:
        torch.set_num_threads(args.threads)
        faiss.omp_set_num_threads(args.threads)

    points = synthetic_embeddings(
        args.gallery + args.queries, args.dim, args.clusters, args.spread, seed=0
    )
    gallery, queries = points[: args.gallery], points[args.gallery :]
    print(
        f"gallery {args.gallery:,} × {args.dim} (synthetic, {args.clusters:,} clusters), "
        f"{args.queries:,} queries, k={args.k}; torch threads {torch.get_num_threads()}, "
        f"faiss threads {faiss.omp_get_max_threads()}\n"
    )
    rows = []

    def measure(name, setting, index, build, repeats=3, **options):
        (_, found), wall, cpu = timed(lambda: index.search(queries, args.k, **options), repeats)
        recall = neighbour_recall(found, exact)
        rows.append((name, setting, *build, args.queries / wall, args.queries / cpu, recall))
        print(f"  done: {name} {setting}", flush=True)

    (_, exact), wall, cpu = timed(lambda: torch_search(queries, gallery, args.k))
    rows.append(
        ("torch brute force", "exact", 0.0, 0.0, args.queries / wall, args.queries / cpu, 1.0)
    )
    flat, *build = timed(lambda: build_index(gallery, "flat"))
    measure("faiss IndexFlatL2", "exact", flat, build, repeats=1)
    ivf, *build = timed(lambda: build_index(gallery, "ivf", nlist=args.nlist))
    for nprobe in (1, 4, 16, 64):
        measure(f"faiss IVF{args.nlist},Flat", f"nprobe={nprobe}", ivf, build, nprobe=nprobe)
    hnsw, *build = timed(lambda: build_index(gallery, "hnsw", hnsw_m=args.hnsw_m))
    for ef in (16, 32, 64, 128, 256):
        measure(f"faiss HNSW{args.hnsw_m},Flat", f"efSearch={ef}", hnsw, build, ef_search=ef)

    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"\nload average at the end (1, 5, 15 min): {load}")
    print(
        f"\n| method | setting | build wall (s) | build CPU (s) | queries/s (wall) "
        f"| queries per CPU-second | recall@{args.k} |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, setting, build_wall, build_cpu, qps, qps_cpu, recall in rows:
        print(
            f"| {name} | {setting} | {build_wall:.1f} | {build_cpu:.1f} | {qps:,.0f} "
            f"| {qps_cpu:,.0f} | {recall:.3f} |"
        )


if __name__ == "__main__":
    main()
