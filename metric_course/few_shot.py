"""Recognising new identities from one example: the official Omniglot test and fair comparisons.

Two ways to measure one-shot recognition on characters a network never saw:

- **Lake et al.'s 20 official runs** (Science, 2015), the benchmark every
  Omniglot paper reports. Each run is a 20-way one-shot task inside one
  evaluation alphabet: 20 training images (one drawing of each of 20
  characters) and 20 test images (another drawing of each). A test image is
  named by its nearest training image; the error of a run is the share named
  wrongly. People make 4.5% errors; Koch et al.'s Siamese network (2015) 8%.
  :func:`load_one_shot_runs` reads them from ``all_runs.zip`` and
  :func:`one_shot_error` scores any embedding on them.
- **Paired episodes.** 20 runs of 20 tests are only 400 answers, so two
  models a point apart may not really differ. :func:`compare_few_shot` draws
  many N-way K-shot episodes over the unseen characters and scores *both*
  models on the *same* episodes: the per-episode differences cancel the luck
  of the draw (an easy episode is easy for both), so the 95% interval of the
  mean difference is much tighter than comparing two separate intervals.

Both use Euclidean distances, like the rest of the course.
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .data.omniglot import decode_character_image, verified_omniglot_file, zip_members
from .evaluation import CLASSIFIERS, check_embeddings_and_labels, embed
from .neighbours import nearest_neighbours

Embedding = nn.Module | Callable[[torch.Tensor], torch.Tensor]


# --------------------------------------------------------------------------- the official runs


@dataclass(frozen=True, repr=False)
class OneShotRun:
    """One of Lake et al.'s 20-way one-shot runs.

    ``training_images`` (20, 1, 28, 28): one drawing of each character;
    ``test_images`` (20, 1, 28, 28): another drawing of each, in another
    order; ``answers[i]`` is the index of the training image showing the
    character of test image ``i`` (from the run's ``class_labels.txt``).
    """

    name: str
    training_images: torch.Tensor
    test_images: torch.Tensor
    answers: torch.Tensor

    def __repr__(self) -> str:
        return (
            f"OneShotRun({self.name!r}: {len(self.training_images)}-way, "
            f"{len(self.test_images)} test images)"
        )


def _parse_runs(archive: zipfile.ZipFile) -> list[OneShotRun]:
    def image(member: str) -> torch.Tensor:
        pixels = decode_character_image(archive.read(member))
        return torch.from_numpy(pixels[None].astype(np.float32) / 255)

    runs = []
    names = sorted({member.split("/")[0] for member in zip_members(archive) if "/" in member})
    for name in names:
        lines = archive.read(f"{name}/class_labels.txt").decode().split()
        tests, trainings = lines[0::2], lines[1::2]
        training_files = sorted(set(trainings))
        answers = [training_files.index(file) for file in trainings]
        runs.append(
            OneShotRun(
                name=name,
                training_images=torch.stack([image(file) for file in training_files]),
                test_images=torch.stack([image(file) for file in tests]),
                answers=torch.tensor(answers),
            )
        )
    return runs


@lru_cache(maxsize=2)
def _runs_from(path: Path) -> tuple[OneShotRun, ...]:
    with zipfile.ZipFile(path) as archive:
        return tuple(_parse_runs(archive))


def load_one_shot_runs(data_dir: str | Path | None = None) -> list[OneShotRun]:
    """Lake et al.'s 20 official 20-way one-shot runs, 28×28, strokes bright (notebook 01).

    Read from ``omniglot/all_runs.zip`` in the course data folder (checked
    by MD5); see :mod:`metric_course.data.omniglot` for how to get it.
    """
    return read_one_shot_runs(verified_omniglot_file("all_runs.zip", data_dir))


def read_one_shot_runs(path: str | Path) -> list[OneShotRun]:
    """The runs of a zip laid out like ``all_runs.zip`` (``runNN/class_labels.txt``, ...).

    Decoded once per file; a Mac's ``__MACOSX/`` entries are ignored.
    """
    return list(_runs_from(Path(path)))


def pixel_embedding(images: torch.Tensor, normalize: bool = False) -> torch.Tensor:
    """The raw-pixel baseline: each image as one long vector of its pixels (notebook 01).

    ``normalize=True`` scales each vector to length 1, so that distances
    compare directions (cosine), as the course's networks' embeddings do.
    """
    pixels = images.flatten(1)
    return F.normalize(pixels, dim=1) if normalize else pixels


def _embedder(embedding: Embedding) -> Callable[[torch.Tensor], torch.Tensor]:
    if isinstance(embedding, nn.Module):
        return lambda images: embed(embedding, images)
    if callable(embedding):
        return embedding
    raise TypeError(
        f"pass a network or a function from images to embeddings, got {type(embedding).__name__}"
    )


@dataclass(frozen=True)
class OneShotResult:
    """The error of each run and their mean: the number papers report."""

    errors: tuple[float, ...]

    @property
    def mean_error(self) -> float:
        return float(np.mean(self.errors))

    def __str__(self) -> str:
        return f"{100 * self.mean_error:.1f}% error on {len(self.errors)} one-shot runs"


@torch.no_grad()
def one_shot_error(embedding: Embedding, runs: list[OneShotRun] | None = None) -> OneShotResult:
    """Score ``embedding`` (a network, or images -> embeddings) on one-shot runs (notebook 01).

    Each test image is named by its nearest training image (1-nearest
    neighbour, Euclidean distance in the embedding). ``runs`` defaults to
    :func:`load_one_shot_runs`; ``one_shot_error(pixel_embedding)`` is the
    raw-pixel baseline.
    """
    runs = load_one_shot_runs() if runs is None else runs
    if not runs:
        raise ValueError("no runs to score; pass load_one_shot_runs() or a list of OneShotRun")
    to_vectors = _embedder(embedding)
    errors = []
    for run in runs:
        found = nearest_neighbours(to_vectors(run.test_images), to_vectors(run.training_images), 1)
        named = found.indices[:, 0].cpu()
        errors.append((named != run.answers).sum().item() / len(run.answers))
    return OneShotResult(tuple(errors))


# --------------------------------------------------------------------------- paired episodes


@dataclass(frozen=True)
class Episode:
    """Indices of one N-way K-shot episode: ``support`` to enrol, ``queries`` to name."""

    support: torch.Tensor
    queries: torch.Tensor


def draw_episodes(
    labels: torch.Tensor,
    n_way: int = 20,
    k_shot: int = 1,
    n_query: int = 5,
    episodes: int = 1000,
    seed: int = 0,
) -> list[Episode]:
    """Draw ``episodes`` N-way K-shot episodes, the same ones for every model (notebook 05).

    Each picks ``n_way`` classes at random, then ``k_shot`` support and
    ``n_query`` query items of each (all distinct).
    """
    labels = torch.as_tensor(labels).long()
    if n_way < 2 or k_shot < 1 or n_query < 1 or episodes < 1:
        raise ValueError("need n_way >= 2, k_shot >= 1, n_query >= 1 and episodes >= 1")
    classes, counts = labels.unique(return_counts=True)
    eligible = classes[counts >= k_shot + n_query]
    if len(eligible) < n_way:
        raise ValueError(
            f"{n_way}-way {k_shot}-shot episodes with {n_query} queries need {n_way} classes "
            f"with at least {k_shot + n_query} items each, but only {len(eligible)} have that; "
            "lower n_way, k_shot or n_query"
        )
    generator = torch.Generator().manual_seed(seed)
    by_class = {int(c): torch.nonzero(labels == c).squeeze(1) for c in eligible}
    drawn = []
    for _ in range(episodes):
        chosen = eligible[torch.randperm(len(eligible), generator=generator)[:n_way]]
        support, queries = [], []
        for c in chosen.tolist():
            members = by_class[c][torch.randperm(len(by_class[c]), generator=generator)]
            support.append(members[:k_shot])
            queries.append(members[k_shot : k_shot + n_query])
        drawn.append(Episode(torch.cat(support), torch.cat(queries)))
    return drawn


def episode_accuracies(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    episodes: list[Episode],
    method: str = "nearest_neighbour",
) -> np.ndarray:
    """The share of queries named right in each episode, one number each (notebook 05)."""
    if method not in CLASSIFIERS:
        raise ValueError(f"unknown method {method!r}; choose one of {sorted(CLASSIFIERS)}")
    embeddings, labels = torch.as_tensor(embeddings).float(), torch.as_tensor(labels).long()
    check_embeddings_and_labels(embeddings, labels)
    classify = CLASSIFIERS[method]
    accuracies = np.empty(len(episodes))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: extra threads cost more than they save
    try:
        for i, episode in enumerate(episodes):
            named = classify(
                embeddings[episode.support], labels[episode.support], embeddings[episode.queries]
            )
            accuracies[i] = (named == labels[episode.queries]).float().mean().item()
    finally:
        torch.set_num_threads(threads)
    return accuracies


def mean_and_ci95(values: np.ndarray) -> tuple[float, float]:
    """The mean of per-episode ``values`` and the half-width of its 95% interval (notebook 05).

    The interval is ± 1.96 standard errors (sample standard deviation / √n),
    NaN for a single value. Applied to the per-episode *differences* of two
    models scored on the same episodes, it is a paired comparison: the
    episodes' own difficulty cancels, and the interval is much narrower than
    either model's.
    """
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        raise ValueError("no values to average: score at least one episode")
    ci95 = 1.96 * values.std(ddof=1) / math.sqrt(values.size) if values.size > 1 else math.nan
    return float(values.mean()), float(ci95)


@dataclass(frozen=True)
class FewShotResult:
    """Accuracy over many N-way K-shot episodes, with a 95% confidence interval."""

    accuracy: float
    ci95: float
    episodes: int
    n_way: int
    k_shot: int
    method: str

    def __str__(self) -> str:
        return (
            f"{self.n_way}-way {self.k_shot}-shot ({self.method}): "
            f"{100 * self.accuracy:.1f}% ± {100 * self.ci95:.1f}"
        )


def few_shot_accuracy(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    n_way: int = 20,
    k_shot: int = 1,
    n_query: int = 5,
    episodes: int = 1000,
    method: str = "nearest_neighbour",
    seed: int = 0,
) -> FewShotResult:
    """Mean accuracy of ``episodes`` N-way K-shot episodes, with a 95% interval.

    The episodes are those of :func:`draw_episodes` with the same arguments;
    ``method`` names the queries ("nearest_neighbour", the rule of Lake et
    al.'s official runs and the default of every function here, or
    "prototype"). The
    interval is mean ± 1.96 standard errors over episodes. To compare two
    models, score both on the same episodes with :func:`compare_few_shot`.
    """
    check_embeddings_and_labels(torch.as_tensor(embeddings), torch.as_tensor(labels))
    if method not in CLASSIFIERS:
        raise ValueError(f"unknown method {method!r}; choose one of {sorted(CLASSIFIERS)}")
    drawn = draw_episodes(labels, n_way, k_shot, n_query, episodes, seed)
    accuracies = episode_accuracies(embeddings, labels, drawn, method)
    accuracy, ci95 = mean_and_ci95(accuracies)
    return FewShotResult(accuracy, ci95, episodes, n_way, k_shot, method)


@dataclass(frozen=True)
class PairedComparison:
    """Two models scored on the same episodes: their accuracies and the paired difference."""

    accuracy_a: float
    accuracy_b: float
    difference: float  # accuracy_a - accuracy_b
    ci95: float  # half-width of the 95% interval of the difference
    episodes: int
    n_way: int
    k_shot: int

    @property
    def significant(self) -> bool:
        """Whether the interval of the difference excludes zero."""
        return abs(self.difference) > self.ci95

    def __str__(self) -> str:
        return (
            f"{self.n_way}-way {self.k_shot}-shot, {self.episodes} paired episodes: "
            f"A {100 * self.accuracy_a:.1f}%, B {100 * self.accuracy_b:.1f}%, "
            f"A − B = {100 * self.difference:+.1f} ± {100 * self.ci95:.1f} points"
        )


def compare_few_shot(
    embeddings_a: torch.Tensor,
    embeddings_b: torch.Tensor,
    labels: torch.Tensor,
    n_way: int = 20,
    k_shot: int = 1,
    n_query: int = 5,
    episodes: int = 1000,
    method: str = "nearest_neighbour",
    seed: int = 0,
) -> PairedComparison:
    """Compare two embeddings on the same N-way K-shot episodes of the same images (notebook 01).

    The interval is the mean per-episode difference ± 1.96 standard errors
    of that difference (a paired comparison).
    """
    if len(embeddings_a) != len(embeddings_b):
        raise ValueError(
            f"both embeddings must be of the same images: got {len(embeddings_a)} and "
            f"{len(embeddings_b)} rows"
        )
    drawn = draw_episodes(labels, n_way, k_shot, n_query, episodes, seed)
    a = episode_accuracies(embeddings_a, labels, drawn, method)
    b = episode_accuracies(embeddings_b, labels, drawn, method)
    difference, ci95 = mean_and_ci95(a - b)
    return PairedComparison(
        float(a.mean()), float(b.mean()), difference, ci95, episodes, n_way, k_shot
    )
