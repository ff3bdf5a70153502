"""The embedding network and the choice of device.

A Siamese or triplet network is *one* base network applied to two or three
inputs: the weights are shared, so the same image always lands on the same
point of the embedding space. This module holds that base network: a small
convolutional network that maps an image to a vector of ``embedding_dim``
numbers, quick enough to train on a laptop CPU in seconds.
"""

from __future__ import annotations

import os

import torch
from torch import nn
from torch.nn import functional as F


def get_device(prefer: str | None = None) -> torch.device:
    """Return the best available device: CUDA, then Apple MPS, then the CPU (notebook 00).

    ``prefer`` (or the environment variable ``METRIC_COURSE_DEVICE``) forces a
    device such as ``"cpu"`` or ``"cuda:1"``; it must be available.
    """
    choice = prefer or os.environ.get("METRIC_COURSE_DEVICE")
    if choice:
        try:
            device = torch.device(choice)
        except RuntimeError:
            where = "prefer" if prefer else "METRIC_COURSE_DEVICE"
            raise ValueError(
                f"{where}={choice!r} is not a device name; use 'cuda' (an NVIDIA GPU, or "
                "'cuda:1' for the second), 'mps' (Apple), 'cpu', or unset METRIC_COURSE_DEVICE "
                "to pick automatically"
            ) from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(
                f"device {choice!r} was asked for, but this machine has no CUDA GPU; "
                "use 'cpu', or unset METRIC_COURSE_DEVICE to pick automatically"
            )
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise ValueError(
                f"device {choice!r} was asked for, but Apple MPS is not available here; "
                "use 'cpu', or unset METRIC_COURSE_DEVICE to pick automatically"
            )
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """3×3 convolution, batch normalisation and ReLU: the network's building brick."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class EmbeddingNet(nn.Module):
    """A small CNN that maps an image to an embedding vector.

    Three convolution blocks (the first two followed by 2×2 max pooling), an
    average pool onto a ``pool_size`` × ``pool_size`` grid and one linear
    layer. Adaptive pooling makes the network work on any image size, from the
    8×8 digits to 28×28 Fashion-MNIST.

    Args:
        embedding_dim: length of the output vector (2 makes it drawable).
        normalize: project each embedding onto the unit sphere (L2 norm 1).
            Distances then lie in [0, 2], a margin means the same thing for
            every batch, and the network cannot "cheat" by scaling everything.
        in_channels: 1 for grey images, 3 for colour.
        width: channels of the first block; the next two have 2× and 4×.
        pool_size: 1 averages each feature map to one number (global pooling);
            3 keeps a 3×3 grid, so the embedding still knows *where* in the
            image a feature is: the outline of an object, which helps most on
            classes never seen in training.
    """

    def __init__(
        self,
        embedding_dim: int = 64,
        normalize: bool = True,
        in_channels: int = 1,
        width: int = 16,
        pool_size: int = 1,
    ) -> None:
        super().__init__()
        if embedding_dim < 1:
            raise ValueError(
                f"embedding_dim must be at least 1, got {embedding_dim}; "
                "2 gives an embedding you can plot, 32–128 is usual"
            )
        if in_channels < 1 or width < 1 or pool_size < 1:
            raise ValueError(
                "in_channels, width and pool_size must be positive, got "
                f"{in_channels}, {width} and {pool_size}"
            )
        self.embedding_dim = embedding_dim
        self.normalize = normalize
        self.in_channels = in_channels
        self.features = nn.Sequential(
            _conv_block(in_channels, width),
            nn.MaxPool2d(2, ceil_mode=True),
            _conv_block(width, 2 * width),
            nn.MaxPool2d(2, ceil_mode=True),
            _conv_block(2 * width, 4 * width),
            nn.AdaptiveAvgPool2d(pool_size),
            nn.Flatten(),
        )
        self.head = nn.Linear(4 * width * pool_size**2, embedding_dim)
        # Weights stored channels-last (height, width, channel), the layout of the CPU's
        # fast convolution kernels (oneDNN): a training step runs about 1.4× faster on an
        # x86 CPU (benchmarks/training_step.py) and computes the same function.
        self.to(memory_format=torch.channels_last)

    def _check_images(self, images: torch.Tensor) -> None:
        """A ValueError that says how to fix images of the wrong shape, channels or type."""
        if images.ndim != 4 or images.shape[1] != self.in_channels:
            if images.ndim == 3:
                fix = "add a channel axis with images.unsqueeze(1)"
            elif images.ndim == 4 and self.in_channels == 1 and images.shape[1] == 3:
                fix = (
                    "these are colour images: build the network with in_channels=3, or make "
                    "them grey with images.mean(1, keepdim=True)"
                )
            else:
                fix = "build the network with in_channels equal to the images' channels"
            raise ValueError(
                f"expected images of shape (batch, {self.in_channels}, height, width), "
                f"got {tuple(images.shape)}; {fix}"
            )
        if not images.is_floating_point():
            raise ValueError(
                f"images must be floats in [0, 1], got {images.dtype}; "
                "convert with images.float() / 255"
            )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Embed a batch of images (B, C, H, W) into a (B, embedding_dim) tensor."""
        self._check_images(images)
        embeddings = self.head(self.features(images))
        if self.normalize:
            embeddings = F.normalize(embeddings, dim=1)
        return embeddings
