"""Online mining losses beside pytorch-metric-learning (PML): time and peak memory on CPU.

A benchmark, not a test: it measures and prints a Markdown table, and never fails.

For each batch size B (P × K batches, K images per class, D-dimensional
L2-normalised embeddings), each loss runs forward + backward:

- ``floor``: one ``torch.cdist`` forward + backward, the least any loss on a
  B × B distance matrix can cost;
- each loss of ``metric_course.losses`` beside PML's nearest equivalent, all
  on unnormalised ``LpDistance(normalize_embeddings=False)`` where PML takes
  a distance (the inputs are unit vectors already):

  ====================  =====================================================
  ours                  PML
  ====================  =====================================================
  batch_hard            BatchHardMiner + TripletMarginLoss(MeanReducer)  (same loss)
  semi_hard             TripletMarginMiner("semihard") + TripletMarginLoss
                        (a different rule: all 0 < d(a,n) − d(a,p) ≤ α)
  batch_all             TripletMarginLoss, all triplets, AvgNonZero  (same loss)
  contrastive_all_pairs ContrastiveLoss(pos_margin=0, neg_margin=1)
                        (not squared, two means: same pairs, other weights)
  ====================  =====================================================

Time: the median of ``--repeats`` runs after one warm-up run, in this process,
by the wall clock or (``--clock cpu``) by the process's CPU time;
the methods take turns run by run, so a load from elsewhere slows them alike.
Memory: the peak resident set size (RSS) above the RSS just before the call,
during one forward + backward in a fresh subprocess per measurement (Linux:
reset ``VmHWM`` through ``/proc/self/clear_refs``, read it afterwards). It
counts everything the process touches, torch's buffers included, which
``tracemalloc`` would miss; a few MB of it are allocator noise.

    python benchmarks/mining.py --sizes 128 512 2048 --repeats 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from pytorch_metric_learning import distances, losses, miners, reducers

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from metric_course import losses as ours

TRIPLET_MARGIN, CONTRASTIVE_MARGIN = 0.2, 1.0
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _pml_distance() -> distances.LpDistance:
    return distances.LpDistance(normalize_embeddings=False)


def _pml_batch_hard(x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    miner = miners.BatchHardMiner(distance=_pml_distance())
    loss = losses.TripletMarginLoss(
        margin=TRIPLET_MARGIN, distance=_pml_distance(), reducer=reducers.MeanReducer()
    )
    return loss(x, labels, miner(x, labels))


def _pml_semi_hard(x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    miner = miners.TripletMarginMiner(
        margin=TRIPLET_MARGIN, type_of_triplets="semihard", distance=_pml_distance()
    )
    loss = losses.TripletMarginLoss(margin=TRIPLET_MARGIN, distance=_pml_distance())
    return loss(x, labels, miner(x, labels))


def _pml_batch_all(x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return losses.TripletMarginLoss(margin=TRIPLET_MARGIN, distance=_pml_distance())(x, labels)


def _pml_contrastive(x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    loss = losses.ContrastiveLoss(
        pos_margin=0, neg_margin=CONTRASTIVE_MARGIN, distance=_pml_distance()
    )
    return loss(x, labels)


# name -> (ours, PML's equivalent)
PAIRS: dict[str, tuple[LossFn, LossFn]] = {
    "batch_hard": (
        lambda x, y: ours.batch_hard_triplet_loss(x, y, TRIPLET_MARGIN),
        _pml_batch_hard,
    ),
    "semi_hard": (
        lambda x, y: ours.semi_hard_triplet_loss(x, y, TRIPLET_MARGIN),
        _pml_semi_hard,
    ),
    "batch_all": (
        lambda x, y: ours.batch_all_triplet_loss(x, y, TRIPLET_MARGIN),
        _pml_batch_all,
    ),
    "contrastive_all_pairs": (
        lambda x, y: ours.contrastive_loss_all_pairs(x, y, CONTRASTIVE_MARGIN),
        _pml_contrastive,
    ),
}
FLOOR: LossFn = lambda x, y: torch.cdist(x, x).sum()  # noqa: E731


def _function(method: str) -> LossFn:
    """``floor``, ``ours:NAME`` or ``pml:NAME``."""
    if method == "floor":
        return FLOOR
    side, name = method.split(":")
    return PAIRS[name][0 if side == "ours" else 1]


def make_batch(size: int, k: int, dim: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A P × K batch of unit-length embeddings (what a normalising network emits)."""
    generator = torch.Generator().manual_seed(seed)
    embeddings = F.normalize(torch.randn(size, dim, generator=generator), dim=1)
    labels = torch.arange(size // k).repeat_interleave(k)
    return embeddings.requires_grad_(), labels


def forward_backward(loss_fn: LossFn, x: torch.Tensor, labels: torch.Tensor) -> None:
    x.grad = None
    loss_fn(x, labels).backward()


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def median_times_ms(
    methods: list[str], x: torch.Tensor, labels: torch.Tensor, repeats: int, clock: str
) -> dict[str, float]:
    """Median ms per method; the methods take turns, so a busy machine slows all alike."""
    now = CLOCKS[clock]
    for method in methods:
        forward_backward(_function(method), x, labels)  # warm-up
    times: dict[str, list[float]] = {method: [] for method in methods}
    for _ in range(repeats):
        for method in methods:
            start = now()
            forward_backward(_function(method), x, labels)
            times[method].append(now() - start)
    return {method: 1000 * statistics.median(t) for method, t in times.items()}


def _kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def measure_memory_here(method: str, size: int, k: int, dim: int) -> float:
    """Peak RSS growth in MB during one forward + backward (this process)."""
    x, labels = make_batch(size, k, dim)
    loss_fn = _function(method)
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # reset the peak (VmHWM) to the current RSS
    baseline = _kib("VmRSS")
    forward_backward(loss_fn, x, labels)
    return (_kib("VmHWM") - baseline) / 1024


def peak_mb(method: str, size: int, k: int, dim: int, threads: int) -> float:
    """Run ``measure_memory_here`` in a fresh subprocess."""
    command = [sys.executable, __file__, "--memory-of", method, "--sizes", str(size)]
    command += ["--k", str(k), "--dim", str(dim), "--threads", str(threads)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return float(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 512, 2048])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--k", type=int, default=8, help="images per class (P = B / K)")
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--losses", nargs="+", choices=list(PAIRS), default=list(PAIRS))
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument(
        "--clock",
        choices=list(CLOCKS),
        default="wall",
        help="wall: elapsed time; cpu: this process's CPU time, which a busy machine "
        "does not inflate (use it with --threads 1, where it equals the idle wall time)",
    )
    parser.add_argument("--no-memory", action="store_true", help="time only")
    parser.add_argument("--memory-of", help=argparse.SUPPRESS)  # internal: one measurement
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    if args.memory_of:
        print(measure_memory_here(args.memory_of, args.sizes[0], args.k, args.dim))
        return

    print(f"torch {torch.__version__}, {args.threads} threads, K = {args.k}, D = {args.dim}")
    print(f"median {args.clock} time of {args.repeats} forward + backward runs; memory: peak RSS")
    print(f"growth in a fresh process; load average at start {os.getloadavg()[0]:.1f}\n")
    print("| B | loss | ours ms | PML ms | ours / PML | ours / floor | ours MB | PML MB |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for size in args.sizes:
        x, labels = make_batch(size, args.k, args.dim)
        methods = ["floor"] + [f"{side}:{name}" for name in args.losses for side in ("ours", "pml")]
        ms = median_times_ms(methods, x, labels, args.repeats, args.clock)
        mb = {method: "" for method in methods}
        if not args.no_memory:
            mb = {m: f"{peak_mb(m, size, args.k, args.dim, args.threads):.0f}" for m in methods}
        print(f"| {size} | floor (cdist) | {ms['floor']:.1f} | | | 1.00 | {mb['floor']} | |")
        for name in args.losses:
            ours_ms, pml_ms = ms[f"ours:{name}"], ms[f"pml:{name}"]
            print(
                f"| {size} | {name} | {ours_ms:.1f} | {pml_ms:.1f} | {ours_ms / pml_ms:.2f} "
                f"| {ours_ms / ms['floor']:.2f} | {mb[f'ours:{name}']} | {mb[f'pml:{name}']} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
