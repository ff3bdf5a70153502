"""Random affine distortions of a batch, and classes turned into new classes."""

import math

import pytest
import torch

from metric_course.augmentation import RandomAffine, rotated_classes
from metric_course.data import ImageDataset


def centre_of_mass(images: torch.Tensor) -> torch.Tensor:
    """(N, 2) row and column of each image's centre of brightness, in pixels."""
    size = images.shape[-1]
    coords = torch.arange(size, dtype=torch.float32)
    mass = images.sum((1, 2, 3))
    rows = (images.sum((1, 3)) * coords).sum(1) / mass
    cols = (images.sum((1, 2)) * coords).sum(1) / mass
    return torch.stack([rows, cols], 1)


def test_no_distortion_leaves_the_images_alone():
    images = torch.rand(5, 1, 28, 28)
    still = RandomAffine(rotation=0, scale=0, shear=0, shift=0)
    assert torch.allclose(still(images), images, atol=1e-5)


def test_each_image_gets_its_own_matrix_within_the_limits():
    matrices = RandomAffine(rotation=30, scale=0, shear=0, shift=0.1).matrices(
        500, torch.Generator().manual_seed(0)
    )
    linear, shift = matrices[:, :, :2], matrices[:, :, 2]
    angles = torch.atan2(linear[:, 1, 0], linear[:, 0, 0])
    assert torch.allclose(
        linear @ linear.transpose(1, 2), torch.eye(2).expand(500, 2, 2), atol=1e-6
    )
    assert angles.abs().max() <= math.radians(30) and angles.abs().max() > math.radians(25)
    assert shift.abs().max() <= 0.2 and shift.abs().max() > 0.18  # 0.1 of the size = 0.2 in [-1, 1]
    assert len(torch.unique(angles)) == 500


def test_shifts_move_the_strokes_by_at_most_the_limit():
    images = torch.zeros(200, 1, 28, 28)
    images[:, :, 12:16, 12:16] = 1
    shifted = RandomAffine(rotation=0, scale=0, shear=0, shift=0.1)(
        images, torch.Generator().manual_seed(1)
    )
    moved = centre_of_mass(shifted) - centre_of_mass(images)
    assert moved.abs().max() <= 0.1 * 28 + 1e-3 and moved.abs().max() > 2
    assert shifted.sum((1, 2, 3)).sub(16).abs().max() < 1e-3  # the square stays whole


def test_the_same_generator_gives_the_same_batch_and_bad_input_is_named():
    images = torch.rand(4, 1, 28, 28)
    augment = RandomAffine()
    first = augment(images, torch.Generator().manual_seed(3))
    assert torch.equal(first, augment(images, torch.Generator().manual_seed(3)))
    assert not torch.allclose(first, images)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        augment(images[0])
    with pytest.raises(ValueError, match="scale below 1"):
        RandomAffine(scale=1.5)


def test_each_quarter_turn_of_a_class_is_a_class_of_its_own():
    images = torch.zeros(3, 1, 4, 4)
    images[:, 0, 0, 3] = 1  # a stroke in the top-right corner
    data = ImageDataset(
        images, torch.tensor([0, 1, 1]), ("a", "b"), name="tiny", drawers=torch.arange(3)
    )
    turned = rotated_classes(data)
    assert turned.labels.tolist() == [0, 1, 1, 2, 3, 3, 4, 5, 5, 6, 7, 7]
    assert turned.class_names[:3] == ("a", "b", "a (turned 90°)")
    assert turned.class_names[-1] == "b (turned 270°)"
    corners = [tuple(image[0].nonzero()[0].tolist()) for image in turned.images[::3]]
    assert corners == [(0, 3), (0, 0), (3, 0), (3, 3)]  # counter-clockwise, a quarter each
    assert turned.drawers.tolist() == [0, 1, 2] * 4
    assert rotated_classes(data, 1) is data
    assert rotated_classes(data, 2).labels.tolist() == [0, 1, 1, 2, 3, 3]
    with pytest.raises(ValueError, match="quarter_turns must be 1, 2, 3 or 4"):
        rotated_classes(data, 0)
