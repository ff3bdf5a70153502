"""Omniglot background-small: many identities, few photos of each, new alphabets at test time.

Omniglot (Lake et al. 2015) holds handwritten characters of 50 alphabets, each
drawn once by 20 different people ("drawers"). For metric learning it is what
faces are for recognition systems: hundreds of identities (characters), a few
"photos" of each (the 20 drawings), and the real test is a *new alphabet*,
whose characters the network has never seen (notebooks 00, 02 and 05).

The course uses the two official "background small" sets of the Omniglot
repository (github.com/brendenlake/omniglot, folder ``python/``): 3 MB, no
torchvision needed. Greek and Latin are in both sets with identical images,
so together they hold **8 alphabets, 242 characters, 4,840 images**. The
images are shrunk from 105×105 to 28×28 and inverted (strokes bright on dark,
like Fashion-MNIST), decoded once and cached in an ``.npz`` file next to the
zips, keyed by the zips' checksums. ``all_runs.zip`` holds the 20 official
one-shot runs (:func:`metric_course.few_shot.load_one_shot_runs`).

The files are found in ``<course data folder>/omniglot/`` (see
:func:`~metric_course.data.files.default_data_dir`); ``python -m
metric_course.data download`` fetches them when online. How the alphabets are
split is in :mod:`metric_course.data.splits`. The full background (964
characters) and evaluation (659) sets come through torchvision as
``load_dataset("omniglot")``. Cite: B. M. Lake, R. Salakhutdinov, J. B.
Tenenbaum, "Human-level concept learning through probabilistic program
induction", Science 350 (6266), 2015.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from .dataset import ImageDataset
from .files import (
    CorruptDatasetError,
    DatasetNotFoundError,
    data_search_dirs,
    data_subfolder,
    default_data_dir,
    fetch_url,
    file_md5,
    md5_of,
    write_atomically,
)

IMAGE_SIZE = 28
OMNIGLOT_FOLDER = "omniglot"
OFFICIAL_URL = "https://raw.githubusercontent.com/brendenlake/omniglot/master/python/"
# File name -> (path in the official repository, MD5 of the zip).
OMNIGLOT_FILES: dict[str, tuple[str, str]] = {
    "images_background_small1.zip": (
        "images_background_small1.zip",
        "e704a628b5459e08445c13499850abc4",
    ),
    "images_background_small2.zip": (
        "images_background_small2.zip",
        "b75a71a51d3b13f821f212756fe481fd",
    ),
    "all_runs.zip": ("one-shot-classification/all_runs.zip", "e8996daecdf12afeeb4a53a179f06b19"),
}
BACKGROUND_SMALL_ZIPS: tuple[str, ...] = (
    "images_background_small1.zip",
    "images_background_small2.zip",
)
CACHED_ARRAYS = ("images", "labels", "drawers", "class_names")


def alphabet_of(class_name: str) -> str:
    """``"Korean/character07"`` -> ``"Korean"``: the alphabet of a character (notebook 00)."""
    return class_name.split("/")[0]


# --------------------------------------------------------------------------- files


def find_omniglot_file(name: str, data_dir: str | Path | None = None) -> Path | None:
    """The first ``omniglot/<name>`` in the course data folders, or None."""
    for root in data_search_dirs(data_dir):
        path = root / OMNIGLOT_FOLDER / name
        if path.is_file():
            return path
    return None


def omniglot_not_found(names: list[str], data_dir: str | Path | None) -> DatasetNotFoundError:
    """The error for missing Omniglot files: where they were looked for, three ways to get them."""
    looked = ", ".join(str(root / OMNIGLOT_FOLDER) for root in data_search_dirs(data_dir))
    target = default_data_dir(data_dir) / OMNIGLOT_FOLDER
    return DatasetNotFoundError(
        f"Omniglot file(s) {', '.join(names)} not found (looked in {looked or 'no folder'}). "
        "Get them in one of three ways:\n"
        f"  1. copy them from another checkout's data/omniglot/ folder into {target}/ "
        "(or set METRIC_COURSE_DATA to a folder holding omniglot/);\n"
        "  2. when online, run `python -m metric_course.data download` (the official files "
        "of github.com/brendenlake/omniglot, 3.3 MB);\n"
        "  3. for the full background and evaluation sets, use load_dataset('omniglot', "
        "download=True), which downloads them through torchvision."
    )


def verified_omniglot_file(name: str, data_dir: str | Path | None = None) -> Path:
    """The path of an official Omniglot file, its MD5 checked (notebook 00).

    A missing or damaged file raises an error that says how to get it.
    """
    path = find_omniglot_file(name, data_dir)
    if path is None:
        raise omniglot_not_found([name], data_dir)
    expected = OMNIGLOT_FILES[name][1]
    actual = file_md5(path)
    if actual != expected:
        raise CorruptDatasetError(
            f"{path} is damaged: its MD5 checksum is {actual} instead of {expected}. To fix it, "
            "delete it and copy it again (from a checkout's data/omniglot/ folder) or run "
            "`python -m metric_course.data download`."
        )
    return path


def download_omniglot(
    data_dir: str | Path | None = None,
    fetch: Callable[[str], bytes] = fetch_url,
) -> str:
    """Put the three official Omniglot files in ``<data folder>/omniglot/``; say what was done.

    Files already there with the right checksum are kept; the others are
    fetched from the official repository (``fetch(url) -> bytes``, urllib by
    default), checked, and written whole (:func:`write_atomically`).
    Offline: :class:`DatasetNotFoundError` naming the three ways to get them.
    """
    folder = data_subfolder(OMNIGLOT_FOLDER, data_dir)
    fetched = []
    for name, (remote, md5) in OMNIGLOT_FILES.items():
        path = folder / name
        if path.is_file() and file_md5(path) == md5:
            continue
        url = OFFICIAL_URL + remote
        try:
            content = fetch(url)
        except OSError as error:
            ways = omniglot_not_found([name], data_dir)
            raise DatasetNotFoundError(f"downloading {url} failed ({error}).\n{ways}") from error
        actual = md5_of(content)
        if actual != md5:
            raise CorruptDatasetError(
                f"the download of {url} has MD5 {actual} instead of {md5}; try again"
            )
        write_atomically(path, lambda file, content=content: file.write(content))
        fetched.append(name)
    how = f"downloaded {', '.join(fetched)}" if fetched else "already there"
    return f"Omniglot (background small, one-shot runs): {how} in {folder}, verified"


# --------------------------------------------------------------------------- decoding


def zip_members(archive: zipfile.ZipFile) -> list[str]:
    """The names in ``archive`` but the resource forks a Mac's zip adds (``__MACOSX/``, ``._*``).

    A zip made with the Finder holds ``__MACOSX/<path>/._<file>`` for each file:
    they are not images, and reading them as runs or characters would fail.
    """
    return [
        name
        for name in archive.namelist()
        if not name.startswith("__MACOSX/") and not name.rsplit("/", 1)[-1].startswith("._")
    ]


def decode_character_image(png: bytes) -> np.ndarray:
    """One 105×105 black-on-white Omniglot PNG as a 28×28 uint8 image, strokes bright.

    Bilinear resizing in PIL averages over the shrunk area, so thin strokes
    become grey instead of vanishing.
    """
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("L")
    small = image.resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR)
    return 255 - np.asarray(small, dtype=np.uint8)


def _decode_background_small(zips: list[Path]) -> dict[str, np.ndarray]:
    """Every image of the zips, once per (alphabet, character, drawer), in sorted order."""
    found: dict[tuple[str, str, int], bytes] = {}
    for path in zips:
        with zipfile.ZipFile(path) as archive:
            for member in zip_members(archive):
                parts = member.split("/")
                if not member.endswith(".png") or len(parts) != 4:
                    continue
                _, alphabet, character, file = parts
                drawer = int(file.removesuffix(".png").split("_")[1])
                found.setdefault((alphabet, character, drawer), archive.read(member))
    keys = sorted(found)
    characters = sorted({f"{alphabet}/{character}" for alphabet, character, _ in keys})
    index = {name: i for i, name in enumerate(characters)}
    return {
        "images": np.stack([decode_character_image(found[key]) for key in keys]),
        "labels": np.array([index[f"{a}/{c}"] for a, c, _ in keys], dtype=np.int64),
        "drawers": np.array([drawer for *_, drawer in keys], dtype=np.int64),
        "class_names": np.array(characters),
    }


@lru_cache(maxsize=2)
def _background_small_arrays(zips: tuple[Path, ...], md5s: tuple[str, ...]) -> dict:
    """The decoded arrays, from the ``.npz`` cache when it matches the zips' checksums."""
    cache = zips[0].parent / f"background_small_{IMAGE_SIZE}px_{'_'.join(m[:8] for m in md5s)}.npz"
    if cache.is_file():
        try:
            with np.load(cache) as saved:
                return {key: saved[key] for key in CACHED_ARRAYS}
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            pass  # a damaged cache: decode again and replace it
    arrays = _decode_background_small(list(zips))
    try:
        write_atomically(cache, lambda file: np.savez_compressed(file, **arrays))
    except OSError:  # a read-only or full data folder: decode again next time
        pass
    return arrays


def load_omniglot_small(data_dir: str | Path | None = None, download: bool = False) -> ImageDataset:
    """Omniglot background-small: 8 alphabets, 242 characters, 4,840 images of 28×28.

    Class names say alphabet and character (``"Korean/character07"``);
    ``drawers`` says which of the 20 people drew each image (1–20). With
    ``download=True`` missing files are fetched first (:func:`download_omniglot`).
    """
    if download:
        download_omniglot(data_dir)
    missing = [name for name in BACKGROUND_SMALL_ZIPS if find_omniglot_file(name, data_dir) is None]
    if missing:
        raise omniglot_not_found(missing, data_dir)
    zips = tuple(verified_omniglot_file(name, data_dir) for name in BACKGROUND_SMALL_ZIPS)
    arrays = _background_small_arrays(zips, tuple(OMNIGLOT_FILES[z.name][1] for z in zips))
    return ImageDataset(
        images=torch.from_numpy(arrays["images"][:, None].astype(np.float32) / 255),
        labels=torch.from_numpy(arrays["labels"]),
        class_names=tuple(str(name) for name in arrays["class_names"]),
        name="omniglot-small",
        source=f"{zips[0].parent} (official background-small zips)",
        drawers=torch.from_numpy(arrays["drawers"]),
    )
