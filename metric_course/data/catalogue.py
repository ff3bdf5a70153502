"""Every dataset of the course by name: ``load_dataset(name, split)`` (notebook 00 loads each).

Fashion-MNIST (:mod:`.fashion_mnist`) and Omniglot background-small
(:mod:`.omniglot`) are the course's own; scikit-learn's 8×8 digits ship with
scikit-learn and always work; MNIST and Omniglot's full sets come through
torchvision and need a download once.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from .dataset import ImageDataset
from .fashion_mnist import check_split, load_fashion_mnist
from .files import DatasetNotFoundError, data_search_dirs, default_data_dir
from .omniglot import IMAGE_SIZE, load_omniglot_small

DIGIT_CLASSES: tuple[str, ...] = tuple(str(digit) for digit in range(10))
DATASET_NAMES: tuple[str, ...] = ("fashion-mnist", "digits", "mnist", "omniglot", "omniglot-small")
TORCHVISION_SETS: tuple[str, ...] = ("mnist", "omniglot")
DIGITS_TEST_FRACTION = 0.3


def dataset_key(name: str) -> str:
    """``name`` as :data:`DATASET_NAMES` writes it (``"Fashion_MNIST"`` -> ``"fashion-mnist"``)."""
    return name.lower().replace("_", "-")


# --------------------------------------------------------------------------- digits


@lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    train, test = train_test_split(
        np.arange(len(digits.target)),
        test_size=DIGITS_TEST_FRACTION,
        stratify=digits.target,
        random_state=0,
    )
    images = (digits.images / 16).astype(np.float32)
    return images, digits.target, {"train": np.sort(train), "test": np.sort(test)}


def load_digits_dataset(split: str = "train") -> ImageDataset:
    """scikit-learn's handwritten digits, 8×8, scaled to [0, 1]: always there, no download.

    A fixed stratified split (seed 0) keeps ``DIGITS_TEST_FRACTION`` of each
    digit for ``"test"``.
    """
    check_split(split)
    images, labels, splits = _digits_arrays()
    import sklearn

    return ImageDataset(
        images=torch.from_numpy(images[splits[split], None]),
        labels=torch.from_numpy(labels[splits[split]].astype(np.int64)),
        class_names=DIGIT_CLASSES,
        name=f"digits {split}",
        source=f"scikit-learn {sklearn.__version__} (bundled)",
    )


# --------------------------------------------------------------------------- torchvision


def _open_torchvision(name: str, split: str, root: Path, download: bool):
    """The torchvision dataset object for MNIST or Omniglot under ``root``."""
    from torchvision import datasets

    if name == "mnist":
        return datasets.MNIST(root, train=split == "train", download=download)
    return datasets.Omniglot(root, background=split == "train", download=download)


def find_torchvision_set(name: str, split: str, data_dir: str | Path | None = None) -> Path | None:
    """The first course data folder where torchvision finds ``name`` (mnist, omniglot), or None."""
    for root in data_search_dirs(data_dir):
        try:
            _open_torchvision(name, split, root, download=False)
        except RuntimeError:
            continue
        return root
    return None


def download_torchvision_set(
    name: str, data_dir: str | Path | None = None, splits: tuple[str, ...] = ("train", "test")
) -> str:
    """Download ``splits`` of ``name`` (mnist or omniglot) into the data folder; say so."""
    root = default_data_dir(data_dir)
    try:
        for split in splits:
            _open_torchvision(name, split, root, download=True)
    except (RuntimeError, OSError) as error:
        raise DatasetNotFoundError(
            f"downloading {name} into {root} failed ({error}). It comes through torchvision and "
            f"needs network once: run `python -m metric_course.data download --{name}` on a "
            "connected machine and copy the data folder. Offline, use "
            "load_dataset('fashion-mnist') or load_dataset('digits')."
        ) from error
    return f"{name}: downloaded with torchvision into {root}, verified"


@lru_cache(maxsize=2)
def _omniglot_arrays(root: Path, split: str) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Omniglot's 105×105 black-on-white PNGs, resized to 28×28 and inverted.

    Inverting makes strokes bright on a dark background, as in (Fashion-)MNIST.
    Decoding every PNG takes a while, so the result is remembered.
    """
    from PIL import Image

    omniglot = _open_torchvision("omniglot", split, root, download=False)
    images = np.empty((len(omniglot), 1, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    labels = np.empty(len(omniglot), dtype=np.int64)
    for i in range(len(omniglot)):
        image, labels[i] = omniglot[i]
        small = image.convert("L").resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR)
        images[i, 0] = 1 - np.asarray(small, dtype=np.float32) / 255
    images.flags.writeable = labels.flags.writeable = False
    return images, labels, tuple(omniglot._characters)  # "alphabet/character" names


def _load_torchvision(
    name: str, split: str, data_dir: str | Path | None, download: bool
) -> ImageDataset:
    """MNIST or Omniglot from the course data folders, downloaded first if asked."""
    root = find_torchvision_set(name, split, data_dir)
    if root is None and not download:
        looked = ", ".join(map(str, data_search_dirs(data_dir))) or "no folder"
        raise DatasetNotFoundError(
            f"{name} ({split}) was not found in {looked}. "
            "It comes through torchvision and needs network once: pass download=True, or "
            f"run `python -m metric_course.data download --{name}` on a connected machine "
            "and copy the data folder. Offline, use load_dataset('fashion-mnist') or "
            "load_dataset('digits')."
        )
    if root is None:
        download_torchvision_set(name, data_dir, (split,))
        root = default_data_dir(data_dir)
    dataset = _open_torchvision(name, split, root, download=False)
    source = f"{dataset.root} (torchvision)"
    if name == "mnist":
        images, labels, class_names = dataset.data[:, None] / 255, dataset.targets, DIGIT_CLASSES
    else:
        images, labels, class_names = _omniglot_arrays(root, split)
        images, labels = torch.tensor(images), torch.tensor(labels)
    return ImageDataset(images, labels, class_names, name=f"{name} {split}", source=source)


# --------------------------------------------------------------------------- by name


def load_dataset(
    name: str,
    split: str = "train",
    data_dir: str | Path | None = None,
    download: bool = False,
) -> ImageDataset:
    """Load one of ``DATASET_NAMES`` as an :class:`ImageDataset` (notebook 00).

    - ``"fashion-mnist"``: 28×28 clothing, 10 classes (:func:`load_fashion_mnist`);
    - ``"digits"``: scikit-learn's 8×8 digits, always available offline;
    - ``"mnist"``: 28×28 handwritten digits, torchvision, needs a download once;
    - ``"omniglot"``: handwritten characters of many alphabets, few images of
      each, resized to 28×28; ``"train"`` is the background set and ``"test"``
      the evaluation set, whose characters are all different (already
      class-disjoint). torchvision, needs a download once.
    - ``"omniglot-small"``: Omniglot's 8 background-small alphabets (242
      characters, 4,840 images, 28×28) from the course data folder
      (:mod:`metric_course.data.omniglot`); one set, split by alphabet with
      ``course_data("omniglot-small")``.
    """
    key = dataset_key(name)
    if key not in DATASET_NAMES:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASET_NAMES)}")
    if key == "omniglot-small":
        if split != "train":
            raise ValueError(
                "omniglot-small is one set of 8 alphabets (load it with split='train'); split it "
                "by alphabet with course_data('omniglot-small'), and test one-shot recognition "
                "with metric_course.few_shot.load_one_shot_runs()"
            )
        return load_omniglot_small(data_dir, download)
    check_split(split)
    if key == "fashion-mnist":
        return load_fashion_mnist(split, data_dir, download)
    if key == "digits":
        return load_digits_dataset(split)
    return _load_torchvision(key, split, data_dir, download)
