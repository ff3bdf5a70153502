"""The command line: ``python -m metric_course.data download|info`` (docs/instructors.md).

For instructors preparing a classroom without network::

    python -m metric_course.data download [--data-dir DIR] [--mnist] [--omniglot]
    python -m metric_course.data info [--data-dir DIR]

``download`` always fetches Fashion-MNIST (copied from the Debian package when
it is installed) and Omniglot's small official files; ``--mnist`` and
``--omniglot`` add the torchvision sets. ``info`` says where each dataset is
found, verified. Both end with a status, and for what is missing the ways to
get it, never a traceback: they run on fresh checkouts and offline machines.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from .catalogue import (
    TORCHVISION_SETS,
    download_torchvision_set,
    find_torchvision_set,
    load_digits_dataset,
)
from .fashion_mnist import (
    SPLIT_FILES,
    describe_source,
    download_fashion_mnist,
    not_found_message,
    verify_fashion_mnist,
)
from .files import DATA_ENV, CorruptDatasetError, DatasetNotFoundError, default_data_dir
from .omniglot import (
    OMNIGLOT_FILES,
    download_omniglot,
    omniglot_not_found,
    verified_omniglot_file,
)

DATA_ERRORS = (DatasetNotFoundError, CorruptDatasetError, NotADirectoryError)


def _status(check: Callable[[], object]) -> tuple[str, str]:
    """``(status, problem)`` of one file: where it is, or what is wrong ("missing", "damaged")."""
    try:
        return f"{check()}, verified", ""
    except DatasetNotFoundError:
        return "not found (see below)", "missing"
    except CorruptDatasetError as error:
        return str(error), "damaged"
    except OSError as error:  # no permission, or an unreadable disk
        return f"{error.filename} cannot be read: {error.strerror}", "damaged"


def describe_data(data_dir: str | Path | None = None) -> tuple[str, bool]:
    """Where each dataset is found, one line each, then how to get what is missing.

    The second value says whether the course's own data (Fashion-MNIST and
    Omniglot background-small with its one-shot runs) is all there and
    undamaged. Every file is verified, so a damaged one shows up here.
    """
    lines = [f"data folder    {default_data_dir(data_dir)}"]
    usable, advice, missing_omniglot = True, [], []
    for split in SPLIT_FILES:
        status, problem = _status(
            lambda split=split: describe_source(verify_fashion_mnist(split, data_dir))
        )
        usable &= not problem
        if problem == "missing" and not advice:
            advice.append(not_found_message("Fashion-MNIST", data_dir))
        lines.append(f"fashion-mnist  {split:<5} {status}")
    lines.append(f"digits         {load_digits_dataset('train').source}")
    for file in OMNIGLOT_FILES:
        status, problem = _status(lambda file=file: verified_omniglot_file(file, data_dir))
        usable &= not problem
        missing_omniglot += [file] if problem == "missing" else []
        lines.append(f"omniglot-small {file}: {status}")
    if missing_omniglot:
        advice.append(str(omniglot_not_found(missing_omniglot, data_dir)))
    for name in TORCHVISION_SETS:
        for split in SPLIT_FILES:
            found = find_torchvision_set(name, split, data_dir)
            status = f"{found} (torchvision)" if found else f"not downloaded (--{name})"
            lines.append(f"{name:<14} {split:<5} {status}")
    return "\n".join([*lines, *advice]), usable


def _download(args: argparse.Namespace) -> bool:
    """Fetch each dataset asked for, printing what was done or why not; True if all worked."""
    steps = [
        ("Fashion-MNIST", lambda: download_fashion_mnist(args.data_dir)),
        ("Omniglot", lambda: download_omniglot(args.data_dir)),
    ]
    for name in TORCHVISION_SETS:
        if getattr(args, name):
            steps.append((name, lambda name=name: download_torchvision_set(name, args.data_dir)))
    ok = True
    for what, step in steps:
        try:
            print(step())
        except DATA_ERRORS as error:
            print(f"{what}: {error}", file=sys.stderr)
            ok = False
    return ok


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
    root = default_data_dir(args.data_dir)
    if root.exists() and not root.is_dir():
        parser.error(f"the data folder {root} is a file; pass --data-dir a folder (made if new)")
    if args.command == "info":
        text, usable = describe_data(args.data_dir)
        print(text)
        return 0 if usable else 1
    return 0 if _download(args) else 1


if __name__ == "__main__":
    sys.exit(main())
