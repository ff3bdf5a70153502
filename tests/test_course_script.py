"""course.py on machines unlike ours: old Python, broken .venv, no apt-get, a GPU, conda.

course.py is imported as a module and every command it would run is recorded
by a stand-in for ``subprocess.run``: nothing is installed here.
"""

import ast
import fnmatch
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("course_script", ROOT / "course.py")
course = importlib.util.module_from_spec(spec)
spec.loader.exec_module(course)

THIS_PYTHON = "{}.{}".format(*sys.version_info[:2])


class Recorder:
    """Stands in for subprocess.run: records each command, answers with ``answer(command)``."""

    def __init__(self, answer=lambda command: (0, "", "")):
        self.answer = answer
        self.calls = []

    def __call__(self, command, **kwargs):
        self.calls.append((list(command), kwargs))
        status, out, err = self.answer(list(command))
        if kwargs.get("check") and status:
            raise subprocess.CalledProcessError(status, command)
        return subprocess.CompletedProcess(command, status, out, err)

    @property
    def commands(self):
        return [" ".join(command) for command, _ in self.calls]


@pytest.fixture
def recorder(monkeypatch):
    recorder = Recorder()
    monkeypatch.setattr(course.subprocess, "run", recorder)
    return recorder


def fake_venv(folder: Path, with_python: bool = True) -> Path:
    (folder / "bin").mkdir(parents=True)
    (folder / "pyvenv.cfg").write_text("home = /usr/bin\n")
    if with_python:
        (folder / "bin" / "python").write_text("")
    return folder


@pytest.fixture
def made(monkeypatch):
    """Records venv.create and makes a fresh folder in its place."""
    created = []

    def create(folder, with_pip):
        created.append(Path(folder))
        fake_venv(Path(folder))

    monkeypatch.setattr(course.venv, "create", create)
    return created


# ------------------------------------------------------------------ the Python version


@pytest.mark.parametrize("version", [(3, 9, 6), (3, 8, 10), (2, 7, 18)])
def test_an_old_python_is_refused_with_what_to_install(version):
    with pytest.raises(SystemExit) as stop:
        course.check_python(version)
    message = str(stop.value)
    assert f"this is Python {'.'.join(map(str, version))}" in message
    assert "needs Python 3.10 or newer" in message
    assert "Install Python 3.12" in message and "python3.12 course.py lab" in message


@pytest.mark.parametrize("version", [(3, 10, 0), (3, 13, 1), (4, 0, 0)])
def test_a_recent_python_is_accepted(version):
    course.check_python(version)


def test_the_version_is_checked_before_a_venv_is_made(monkeypatch, recorder, made):
    old = SimpleNamespace(version_info=(3, 9, 6, "final", 0), executable="/usr/bin/python3")
    monkeypatch.setattr(course, "sys", old)  # course.py's view only: pytest keeps its own
    with pytest.raises(SystemExit, match=r"needs Python 3\.10"):
        course.main(["lab"])
    assert made == [] and recorder.calls == []


# ------------------------------------------------------------------ the virtual environment


def test_a_healthy_venv_is_kept(tmp_path, made):
    folder = fake_venv(tmp_path / ".venv")
    probe = Recorder(lambda command: (0, THIS_PYTHON + "\n", ""))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(course.subprocess, "run", probe)
        assert course.venv_problem(folder) is None
        assert course.create_venv(folder) == folder / "bin" / "python"
    assert made == []
    assert "import sys, pip" in probe.commands[0]


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ((1, "", "ModuleNotFoundError: No module named 'pip'"), "has no pip"),
        ((0, "3.8\n", ""), f"was made by Python 3.8, and this is Python {THIS_PYTHON}"),
        ((1, "", "Segmentation fault"), "does not run: Segmentation fault"),
    ],
)
def test_a_broken_venv_is_made_again(tmp_path, monkeypatch, made, capsys, answer, problem):
    folder = fake_venv(tmp_path / ".venv")
    (folder / "bin" / "stale").write_text("")
    monkeypatch.setattr(course.subprocess, "run", Recorder(lambda command: answer))
    assert problem in course.venv_problem(folder)
    assert course.create_venv(folder) == folder / "bin" / "python"
    assert made == [folder]
    assert not (folder / "bin" / "stale").exists(), "the old folder is removed first"
    assert problem in capsys.readouterr().out


def test_a_venv_whose_python_is_gone_is_made_again(tmp_path, recorder, made):
    folder = fake_venv(tmp_path / ".venv", with_python=False)
    assert "has no working Python" in course.venv_problem(folder)
    course.create_venv(folder)
    assert made == [folder] and recorder.calls == []


def test_a_folder_that_is_not_a_venv_is_left_alone(tmp_path, recorder, made):
    folder = tmp_path / ".venv"
    (folder / "notes").mkdir(parents=True)
    with pytest.raises(SystemExit, match="not a virtual environment: move it away"):
        course.create_venv(folder)
    assert (folder / "notes").is_dir() and made == []


def test_no_ensurepip_says_which_package_to_install(tmp_path, monkeypatch):
    def create(folder, with_pip):
        Path(folder).mkdir()
        raise subprocess.CalledProcessError(1, ["ensurepip"])

    monkeypatch.setattr(course.venv, "create", create)
    with pytest.raises(SystemExit, match=rf"apt-get install python{THIS_PYTHON}-venv"):
        course.create_venv(tmp_path / ".venv")
    assert not (tmp_path / ".venv").exists(), "no pip-less folder is left behind"


# ------------------------------------------------------------------ apt-get and its fallbacks


@pytest.fixture
def as_root_on_debian(monkeypatch, tmp_path):
    monkeypatch.setattr(course.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(course.os, "geteuid", lambda: 0, raising=False)
    monkeypatch.setattr(course, "DEBIAN_DATA", tmp_path / "no-debian-data")
    monkeypatch.setattr(course, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setattr(course, "IPYWIDGETS7", tmp_path / "ipywidgets7")
    monkeypatch.setattr(course, "create_venv", lambda: Path("/venv/bin/python"))


def test_an_apt_failure_falls_back_and_setup_goes_on(as_root_on_debian, monkeypatch, capsys):
    recorder = Recorder(lambda command: (100 if command[0] == "apt-get" else 0, "", ""))
    monkeypatch.setattr(course.subprocess, "run", recorder)
    assert course.setup(with_browser=True) == Path("/venv/bin/python")
    out = capsys.readouterr().out
    assert "apt-get could not install dataset-fashion-mnist (exit status 100)" in out
    assert "apt-get could not install chromium chromium-driver (exit status 100)" in out
    assert "the browser test (tests/test_browser.py) is skipped" in out
    assert "/venv/bin/python -m metric_course.data download" in recorder.commands
    assert recorder.commands[-1] == "/venv/bin/python -m metric_course.data info"


def test_apt_install_failure_of_update_or_install_returns_false(as_root_on_debian, monkeypatch):
    for failing in ("update", "install"):
        recorder = Recorder(lambda command, f=failing: (int(f in command), "", ""))
        monkeypatch.setattr(course.subprocess, "run", recorder)
        assert course.apt_install("chromium") is False
    recorder = Recorder()
    monkeypatch.setattr(course.subprocess, "run", recorder)
    assert course.apt_install("chromium") is True
    assert recorder.commands == ["apt-get update -qq", "apt-get install -y -qq chromium"]
    assert recorder.calls[1][1]["env"]["DEBIAN_FRONTEND"] == "noninteractive"


def test_without_root_apt_is_not_tried(as_root_on_debian, monkeypatch, recorder, capsys):
    monkeypatch.setattr(course.os, "geteuid", lambda: 1000, raising=False)
    assert course.apt_install("chromium") is False
    assert recorder.calls == []
    assert "needs root" in capsys.readouterr().out


def test_when_the_data_cannot_be_had_setup_says_what_the_notebooks_use(
    as_root_on_debian, monkeypatch, capsys
):
    answer = {"apt-get": 100, "download": 1}
    recorder = Recorder(lambda command: (max(answer.get(p, 0) for p in command), "", ""))
    monkeypatch.setattr(course.subprocess, "run", recorder)
    course.setup(with_browser=False)
    assert "no Fashion-MNIST yet" in capsys.readouterr().out


# ------------------------------------------------------------------ the CPU, --cpu and --here


def test_course_test_runs_the_notebooks_on_the_cpu(as_root_on_debian, monkeypatch, recorder):
    monkeypatch.delenv("METRIC_COURSE_DEVICE", raising=False)
    monkeypatch.setattr(course, "setup", lambda **kwargs: Path("/venv/bin/python"))
    monkeypatch.setattr(course, "build_site", lambda python: 0)  # its own tests are below
    assert course.main(["test", "--", "-k", "loss"]) == 0
    command, options = recorder.calls[-1]
    assert options["env"]["METRIC_COURSE_DEVICE"] == "cpu"
    assert command[:5] == ["/venv/bin/python", "-m", "pytest", "tests", "notebooks"]
    assert command[-2:] == ["-k", "loss"]


def test_device_auto_lets_the_notebooks_pick(monkeypatch, recorder):
    monkeypatch.delenv("METRIC_COURSE_DEVICE", raising=False)
    monkeypatch.setattr(course, "setup", lambda **kwargs: Path("/venv/bin/python"))
    monkeypatch.setattr(course, "build_site", lambda python: 0)
    course.main(["test", "--device", "auto"])
    assert "METRIC_COURSE_DEVICE" not in recorder.calls[-1][1]["env"]


def test_cpu_installs_torch_from_pytorchs_cpu_index_first():
    python = Path("/venv/bin/python")
    default = [" ".join(map(str, c)) for c in course.pip_commands(python, False, cpu=False)]
    cpu = [" ".join(map(str, c)) for c in course.pip_commands(python, False, cpu=True)]
    assert not any("--index-url" in command for command in default)
    wheel_index = (
        "/venv/bin/python -m pip install --quiet torch torchvision "
        "--index-url https://download.pytorch.org/whl/cpu"
    )
    assert cpu == [default[0], wheel_index, *default[1:]]
    assert cpu[-1].endswith("-e .[dev]")


def test_cpu_reaches_pip_from_the_command_line(as_root_on_debian, monkeypatch, recorder):
    monkeypatch.setattr(course, "DEBIAN_DATA", ROOT)  # data found: no apt-get
    course.main(["setup", "--cpu"])
    assert any("--index-url https://download.pytorch.org/whl/cpu" in c for c in recorder.commands)


def test_here_installs_into_the_active_environment(as_root_on_debian, monkeypatch, recorder):
    monkeypatch.setattr(course, "DEBIAN_DATA", ROOT)
    monkeypatch.setattr(course, "create_venv", lambda: pytest.fail(".venv must not be made"))
    assert course.setup(with_browser=False, here=True) == Path(sys.executable)
    assert recorder.commands[0] == f"{sys.executable} -m pip install --quiet -e .[dev]"
    course.main(["lab", "--here"])
    assert f"{sys.executable} -m jupyter lab notebooks" in recorder.commands[-1]


# ------------------------------------------------------------------ conda in step with pip


def pyproject_requirements() -> list[str]:
    """The requirements of pyproject's dependencies and its dev, browser and site extras."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    lists = re.findall(r"^(?:dependencies|dev|browser|site) = \[(.*?)\]", text, re.M | re.S)
    return [req for body in lists for req in re.findall(r'^\s*"([^"]+)"', body, re.M)]


def test_environment_yml_is_in_step_with_pyproject():
    conda = (ROOT / "environment.yml").read_text(encoding="utf-8").splitlines()
    wanted = {line.strip().removeprefix("- ") for line in conda if line.startswith("  - ")}
    conda_names = {"torch": "pytorch"}
    for requirement in pyproject_requirements():
        if ";" in requirement:  # a platform's extra bound (Intel Macs); conda solves those itself
            continue
        name, spec = re.match(r"([\w-]+)(.*)", requirement).groups()
        assert f"{conda_names.get(name, name)}{spec}" in wanted, f"environment.yml lacks {name}"
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    bound = re.search(r'^requires-python = "(.*)"', text, re.M)[1]
    assert f"python{bound}" in wanted
    assert bound == ">={}.{}".format(*course.MINIMUM_PYTHON), "course.py checks the same version"


def test_a_failed_install_stops_with_the_command_that_failed(
    as_root_on_debian, monkeypatch, capsys
):
    pip_refuses = Recorder(lambda command: (1 if "-e" in command else 0, "", ""))
    monkeypatch.setattr(course.subprocess, "run", pip_refuses)
    assert course.main(["lab", "--here"]) == 1
    assert f"setup stopped: `{sys.executable} -m pip install --quiet -e .[dev]` failed" in (
        capsys.readouterr().out
    )
    assert not any("jupyter" in command for command in pip_refuses.commands)


def test_course_py_parses_on_old_pythons_so_they_get_the_message():
    source = (ROOT / "course.py").read_text(encoding="utf-8")
    ast.parse(source, feature_version=(3, 7))


def test_a_plain_install_ships_every_subpackage():
    """Colab installs with plain pip, not editable: widgets/ and exercises/ must be shipped."""
    text = (ROOT / "pyproject.toml").read_text()
    found = re.search(r"\[tool\.setuptools\.packages\.find\]\s*include = \[([^\]]*)\]", text)
    assert found, "pyproject.toml: find the packages ([tool.setuptools.packages.find] include)"
    patterns = re.findall(r'"([^"]+)"', found.group(1))
    packages = [
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "metric_course").rglob("__init__.py")
    ]
    missing = [p for p in packages if not any(fnmatch.fnmatch(p, pat) for pat in patterns)]
    assert len(packages) >= 3 and not missing, f"pyproject.toml does not ship {missing}"


# ------------------------------------------------------------------ the website (course.py site)


def test_site_without_npm_says_how_to_get_it(monkeypatch, recorder, capsys):
    monkeypatch.setattr(course.shutil, "which", lambda name: None)
    assert course.build_site(Path("/venv/bin/python")) == 1
    assert "the website needs npm (Node.js): apt-get install npm" in capsys.readouterr().out
    assert recorder.calls == []


def test_site_installs_the_site_extra_and_builds(monkeypatch, recorder):
    built = []
    monkeypatch.setattr(course, "build_site", lambda python: built.append(python) or 0)
    monkeypatch.setattr(course, "DEBIAN_DATA", ROOT)
    monkeypatch.setattr(course.shutil, "which", lambda name: f"/usr/bin/{name}")
    assert course.main(["site", "--here"]) == 0
    assert built == [Path(sys.executable)]
    assert f"{sys.executable} -m pip install --quiet -e .[dev,site]" in recorder.commands


def test_a_failed_site_build_fails_course_test(monkeypatch, recorder):
    monkeypatch.setattr(course, "setup", lambda **kwargs: Path("/venv/bin/python"))
    monkeypatch.setattr(course, "build_site", lambda python: 2)
    monkeypatch.setattr(course.shutil, "which", lambda name: f"/usr/bin/{name}")
    assert course.main(["test"]) == 2
    assert recorder.calls[-1][0][:3] == ["/venv/bin/python", "-m", "pytest"], "tests still run"


def test_the_sites_javascript_comes_from_exactly_pinned_packages():
    package = json.loads((course.SITE / "package.json").read_text(encoding="utf-8"))
    pins = package["dependencies"]
    assert all(re.fullmatch(r"\d+\.\d+\.\d+", version) for version in pins.values()), pins
    lock = json.loads((course.SITE / "package-lock.json").read_text(encoding="utf-8"))
    for name, version in pins.items():
        assert lock["packages"][f"node_modules/{name}"]["version"] == version
    for source, _ in course.SITE_ASSETS:
        parts = Path(source).parts
        name = "/".join(parts[:2]) if parts[0].startswith("@") else parts[0]
        assert name in pins, f"{source} comes from {name}, which site/package.json does not pin"
    config = (course.SITE / "_config.yml").read_text(encoding="utf-8")
    static = course.SITE_STATIC.relative_to(course.ROOT).as_posix()
    assert f"html_static_path: [{static}, site/static]" in config


def test_bare_course_py_prints_the_usage_with_the_commands(recorder, capsys):
    assert course.main([]) == 2
    out = capsys.readouterr().out
    assert out.startswith("usage: ")
    assert "python3 course.py lab " in out and "python3 course.py test " in out
    assert recorder.calls == []  # nothing is set up


def test_bare_course_py_on_the_command_line_names_the_commands_not_arguments():
    finished = subprocess.run(
        [sys.executable, str(ROOT / "course.py")], capture_output=True, text=True, timeout=60
    )
    assert finished.returncode == 2 and "python3 course.py lab " in finished.stdout
    assert "required" not in finished.stdout + finished.stderr


def test_execute_drops_the_cells_execution_timestamps_and_keeps_the_rest(tmp_path):
    notebook = tmp_path / "00_x.ipynb"
    stamps = {"iopub.execute_input": "2026-12-01T05:09:30Z", "shell.execute_reply": "…"}
    cells = [
        {"cell_type": "code", "metadata": {"execution": stamps, "tags": ["a"]}, "source": "1"},
        {"cell_type": "markdown", "metadata": {}, "source": "# x"},
    ]
    notebook.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4}))
    course.drop_execution_times(notebook)
    saved = json.loads(notebook.read_text())
    assert [cell["metadata"] for cell in saved["cells"]] == [{"tags": ["a"]}, {}]
    assert notebook.read_text().startswith('{\n "cells": [')  # nbformat's layout: indent 1
