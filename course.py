#!/usr/bin/env python3
"""Set up the course and open it, or set it up and run every test.

    python3 course.py lab     # install everything, then open the notebooks in JupyterLab
    python3 course.py test    # install everything, then run the unit tests and the notebooks
    python3 course.py site    # install everything, then build the website into artifacts/site
    python3 course.py execute # re-execute every notebook in order, saving its outputs

Both create a virtual environment in ``.venv`` (once; rebuilt when it has no
pip or was made by another Python), install the course package with its
development tools into it, and make sure Fashion-MNIST can be found. Options:

    --cpu            install PyTorch's CPU-only build (no CUDA libraries: a smaller download)
    --here           install into the active environment (conda, your own venv), not .venv
    --device auto    (test) let the notebooks use a GPU; by default they run on the CPU,
                     because the numbers they check were made on a CPU

Only the Python standard library is used here, so this runs on a fresh
machine with nothing but Python 3.10 or newer.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

MINIMUM_PYTHON = (3, 10)
ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
DEBIAN_DATA = Path("/usr/share/datasets/fashion-mnist")
CHROMIUM = Path("/usr/bin/chromium")
# PyTorch's own index of CPU-only wheels (PyPI's Linux torch brings several GB of CUDA).
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# Colab's ipywidgets, beside the environment: tests/test_ipywidgets7.py runs the widget tests on it.
IPYWIDGETS7 = ROOT / "build" / "ipywidgets7"
# The website (docs/site.md): the book's configuration and npm packages in site/, the files the
# pages load copied into SITE_STATIC (site/_config.yml's html_static_path), the pages in SITE_OUT.
SITE = ROOT / "site"
SITE_STATIC = ROOT / "build" / "site-static"
SITE_OUT = ROOT / "artifacts" / "site"
# What the pages load instead of CDNs: (in site/node_modules, in the site's _static/).
SITE_ASSETS = [
    ("requirejs/require.js", "require.js"),  # its MIT licence is in its header
    ("mathjax/es5/tex-chtml.js", "mathjax/tex-chtml.js"),
    ("mathjax/LICENSE", "mathjax/LICENSE"),
    ("mathjax/es5/input", "mathjax/input"),  # TeX extensions MathJax loads when a page needs them
    ("mathjax/es5/output", "mathjax/output"),  # its fonts
    ("mathjax/es5/ui", "mathjax/ui"),  # its right-click menu
    ("mathjax/es5/a11y", "mathjax/a11y"),
    ("@jupyter-widgets/html-manager/dist", "html-manager"),  # draws the saved ipywidgets
]
SITE_ASSETS_LEFT_OUT = ("*.map", "embed.js", "libembed-amd.js")  # source maps, unused bundles
JUPYTER_BOOK = "import sys; from jupyter_book.cli.main import main; sys.exit(main())"


def run(*command: str | Path, check: bool = True, env: dict | None = None) -> int:
    """Run a command, echoing it first so the user sees what happens."""
    print("+", " ".join(str(part) for part in command), flush=True)
    parts = [str(part) for part in command]
    return subprocess.run(parts, cwd=ROOT, check=check, env=env).returncode


def check_python(version: tuple | None = None) -> None:
    """Stop, saying what to install, when this Python (or ``version``) is too old."""
    version = tuple(version or sys.version_info)
    if version[:2] >= MINIMUM_PYTHON:
        return
    have = ".".join(str(part) for part in version[:3])
    need = ".".join(str(part) for part in MINIMUM_PYTHON)
    raise SystemExit(
        f"The course needs Python {need} or newer; this is Python {have} ({sys.executable}).\n"
        "Install Python 3.12 (python.org for macOS and Windows; on Debian or Ubuntu "
        "`sudo apt-get install python3.12 python3.12-venv`; or conda), then run this command "
        "with it, e.g. `python3.12 course.py lab`."
    )


def venv_python(folder: Path = VENV) -> Path:
    """Where a virtual environment keeps its Python."""
    if os.name == "nt":
        return folder / "Scripts" / "python.exe"
    return folder / "bin" / "python"


def venv_problem(folder: Path = VENV) -> str | None:
    """Why the virtual environment in ``folder`` cannot be used; None when it can (or is absent)."""
    if not folder.exists():
        return None
    python = venv_python(folder)
    if not python.exists():
        return f"{folder} has no working Python ({python} is missing or points nowhere)"
    probe = subprocess.run(
        [str(python), "-c", "import sys, pip; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        if "pip" in probe.stderr:
            return f"{folder} has no pip (Debian leaves such a folder when python3-venv is missing)"
        return f"{python} does not run: {probe.stderr.strip() or probe.returncode}"
    made_by = probe.stdout.strip()
    this = "{}.{}".format(*sys.version_info[:2])
    if made_by != this:
        return f"{folder} was made by Python {made_by}, and this is Python {this}"
    return None


def create_venv(folder: Path = VENV) -> Path:
    """A working virtual environment in ``folder``: kept, repaired or made; returns its Python."""
    problem = venv_problem(folder)
    if problem:
        if not (folder / "pyvenv.cfg").is_file():
            raise SystemExit(f"{problem}, and it is not a virtual environment: move it away.")
        print(f"{problem}: making it again")
        shutil.rmtree(folder)
    if not folder.exists():
        print(f"creating a virtual environment in {folder}")
        try:
            venv.create(folder, with_pip=True)
        except subprocess.CalledProcessError:
            shutil.rmtree(folder, ignore_errors=True)
            version = "{}.{}".format(*sys.version_info[:2])
            raise SystemExit(
                f"This Python cannot make a virtual environment with pip. On Debian or Ubuntu: "
                f"`sudo apt-get install python{version}-venv`, then run this command again "
                "(or use conda and --here, see the README)."
            ) from None
    return venv_python(folder)


def apt_install(*packages: str) -> bool:
    """Install Debian packages when we are root on a Debian-like system; True when they were.

    Any failure (not root, no network, a package this distribution names
    differently) is reported and returns False: setup goes on without them.
    """
    wanted = " ".join(packages)
    if not (shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0):
        print(f"note: could not install {wanted} with apt-get (needs root on Debian or Ubuntu).")
        return False
    quiet = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    status = run("apt-get", "update", "-qq", check=False, env=quiet)
    if status == 0:
        status = run("apt-get", "install", "-y", "-qq", *packages, check=False, env=quiet)
    if status != 0:
        print(f"note: apt-get could not install {wanted} (exit status {status}).")
        return False
    return True


def pip_commands(
    python: Path, with_browser: bool, cpu: bool, here: bool = False, with_site: bool = False
) -> list[list[str | Path]]:
    """The pip commands that install the course (PyTorch's CPU build first when ``cpu``).

    pip itself is upgraded in ``.venv`` only: the active environment (``here``) is the user's.
    """
    pip = [python, "-m", "pip", "install", "--quiet"]
    commands = [] if here else [[*pip, "--upgrade", "pip"]]
    if cpu:
        commands.append([*pip, "torch", "torchvision", "--index-url", TORCH_CPU_INDEX])
    extras = ",".join(["dev", *["browser"] * with_browser, *["site"] * with_site])
    commands.append([*pip, "-e", f".[{extras}]"])
    if with_browser and not (IPYWIDGETS7 / "ipywidgets").is_dir():
        pins = ("ipywidgets==7.7.1", "ipython_genutils==0.2.0")
        commands.append([*pip, "--no-deps", "--target", IPYWIDGETS7, *pins])
    return commands


def setup(
    with_browser: bool, cpu: bool = False, here: bool = False, with_site: bool = False
) -> Path:
    """Install the course and its data; returns the Python of the environment used."""
    check_python()
    if here:
        python = Path(sys.executable)
        print(f"installing into the active environment of {python}")
    else:
        python = create_venv()
    for command in pip_commands(python, with_browser, cpu, here, with_site):
        run(*command)
    if with_site and not shutil.which("npm") and not apt_install("npm"):
        print("note: without npm (Node.js) the website cannot be built (python3 course.py site).")
    if not DEBIAN_DATA.exists() and not apt_install("dataset-fashion-mnist"):
        # No Debian package: fetch the files into data/ (verified; nothing when already there).
        if run(python, "-m", "metric_course.data", "download", check=False) != 0:
            print("note: no Fashion-MNIST yet; the notebooks fall back to scikit-learn's digits.")
    if with_browser and not CHROMIUM.exists() and not apt_install("chromium", "chromium-driver"):
        print("note: without Chromium the browser test (tests/test_browser.py) is skipped.")
    # Prints where the data is found, or the three ways to get it.
    run(python, "-m", "metric_course.data", "info", check=False)
    return python


def pytest_command(python: Path, device: str, pytest_args: list[str]) -> tuple[list, dict]:
    """The pytest command of ``course.py test`` and its environment (CPU unless ``device``)."""
    env = dict(os.environ)
    if device == "cpu":
        env["METRIC_COURSE_DEVICE"] = "cpu"
    command = [
        python,
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
        *pytest_args,
    ]
    return command, env


def build_site(python: Path) -> int:
    """Build the website of the executed notebooks into ``artifacts/site``; 0 when it built.

    No notebook is run: the pages show the outputs saved in the notebooks, the
    ones nbval checked. MathJax, require.js and the ipywidgets HTML manager come
    from npm (pinned in site/package-lock.json) and are served by the site itself,
    so its pages need no network. Any Sphinx warning (a broken link, a missing
    heading anchor) fails the build.
    """
    npm = shutil.which("npm")
    if npm is None:
        print("the website needs npm (Node.js): apt-get install npm, or https://nodejs.org")
        return 1
    shutil.rmtree(SITE_OUT, ignore_errors=True)
    installed = SITE / "node_modules" / ".package-lock.json"
    lock = SITE / "package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        status = run(
            npm, "ci", "--prefix", SITE, "--no-audit", "--no-fund", "--ignore-scripts", check=False
        )
        if status != 0:
            return status
    shutil.rmtree(SITE_STATIC, ignore_errors=True)
    for source, target in SITE_ASSETS:
        source, target = SITE / "node_modules" / source, SITE_STATIC / target
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns(*SITE_ASSETS_LEFT_OUT))
        else:
            shutil.copy2(source, target)
    book = ["--config", SITE / "_config.yml", "--toc", SITE / "_toc.yml"]
    output = ROOT / "build" / "site"
    status = run(
        python,
        "-c",
        JUPYTER_BOOK,
        "build",
        ROOT,
        *book,
        "--path-output",
        output,
        "--all",
        "-W",
        "--keep-going",
        check=False,
    )
    if status != 0:
        return status
    shutil.copytree(output / "_build" / "html", SITE_OUT)
    print(
        f"website built: open {SITE_OUT / 'index.html'} (or serve it: "
        f"python3 -m http.server --directory {SITE_OUT.relative_to(ROOT)})"
    )
    return 0


def execute_notebooks(python: Path, notebooks: list[Path] | None = None) -> int:
    """Run the notebooks top to bottom in order, in place, on the CPU, from an empty model cache.

    The saved outputs are what a student sees first, what nbval compares and
    what the website shows, so they must come from the code that lands: run
    this after changing the package or a notebook. The model cache is emptied
    first, so every model is trained by today's code (later notebooks reuse
    what earlier ones cache); no per-cell timestamps are saved.
    """
    notebooks = notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    where = subprocess.run(
        [str(python), "-c", "from metric_course.recipe import model_cache_dir as d; print(d())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if Path(where).is_dir():
        print(f"emptying the model cache {where}")
        shutil.rmtree(where)
    env = {**os.environ, "METRIC_COURSE_DEVICE": "cpu"}
    for notebook in notebooks:
        status = run(
            python, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute", "--inplace",
            "--ExecutePreprocessor.timeout=900", "--ExecutePreprocessor.record_timing=False",
            notebook, check=False, env=env,
        )  # fmt: skip
        if status:
            print(f"{notebook.name} stopped with an error, so its file is unchanged; see above.")
            return status
        drop_execution_times(notebook)
    return 0


def drop_execution_times(notebook: Path) -> None:
    """Remove per-cell execution timestamps: they change on every run and tell a reader nothing."""
    content = json.loads(notebook.read_text(encoding="utf-8"))
    for cell in content["cells"]:
        cell.get("metadata", {}).pop("execution", None)
    text = json.dumps(content, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
    notebook.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("command", choices=["lab", "test", "setup", "site", "execute"])
    parser.add_argument(
        "pytest_args", nargs="*", help="extra arguments for pytest (after 'test --')"
    )
    parser.add_argument(
        "--cpu", action="store_true", help=f"install PyTorch's CPU-only build ({TORCH_CPU_INDEX})"
    )
    parser.add_argument(
        "--here", action="store_true", help="use the active environment (conda) instead of .venv"
    )
    parser.add_argument(
        "--device",
        choices=["cpu", "auto"],
        default="cpu",
        help="test: where the notebooks train; 'auto' lets them use a GPU (checked numbers "
        "were made on a CPU and differ on a GPU)",
    )
    if not (sys.argv[1:] if argv is None else argv):  # argparse would name arguments, not commands
        print(f"{parser.format_usage()}\n{__doc__}")
        return 2
    args = parser.parse_args(argv)
    try:
        python = setup(
            with_browser=args.command == "test",
            cpu=args.cpu,
            here=args.here,
            with_site=args.command in ("test", "site"),
        )
    except subprocess.CalledProcessError as error:
        command = " ".join(str(part) for part in error.cmd)
        print(f"setup stopped: `{command}` failed (exit status {error.returncode}); see above.")
        return error.returncode
    if args.command == "lab":
        # JupyterLab refuses to start as root (containers, CI) unless told it is on purpose.
        as_root = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
        return run(python, "-m", "jupyter", "lab", "notebooks", *as_root, check=False)
    if args.command == "site":
        return build_site(python)
    if args.command == "execute":
        return execute_notebooks(python)
    if args.command == "test":
        # The site first, so the browser test of its pages (tests/test_site.py) sees this build.
        site = build_site(python) if shutil.which("npm") else 0
        command, env = pytest_command(python, args.device, args.pytest_args)
        return run(*command, check=False, env=env) or site
    return 0


if __name__ == "__main__":
    sys.exit(main())
