"""Benchmark: how well does an embedding trained on seen classes retrieve *unseen* ones?

    python benchmarks/unseen_classes.py                        # default split, 3 seeds
    python benchmarks/unseen_classes.py --split unseen-tops    # another class-disjoint split
    python benchmarks/unseen_classes.py --split 0,2,3,4,6,7,9  # or any tuple of seen classes
    python benchmarks/unseen_classes.py --dataset digits       # the scikit-learn digits
    python benchmarks/unseen_classes.py --longer 3             # every model trained 3× longer
    python benchmarks/unseen_classes.py --ablation             # undo each recipe choice in turn
    python benchmarks/unseen_classes.py --quick                # a smoke run in seconds

Every model trains on the seen classes only and is scored on the test images
of the unseen classes (leave-one-out retrieval: MAP@R, R-Precision, P@1).
The methods, side by side:

- **raw pixels**: the flattened images themselves, no training;
- **course <loss>**: :class:`metric_course.recipe.Recipe` with each loss;
- **PML <loss>**: pytorch-metric-learning with its defaults on the same
  network, data and number of training images: Adam at 1e-3 without a
  schedule, ``MPerClassSampler`` batches of 7 classes × 8 images,
  ``ContrastiveLoss()`` or ``TripletMarginLoss(margin=0.2)`` with no miner
  (all triplets), ``BatchHardMiner`` or ``TripletMarginMiner("semihard")``.

``--val`` adds the recipe with early stopping on validation classes: the
first two seen classes leave training and the epoch with the best MAP@R on
them is kept (never the unseen test classes). Each row gives the mean and
standard deviation over the seeds, and the training seconds per model
(wall clock on this machine: compare rows of one run, not across machines).
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable, Sequence

import torch
from torch.utils.data import DataLoader

from metric_course.data import SPLITS, CourseData, course_data
from metric_course.evaluation import embed, retrieval_metrics
from metric_course.recipe import Recipe, train_embedding
from metric_course.training import set_seed, train

COURSE_LOSSES = ("contrastive", "triplet", "batch_all", "batch_hard", "semi_hard")
PML_LOSSES = ("contrastive", "batch_all", "batch_hard", "semi_hard")
METRICS = {"MAP@R": "map_at_r", "R-Precision": "r_precision", "P@1": "precision_at_1"}

# Each recipe choice, undone on its own (the value before the change, or the
# usual alternative): the ablation table's rows. The last row undoes four together.
ABLATIONS: dict[str, dict] = {
    "global average pool (pool_size 1)": {"pool_size": 1},
    "learning rate 2e-3": {"lr": 2e-3},
    "constant learning rate": {"schedule": "constant"},
    "P×K 6×32 (a class missing per batch)": {"p": 6, "batch_images": 192},
    "P×K 7×4 (smaller batches)": {"batch_images": 28},
    "margin 0.2": {"margins": 0.2},
    "not L2-normalised": {"normalize": False},
    "embedding_dim 128": {"embedding_dim": 128},
    "half the images": {"images_per_epoch": "half"},
    "pool, learning rate, P×K and margin undone together": {
        "pool_size": 1,
        "lr": 2e-3,
        "p": 6,
        "batch_images": 192,
        "margins": 0.2,
    },
}


def pml_defaults(loss: str, train_data, images: int, epochs: int, recipe: Recipe, seed: int):
    """Train the recipe's network the way pytorch-metric-learning's defaults would."""
    from pytorch_metric_learning import losses, miners, samplers

    set_seed(seed)
    model = recipe.network(in_channels=train_data.images.shape[1])
    loss_fn = losses.ContrastiveLoss() if loss == "contrastive" else losses.TripletMarginLoss(0.2)
    miner = {
        "batch_hard": miners.BatchHardMiner(),
        "semi_hard": miners.TripletMarginMiner(margin=0.2, type_of_triplets="semihard"),
    }.get(loss)
    batch = 8 * min(7, len(train_data.classes))
    sampler = samplers.MPerClassSampler(
        train_data.labels, m=8, batch_size=batch, length_before_new_iter=images // epochs
    )
    loader = DataLoader(train_data, batch_size=batch, sampler=sampler, drop_last=True)

    def pml_loss(embeddings: torch.Tensor, labels: torch.Tensor, stats: dict) -> torch.Tensor:
        pairs = miner(embeddings, labels) if miner else None
        return loss_fn(embeddings, labels, pairs)

    # Adam at PML's 1e-3 without a schedule: the course's loop, none of the recipe's choices
    result = train(
        model, loader, pml_loss, epochs=epochs, lr=1e-3, schedule="constant", progress=False
    )
    return model, result.seconds


def course_recipe(loss: str, data: CourseData, recipe: Recipe, seed: int):
    result = train_embedding(loss, data.train, data.val, recipe=recipe, seed=seed, progress=False)
    return result.model, result.seconds


def scores(embeddings: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    metrics = retrieval_metrics(embeddings, labels)
    return {name: metrics[key] for name, key in METRICS.items()}


def methods(
    args, recipe: Recipe, data: CourseData, val_data: CourseData | None
) -> dict[str, Callable[[int], tuple[dict[str, float], float]]]:
    """Name → a function of the seed returning (scores, training seconds)."""
    test = data.test_unseen
    images = recipe.epochs * recipe.images_per_epoch

    def trained(train: Callable, parts: CourseData = data):
        def run(seed: int):
            model, seconds = train(seed)
            return scores(embed(model, parts.test_unseen), parts.test_unseen.labels), seconds

        return run

    table = {"raw pixels": lambda seed: (scores(test.images.flatten(1), test.labels), 0.0)}
    if args.ablation:
        table["course recipe"] = trained(lambda s: course_recipe(args.loss, data, recipe, s))
        for name, changes in ABLATIONS.items():
            changed = _undo(recipe, changes)
            table[f"… {name}"] = trained(lambda s, r=changed: course_recipe(args.loss, data, r, s))
        return table
    for loss in args.losses:
        table[f"course {loss}"] = trained(lambda s, loss=loss: course_recipe(loss, data, recipe, s))
    if val_data is not None:
        for loss in args.losses:
            table[f"course {loss} + val stop"] = trained(
                lambda s, loss=loss: course_recipe(loss, val_data, recipe, s), val_data
            )
    for loss in args.pml_losses:
        table[f"PML {loss}"] = trained(
            lambda s, loss=loss: pml_defaults(loss, data.train, images, recipe.epochs, recipe, s)
        )
    return table


def _undo(recipe: Recipe, changes: dict) -> Recipe:
    changes = dict(changes)
    if changes.get("images_per_epoch") == "half":
        changes["images_per_epoch"] = recipe.images_per_epoch // 2
    if "margins" in changes:  # one margin for the three online triplet losses
        margin = changes["margins"]
        changes["margins"] = {
            **recipe.margins,
            "batch_all": margin,
            "batch_hard": margin,
            "semi_hard": margin,
        }
    return recipe.with_changes(**changes)


def summarise(rows: dict[str, list[tuple[dict[str, float], float]]]) -> str:
    """A Markdown table: mean ± standard deviation over seeds of every metric."""

    def cell(values: Sequence[float], digits: int = 3) -> str:
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{statistics.mean(values):.{digits}f} ± {spread:.{digits}f}"

    header = ["method", *METRICS, "training s"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, runs in rows.items():
        metric_cells = [cell([s[metric] for s, _ in runs]) for metric in METRICS]
        seconds = cell([t for _, t in runs], digits=1)
        lines.append("| " + " | ".join([name, *metric_cells, seconds]) + " |")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion-mnist", help="fashion-mnist or digits")
    parser.add_argument(
        "--split",
        default="default",
        help=f"a split name ({', '.join(SPLITS)}) or comma-separated seen class ids",
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--losses", nargs="+", default=COURSE_LOSSES, choices=COURSE_LOSSES)
    parser.add_argument("--pml-losses", nargs="*", default=PML_LOSSES, choices=PML_LOSSES)
    parser.add_argument(
        "--longer", type=float, default=1.0, help="multiply every model's training images"
    )
    parser.add_argument("--val", action="store_true", help="add the recipe with a val split")
    parser.add_argument("--ablation", action="store_true", help="undo each recipe choice")
    parser.add_argument("--loss", default="batch_all", help="the loss of the ablation")
    parser.add_argument("--quick", action="store_true", help="tiny budget, 1 seed: a smoke run")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds = 1
    return args


def main(argv: Sequence[str] | None = None) -> str:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    split = args.split
    if "," in split:
        split = tuple(int(c) for c in split.split(","))
    cap = 40 if args.quick else None
    data = course_data(args.dataset, split=split, max_per_class=cap, max_test_per_class=cap)
    recipe = Recipe()
    if args.quick:
        recipe = recipe.with_changes(epochs=2, images_per_epoch=4 * recipe.batch_images)
    epochs = max(1, round(recipe.epochs * args.longer))
    recipe = recipe.with_changes(epochs=epochs)
    val_data = None
    if args.val:
        val_classes = data.seen_classes[:2]
        val_data = course_data(
            args.dataset,
            split=split,
            val_classes=val_classes,
            max_per_class=cap,
            max_test_per_class=cap,
        )
    print(
        f"{args.dataset}, split {args.split}: seen {data.seen_classes}, unseen "
        f"{data.unseen_classes}; {recipe}",
        flush=True,
    )
    rows: dict[str, list] = {}
    for name, run in methods(args, recipe, data, val_data).items():
        rows[name] = [run(seed) for seed in range(args.seeds)]
        print(f"{name}: " + ", ".join(f"{s['MAP@R']:.3f}" for s, _ in rows[name]), flush=True)
    table = summarise(rows)
    print(table)
    return table


if __name__ == "__main__":
    main()
