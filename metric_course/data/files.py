"""The course data folder, checksums, downloads and writing a file whole: what every dataset uses.

The data folder is where downloads go and where the course looks first
(notebook 00 shows it): the ``data_dir`` argument, else the folder named by
``$METRIC_COURSE_DATA``, else the repository's ``data/``. Files the package
writes there (Omniglot's decoded cache, downloads, cached models) go through
:func:`write_atomically`, so a reader never sees half a file and a classroom
folder shared between accounts stays readable by all of them.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

DATA_ENV = "METRIC_COURSE_DATA"
REPO_ROOT = Path(__file__).resolve().parents[2]
DOWNLOAD_TIMEOUT_SECONDS = 60


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is in none of the places the course looks, and was not downloaded."""


class CorruptDatasetError(ValueError):
    """A data file exists but is truncated or damaged; the message says how to replace it."""


def default_data_dir(data_dir: str | Path | None = None) -> Path:
    """The course data folder: where downloads go and where the course looks first (notebook 00).

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


def data_subfolder(name: str, data_dir: str | Path | None = None) -> Path:
    """``<data folder>/<name>``, made if missing; a clear error when the data folder is a file."""
    root = default_data_dir(data_dir)
    for folder in (root, *root.parents):
        if folder.exists() and not folder.is_dir():
            raise NotADirectoryError(
                f"the data folder {root} cannot be made: {folder} is a file, not a folder. "
                f"Pass --data-dir (or data_dir=, or ${DATA_ENV}) a folder; it is created if missing"
            )
    (root / name).mkdir(parents=True, exist_ok=True)
    return root / name


def md5_of(content: bytes) -> str:
    """The MD5 checksum of ``content`` in hex: how the course's data files are verified."""
    return hashlib.md5(content, usedforsecurity=False).hexdigest()


def file_md5(path: Path) -> str:
    """The MD5 checksum of the file at ``path``."""
    return md5_of(path.read_bytes())


def fetch_url(url: str) -> bytes:
    """The bytes at ``url`` (needs network); an ``OSError`` when offline."""
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response:
        return response.read()


def write_atomically(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write ``path`` whole or not at all; ``write(file)`` writes the content.

    The content goes to a hidden file in the same folder, renamed over
    ``path`` once complete, so a reader sees the old file or the new one,
    never half of one. The file gets the permissions the umask gives (0644
    under the usual umask 022), as any other new file: ``NamedTemporaryFile``
    would make it 0600, unreadable for the other accounts of a shared data
    folder. On an error nothing is left behind and the error is raised.
    """
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        with open(temporary, "xb") as file:  # mode 0666 minus the umask
            write(file)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
