"""``ImageDataset``: images with integer labels, what every part of the course passes around.

Notebook 00 loads some and notebook 06 builds one from tensors; every loader
of the package returns one, and the class-disjoint parts of
:mod:`metric_course.data.splits` are made of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(repr=False)
class ImageDataset:
    """Images with integer labels: what every part of the course passes around (notebook 06).

    ``images`` is a float32 tensor (N, 1, H, W) with values in [0, 1];
    ``labels`` an int64 tensor (N,) whose values index ``class_names``;
    ``name`` says which dataset and split; ``source`` where it was found;
    ``drawers``, when known (Omniglot), which person drew each image.
    Indexing gives ``(image, label)``, so it works with a ``DataLoader``
    (and with ``PKSampler`` as its ``batch_sampler``).
    """

    images: torch.Tensor
    labels: torch.Tensor
    class_names: tuple[str, ...]
    name: str = ""
    source: str = ""
    drawers: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.images, torch.Tensor) or self.images.ndim != 4:
            shape = tuple(getattr(self.images, "shape", ()))
            raise ValueError(
                f"images must be a (N, channels, height, width) tensor, got shape {shape}; "
                "add the channel axis with images.unsqueeze(1)"
            )
        if not self.images.is_floating_point():
            raise ValueError(
                f"images must be floats in [0, 1], got {self.images.dtype}; "
                "convert with images.float() / 255"
            )
        self.labels = whole_numbers(torch.as_tensor(self.labels), "labels")
        self.class_names = tuple(self.class_names)
        if self.labels.ndim != 1 or len(self.labels) != len(self.images):
            raise ValueError(
                f"{len(self.images)} images but labels of shape {tuple(self.labels.shape)}; "
                "pass one label per image"
            )
        if len(self.labels) and (
            self.labels.min() < 0 or self.labels.max() >= len(self.class_names)
        ):
            raise ValueError(
                f"labels must lie in 0..{len(self.class_names) - 1} (one per class name), got "
                f"{self.labels.min().item()}..{self.labels.max().item()}"
            )

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index], self.labels[index]

    def __repr__(self) -> str:
        shape = "×".join(str(size) for size in self.images.shape[1:])
        return (
            f"ImageDataset({self.name!r}: {len(self)} images of {shape}, "
            f"{len(self.classes)} classes, from {self.source})"
        )

    @property
    def classes(self) -> tuple[int, ...]:
        """The label ids present, sorted."""
        return tuple(torch.unique(self.labels).tolist())

    def subset(self, indices: Sequence[int] | torch.Tensor | np.ndarray) -> ImageDataset:
        """The images at ``indices``, with their labels (and drawers), class names and source."""
        indices = torch.as_tensor(np.asarray(indices), dtype=torch.long)
        drawers = None if self.drawers is None else self.drawers[indices]
        return ImageDataset(
            self.images[indices],
            self.labels[indices],
            self.class_names,
            self.name,
            self.source,
            drawers,
        )

    def select_classes(self, classes: Sequence[int]) -> ImageDataset:
        """The images of ``classes`` only; labels keep their original ids."""
        classes = check_class_ids(classes, len(self.class_names), "classes")
        keep = torch.isin(self.labels, torch.tensor(classes, dtype=torch.long))
        return self.subset(torch.nonzero(keep).flatten())


def whole_numbers(values: torch.Tensor, what: str) -> torch.Tensor:
    """``values`` as int64, refusing fractions (1.5 would silently become class 1)."""
    if values.is_floating_point() and not torch.equal(values, values.round()):
        fractions = values[values != values.round()].unique()[:5].tolist()
        raise ValueError(
            f"{what} must be whole numbers (class ids), got {fractions}; a fraction would be "
            "cut to a wrong class. Map each class to an integer id, e.g. with np.unique("
            "values, return_inverse=True)"
        )
    return values.long()


def check_class_ids(classes: Sequence[int], num_classes: int, what: str) -> tuple[int, ...]:
    """``classes`` as a tuple of distinct ints in ``0..num_classes - 1``; a clear error if not."""
    classes = tuple(whole_numbers(torch.as_tensor(classes), what).tolist())
    bad = [c for c in classes if not 0 <= c < num_classes]
    if bad or len(set(classes)) != len(classes):
        raise ValueError(
            f"{what} must be distinct class ids in 0..{num_classes - 1}, got {classes}"
        )
    return classes


def cap_per_class(data: ImageDataset, max_per_class: int | None, seed: int = 0) -> ImageDataset:
    """At most ``max_per_class`` images of each class, a reproducible choice (notebook 01).

    Each class is shuffled by its own generator, seeded by ``(seed, class)``,
    and its first images are kept, in their original order: the choice for
    one class does not depend on the others, and a smaller cap keeps a subset
    of a larger one.
    """
    if max_per_class is None:
        return data
    if max_per_class < 1:
        raise ValueError(f"max_per_class must be at least 1 (or None for all), got {max_per_class}")
    labels = data.labels.numpy()
    keep = [
        np.random.default_rng([seed, c]).permutation(np.flatnonzero(labels == c))[:max_per_class]
        for c in data.classes
    ]
    return data.subset(np.sort(np.concatenate(keep)))
