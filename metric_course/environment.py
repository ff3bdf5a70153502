"""Where the course runs: lecture mode, Colab, versions and the device.

Every notebook starts by asking two questions answered here: how long may
this notebook train (the quick default, or the longer *lecture* variant for
an instructor with a GPU), and what machine is this?
"""

from __future__ import annotations

import importlib
import os
import platform
import sys

from .models import get_device

LECTURE_ENV = "METRIC_COURSE_LECTURE"


def lecture_mode() -> bool:
    """True when the environment variable ``METRIC_COURSE_LECTURE`` is 1/true/yes (notebook 00).

    Notebooks read it in their ``parameters`` cell: the default is a quick run
    that fits a laptop CPU, lecture mode trains on more data for longer.
    """
    return os.environ.get(LECTURE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def in_colab() -> bool:
    """True inside Google Colab."""
    return "google.colab" in sys.modules


def package_versions(
    names: tuple[str, ...] = (
        "torch",
        "torchvision",
        "numpy",
        "sklearn",
        "matplotlib",
        "umap",
        "ipywidgets",
    ),
) -> dict[str, str]:
    """Installed version of each package, or "missing" when it cannot be imported (notebook 00)."""
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = getattr(importlib.import_module(name), "__version__", "unknown")
        except ImportError:
            versions[name] = "missing"
    return versions


def describe_device() -> str:
    """One line naming the device the course will train on (notebook 00)."""
    import torch

    device = get_device()
    if device.type == "cuda":
        return f"{device}: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "mps: Apple GPU"
    return f"cpu: {torch.get_num_threads()} threads, no GPU found (the course is sized for this)"
