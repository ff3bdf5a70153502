"""Cross-batch memory where it is meant to help: many identities, small batches (notebook 07).

Omniglot background-small, default split (163 training characters; Korean and
Tagalog unseen). Each seed trains two networks of a recipe (``--recipe``, by
default the notebooks' ``RECIPES["omniglot-notebook"]``: network, Adam learning
rate and schedule, batch-hard margin; not its turned classes: the batches are the point) on
the same P×K = 8×2 batches from the same initial weights: plain batch-hard
and batch-hard with a cross-batch memory. Both are scored on the unseen
alphabets (MAP@R, Lake et al.'s 20 official one-shot runs) and on the held-out
drawers of the training characters (``test_seen``).

    python benchmarks/cross_batch_memory_omniglot.py --seeds 6 --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils.data import DataLoader

from metric_course.data import course_data
from metric_course.evaluation import embed, retrieval_metrics
from metric_course.few_shot import one_shot_error
from metric_course.memory import CrossBatchMemoryLoss
from metric_course.recipe import RECIPES
from metric_course.sampling import PKSampler
from metric_course.training import set_seed, train


def train_small_batches(data, recipe, loss_fn, args: argparse.Namespace, seed: int):
    """The notebook's training: ``args.steps`` steps of P×K batches under the recipe's choices."""
    set_seed(seed)
    sampler = PKSampler(data.train.labels, args.p, args.k, seed=seed)
    result = train(
        recipe.network(),
        DataLoader(data.train, batch_sampler=sampler),
        loss_fn,
        steps=args.steps,
        lr=recipe.lr,
        weight_decay=recipe.weight_decay,
        schedule=recipe.schedule,
        progress=False,
    )
    return result.model


def score(model, data) -> dict[str, float]:
    unseen = embed(model, data.test_unseen)
    return {
        "unseen MAP@R": retrieval_metrics(unseen, data.test_unseen.labels)["map_at_r"],
        "one-shot error": one_shot_error(model).mean_error,
        "seen MAP@R": retrieval_metrics(embed(model, data.test_seen), data.test_seen.labels)[
            "map_at_r"
        ],
        "typical unseen distance": torch.pdist(unseen).mean().item(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--p", type=int, default=8)
    parser.add_argument("--k", type=int, default=2)
    parser.add_argument("--memory", type=int, default=1024)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--recipe", default="omniglot-notebook", choices=sorted(RECIPES))
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    data = course_data("omniglot-small")
    recipe = RECIPES[args.recipe]
    margin = recipe.margins["batch_hard"]
    methods = {
        "batch-hard": 0,
        f"batch-hard + memory of {args.memory} (after {args.warmup} steps)": args.memory,
    }
    rows: dict[str, list[dict[str, float]]] = {name: [] for name in methods}
    for seed in range(args.seeds):
        for name, memory in methods.items():
            loss_fn = CrossBatchMemoryLoss(memory, "batch_hard", margin, warmup_steps=args.warmup)
            start = time.process_time()
            model = train_small_batches(data, recipe, loss_fn, args, seed)
            rows[name].append({**score(model, data), "CPU s": time.process_time() - start})
            print(
                f"seed {seed}, {name}: "
                + ", ".join(f"{k} {v:.3f}" for k, v in rows[name][-1].items()),
                flush=True,
            )
    keys = list(rows[next(iter(rows))][0])
    print(
        f"\nrecipe {args.recipe}: {args.p}×{args.k} batches, {args.steps} steps, "
        f"margin {margin}, {args.seeds} seeds"
    )
    print("| method | " + " | ".join(keys) + " |")
    print("|---|" + "---:|" * len(keys))
    for name, runs in rows.items():
        values = {k: [r[k] for r in runs] for k in keys}
        cells = [f"{statistics.mean(v):.3f} ± {statistics.stdev(v):.3f}" for v in values.values()]
        print(f"| {name} | " + " | ".join(cells) + " |")
    first, second = rows.values()
    for key in ("unseen MAP@R", "one-shot error", "seen MAP@R"):
        differences = [b[key] - a[key] for a, b in zip(first, second, strict=True)]
        print(
            f"memory − none, {key}: mean {statistics.mean(differences):+.3f}, "
            f"per seed {', '.join(f'{d:+.3f}' for d in differences)}"
        )


if __name__ == "__main__":
    main()
