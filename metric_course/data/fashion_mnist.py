"""Fashion-MNIST: where its four IDX files are found, how they are verified, how they are fetched.

Looked for, in order (notebook 00 shows which one answered):

1. the course data folder (:func:`~metric_course.data.files.data_search_dirs`),
   in ``fashion-mnist/``, torchvision's ``FashionMNIST/raw/`` or the folder itself;
2. the Debian/Ubuntu package ``dataset-fashion-mnist``
   (``/usr/share/datasets/fashion-mnist/``);
3. a download through torchvision into the data folder, only with ``download=True``.

**Every file is verified** (size and MD5 checksum of the decompressed bytes,
then the IDX header) before it is decoded: a truncated download would
otherwise decode into images that look plausible and silently ruin a run.
Both ``.gz`` and uncompressed files are accepted.
"""

from __future__ import annotations

import gzip
import os
import shutil
import struct
import sys
import tempfile
import zlib
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from .dataset import ImageDataset
from .files import (
    DATA_ENV,
    CorruptDatasetError,
    DatasetNotFoundError,
    data_search_dirs,
    data_subfolder,
    default_data_dir,
    md5_of,
)

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
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")

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


def check_split(split: str) -> None:
    """Refuse a split other than ``"train"`` or ``"test"``."""
    if split not in SPLIT_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")


# --------------------------------------------------------------------------- folders


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


def describe_source(folder: Path) -> str:
    """``folder``, saying so when it is the Debian package's."""
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
        actual = md5_of(raw)
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


# --------------------------------------------------------------------------- loading


def find_fashion_mnist(split: str = "train", data_dir: str | Path | None = None) -> Path | None:
    """The first folder holding both IDX files of ``split``, or None (the files are not read)."""
    check_split(split)
    for folder in _fashion_mnist_candidates(data_dir):
        if all(_find_file(folder, name) for name in SPLIT_FILES[split]):
            return folder
    return None


def verify_fashion_mnist(split: str, data_dir: str | Path | None = None) -> Path:
    """The folder of ``split``'s two files after verifying both; a clear error if not."""
    folder = find_fashion_mnist(split, data_dir)
    if folder is None:
        raise DatasetNotFoundError(not_found_message(f"Fashion-MNIST ({split})", data_dir))
    for name in SPLIT_FILES[split]:
        _read_verified(_find_file(folder, name))
    return folder


def not_found_message(what: str, data_dir: str | Path | None) -> str:
    """Where Fashion-MNIST was looked for, and the three ways to get it."""
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
    """Fashion-MNIST's ``"train"`` (60,000 images) or ``"test"`` (10,000) split (notebook 00).

    Images are 28×28. Looked for in the course data folder, then the Debian
    package, then (with ``download=True``) downloaded; see the module docstring.
    Files are verified and the decoded arrays cached, so a second call costs
    only a copy.
    """
    check_split(split)
    if download and find_fashion_mnist(split, data_dir) is None:
        download_fashion_mnist(data_dir)
    folder = verify_fashion_mnist(split, data_dir)
    images_name, labels_name = SPLIT_FILES[split]
    images = _read_verified(_find_file(folder, images_name))
    labels = _read_verified(_find_file(folder, labels_name))
    return ImageDataset(
        images=torch.from_numpy(np.divide(images[:, None], 255, dtype=np.float32)),
        labels=torch.from_numpy(labels.astype(np.int64)),
        class_names=FASHION_MNIST_CLASSES,
        name=f"fashion-mnist {split}",
        source=describe_source(folder),
    )


# --------------------------------------------------------------------------- download


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
        return f"copied from {describe_source(DEBIAN_DIR)}"
    try:
        _download_with_torchvision(folder)
    except (RuntimeError, OSError) as error:
        message = not_found_message("Fashion-MNIST", data_dir)
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
    folder = data_subfolder("fashion-mnist", data_dir)
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
