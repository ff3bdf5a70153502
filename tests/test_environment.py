"""Lecture mode, versions and device description."""

import pytest

from metric_course.environment import describe_device, in_colab, lecture_mode, package_versions


@pytest.mark.parametrize(
    ("value", "expected"), [("1", True), ("yes", True), ("0", False), ("", False)]
)
def test_lecture_mode_reads_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv("METRIC_COURSE_LECTURE", value)
    assert lecture_mode() is expected


def test_versions_and_device():
    versions = package_versions(("torch", "surely_not_a_package"))
    assert versions["torch"] != "missing" and versions["surely_not_a_package"] == "missing"
    assert "python" in versions
    assert describe_device().split(":")[0] in {"cpu", "cuda", "mps"} or "cuda" in describe_device()
    assert in_colab() is False
