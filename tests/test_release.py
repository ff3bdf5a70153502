"""A release an instructor can pin: its version, changelog, citation, refs and badges agree.

The repository address and the ref Colab uses live in pyproject.toml and are written into the
README's and the notebooks' badges and the notebooks' setup cells by ``python -m
metric_course.instructor set-repository URL --ref REF`` (its ``check-repository`` lists what
disagrees). On top of that, a release needs one version everywhere (pyproject, CITATION.cff,
the changelog's newest section, the release steps of docs/instructors.md), and a ref pinned to
a release tag must be this version's tag. The checks pass with ``colab-ref = "main"`` and after
``set-repository URL --ref vVERSION``, which is tested on a copy of the course. The licence
files pyproject names exist, and the website's table of contents holds every notebook and page.
The built site's own badges are checked by tests/test_site.py.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path

import pytest

from metric_course import instructor, repository

ROOT = Path(__file__).resolve().parents[1]
RELEASE_TAG = re.compile(r"^v(?P<version>\d+\.\d+\.\d+\S*)$")


def pyproject_version(root: Path) -> str:
    text = (root / "pyproject.toml").read_text(encoding="utf-8")
    return re.search(r'^version = "([^"]+)"', text, re.M)[1]


def release_problems(root: Path) -> list[str]:
    """What disagrees with pyproject's version and ref; an empty list when the release agrees."""
    version = pyproject_version(root)
    problems = list(repository.repository_problems(root))
    ref = repository.read_ref(root)
    tag = RELEASE_TAG.match(ref)
    if tag and tag["version"] != version:
        problems.append(f"pyproject.toml: colab-ref {ref} is not this version's tag v{version}")
    citation = (root / "CITATION.cff").read_text(encoding="utf-8")
    cited = re.search(r"^version: *(\S+)", citation, re.M)
    if not cited or cited[1].strip("\"'") != version:
        problems.append(f"CITATION.cff: version is {cited and cited[1]}, not {version}")
    changelog = (root / "CHANGELOG.md").read_text(encoding="utf-8")
    newest = re.search(r"^## (\S+)", changelog, re.M)
    if not newest or newest[1] != version:
        problems.append(
            f"CHANGELOG.md: the newest section is {newest and newest[1]}, not {version}"
        )
    steps = (root / "docs" / "instructors.md").read_text(encoding="utf-8")
    for step in (f"--ref v{version}", f"git tag v{version}"):
        if step not in steps:
            problems.append(f"docs/instructors.md: the release steps do not say `{step}`")
    return problems


def test_version_refs_and_badges_agree():
    assert release_problems(ROOT) == []


def copy_of_the_course(tmp_path: Path) -> Path:
    course = tmp_path / "course"
    (course / "docs").mkdir(parents=True)
    for name in ("pyproject.toml", "README.md", "CITATION.cff", "CHANGELOG.md"):
        shutil.copy(ROOT / name, course / name)
    shutil.copy(ROOT / "docs" / "instructors.md", course / "docs" / "instructors.md")
    shutil.copytree(ROOT / "notebooks", course / "notebooks")
    return course


def test_the_release_steps_pin_this_version_and_still_agree(tmp_path):
    """What the release steps do: set-repository URL --ref vVERSION, then everything agrees."""
    course = copy_of_the_course(tmp_path)
    version = pyproject_version(course)
    url = repository.read_repository(course)
    command = ["--root", str(course), "set-repository", url, "--ref", f"v{version}"]
    assert instructor.main(command) == 0
    assert repository.read_ref(course) == f"v{version}"
    assert release_problems(course) == []
    notebook = (course / "notebooks" / "00_setup.ipynb").read_text(encoding="utf-8")
    assert f'COURSE_REF = \\"v{version}\\"' in notebook
    assert f"/blob/v{version}/notebooks/00_setup.ipynb" in notebook
    # Pinned to another release's tag, the check names it.
    repository.set_repository(course, url, "v0.0.9")
    assert f"pyproject.toml: colab-ref v0.0.9 is not this version's tag v{version}" in (
        release_problems(course)
    )


def test_a_version_out_of_step_is_named(tmp_path):
    course = copy_of_the_course(tmp_path)
    citation = course / "CITATION.cff"
    citation.write_text(
        re.sub(r"^version: .*$", "version: 9.9.9", citation.read_text(), flags=re.M)
    )
    changelog = course / "CHANGELOG.md"
    changelog.write_text(changelog.read_text().replace("\n## ", "\n## 9.9.9\n\n## ", 1))
    version = pyproject_version(course)
    assert release_problems(course) == [
        f"CITATION.cff: version is 9.9.9, not {version}",
        f"CHANGELOG.md: the newest section is 9.9.9, not {version}",
    ]


def test_citation_file_holds_what_cff_requires():
    """The keys CFF 1.2.0 requires; checked in full by hand with ``cffconvert --validate``.

    cffconvert 2.0 pins jsonschema 3, which Jupyter's packages cannot live with, so it is not
    among the test tools.
    """
    yaml = pytest.importorskip("yaml")
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert citation["cff-version"] == "1.2.0"
    assert {"message", "title", "authors", "version", "license"} <= set(citation)
    assert set(citation["license"]) == {"MIT", "CC-BY-4.0"}
    assert citation["repository-code"].startswith("https://github.com/")


def test_the_licence_files_pyproject_names_exist():
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    files = re.findall(r'"([^"]+)"', re.search(r"^license-files = \[(.*)\]", text, re.M)[1])
    assert files == ["LICENSE", "LICENSE-text"]
    assert "MIT License" in (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Attribution 4.0 International" in (ROOT / "LICENSE-text").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "[LICENSE](LICENSE)" in readme and "[LICENSE-text](LICENSE-text)" in readme


def test_the_website_holds_every_notebook_and_page():
    toc = (ROOT / "site" / "_toc.yml").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\s*(?:root|- file): *(\S+)", toc, re.M))
    pages = [
        *(f"notebooks/{path.stem}" for path in (ROOT / "notebooks").glob("*.ipynb")),
        *(f"docs/{path.stem}" for path in (ROOT / "docs").glob("*.md")),
        "README",
        "CHANGELOG",
        "CONTRIBUTING",
        "data/README",
    ]
    missing = sorted(set(pages) - listed)
    assert not missing, f"site/_toc.yml does not list {missing}: add them"
    assert not listed - set(pages), "site/_toc.yml lists a file that does not exist"


def test_html_anchors_of_a_page_become_link_targets():
    """site/extensions/html_anchors.py: <a id="..."> in raw HTML resolves; other text does not."""
    pytest.importorskip("docutils", reason="the website's tools: pip install -e '.[site]'")
    from types import SimpleNamespace

    from docutils import nodes
    from docutils.utils import new_document

    spec = importlib.util.spec_from_file_location(
        "html_anchors", ROOT / "site" / "extensions" / "html_anchors.py"
    )
    html_anchors = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(html_anchors)
    document = new_document("02_siamese_contrastive.ipynb")
    document.settings.env = SimpleNamespace(docname="notebooks/02", metadata={"notebooks/02": {}})
    document.myst_slugs = {"summary": (9, "summary", "Summary")}
    document += nodes.raw("", '<a id="protocol"></a>\n> **The protocol.**', format="html")
    document += nodes.raw("", '<a id="elsewhere"></a>', format="latex")
    document += nodes.paragraph("", 'id="not-html"')
    html_anchors.HtmlAnchors(document).apply()
    assert set(document.myst_slugs) == {"summary", "protocol"}
    assert document.myst_slugs["protocol"][1] == "protocol"
    assert document.settings.env.metadata["notebooks/02"]["myst_slugs"] is document.myst_slugs
