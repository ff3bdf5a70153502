"""The course's datasets: where they are found, how they are checked, how they are split.

**Class-disjoint splits.** Metric learning promises that a network trained on
some classes can compare images of classes it has never seen, the way a face
recognition system recognises people who joined after it was trained. To
measure that promise honestly we split the *classes*, not only the images:

- **seen** classes are the only ones training ever touches;
- **unseen** classes play the "new people": the course measures every model on
  them, from the test images, and never trains or tunes anything on them.

With Fashion-MNIST the default split (``SPLITS["default"]``) trains on classes
0–6 (T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt) and keeps 7–9
(Sneaker, Bag, Ankle boot) unseen. Other named splits are in :data:`SPLITS`;
any tuple of seen classes works too.

**Validation without peeking.** Early stopping needs a score measured on data
the model does not train on, and it must not be the unseen test classes, or
the "unseen" number is tuned on. :func:`course_data` can therefore hold some
*seen* classes out of training (``val_classes``): the validation score then
asks the same question as the test ("how well does the model compare images of
classes it never trained on?") without touching the test classes. The parts:

========================  ==========================================  ==============
part                      classes                                     images from
========================  ==========================================  ==============
``train``                 seen classes minus ``val_classes``          training file
``val``                   ``val_classes`` (None when there are none)  training file
``test_seen``             the classes ``train`` holds                 test file
``test_unseen``           unseen classes                              test file
========================  ==========================================  ==============

``max_per_class`` and ``max_test_per_class`` keep a seeded random subset of
each class for quick runs; a smaller cap keeps a subset of a larger one.

**Where Fashion-MNIST is found**, in order:

1. the course data folder: the ``data_dir`` argument, else the folder named by
   the environment variable ``METRIC_COURSE_DATA``, else the ``data/`` folder
   of the course repository (found from this file, or from the working
   directory and its parents, so notebooks running in ``notebooks/`` find it);
   inside it, ``fashion-mnist/`` (or torchvision's ``FashionMNIST/raw/``);
2. the Debian/Ubuntu package ``dataset-fashion-mnist``
   (``/usr/share/datasets/fashion-mnist/``);
3. a download through torchvision into the data folder, only with
   ``download=True``.

**Every file is verified** (size and MD5 checksum of the decompressed bytes,
then the IDX header) before it is decoded: a truncated download would
otherwise decode into images that look plausible and silently ruin a run.
Both ``.gz`` and uncompressed files are accepted.

The scikit-learn digits (8×8 images) ship with scikit-learn and always work.
MNIST and Omniglot come through torchvision and need a download once.

From a shell, for instructors preparing a classroom without network::

    python -m metric_course.data download [--data-dir DIR] [--mnist] [--omniglot]

``download`` always fetches Fashion-MNIST and Omniglot's small official files
(:mod:`metric_course.omniglot`); ``--mnist`` and ``--omniglot`` add the
torchvision sets.
    python -m metric_course.data info
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import shutil
import struct
import sys
import tempfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
DIGIT_CLASSES: tuple[str, ...] = tuple(str(digit) for digit in range(10))
DATASET_NAMES: tuple[str, ...] = ("fashion-mnist", "digits", "mnist", "omniglot", "omniglot-small")

DATA_ENV = "METRIC_COURSE_DATA"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
REPO_ROOT = Path(__file__).resolve().parents[1]

# Size in bytes and MD5 of each *decompressed* IDX file. (The Debian package
# recompresses the files, so checksums of the .gz files would differ.)
FASHION_MNIST_FILES: dict[str, tuple[int, str]] = {
    "train-images-idx3-ubyte": (47_040_016, "f4a8712d7a061bf5bd6d2ca38dc4d50a"),
    "train-labels-idx1-ubyte": (60_008, "9018921c3c673c538a1fc5bad174d6f9"),
    "t10k-images-idx3-ubyte": (7_840_016, "8181f5470baa50b63fa0f6fddb340f0a"),
    "t10k-labels-idx1-ubyte": (10_008, "15d484375f8d13e6eb1aabb0c3f46965"),
}
SPLIT_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

DEFAULT_SEEN_CLASSES: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6)
SPLITS: dict[str, tuple[int, ...]] = {
    # Unseen: Sneaker, Bag, Ankle boot. The course's split: two kinds of shoe
    # and a bag; the seen Sandal is the only relative they have in training.
    "default": DEFAULT_SEEN_CLASSES,
    # Unseen: T-shirt/top, Pullover, Shirt. The hardest: three look-alike tops
    # that must be told apart from each other and from the seen Coat and Dress.
    "unseen-tops": (1, 3, 4, 5, 7, 8, 9),
    # Unseen: Trouser, Sandal, Bag. The easiest: one class from each family
    # (bottoms, shoes, accessories), each far from the others.
    "unseen-mixed": (0, 2, 3, 4, 6, 7, 9),
}

DIGITS_TEST_FRACTION = 0.3
OMNIGLOT_SIZE = 28


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is in none of the places the course looks, and was not downloaded."""


class CorruptDatasetError(ValueError):
    """A data file exists but is truncated or damaged; the message says how to replace it."""


# --------------------------------------------------------------------------- ImageDataset


@dataclass(repr=False)
class ImageDataset:
    """Images with integer labels: what every part of the course passes around.

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
        self.labels = _whole_numbers(torch.as_tensor(self.labels), "labels")
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
        classes = _check_class_ids(classes, len(self.class_names), "classes")
        keep = torch.isin(self.labels, torch.tensor(classes, dtype=torch.long))
        return self.subset(torch.nonzero(keep).flatten())


def _whole_numbers(values: torch.Tensor, what: str) -> torch.Tensor:
    """``values`` as int64, refusing fractions (1.5 would silently become class 1)."""
    if values.is_floating_point() and not torch.equal(values, values.round()):
        fractions = values[values != values.round()].unique()[:5].tolist()
        raise ValueError(
            f"{what} must be whole numbers (class ids), got {fractions}; a fraction would be "
            "cut to a wrong class. Map each class to an integer id, e.g. with np.unique("
            "values, return_inverse=True)"
        )
    return values.long()


def _check_class_ids(classes: Sequence[int], num_classes: int, what: str) -> tuple[int, ...]:
    classes = tuple(_whole_numbers(torch.as_tensor(classes), what).tolist())
    bad = [c for c in classes if not 0 <= c < num_classes]
    if bad or len(set(classes)) != len(classes):
        raise ValueError(
            f"{what} must be distinct class ids in 0..{num_classes - 1}, got {classes}"
        )
    return classes


# --------------------------------------------------------------------------- folders


def default_data_dir(data_dir: str | Path | None = None) -> Path:
    """The course data folder: where downloads go and where the course looks first.

    ``data_dir`` if given, else ``$METRIC_COURSE_DATA``, else the repository's
    ``data/`` folder when the package runs from a checkout, else ``./data``.
    """
    if data_dir is not None:
        return Path(data_dir).expanduser()
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    if (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "data").is_dir():
        return REPO_ROOT / "data"
    return Path.cwd() / "data"


def data_search_dirs(data_dir: str | Path | None = None) -> list[Path]:
    """The course data folders to look in, in order (the Debian folder comes after them).

    An explicit ``data_dir`` or ``$METRIC_COURSE_DATA`` is the only course
    folder; otherwise the repository's ``data/`` and a ``data/`` folder in the
    working directory or any of its parents (notebooks run in ``notebooks/``).
    """
    if data_dir is not None or os.environ.get(DATA_ENV):
        return [default_data_dir(data_dir)]
    cwd = Path.cwd().resolve()
    folders = [REPO_ROOT / "data"] + [folder / "data" for folder in (cwd, *cwd.parents)]
    return list(dict.fromkeys(folder for folder in folders if folder.is_dir()))


def _fashion_mnist_candidates(data_dir: str | Path | None) -> list[Path]:
    folders = []
    for root in data_search_dirs(data_dir):
        folders += [root / "fashion-mnist", root / "FashionMNIST" / "raw", root]
    return [*folders, DEBIAN_DIR]


def _find_file(folder: Path, name: str) -> Path | None:
    for path in (folder / f"{name}.gz", folder / name):
        if path.is_file():
            return path
    return None


def _describe_source(folder: Path) -> str:
    if folder == DEBIAN_DIR:
        return f"{folder} (Debian package dataset-fashion-mnist)"
    return str(folder)


# --------------------------------------------------------------------------- IDX files


def _fix_advice(path: Path) -> str:
    if DEBIAN_DIR in path.parents:
        return "reinstall the package: sudo apt-get install --reinstall dataset-fashion-mnist"
    return (
        "delete it and fetch a fresh copy with `python -m metric_course.data download` "
        "(or copy the file again)"
    )


def _corrupt(path: Path, reason: str) -> CorruptDatasetError:
    return CorruptDatasetError(f"{path} is damaged: {reason}. To fix it, {_fix_advice(path)}.")


def read_idx(path: str | Path, expected: tuple[int, str] | None = None) -> np.ndarray:
    """Read an IDX file (gzip-compressed or not) into a read-only uint8 array.

    IDX is the format of MNIST and Fashion-MNIST: two zero bytes, a type code
    (0x08 for unsigned bytes), the number of dimensions d, then d big-endian
    32-bit sizes and the data. With ``expected = (size, md5)`` the decompressed
    bytes are checked first. A damaged file raises :class:`CorruptDatasetError`.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":  # the gzip magic number
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as error:
            raise _corrupt(path, f"its gzip stream cannot be read ({error})") from error
    if expected is not None:
        size, md5 = expected
        if len(raw) != size:
            kind = "truncated" if len(raw) < size else "too long"
            raise _corrupt(path, f"{kind}, {len(raw)} bytes instead of {size}")
        actual = hashlib.md5(raw, usedforsecurity=False).hexdigest()
        if actual != md5:
            raise _corrupt(path, f"its MD5 checksum is {actual} instead of {md5}")
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] != 0x08 or not 1 <= raw[3] <= 4:
        raise _corrupt(path, "it does not start with an IDX header of unsigned bytes")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise _corrupt(path, "its IDX header is cut short")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    if header + int(np.prod(shape)) != len(raw):
        raise _corrupt(
            path,
            f"its header announces {shape} = {header + int(np.prod(shape))} bytes, "
            f"the file holds {len(raw)}",
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


@lru_cache(maxsize=8)
def _read_idx_cached(path: str, mtime_ns: int, size: int, expected: tuple[int, str]) -> np.ndarray:
    """``read_idx`` remembered per file version, so a notebook loading twice reads once."""
    return read_idx(path, expected)


def _read_verified(path: Path) -> np.ndarray:
    name = path.name.removesuffix(".gz")
    stat = path.stat()
    return _read_idx_cached(str(path), stat.st_mtime_ns, stat.st_size, FASHION_MNIST_FILES[name])


# --------------------------------------------------------------------------- Fashion-MNIST


def find_fashion_mnist(split: str = "train", data_dir: str | Path | None = None) -> Path | None:
    """The first folder holding both IDX files of ``split``, or None (the files are not read)."""
    _check_split(split)
    for folder in _fashion_mnist_candidates(data_dir):
        if all(_find_file(folder, name) for name in SPLIT_FILES[split]):
            return folder
    return None


def _not_found_message(what: str, data_dir: str | Path | None) -> str:
    looked = ", ".join(str(folder) for folder in _fashion_mnist_candidates(data_dir))
    return (
        f"{what} was not found (looked in {looked}). Get it in one of three ways:\n"
        f"  1. put the four IDX files (.gz or not) in {default_data_dir(data_dir)}/fashion-mnist/,"
        f" or set the environment variable {DATA_ENV} to a folder holding them;\n"
        "  2. install the Debian/Ubuntu package: sudo apt-get install dataset-fashion-mnist;\n"
        "  3. when online, run `python -m metric_course.data download` "
        "(or pass download=True).\n"
        'Meanwhile load_dataset("digits") works with no download at all.'
    )


def load_fashion_mnist(
    split: str = "train", data_dir: str | Path | None = None, download: bool = False
) -> ImageDataset:
    """Fashion-MNIST's ``"train"`` (60,000 images) or ``"test"`` split (10,000), 28×28.

    Looked for in the course data folder, then the Debian package, then (with
    ``download=True``) downloaded; see the module docstring. Files are verified
    and the decoded arrays cached, so a second call costs only a copy.
    """
    _check_split(split)
    folder = find_fashion_mnist(split, data_dir)
    if folder is None and download:
        download_fashion_mnist(data_dir)
        folder = find_fashion_mnist(split, data_dir)
    if folder is None:
        raise DatasetNotFoundError(_not_found_message(f"Fashion-MNIST ({split})", data_dir))
    images_name, labels_name = SPLIT_FILES[split]
    images = _read_verified(_find_file(folder, images_name))
    labels = _read_verified(_find_file(folder, labels_name))
    return ImageDataset(
        images=torch.from_numpy(np.divide(images[:, None], 255, dtype=np.float32)),
        labels=torch.from_numpy(labels.astype(np.int64)),
        class_names=FASHION_MNIST_CLASSES,
        name=f"fashion-mnist {split}",
        source=_describe_source(folder),
    )


def _download_with_torchvision(folder: Path) -> None:
    """Download the four compressed Fashion-MNIST files into ``folder`` (needs network)."""
    from torchvision.datasets import FashionMNIST

    FashionMNIST(folder, train=True, download=True)  # fetches all four files
    for name in FASHION_MNIST_FILES:
        os.replace(folder / "FashionMNIST" / "raw" / f"{name}.gz", folder / f"{name}.gz")


def _fetch_fashion_mnist(folder: Path, data_dir: str | Path | None) -> str:
    """Put the four compressed files in ``folder`` from the Debian package or torchvision."""
    debian = [_find_file(DEBIAN_DIR, name) for name in FASHION_MNIST_FILES]
    if all(debian):
        for source in debian:
            shutil.copyfile(source, folder / source.name)
        return f"copied from {_describe_source(DEBIAN_DIR)}"
    try:
        _download_with_torchvision(folder)
    except (RuntimeError, OSError) as error:
        message = _not_found_message("Fashion-MNIST", data_dir)
        raise DatasetNotFoundError(f"the download failed ({error}).\n{message}") from error
    return "downloaded with torchvision"


def download_fashion_mnist(data_dir: str | Path | None = None) -> str:
    """Put verified Fashion-MNIST files in ``<data folder>/fashion-mnist/``; say what was done.

    Nothing is done when they are there already; otherwise the files are
    copied from the Debian package when it is installed, else downloaded
    with torchvision. Offline with neither: :class:`DatasetNotFoundError`.
    Good files are never deleted: a missing or damaged file is replaced only
    once a fresh copy is in hand and verified, so a failed run changes nothing.
    """
    folder = default_data_dir(data_dir) / "fashion-mnist"
    needed = []
    for name, expected in FASHION_MNIST_FILES.items():
        path = _find_file(folder, name)
        try:
            if path is None:
                needed.append(name)
            else:
                read_idx(path, expected)
        except CorruptDatasetError as error:
            print(f"replacing a damaged file: {error}", file=sys.stderr)
            needed.append(name)
    if not needed:
        return f"Fashion-MNIST: already in {folder}, verified"
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".download-", dir=folder) as fresh:
        how = _fetch_fashion_mnist(Path(fresh), data_dir)
        copies = {name: _find_file(Path(fresh), name) for name in needed}
        for name, copy in copies.items():
            if copy is None:
                raise DatasetNotFoundError(f"{name} was not {how}; {folder} was left as it was")
            try:
                read_idx(copy, FASHION_MNIST_FILES[name])
            except CorruptDatasetError as error:
                raise CorruptDatasetError(
                    f"the fresh copy of {name} ({how}) is damaged too, so {folder} was left as "
                    f"it was: {error}"
                ) from error
        for name, copy in copies.items():  # a rename is atomic: a file is old or new, never half
            os.replace(copy, folder / copy.name)
            for stale in (folder / name, folder / f"{name}.gz"):  # the damaged other form
                if stale.name != copy.name:
                    stale.unlink(missing_ok=True)
    return f"Fashion-MNIST: {how} into {folder}, verified"


# --------------------------------------------------------------------------- other datasets


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
    _check_split(split)
    images, labels, splits = _digits_arrays()
    import sklearn

    return ImageDataset(
        images=torch.from_numpy(images[splits[split], None]),
        labels=torch.from_numpy(labels[splits[split]].astype(np.int64)),
        class_names=DIGIT_CLASSES,
        name=f"digits {split}",
        source=f"scikit-learn {sklearn.__version__} (bundled)",
    )


def _open_torchvision(name: str, split: str, root: Path, download: bool):
    """The torchvision dataset object for MNIST or Omniglot under ``root``."""
    from torchvision import datasets

    if name == "mnist":
        return datasets.MNIST(root, train=split == "train", download=download)
    return datasets.Omniglot(root, background=split == "train", download=download)


@lru_cache(maxsize=2)
def _omniglot_arrays(root: Path, split: str) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Omniglot's 105×105 black-on-white PNGs, resized to 28×28 and inverted.

    Inverting makes strokes bright on a dark background, as in (Fashion-)MNIST.
    Decoding every PNG takes a while, so the result is remembered.
    """
    from PIL import Image

    omniglot = _open_torchvision("omniglot", split, root, download=False)
    images = np.empty((len(omniglot), 1, OMNIGLOT_SIZE, OMNIGLOT_SIZE), dtype=np.float32)
    labels = np.empty(len(omniglot), dtype=np.int64)
    for i in range(len(omniglot)):
        image, labels[i] = omniglot[i]
        small = image.convert("L").resize((OMNIGLOT_SIZE, OMNIGLOT_SIZE), Image.BILINEAR)
        images[i, 0] = 1 - np.asarray(small, dtype=np.float32) / 255
    images.flags.writeable = labels.flags.writeable = False
    return images, labels, tuple(omniglot._characters)  # "alphabet/character" names


def _load_torchvision(
    name: str, split: str, data_dir: str | Path | None, download: bool
) -> ImageDataset:
    """MNIST or Omniglot from the course data folders, downloaded first if asked."""
    roots = data_search_dirs(data_dir)
    for root in roots:
        try:
            dataset = _open_torchvision(name, split, root, download=False)
            break
        except RuntimeError:
            continue
    else:
        if not download:
            raise DatasetNotFoundError(
                f"{name} ({split}) was not found in {', '.join(map(str, roots)) or 'no folder'}. "
                "It comes through torchvision and needs network once: pass download=True, or "
                f"run `python -m metric_course.data download --{name}` on a connected machine "
                "and copy the data folder. Offline, use load_dataset('fashion-mnist') or "
                "load_dataset('digits')."
            )
        root = default_data_dir(data_dir)
        try:
            dataset = _open_torchvision(name, split, root, download=True)
        except (RuntimeError, OSError) as error:
            raise DatasetNotFoundError(
                f"downloading {name} into {root} failed ({error}). Connect to the internet, or "
                "use load_dataset('fashion-mnist') or load_dataset('digits') offline."
            ) from error
    source = f"{dataset.root} (torchvision)"
    if name == "mnist":
        images, labels, class_names = dataset.data[:, None] / 255, dataset.targets, DIGIT_CLASSES
    else:
        images, labels, class_names = _omniglot_arrays(root, split)
        images, labels = torch.tensor(images), torch.tensor(labels)
    return ImageDataset(images, labels, class_names, name=f"{name} {split}", source=source)


def _check_split(split: str) -> None:
    if split not in SPLIT_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")


def load_dataset(
    name: str,
    split: str = "train",
    data_dir: str | Path | None = None,
    download: bool = False,
) -> ImageDataset:
    """Load one of ``DATASET_NAMES`` as an :class:`ImageDataset`.

    - ``"fashion-mnist"``: 28×28 clothing, 10 classes (:func:`load_fashion_mnist`);
    - ``"digits"``: scikit-learn's 8×8 digits, always available offline;
    - ``"mnist"``: 28×28 handwritten digits, torchvision, needs a download once;
    - ``"omniglot"``: handwritten characters of many alphabets, few images of
      each, resized to 28×28; ``"train"`` is the background set and ``"test"``
      the evaluation set, whose characters are all different (already
      class-disjoint). torchvision, needs a download once.
    - ``"omniglot-small"``: Omniglot's 8 background-small alphabets (242
      characters, 4,840 images, 28×28) from the course data folder
      (:mod:`metric_course.omniglot`); one set, split by alphabet with
      ``course_data("omniglot-small")``.
    """
    key = name.lower().replace("_", "-")
    if key not in DATASET_NAMES:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASET_NAMES)}")
    if key == "omniglot-small":
        if split != "train":
            raise ValueError(
                "omniglot-small is one set of 8 alphabets (load it with split='train'); split it "
                "by alphabet with course_data('omniglot-small'), and test one-shot recognition "
                "with metric_course.few_shot.load_one_shot_runs()"
            )
        from .omniglot import load_omniglot_small

        return load_omniglot_small(data_dir, download)
    _check_split(split)
    if key == "fashion-mnist":
        return load_fashion_mnist(split, data_dir, download)
    if key == "digits":
        return load_digits_dataset(split)
    return _load_torchvision(key, split, data_dir, download)


# --------------------------------------------------------------------------- splits


def resolve_split(
    split: str | Sequence[int], num_classes: int = 10
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(seen, unseen)`` class ids for a split name from :data:`SPLITS` or a tuple of seen ids.

    Both sides need at least two classes: training needs positives and
    negatives, and a retrieval score on a single class would be trivially perfect.
    """
    if isinstance(split, str):
        if split not in SPLITS:
            raise ValueError(
                f"unknown split {split!r}; choose one of {', '.join(SPLITS)} "
                "or pass a tuple of seen class ids"
            )
        seen = SPLITS[split]
    else:
        seen = _check_class_ids(split, num_classes, "seen classes")
    unseen = tuple(c for c in range(num_classes) if c not in seen)
    if len(seen) < 2 or len(unseen) < 2:
        raise ValueError(
            f"a split needs at least 2 seen and 2 unseen classes; seen {tuple(sorted(seen))} "
            f"leaves unseen {unseen} of classes 0..{num_classes - 1}"
        )
    return tuple(sorted(seen)), unseen


def split_by_class(
    data: ImageDataset, seen_classes: str | Sequence[int] = DEFAULT_SEEN_CLASSES
) -> tuple[ImageDataset, ImageDataset]:
    """``(seen, unseen)``: the images of the seen classes and those of all the others."""
    seen, unseen = resolve_split(seen_classes, len(data.class_names))
    return data.select_classes(seen), data.select_classes(unseen)


def cap_per_class(data: ImageDataset, max_per_class: int | None, seed: int = 0) -> ImageDataset:
    """At most ``max_per_class`` images of each class, chosen at random but reproducibly.

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


@dataclass(repr=False)
class CourseData:
    """The class-disjoint parts of one dataset that the notebooks train and measure on.

    See the module docstring for what each part holds and why.
    """

    train: ImageDataset
    val: ImageDataset | None
    test_seen: ImageDataset
    test_unseen: ImageDataset
    class_names: tuple[str, ...]
    seen_classes: tuple[int, ...]
    unseen_classes: tuple[int, ...]
    val_classes: tuple[int, ...]

    @property
    def train_classes(self) -> tuple[int, ...]:
        """The classes training uses: seen classes minus the validation classes."""
        return tuple(c for c in self.seen_classes if c not in self.val_classes)

    def summary(self) -> str:
        """A small table: each part, its number of images and its classes."""
        parts = [
            ("train", self.train),
            ("val", self.val),
            ("test_seen", self.test_seen),
            ("test_unseen", self.test_unseen),
        ]
        lines = []
        for part, data in parts:
            if data is None:
                lines.append(f"{part:<12} (none: pass val_classes to hold seen classes out)")
                continue
            names = [self.class_names[c] for c in data.classes]
            if len(names) > 10:  # Omniglot: say how many, and show the first and last
                names = [f"{len(names)} classes: {names[0]}", "…", names[-1]]
            lines.append(f"{part:<12} {len(data):>6} images  {', '.join(names)}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"CourseData({self.train.name.split()[0]})\n{self.summary()}"


def course_data(
    dataset: str = "fashion-mnist",
    split: str | Sequence[int] = "default",
    val_classes: Sequence[int] = (),
    max_per_class: int | None = None,
    max_test_per_class: int | None = None,
    seed: int = 0,
    data_dir: str | Path | None = None,
    download: bool = False,
) -> CourseData:
    """The train / val / test_seen / test_unseen parts of a 10-class dataset, or of Omniglot.

    ``split`` is a name from :data:`SPLITS` or a tuple of seen classes.
    ``val_classes`` (a subset of the seen classes, at least two, or none) are
    held out of training for validation. ``max_per_class`` caps each class of
    ``train`` and ``val``, ``max_test_per_class`` each class of the test parts.

    For ``"omniglot-small"`` the split is by alphabet: ``split`` names an entry
    of :data:`metric_course.omniglot.OMNIGLOT_SPLITS`, which also fixes the
    validation alphabets (see :func:`metric_course.omniglot.omniglot_course_data`).
    """
    key = dataset.lower().replace("_", "-")
    if key == "omniglot-small":
        if val_classes:
            raise ValueError(
                "Omniglot's validation classes are whole alphabets, named by the split: pass "
                "split='default' or another name of metric_course.omniglot.OMNIGLOT_SPLITS "
                "instead of val_classes"
            )
        from .omniglot import omniglot_course_data

        return omniglot_course_data(
            split, max_per_class, max_test_per_class, seed, data_dir, download
        )
    if key == "omniglot":
        raise ValueError(
            "Omniglot's own splits are already class-disjoint: train on "
            "load_dataset('omniglot', 'train') and test on load_dataset('omniglot', 'test'), "
            "or use course_data('omniglot-small') for the 8 small alphabets split by alphabet"
        )
    train_file = load_dataset(key, "train", data_dir, download)
    test_file = load_dataset(key, "test", data_dir, download)
    seen, unseen = resolve_split(split, len(train_file.class_names))
    val_classes = _check_class_ids(val_classes, len(train_file.class_names), "val_classes")
    train_classes = tuple(c for c in seen if c not in val_classes)
    if any(c not in seen for c in val_classes) or len(val_classes) == 1 or len(train_classes) < 2:
        raise ValueError(
            f"val_classes must be none, or at least 2 of the seen classes {seen} leaving at "
            f"least 2 for training; got {val_classes}"
        )
    val = None
    if val_classes:
        val = cap_per_class(train_file.select_classes(val_classes), max_per_class, seed)
    return CourseData(
        train=cap_per_class(train_file.select_classes(train_classes), max_per_class, seed),
        val=val,
        test_seen=cap_per_class(test_file.select_classes(train_classes), max_test_per_class, seed),
        test_unseen=cap_per_class(test_file.select_classes(unseen), max_test_per_class, seed),
        class_names=train_file.class_names,
        seen_classes=seen,
        unseen_classes=unseen,
        val_classes=tuple(sorted(val_classes)),
    )


# --------------------------------------------------------------------------- command line


def describe_data(data_dir: str | Path | None = None) -> tuple[str, bool]:
    """Where each dataset is found, one line each, and whether Fashion-MNIST is usable.

    Fashion-MNIST's files are verified, so a damaged file shows up here.
    """
    lines = [f"data folder    {default_data_dir(data_dir)}"]
    usable = True
    for split in SPLIT_FILES:
        folder = find_fashion_mnist(split, data_dir)
        try:
            if folder is None:
                raise DatasetNotFoundError("not found (see below)")
            for name in SPLIT_FILES[split]:
                _read_verified(_find_file(folder, name))
            status = f"{_describe_source(folder)}, verified"
        except (DatasetNotFoundError, CorruptDatasetError) as error:
            status, usable = str(error), False
        except OSError as error:  # no permission, or an unreadable disk
            status, usable = f"{error.filename} cannot be read: {error.strerror}", False
        lines.append(f"fashion-mnist  {split:<5} {status}")
    lines.append(f"digits         {load_digits_dataset('train').source}")
    from .omniglot import OMNIGLOT_FILES, verified_omniglot_file

    for file in OMNIGLOT_FILES:
        try:
            status = f"{verified_omniglot_file(file, data_dir)}, verified"
        except DatasetNotFoundError:
            status = "not found (python -m metric_course.data download)"
        except CorruptDatasetError as error:
            status = str(error)
        lines.append(f"omniglot-small {file}: {status}")
    for name in ("mnist", "omniglot"):
        for split in SPLIT_FILES:
            found = [
                root for root in data_search_dirs(data_dir) if _torchvision_ok(name, split, root)
            ]
            status = f"{found[0]} (torchvision)" if found else f"not downloaded (--{name})"
            lines.append(f"{name:<14} {split:<5} {status}")
    return "\n".join(lines), usable


def _torchvision_ok(name: str, split: str, root: Path) -> bool:
    try:
        _open_torchvision(name, split, root, download=False)
    except RuntimeError:
        return False
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """``download``: fetch the course data into the data folder; ``info``: where each set is."""
    parser = argparse.ArgumentParser(
        prog="python -m metric_course.data",
        description="Fetch the course datasets for offline use, or show where they are found.",
    )
    parser.add_argument("command", choices=["download", "info"])
    parser.add_argument("--data-dir", help=f"the data folder (default: ${DATA_ENV} or data/)")
    parser.add_argument("--mnist", action="store_true", help="also download MNIST (online)")
    parser.add_argument(
        "--omniglot",
        action="store_true",
        help="also download Omniglot's full background and evaluation sets (online)",
    )
    args = parser.parse_args(argv)
    if args.command == "info":
        text, usable = describe_data(args.data_dir)
        print(text)
        if not all(find_fashion_mnist(split, args.data_dir) for split in SPLIT_FILES):
            print(_not_found_message("Fashion-MNIST", args.data_dir))
        return 0 if usable else 1
    ok = True
    try:
        print(download_fashion_mnist(args.data_dir))
    except (DatasetNotFoundError, CorruptDatasetError) as error:
        print(f"Fashion-MNIST: {error}", file=sys.stderr)
        ok = False
    from .omniglot import download_omniglot

    try:
        print(download_omniglot(args.data_dir))
    except (DatasetNotFoundError, CorruptDatasetError) as error:
        print(f"Omniglot: {error}", file=sys.stderr)
        ok = False
    for name in [n for n in ("mnist", "omniglot") if getattr(args, n)]:
        root = default_data_dir(args.data_dir)
        try:
            for split in SPLIT_FILES:
                _open_torchvision(name, split, root, download=True)
            print(f"{name}: downloaded with torchvision into {root}, verified")
        except (RuntimeError, OSError) as error:
            print(f"{name}: the download failed ({error}); it needs network", file=sys.stderr)
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
