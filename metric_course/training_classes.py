"""How many identities must a network see to learn a distance for new ones?

A face recogniser trained on seven people learns what tells *those seven*
apart; trained on thousands it learns what tells *anyone* apart. The
training-classes curve measures this: the same network, loss and number of
training images, trained on more and more characters (identities), each time
scored on alphabets it never saw. :func:`training_classes_curve` adds
characters with all their drawings, so identities and distinct images grow
together; :func:`identities_curve` holds the distinct drawings fixed and only
splits them differently (7 characters × 16 drawings, ..., 56 × 2), so it
answers FaceNet's question: more identities, or more photos of each?
Notebook 05 draws the second; docs/recipe.md reports the first.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .data import CourseData, ImageDataset
from .evaluation import embed, retrieval_metrics
from .few_shot import OneShotRun, load_one_shot_runs, one_shot_error
from .recipe import Recipe, train_embedding

DEFAULT_COUNTS: tuple[int | None, ...] = (7, 15, 30, 60, 120, None)
# characters × drawings of each: always 112 distinct training drawings
DEFAULT_SHAPES: tuple[tuple[int, int], ...] = ((7, 16), (14, 8), (28, 4), (56, 2))


def nested_class_subsets(
    classes: Sequence[int], counts: Sequence[int | None], seed: int = 0
) -> list[tuple[int, ...]]:
    """One subset of ``classes`` per count (None: all), each inside the next.

    The classes are shuffled once (seeded) and each subset takes the first
    ``count``, so 15 characters are the 7 plus 8 more: the curve then adds
    identities instead of swapping them.
    """
    order = np.random.default_rng(seed).permutation(np.asarray(classes))
    subsets = []
    for count in counts:
        if count is not None and not 2 <= count <= len(order):
            raise ValueError(
                f"each count must lie in 2..{len(order)} (the training classes) or be None "
                f"for all of them, got {count}"
            )
        subsets.append(tuple(sorted(int(c) for c in order[: count or len(order)])))
    return subsets


def training_classes_curve(
    data: CourseData,
    counts: Sequence[int | None] = DEFAULT_COUNTS,
    recipe: Recipe | None = None,
    loss: str = "batch_hard",
    seed: int = 0,
    runs: list[OneShotRun] | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = False,
) -> list[dict[str, float]]:
    """Train on more and more of ``data``'s training classes at one image budget; score each.

    For each count (None: every training class) a model is trained with
    ``loss`` under ``recipe`` on that many classes of ``data.train`` (nested
    subsets, :func:`nested_class_subsets`), validated on ``data.val``. Each
    row gives ``classes``, ``images`` (the training images available),
    ``map_at_r`` on ``data.test_unseen``, ``one_shot_error`` on the official
    Omniglot runs (``runs``, loaded when None) and training ``seconds``.
    The recipe's budget counts images through the network, so every point
    trains on the same number of images, drawn from fewer or more classes.
    """
    runs = load_one_shot_runs() if runs is None else runs
    rows = []
    for classes in nested_class_subsets(data.train_classes, counts, seed):
        train = data.train.select_classes(classes)
        result = train_embedding(
            loss, train, data.val, recipe, seed, cache_dir=cache_dir, progress=progress
        )
        rows.append({"classes": len(classes), **_scores(result, train, data, runs)})
    return rows


def _scores(result, train: ImageDataset, data: CourseData, runs) -> dict[str, float]:
    """One curve point: its training images, unseen MAP@R, official one-shot error, seconds."""
    unseen = retrieval_metrics(embed(result.model, data.test_unseen), data.test_unseen.labels)
    return {
        "images": len(train),
        "map_at_r": unseen["map_at_r"],
        "one_shot_error": one_shot_error(result.model, runs).mean_error,
        "seconds": result.seconds,
    }


def fixed_drawings_subset(
    train: ImageDataset, characters: int, drawings: int, seed: int = 0
) -> ImageDataset:
    """``characters`` classes of ``train`` with ``drawings`` images of each.

    Classes come from :func:`nested_class_subsets` and each class's images
    from one seeded shuffle, so a larger shape keeps the smaller one's
    classes, and fewer drawings are the first of the more.
    """
    if drawings < 2:
        raise ValueError(
            f"drawings must be at least 2 (an anchor needs a positive), got {drawings}"
        )
    (classes,) = nested_class_subsets(train.classes, (characters,), seed)
    counts = torch.bincount(train.labels)[list(classes)]
    if counts.min() < drawings:
        raise ValueError(
            f"{characters} classes × {drawings} images: a chosen class has only "
            f"{counts.min().item()} images; ask for at most {counts.min().item()} drawings"
        )
    order = torch.from_numpy(np.random.default_rng(seed).permutation(len(train)))
    keep = []
    for c in classes:
        members = order[train.labels[order] == c]
        keep.append(members[:drawings])
    return train.subset(torch.sort(torch.cat(keep)).values)


def identities_curve(
    data: CourseData,
    shapes: Sequence[tuple[int, int]] = DEFAULT_SHAPES,
    recipe: Recipe | None = None,
    loss: str = "batch_hard",
    seed: int = 0,
    runs: list[OneShotRun] | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = False,
) -> list[dict[str, float]]:
    """The same distinct drawings split into more or fewer identities (notebook 05).

    One model per shape: each ``(characters, drawings)`` trains on :func:`fixed_drawings_subset`
    of ``data.train``, validated on ``data.val``, with batches of P = the
    recipe's ``batch_images // drawings`` characters (all of them when fewer)
    × K = ``drawings``: every batch holds every drawing of its characters, so
    with the default shapes (112 drawings each) every batch is the whole
    training set, the steps are the same and only the labels differ. Rows as
    in :func:`training_classes_curve`, with ``drawings`` (per character) added.
    """
    recipe = recipe or Recipe()
    runs = load_one_shot_runs() if runs is None else runs
    rows = []
    for characters, drawings in shapes:
        train = fixed_drawings_subset(data.train, characters, drawings, seed)
        shaped = recipe.with_changes(p=max(2, recipe.batch_images // drawings))
        result = train_embedding(
            loss, train, data.val, shaped, seed, cache_dir=cache_dir, progress=progress
        )
        row = {"classes": characters, "drawings": drawings}
        rows.append(row | _scores(result, train, data, runs))
    return rows
