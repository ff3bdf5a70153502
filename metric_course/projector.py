"""Take an embedding space to TensorBoard's Embedding Projector.

The projector (``tensorboard --logdir DIR``, then the "Projector" tab, or
https://projector.tensorflow.org with the files loaded by hand) shows the
vectors with PCA, t-SNE or UMAP, their labels and their images. PyTorch's
``SummaryWriter.add_embedding`` writes its format: ``tensors.tsv`` (one
vector per line), ``metadata.tsv`` (the labels), ``sprite.png`` (every image
tiled) and ``projector_config.pbtxt`` (which file is which). Needs the
``tensorboard`` package: ``pip install -e '.[projector]'``.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .labels import as_labels
from .widgets.drawing import as_images, class_name_list

EXPORT_FILES = frozenset({"tensors.tsv", "metadata.tsv", "sprite.png"})
CONFIG_FILE = "projector_config.pbtxt"


def export_projector(
    log_dir: str | Path,
    embeddings,
    labels,
    images=None,
    class_names: Sequence[str] | None = None,
    tag: str = "embedding",
) -> Path:
    """Write embeddings for TensorBoard's Embedding Projector (notebook 06).

    ``embeddings`` (N, D), their class names and optionally ``images``.
    Returns the folder holding ``tensors.tsv``, ``metadata.tsv`` and
    ``sprite.png``; ``projector_config.pbtxt`` goes in ``log_dir``. Grey
    images are written on one scale for all, dark ink on white (as the
    course's figures show them). An earlier export of the same ``tag`` in
    ``log_dir`` is replaced; exports of other tags are kept, so one log
    folder can hold "before" and "after" training side by side. Open with
    ``tensorboard --logdir log_dir``.
    """
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as error:
        raise ImportError(
            "the projector export needs the tensorboard package: pip install tensorboard "
            "(or pip install -e '.[projector]' in the course's folder)"
        ) from error
    matrix = torch.as_tensor(np.asarray(embeddings), dtype=torch.float32)
    if matrix.ndim != 2:
        raise ValueError(f"embeddings must be (N, D), got shape {tuple(matrix.shape)}")
    if not torch.isfinite(matrix).all():
        raise ValueError("embeddings hold NaN or infinite values; the projector cannot place them")
    labels = as_labels(labels)
    if len(labels) != len(matrix):
        raise ValueError(f"got {len(labels)} labels for {len(matrix)} embeddings")
    names = class_name_list(labels, class_names)
    sprite = None if images is None else _sprite_images(images, len(matrix))
    log_dir = Path(log_dir)
    folder = log_dir / "00000" / tag
    if folder.is_dir():
        others = sorted({path.name for path in folder.iterdir()} - EXPORT_FILES)
        if others:
            raise ValueError(
                f"{folder} holds files that are not a projector export ({', '.join(others)}); "
                "choose another log_dir or tag"
            )
        shutil.rmtree(folder)
    kept = _other_exports(log_dir, tag)
    with SummaryWriter(log_dir=str(log_dir)) as writer:
        writer.add_embedding(
            matrix, metadata=[names[label] for label in labels], label_img=sprite, tag=tag
        )
    if kept:  # the writer knows only its own export: put the other tags back in the config
        _add_to_config(log_dir, kept)
    return folder


def _read_config(log_dir: Path):
    """``log_dir``'s projector_config.pbtxt as a ProjectorConfig (empty when there is none)."""
    from google.protobuf import text_format
    from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig

    config = ProjectorConfig()
    path = log_dir / CONFIG_FILE
    if path.is_file():
        text_format.Parse(path.read_text(encoding="utf-8"), config)
    return config


def _other_exports(log_dir: Path, tag: str) -> list:
    """The embeddings in ``log_dir``'s config that are not exports of ``tag``."""
    own_folder = f"00000/{tag}/"
    return [
        entry
        for entry in _read_config(log_dir).embeddings
        if not entry.tensor_path.startswith(own_folder)
    ]


def _add_to_config(log_dir: Path, entries: list) -> None:
    from google.protobuf import text_format

    config = _read_config(log_dir)
    new = list(config.embeddings)
    del config.embeddings[:]
    config.embeddings.extend([*entries, *new])
    (log_dir / CONFIG_FILE).write_text(text_format.MessageToString(config), encoding="utf-8")


def _sprite_images(images, n: int) -> torch.Tensor:
    """(N, C, H, W) in [0, 1] as the projector's sprite wants them; grey drawn dark on white."""
    pictures = as_images(images, n)
    if pictures.ndim == 3:
        low, high = min(0.0, pictures.min()), max(1.0, pictures.max())
        return torch.as_tensor(1 - (pictures - low) / (high - low), dtype=torch.float32)[:, None]
    return torch.as_tensor(np.clip(pictures, 0, 1), dtype=torch.float32).permute(0, 3, 1, 2)
