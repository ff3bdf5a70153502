#!/usr/bin/env python3
"""Set up the course and open it, or set it up and run every test.

    python3 course.py lab     # install everything, then open the notebooks in JupyterLab
    python3 course.py test    # install everything, then run the unit tests and the notebooks

Both create a virtual environment in ``.venv`` (once), install the course
package with its development tools into it, and make sure Fashion-MNIST can
be found. Only the Python standard library is used here, so this runs on a
fresh machine with nothing but Python 3.10 or newer.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
DEBIAN_DATA = Path("/usr/share/datasets/fashion-mnist")
# Colab's ipywidgets, beside the environment: tests/test_ipywidgets7.py runs the widget tests on it.
IPYWIDGETS7 = ROOT / "build" / "ipywidgets7"


def run(*command: str | Path, check: bool = True) -> int:
    """Run a command, echoing it first so the user sees what happens."""
    print("+", " ".join(str(part) for part in command), flush=True)
    return subprocess.run([str(part) for part in command], cwd=ROOT, check=check).returncode


def apt_install(*packages: str) -> None:
    """Install Debian packages when we are root on a Debian-like system; say so otherwise."""
    if shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0:
        run("apt-get", "update", "-qq")
        env_prefix = ("env", "DEBIAN_FRONTEND=noninteractive")
        run(*env_prefix, "apt-get", "install", "-y", "-qq", *packages)
    else:
        print(f"note: could not install {' '.join(packages)} with apt-get (needs root on Debian).")


def setup(with_browser: bool) -> None:
    """Create the virtual environment and install the course and its data."""
    if not PYTHON.exists():
        print(f"creating a virtual environment in {VENV}")
        venv.create(VENV, with_pip=True)
    extras = "dev,browser" if with_browser else "dev"
    run(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    run(PYTHON, "-m", "pip", "install", "--quiet", "-e", f".[{extras}]")
    if with_browser and not (IPYWIDGETS7 / "ipywidgets").is_dir():
        pins = ("ipywidgets==7.7.1", "ipython_genutils==0.2.0")
        run(PYTHON, "-m", "pip", "install", "--quiet", "--no-deps", "--target", IPYWIDGETS7, *pins)
    wanted = [] if DEBIAN_DATA.exists() else ["dataset-fashion-mnist"]
    if with_browser and not Path("/usr/bin/chromium").exists():
        wanted += ["chromium", "chromium-driver"]
    if wanted:
        apt_install(*wanted)
    # Prints where the data is found, or the three ways to get it.
    run(PYTHON, "-m", "metric_course.data", "info", check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["lab", "test", "setup"])
    parser.add_argument(
        "pytest_args", nargs="*", help="extra arguments for pytest (after 'test --')"
    )
    args = parser.parse_args()
    setup(with_browser=args.command == "test")
    if args.command == "lab":
        # JupyterLab refuses to start as root (containers, CI) unless told it is on purpose.
        as_root = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
        return run(BIN / "jupyter", "lab", "notebooks", *as_root, check=False)
    if args.command == "test":
        return run(
            PYTHON,
            "-m",
            "pytest",
            "tests",
            "notebooks",
            "--nbval-lax",
            "--nbval-current-env",
            "--nbval-sanitize-with",
            "notebooks/nbval_sanitize.cfg",
            "--durations=20",
            "-m",
            "",  # every test, the browser and ipywidgets 7 checks included
            "--junit-xml=artifacts/pytest.xml",  # benchmarks/notebook_times.py --junit reads it
            *args.pytest_args,
            check=False,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
