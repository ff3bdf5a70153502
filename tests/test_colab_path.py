"""Colab's path: notebooks 00 and 06 install the course the way Colab does, then run.

CI cannot reach Colab, so this runs what Colab runs, on this machine:

- the course's committed files (``git stash create``: HEAD plus changes to tracked files) are
  pushed to a bare repository served by ``git daemon`` on a free 127.0.0.1 port, as
  ``git://127.0.0.1:PORT/course.git`` at the tag ``colab-path`` (pip refuses ``git+file://`` with
  an ``@ref``);
- a fresh virtual environment sees only what Colab preinstalls (``COLAB_HAS`` and what the
  notebooks ``%pip install``, with their dependencies, linked from this environment) with Colab's
  ipywidgets 7.7.1 (``build/ipywidgets7``, which ``course.py test`` installs), and not the course
  itself nor its test tools (pytest, JupyterLab, Playwright...);
- an IPython startup file puts a stub ``google.colab`` module in ``sys.modules``, so the setup
  cell takes its Colab branch: ``%pip install --no-deps "metric-course @ git+URL@REF"`` from the
  local server (the notebook's ``COURSE_REPOSITORY`` and ``COURSE_REF`` lines are pointed there),
  then its ``%pip install`` of the extra packages, with ``PIP_NO_INDEX`` so nothing is fetched;
- every cell runs (nbconvert) in a folder outside the checkout, so the installed package, not
  the working tree, is imported, which a last added cell checks.

So a file the package needs but does not ship (a ``.js`` asset), an import of a package the
course does not declare, or a widget that needs ipywidgets 8 fails here, not in a classroom.

    pytest -m colab -v tests/test_colab_path.py

Skipped, with the reason, without git, a git checkout, ipywidgets 7.7.1 or Omniglot's files.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sysconfig
import time
import venv
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

pytestmark = pytest.mark.colab

ROOT = Path(__file__).resolve().parents[1]
IPYWIDGETS7 = Path(os.environ.get("METRIC_COURSE_IPYWIDGETS7", ROOT / "build" / "ipywidgets7"))
NOTEBOOKS = ["00_setup.ipynb", "06_exploring_the_embedding_space.ipynb"]
REF = "colab-path"
RUN_SECONDS = 900  # 06 trains its models from an empty cache here
# What Colab preinstalls (ECOSYSTEM.md, "Colab") and what runs the notebook there, and what the
# notebooks' setup cells `%pip install`: these and their dependencies are in the environment.
COLAB_HAS = (
    *("torch", "torchvision", "numpy", "matplotlib", "scikit-learn", "pillow", "tqdm"),
    *("tensorboard", "ipykernel", "nbconvert", "pip", "setuptools", "wheel"),
)
NOTEBOOK_INSTALLS = ("umap-learn", "pytorch-metric-learning", "faiss-cpu")
# Never linked: the course (installed from the server) and ipywidgets 8 (7.7.1 takes its place).
HIDDEN = {"metric-course", "ipywidgets"}
COLAB_STUB = '''\
"""Colab's modules as far as the notebooks look: `"google.colab" in sys.modules`."""
import sys
import types

try:
    import google  # a namespace package (protobuf) may already hold google.*
except ImportError:
    google = sys.modules["google"] = types.ModuleType("google")
colab = types.ModuleType("google.colab")
colab.output = types.SimpleNamespace(enable_custom_widget_manager=lambda: None)
google.colab = colab
sys.modules["google.colab"] = colab
'''
WHERE_FROM = (
    "import importlib.util, ipywidgets, metric_course\n"
    "print('metric_course from', metric_course.__file__)\n"
    "print('ipywidgets', ipywidgets.__version__)\n"
    "tools = ('pytest', 'jupyterlab', 'playwright', 'hypothesis', 'nbval')\n"
    "print('test tools:', [name for name in tools if importlib.util.find_spec(name)])"
)


def with_dependencies(names) -> list[metadata.Distribution]:
    """The installed distributions ``names`` need, themselves included, with requested extras."""
    found, done = {}, set()
    todo = [(canonicalize_name(name), "") for name in names]
    while todo:
        name, extra = todo.pop()
        if (name, extra) in done or name in HIDDEN:
            continue
        done.add((name, extra))
        try:
            found[name] = distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # a dependency of another platform or Python
        for line in distribution.requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": extra}):
                wanted = canonicalize_name(requirement.name)
                todo += [(wanted, ""), *((wanted, more) for more in requirement.extras)]
    return list(found.values())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def git(*args: str, cwd: Path = ROOT) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"git {' '.join(args)} failed: {done.stderr}"
    return done.stdout.strip()


@pytest.fixture(scope="module")
def git_server(tmp_path_factory):
    """The course's committed files served by git daemon; yields the repository's git:// URL."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout of the course")
    snapshot = git("stash", "create") or git("rev-parse", "HEAD")
    served = tmp_path_factory.mktemp("git")
    git("init", "--quiet", "--bare", str(served / "course.git"))
    # A default branch too: a clone whose HEAD names no branch cannot be checked out by pip.
    refs = [f"{snapshot}:refs/heads/main", f"{snapshot}:refs/tags/{REF}"]
    git("push", "--quiet", str(served / "course.git"), *refs)
    git("symbolic-ref", "HEAD", "refs/heads/main", cwd=served / "course.git")
    port = free_port()
    command = [
        "git",
        "daemon",
        "--export-all",
        "--reuseaddr",
        f"--base-path={served}",
        "--listen=127.0.0.1",
        f"--port={port}",
        str(served),
    ]
    daemon = subprocess.Popen(command, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            if daemon.poll() is not None:
                pytest.fail(f"git daemon exited: {daemon.stderr.read().decode()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("git daemon did not listen within 30 s")
                time.sleep(0.2)
        yield f"git://127.0.0.1:{port}/course.git"
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait(timeout=10)


@pytest.fixture(scope="module")
def colab_python(tmp_path_factory) -> Path:
    """A virtual environment: Colab's packages (linked from here), ipywidgets 7.7.1, no course."""
    if not (IPYWIDGETS7 / "ipywidgets").is_dir():
        pytest.skip(f"no ipywidgets 7.7.1 in {IPYWIDGETS7}: python3 course.py test installs it")
    home = tmp_path_factory.mktemp("colab-env")
    venv.create(home / "env", with_pip=False, symlinks=True)
    python = home / "env" / "bin" / "python"
    site_packages = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # Colab's preinstalled packages: a folder of links to this environment's files of each
    # distribution (its modules and its .dist-info); pip installs into the new environment.
    preinstalled = home / "preinstalled"
    preinstalled.mkdir()
    here = Path(sysconfig.get_paths()["purelib"])
    for distribution in with_dependencies([*COLAB_HAS, *NOTEBOOK_INSTALLS]):
        for top in {Path(file).parts[0] for file in distribution.files or []}:
            if top != ".." and (here / top).exists() and not (preinstalled / top).exists():
                (preinstalled / top).symlink_to(here / top)
    for entry in IPYWIDGETS7.iterdir():
        (preinstalled / entry.name).symlink_to(entry.resolve())
    (site_packages / "colab-preinstalled.pth").write_text(
        f"import site; site.addsitedir({str(preinstalled)!r})\n"
    )
    return python


def colab_copy(notebook: str, repository: str, folder: Path) -> Path:
    """The notebook with its setup pointed at the local server, and a last cell saying what ran."""
    content = json.loads((ROOT / "notebooks" / notebook).read_text(encoding="utf-8"))
    pointed = 0
    for cell in content["cells"]:
        source = "".join(cell["source"])
        new = re.sub(r'COURSE_REPOSITORY = "[^"]*"', f'COURSE_REPOSITORY = "{repository}"', source)
        new = re.sub(r'COURSE_REF = "[^"]*"', f'COURSE_REF = "{REF}"', new)
        pointed += new != source
        cell["source"] = new
    assert pointed == 1, (
        f"{notebook}: expected one setup cell with COURSE_REPOSITORY and COURSE_REF"
    )
    content["cells"].append(
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
         "source": WHERE_FROM, "id": "colab-path-check"}
    )  # fmt: skip
    path = folder / notebook
    path.write_text(json.dumps(content), encoding="utf-8")
    return path


def colab_environment(home: Path, python: Path) -> dict:
    """Variables for the kernel: the stub, the data, no network for pip, nothing of the checkout."""
    startup = home / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-google-colab.py").write_text(COLAB_STUB)
    kernel = home / "jupyter" / "kernels" / "colab"
    kernel.mkdir(parents=True)
    argv = [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (kernel / "kernel.json").write_text(json.dumps({"argv": argv, "language": "python"}))
    data = home / "data"
    (data / "omniglot").mkdir(parents=True)
    for source in (ROOT / "data" / "omniglot").glob("*.zip"):
        (data / "omniglot" / source.name).symlink_to(source)
    if (ROOT / "data" / "fashion-mnist").is_dir():
        (data / "fashion-mnist").symlink_to(ROOT / "data" / "fashion-mnist")
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    return {
        **env,
        "IPYTHONDIR": str(home / "ipython"),
        "JUPYTER_PATH": str(home / "jupyter"),
        "JUPYTER_DATA_DIR": str(home / "jupyter"),
        "METRIC_COURSE_DATA": str(data),
        "METRIC_COURSE_DEVICE": "cpu",
        "PIP_NO_INDEX": "1",  # the git server is the only source; Colab's packages are there
        "PIP_NO_BUILD_ISOLATION": "0",  # build with the environment's setuptools, offline
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_notebook_installs_and_runs_as_on_colab(notebook, git_server, colab_python, tmp_path):
    if len(list((ROOT / "data" / "omniglot").glob("*.zip"))) < 3:
        pytest.skip(
            "Omniglot's three zips are not in data/omniglot (python -m metric_course.data download)"
        )
    work = tmp_path / "work"  # outside the checkout: `import metric_course` finds the installed one
    work.mkdir()
    copy = colab_copy(notebook, git_server, work)
    env = colab_environment(tmp_path, colab_python)
    command = [
        colab_python, "-m", "nbconvert", "--to", "notebook", "--execute", "--output", "ran",
        "--ExecutePreprocessor.kernel_name=colab", f"--ExecutePreprocessor.timeout={RUN_SECONDS}",
        copy,
    ]  # fmt: skip
    run = subprocess.run(
        command, cwd=work, env=env, capture_output=True, text=True, timeout=RUN_SECONDS + 120
    )
    assert run.returncode == 0, f"{notebook} failed on Colab's path:\n{run.stderr[-6000:]}"
    ran = json.loads((work / "ran.ipynb").read_text(encoding="utf-8"))
    setup = next(cell for cell in ran["cells"] if "COURSE_REF" in "".join(cell["source"]))
    said = "".join("".join(out.get("text", "")) for out in setup["outputs"])
    assert not re.search(r"\berror\b", said, re.I), f"{notebook}: the install said: {said}"
    last = "".join("".join(out.get("text", "")) for out in ran["cells"][-1]["outputs"])
    installed = str(colab_python.parents[1])
    assert f"metric_course from {installed}" in last, (
        f"{notebook}: not the installed package: {last}"
    )
    assert "ipywidgets 7.7.1" in last, last
    assert "test tools: []" in last, f"the environment is not Colab's: {last}"
