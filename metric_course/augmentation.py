"""Data augmentation: more drawings of each character, and more characters, for free.

With 20 drawings per character a network soon learns the drawings by heart.
Koch et al. (2015) made more by distorting them a little (:class:`RandomAffine`):
rotate, scale, shear and shift each image at random, so the network must learn
what stays the same (the character) under changes that do not matter (how it
was drawn). Here the whole batch is distorted at once: one random 2×3 affine
matrix per image, applied with ``affine_grid`` and ``grid_sample`` (bilinear
interpolation), on whatever device the batch is on.

A distance for *new* identities needs many identities to learn from.
:func:`rotated_classes` makes more of them: a character turned a quarter turn
is not the same character any more, so each turn counts as a class of its own
(Santoro et al. 2016 and Vinyals et al. 2016 did this on Omniglot).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from .data import ImageDataset


@dataclass(frozen=True)
class RandomAffine:
    """Each image rotated, scaled, sheared and shifted by its own random amounts.

    Every amount is drawn uniformly in ``[-limit, +limit]``: ``rotation`` in
    degrees, ``scale`` as a fraction (0.1: 90%–110% size), ``shear`` as the
    tangent of the shear angle, ``shift`` as a fraction of the image size.
    Koch et al. used ±10°, 0.8–1.2, ±0.3 and ±2 of 105 pixels.
    """

    rotation: float = 10.0
    scale: float = 0.1
    shear: float = 0.3
    shift: float = 0.07

    def __post_init__(self) -> None:
        if min(self.rotation, self.scale, self.shear, self.shift) < 0 or self.scale >= 1:
            raise ValueError(
                "rotation, scale, shear and shift are limits of random amounts: each must be "
                f"at least 0, and scale below 1; got {self}"
            )

    def matrices(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` random (2, 3) affine matrices in ``affine_grid``'s coordinates ([-1, 1])."""

        def uniform(limit: float) -> torch.Tensor:
            return (2 * torch.rand(n, generator=generator) - 1) * limit

        angle = uniform(math.radians(self.rotation))
        scale = 1 + uniform(self.scale)
        shear = uniform(self.shear)
        cos, sin = torch.cos(angle), torch.sin(angle)
        rotate = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
        shear_matrix = torch.eye(2).repeat(n, 1, 1)
        shear_matrix[:, 0, 1] = shear
        linear = rotate @ shear_matrix * scale[:, None, None]
        shift = torch.stack([uniform(2 * self.shift), uniform(2 * self.shift)], -1)
        return torch.cat([linear, shift[:, :, None]], dim=2)

    def __call__(
        self, images: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """The batch ``images`` (N, C, H, W), each distorted at random; zeros fill the edges."""
        if images.ndim != 4 or not images.is_floating_point():
            raise ValueError(
                f"expected a float batch of shape (N, C, H, W), got {images.dtype} of shape "
                f"{tuple(images.shape)}"
            )
        theta = self.matrices(len(images), generator).to(images.device, images.dtype)
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)
        return F.grid_sample(images, grid, mode="bilinear", align_corners=False)


def check_quarter_turns(turns: int, name: str = "quarter_turns") -> None:
    """The one rule for how many quarter turns of each class to keep: 1, 2, 3 or 4."""
    if turns not in (1, 2, 3, 4):
        raise ValueError(
            f"{name} must be 1, 2, 3 or 4 (how many of 0°, 90°, 180° and 270° each class is "
            f"kept at, every turn a class of its own; 1 keeps the data as it is), got {turns!r}"
        )


def rotated_classes(data: ImageDataset, quarter_turns: int = 4) -> ImageDataset:
    """``data`` with each class also turned by 90°, 180°, ...: every turn a class of its own.

    ``quarter_turns`` = 4 keeps each class at 0°, 90°, 180° and 270°, four times
    the classes and the images; 1 returns ``data`` itself. A class turned by
    ``t`` quarter turns gets the label ``label + t * len(class_names)`` and the
    name ``"<name> (turned 90°)"``, so the first classes are the original ones.
    Turn training data only: validation and test sets stay as they were drawn.
    """
    check_quarter_turns(quarter_turns)
    if quarter_turns == 1:
        return data
    n = len(data.class_names)
    turns = range(quarter_turns)
    names = [
        name if t == 0 else f"{name} (turned {90 * t}°)" for t in turns for name in data.class_names
    ]
    drawers = None if data.drawers is None else data.drawers.repeat(quarter_turns)
    return ImageDataset(
        images=torch.cat([torch.rot90(data.images, t, dims=(2, 3)) for t in turns]),
        labels=torch.cat([data.labels + t * n for t in turns]),
        class_names=tuple(names),
        name=f"{data.name}, {quarter_turns} quarter turns",
        source=data.source,
        drawers=drawers,
    )
