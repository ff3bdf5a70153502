"""Benchmark: new identities on Omniglot: unseen alphabets and Lake et al.'s official runs.

    python benchmarks/omniglot.py                    # pixels and every loss, 3 seeds, 2 splits
    python benchmarks/omniglot.py --curve            # the training-classes curve only
    python benchmarks/omniglot.py --recipe omniglot-notebook --seeds 1
    python benchmarks/omniglot.py --quick            # a smoke run in seconds (tiny budget)
    python benchmarks/omniglot.py --validation --losses batch_hard --changes '{"width": 16}'

The recipe's settings are chosen on a validation alphabet (``--validation``);
then every model reported trains with ``RECIPES[--recipe]`` on all the
alphabets a split of Omniglot background-small does not hold out
(``metric_course.data.OMNIGLOT_SPLITS``): training and validation
alphabets, all 20 drawers, a refit with the settings fixed. ``--select-on-val``
trains on the training alphabets only and keeps the best epoch on the
validation alphabet instead, as the notebooks do. Each is scored on

- **one-shot error**: the mean error on Lake et al.'s 20 official 20-way
  one-shot runs (evaluation alphabets, never trained on), 1-nearest neighbour;
- **MAP@R** on the split's unseen alphabets (leave-one-out retrieval).

Rows give mean ± standard deviation over seeds and the training seconds per
model (wall clock with ``--threads`` torch threads: compare rows of one run).
The training-classes curve (``--curve``) trains the featured loss on 7, 15,
30, ... characters of the default split at the same image budget, and a
network trained on Fashion-MNIST's 7 seen classes beside them.

``--validation`` is how the recipe's settings were chosen: it scores on the
validation alphabet only (MAP@R, and the error of 20-way one-shot episodes
drawn inside it, like the official runs), never on the test alphabets or the
official runs; ``--changes`` changes recipe fields (JSON; ``"augmentation":
{}`` adds :class:`RandomAffine` with its defaults, ``null`` removes it).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from collections.abc import Sequence

import torch

from metric_course.augmentation import RandomAffine
from metric_course.data import (
    OMNIGLOT_SPLITS,
    AlphabetSplit,
    ImageDataset,
    course_data,
    omniglot_course_data,
)
from metric_course.evaluation import embed, retrieval_metrics
from metric_course.few_shot import (
    draw_episodes,
    episode_accuracies,
    load_one_shot_runs,
    one_shot_error,
    pixel_embedding,
)
from metric_course.recipe import RECIPES, Recipe, train_embedding
from metric_course.training_classes import DEFAULT_COUNTS, training_classes_curve

LOSSES = ("contrastive", "triplet", "batch_all", "batch_hard", "semi_hard")
FEATURED_LOSS = "batch_hard"
QUICK_BUDGET = {"epochs": 1, "images_per_epoch": 224}


def cell(values: Sequence[float], digits: int = 3, scale: float = 1.0) -> str:
    values = [scale * v for v in values]
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def refit_training_set(split: str) -> ImageDataset:
    """Every drawing of every alphabet ``split`` does not hold out: the final training set.

    The recipe's settings were chosen on the validation alphabet (``--validation``).
    With them fixed, the model that is scored trains once more on the training
    *and* validation alphabets, all 20 drawers (a refit), for the recipe's fixed
    number of steps; with no validation data left, it keeps its last epoch. The
    unseen alphabets and the official runs stay out of training either way.
    """
    unseen = OMNIGLOT_SPLITS[split].unseen
    return omniglot_course_data(AlphabetSplit(val=(), unseen=unseen), test_seen_drawers=()).train


def loss_table(
    recipe: Recipe, splits: Sequence[str], losses: Sequence[str], seeds: int, refit: bool = True
) -> str:
    """Pixels and each loss on each split: seconds, official one-shot error, unseen MAP@R.

    ``refit=False`` trains on the training alphabets only (drawers 1-16) and
    keeps the best epoch on the validation alphabet, as the notebooks do.
    """
    runs = load_one_shot_runs()
    lines = [
        "| split | method | train s | one-shot error % (20 official runs) | MAP@R unseen |",
        "|---|---|---:|---:|---:|",
    ]
    pixel_error = one_shot_error(pixel_embedding, runs).mean_error
    for split in splits:
        data = course_data("omniglot-small", split)
        unseen = data.test_unseen
        pixels = retrieval_metrics(pixel_embedding(unseen.images), unseen.labels)["map_at_r"]
        lines.append(f"| {split} | raw pixels | 0 | {100 * pixel_error:.1f} | {pixels:.3f} |")
        train, val = (refit_training_set(split), None) if refit else (data.train, data.val)
        for loss in losses:
            seconds, errors, maps = [], [], []
            for seed in range(seeds):
                result = train_embedding(loss, train, val, recipe, seed, progress=False)
                seconds.append(result.seconds)
                errors.append(one_shot_error(result.model, runs).mean_error)
                embeddings = embed(result.model, unseen)
                maps.append(retrieval_metrics(embeddings, unseen.labels)["map_at_r"])
                progress = f"{errors[-1]:.3f} {maps[-1]:.3f} {seconds[-1]:.1f} s"
                load = f"load {os.getloadavg()[0]:.1f}"
                print(f"  {split} {loss} seed {seed}: {progress}, {load}", file=sys.stderr)
            lines.append(
                f"| {split} | {loss} | {cell(seconds, 1)} | {cell(errors, 1, 100)} | {cell(maps)} |"
            )
    return "\n".join(lines)


def validation_table(recipe: Recipe, split: str, losses: Sequence[str], seeds: int) -> str:
    """Each loss scored on the validation alphabet only: what the recipe is chosen by."""
    data = course_data("omniglot-small", split)
    val = data.val
    episodes = draw_episodes(val.labels, n_way=20, k_shot=1, n_query=5, episodes=300, seed=0)
    lines = [
        "| split | method | train s | val 20-way one-shot error % | val MAP@R |",
        "|---|---|---:|---:|---:|",
    ]
    for loss in losses:
        seconds, errors, maps = [], [], []
        for seed in range(seeds):
            result = train_embedding(loss, data.train, val, recipe, seed, progress=False)
            embeddings = embed(result.model, val)
            seconds.append(result.seconds)
            errors.append(1 - episode_accuracies(embeddings, val.labels, episodes).mean())
            maps.append(retrieval_metrics(embeddings, val.labels)["map_at_r"])
        lines.append(
            f"| {split} | {loss} | {cell(seconds, 1)} | {cell(errors, 1, 100)} | {cell(maps)} |"
        )
    return "\n".join(lines)


def with_changes(recipe: Recipe, changes: str | None) -> Recipe:
    """``recipe`` with the fields of the JSON object ``changes`` changed."""
    if not changes:
        return recipe
    fields = json.loads(changes)
    if "augmentation" in fields and fields["augmentation"] is not None:
        fields["augmentation"] = RandomAffine(**fields["augmentation"])
    return recipe.with_changes(**fields)


def curve_table(recipe: Recipe, counts: Sequence[int | None], seeds: int) -> str:
    """The featured loss on more and more training characters, and on Fashion-MNIST's 7."""
    data = course_data("omniglot-small")
    runs = load_one_shot_runs()
    lines = [
        "| trained on | classes | images | MAP@R unseen alphabets | one-shot error % | train s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    by_seed = [
        training_classes_curve(data, counts, recipe, FEATURED_LOSS, seed, runs)
        for seed in range(seeds)
    ]
    for rows in zip(*by_seed, strict=True):
        lines.append(
            f"| Omniglot characters | {rows[0]['classes']} | {rows[0]['images']} "
            f"| {cell([r['map_at_r'] for r in rows])} "
            f"| {cell([r['one_shot_error'] for r in rows], 1, 100)} "
            f"| {cell([r['seconds'] for r in rows], 1)} |"
        )
    fashion = course_data("fashion-mnist")
    maps, errors, seconds = [], [], []
    for seed in range(seeds):
        result = train_embedding(FEATURED_LOSS, fashion.train, None, recipe, seed, progress=False)
        embeddings = embed(result.model, data.test_unseen)
        maps.append(retrieval_metrics(embeddings, data.test_unseen.labels)["map_at_r"])
        errors.append(one_shot_error(result.model, runs).mean_error)
        seconds.append(result.seconds)
    lines.append(
        f"| Fashion-MNIST classes | {len(fashion.train_classes)} | {len(fashion.train)} "
        f"| {cell(maps)} | {cell(errors, 1, 100)} | {cell(seconds, 1)} |"
    )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="omniglot", choices=sorted(RECIPES))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--splits", nargs="+", default=list(OMNIGLOT_SPLITS))
    parser.add_argument("--losses", nargs="+", default=LOSSES, choices=LOSSES)
    parser.add_argument("--curve", action="store_true", help="the training-classes curve only")
    parser.add_argument(
        "--validation", action="store_true", help="score on the validation alphabet only"
    )
    parser.add_argument("--changes", help="recipe fields to change, as a JSON object")
    parser.add_argument(
        "--select-on-val",
        action="store_true",
        help="train on the training alphabets and keep the best epoch on the validation one "
        "(the notebooks' protocol) instead of the refit on both",
    )
    parser.add_argument("--quick", action="store_true", help="tiny budget, 1 seed: a smoke run")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> str:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    recipe = with_changes(RECIPES[args.recipe], args.changes)
    seeds, splits, counts = args.seeds, args.splits, DEFAULT_COUNTS
    if args.quick:
        recipe, seeds, splits, counts = (
            recipe.with_changes(**QUICK_BUDGET),
            1,
            splits[:1],
            (7, None),
        )
    budget = " (quick budget)" if args.quick else ""
    print(
        f"recipe {args.recipe}{budget}, {seeds} seed(s), {args.threads} threads, "
        f"load average {os.getloadavg()[0]:.1f} at the start"
    )
    if args.curve:
        table = curve_table(recipe, counts, seeds)
    elif args.validation:
        table = validation_table(recipe, splits[0], args.losses, seeds)
    else:
        table = loss_table(recipe, splits, args.losses, seeds, refit=not args.select_on_val)
    print(table)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return table


if __name__ == "__main__":
    main()
