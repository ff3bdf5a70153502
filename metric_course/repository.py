"""The course's repository address and the ref Colab uses, written once and checked everywhere.

    python -m metric_course.instructor set-repository https://github.com/ORG/REPO [--ref REF]
    python -m metric_course.instructor check-repository

Both are written in one place, ``pyproject.toml``: ``Repository`` under
``[project.urls]``, and ``colab-ref`` under ``[tool.metric-course]``, the tag
or commit the notebooks belong to. The Colab badges (in the README, at the top
of each notebook and on the website) open the notebooks at that ref, and the
``COURSE_REPOSITORY`` and ``COURSE_REF`` lines of each notebook's setup cell
install the package from it, so a notebook and its package always match.
:func:`set_repository` rewrites them all, :func:`repository_problems` lists
every place that disagrees (docs/instructors.md, "Pinning a term to a release").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"

REPOSITORY_URL = re.compile(r"^https://github\.com/(?P<owner>[\w.-]+)/(?P<name>[\w.-]+)$")
REF_NAME = re.compile(r"^[\w.-]+$")  # a tag or a commit: one path segment of a Colab link
# The repository's part of a Colab link: colab.research.google.com/github/OWNER/NAME/blob/REF/
COLAB_LINK = re.compile(
    r"https://colab\.research\.google\.com/github/(?P<owner>[\w.-]+)/(?P<name>[\w.-]+)"
    r"/blob/(?P<branch>[\w.-]+)/(?P<path>[\w./-]+\.ipynb)"
)
# Inside a notebook's JSON the quotes around the address are escaped: \"...\".
COURSE_REPOSITORY_LINE = re.compile(
    r'COURSE_REPOSITORY = (?P<quote>\\?")(?P<url>[^"\\]*)(?P=quote)'
)
COURSE_REF_LINE = re.compile(r'COURSE_REF = (?P<quote>\\?")(?P<ref>[^"\\]*)(?P=quote)')
URLS, TOOL = "project.urls", "tool.metric-course"  # the pyproject tables of the address and ref
PYPROJECT_REPOSITORY = re.compile(
    r'^(?P<key>Repository\s*=\s*")(?P<url>[^"]*)(?P<end>")', re.MULTILINE
)
PYPROJECT_REF = re.compile(r'^(?P<key>colab-ref\s*=\s*")(?P<ref>[^"]*)(?P<end>")', re.MULTILINE)


def normalize_repository(url: str) -> str:
    """``https://github.com/OWNER/NAME`` from a GitHub address (trailing ``/`` or ``.git`` dropped).

    Colab opens notebooks from GitHub only, so other hosts are refused.
    """
    url = url.strip().removesuffix("/").removesuffix(".git")
    if not REPOSITORY_URL.match(url):
        raise ValueError(
            f"{url!r} is not a GitHub repository address; write it as "
            "https://github.com/OWNER/NAME (Colab badges open notebooks from GitHub only)"
        )
    return url


def normalize_ref(ref: str) -> str:
    """A tag or commit name that a Colab link and ``pip install git+URL@REF`` can both use."""
    ref = ref.strip()
    if not REF_NAME.match(ref):
        raise ValueError(
            f"{ref!r} is not a tag or commit name a Colab link can open: use letters, digits, "
            "'.', '-' and '_' only, e.g. v0.1.0 or a commit hash"
        )
    return ref


def colab_url(repository: str, notebook: str, ref: str) -> str:
    """The address that opens ``notebooks/<notebook>`` of ``repository`` at ``ref`` in Colab."""
    return f"{_colab_base(repository, ref)}/notebooks/{notebook}"


def _colab_base(repository: str, ref: str) -> str:
    match = REPOSITORY_URL.match(normalize_repository(repository))
    return f"https://colab.research.google.com/github/{match['owner']}/{match['name']}/blob/{ref}"


def read_repository(root: str | Path) -> str:
    """The repository address from ``[project.urls] Repository`` in ``pyproject.toml``."""
    pyproject = Path(root) / "pyproject.toml"
    match = PYPROJECT_REPOSITORY.search(_table(pyproject.read_text(encoding="utf-8"), URLS))
    if match is None:
        raise ValueError(
            f'{pyproject} has no Repository = "https://github.com/OWNER/NAME" under '
            "[project.urls]: add it, it is the one place the course's address is written"
        )
    return normalize_repository(match["url"])


def read_ref(root: str | Path) -> str:
    """The tag or commit Colab uses: ``[tool.metric-course] colab-ref`` in ``pyproject.toml``."""
    pyproject = Path(root) / "pyproject.toml"
    match = PYPROJECT_REF.search(_table(pyproject.read_text(encoding="utf-8"), TOOL))
    if match is None:
        raise ValueError(
            f'{pyproject} has no colab-ref = "TAG" under [tool.metric-course]: add it (the tag '
            "or commit whose notebooks and package Colab should use, e.g. v0.1.0)"
        )
    return normalize_ref(match["ref"])


def _table(text: str, name: str) -> str:
    """The body of the table ``[name]`` of a pyproject file's text ("" when there is none)."""
    header = re.escape(f"[{name}]")
    match = re.search(rf"^{header}\s*$(?P<body>.*?)(?=^\[|\Z)", text, re.M | re.S)
    return match["body"] if match else ""


@dataclass(frozen=True)
class Mention:
    """One place that names the repository: the file, what it is, and the address it uses."""

    path: Path
    what: str
    repository: str
    ref: str | None = None  # for Colab links


def repository_mentions(root: str | Path) -> list[Mention]:
    """Every Colab link and ``COURSE_REPOSITORY`` line in the README and the notebooks."""
    root = Path(root)
    mentions = []
    for path in [root / "README.md", *sorted((root / "notebooks").glob("*.ipynb"))]:
        text = path.read_text(encoding="utf-8")
        for link in COLAB_LINK.finditer(text):
            repository = f"https://github.com/{link['owner']}/{link['name']}"
            what = f"Colab link to {link['path']}"
            mentions.append(Mention(path, what, repository, link["branch"]))
        for line in COURSE_REPOSITORY_LINE.finditer(text):
            mentions.append(Mention(path, "COURSE_REPOSITORY line", line["url"]))
    return mentions


def repository_problems(root: str | Path) -> list[str]:
    """What disagrees with ``pyproject.toml``'s address and ref; an empty list when all agree."""
    root = Path(root)
    expected, ref = read_repository(root), read_ref(root)
    problems = []
    for mention in repository_mentions(root):
        where = mention.path.relative_to(root)
        if mention.repository != expected:
            problems.append(
                f"{where}: {mention.what} uses {mention.repository}, pyproject.toml says {expected}"
            )
        if mention.ref not in (None, ref):
            problems.append(f"{where}: {mention.what} opens {mention.ref}, not {ref}")
    for notebook in sorted((root / "notebooks").glob("*.ipynb")):
        text = notebook.read_text(encoding="utf-8")
        if colab_url(expected, notebook.name, ref) not in text:
            problems.append(f"notebooks/{notebook.name}: no Colab badge that opens this notebook")
        if not COURSE_REPOSITORY_LINE.search(text):
            problems.append(f"notebooks/{notebook.name}: no COURSE_REPOSITORY line in the setup")
        pins = [line["ref"] for line in COURSE_REF_LINE.finditer(text)]
        if not pins:
            problems.append(f"notebooks/{notebook.name}: no COURSE_REF line in the setup")
        problems += [
            f"notebooks/{notebook.name}: COURSE_REF is {pin}, pyproject.toml says {ref}"
            for pin in pins
            if pin != ref
        ]
    return problems


def set_repository(root: str | Path, url: str, ref: str | None = None) -> list[Path]:
    """Write ``url`` (and ``ref``, when given) into pyproject, the README's badges and notebooks.

    Only the addresses and refs change: the files keep their formatting byte
    for byte otherwise. Returns the files that changed.
    """
    root = Path(root)
    url = normalize_repository(url)
    ref = read_ref(root) if ref is None else normalize_ref(ref)
    changed = []

    pyproject = root / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    urls, tool = _table(text, URLS), _table(text, TOOL)
    if not PYPROJECT_REPOSITORY.search(urls):
        read_repository(root)  # raises the explanation
    if not PYPROJECT_REF.search(tool):
        read_ref(root)  # raises the explanation
    new = text.replace(
        urls, PYPROJECT_REPOSITORY.sub(lambda m: f"{m['key']}{url}{m['end']}", urls), 1
    )
    new = new.replace(tool, PYPROJECT_REF.sub(lambda m: f"{m['key']}{ref}{m['end']}", tool), 1)
    changed += _write_if_changed(pyproject, text, new)

    def new_link(link: re.Match) -> str:
        return f"{_colab_base(url, ref)}/{link['path']}"

    for path in [root / "README.md", *sorted((root / "notebooks").glob("*.ipynb"))]:
        text = path.read_text(encoding="utf-8")
        new = COLAB_LINK.sub(new_link, text)
        new = COURSE_REPOSITORY_LINE.sub(
            lambda m: f"COURSE_REPOSITORY = {m['quote']}{url}{m['quote']}", new
        )
        new = COURSE_REF_LINE.sub(lambda m: f"COURSE_REF = {m['quote']}{ref}{m['quote']}", new)
        changed += _write_if_changed(path, text, new)
    return changed


def _write_if_changed(path: Path, old: str, new: str) -> list[Path]:
    if new == old:
        return []
    path.write_text(new, encoding="utf-8")
    return [path]
