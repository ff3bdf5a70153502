"""Omniglot background-small: loading, deduplication, alphabet splits, clear errors."""

import hashlib
import io
import os
import stat
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from metric_course import data
from metric_course.data import omniglot


def png(value: int) -> bytes:
    """A 105×105 black-on-white PNG with a dark square whose size encodes ``value``."""
    image = np.full((105, 105), 255, dtype=np.uint8)
    image[10 : 10 + 5 * value, 10 : 10 + 5 * value] = 0
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def write_zip(path, top, alphabets, drawers=3):
    """A zip laid out like the official ones: top/alphabet/characterNN/ID_drawer.png.

    As if made on a Mac, it also holds resource forks (``._*``, ``__MACOSX/``).
    """
    with zipfile.ZipFile(path, "w") as archive:
        for alphabet, characters in alphabets.items():
            for c in range(1, characters + 1):
                for d in range(1, drawers + 1):
                    name = f"{alphabet}/character{c:02d}/0{c:03d}_{d:02d}.png"
                    archive.writestr(f"{top}/{name}", png(c))
            fork = f"{alphabet}/character01/._0001_01.png"
            archive.writestr(f"{top}/{fork}", b"\x00\x05\x16\x07 not a PNG")
            archive.writestr(f"__MACOSX/{fork}", b"\x00\x05\x16\x07 not a PNG")
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def fake_omniglot(tmp_path, monkeypatch):
    """Two tiny zips sharing alphabet "Greek", in a course data folder named by the env var."""
    folder = tmp_path / "data" / "omniglot"
    folder.mkdir(parents=True)
    md5_1 = write_zip(
        folder / "images_background_small1.zip",
        "images_background_small1",
        {"Greek": 2, "Korean": 3},
    )
    md5_2 = write_zip(
        folder / "images_background_small2.zip",
        "images_background_small2",
        {"Greek": 2, "Tagalog": 2},
    )
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path / "data"))
    files = dict(omniglot.OMNIGLOT_FILES)
    files["images_background_small1.zip"] = ("images_background_small1.zip", md5_1)
    files["images_background_small2.zip"] = ("images_background_small2.zip", md5_2)
    monkeypatch.setattr(omniglot, "OMNIGLOT_FILES", files)
    omniglot._background_small_arrays.cache_clear()
    return folder


def test_shared_alphabets_are_loaded_once_with_drawers(fake_omniglot):
    dataset = data.load_dataset("omniglot-small")
    assert dataset.class_names == (
        "Greek/character01", "Greek/character02",
        "Korean/character01", "Korean/character02", "Korean/character03",
        "Tagalog/character01", "Tagalog/character02",
    )  # fmt: skip
    assert len(dataset) == 7 * 3
    assert dataset.drawers.tolist() == [1, 2, 3] * 7
    assert dataset.images.shape[1:] == (1, 28, 28)
    # Strokes bright on dark: the dark square of the PNG becomes bright, and grows with c.
    brightness = dataset.images.mean((1, 2, 3))
    assert 0 < brightness[0] < brightness[3] < brightness[12] < 1
    assert dataset.images.min() == 0 and dataset.images.max() == 1


def test_the_decoded_arrays_are_cached_next_to_the_zips(fake_omniglot, monkeypatch):
    first = data.load_dataset("omniglot-small")
    assert len(list(fake_omniglot.glob("*.npz"))) == 1
    omniglot._background_small_arrays.cache_clear()
    monkeypatch.setattr(omniglot, "_decode_background_small", lambda zips: pytest.fail("decoded"))
    again = data.load_dataset("omniglot-small")
    assert torch.equal(first.images, again.images) and torch.equal(first.drawers, again.drawers)


def test_a_damaged_cache_is_decoded_again_and_replaced(fake_omniglot):
    first = data.load_dataset("omniglot-small")
    (cache,) = fake_omniglot.glob("*.npz")
    cache.write_bytes(cache.read_bytes()[:50])
    omniglot._background_small_arrays.cache_clear()
    again = data.load_dataset("omniglot-small")
    assert torch.equal(first.images, again.images)
    assert [path.name for path in fake_omniglot.glob("*.npz")] == [cache.name]
    with np.load(cache) as saved:
        assert np.array_equal(saved["labels"], first.labels.numpy())


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_cache_and_downloads_follow_the_umask_for_a_shared_folder(fake_omniglot, tmp_path):
    """Not 0600 as NamedTemporaryFile made them: other accounts of a classroom can read them."""
    contents = {name: name.encode() for name in omniglot.OMNIGLOT_FILES}
    table = {name: (remote, hashlib.md5(contents[name]).hexdigest())
             for name, (remote, _) in omniglot.OMNIGLOT_FILES.items()}  # fmt: skip
    previous = os.umask(0o022)
    try:
        data.load_dataset("omniglot-small")
        omniglot.OMNIGLOT_FILES, original = table, omniglot.OMNIGLOT_FILES
        try:
            omniglot.download_omniglot(
                tmp_path / "shared", lambda url: url.rsplit("/")[-1].encode()
            )
        finally:
            omniglot.OMNIGLOT_FILES = original
        os.umask(0o027)
        data.write_atomically(tmp_path / "group-only", lambda file: file.write(b"x"))
    finally:
        os.umask(previous)
    (cache,) = fake_omniglot.glob("*.npz")
    assert mode(cache) == 0o644
    assert {mode(path) for path in (tmp_path / "shared" / "omniglot").iterdir()} == {0o644}
    assert mode(tmp_path / "group-only") == 0o640


def test_a_failed_atomic_write_keeps_the_old_file_and_leaves_nothing(tmp_path):
    path = tmp_path / "cache.npz"
    path.write_bytes(b"old")

    def fail_halfway(file):
        file.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        data.write_atomically(path, fail_halfway)
    assert [p.name for p in tmp_path.iterdir()] == ["cache.npz"] and path.read_bytes() == b"old"


def test_a_damaged_zip_names_the_file_and_the_fix(fake_omniglot):
    path = fake_omniglot / "images_background_small2.zip"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(data.CorruptDatasetError, match=r"images_background_small2.zip.*download"):
        data.load_dataset("omniglot-small")


def test_missing_files_list_the_ways_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path))
    with pytest.raises(data.DatasetNotFoundError) as error:
        data.course_data("omniglot-small")
    message = str(error.value)
    assert "images_background_small1.zip" in message and "copy" in message
    assert "python -m metric_course.data download" in message and "torchvision" in message


def test_download_fetches_missing_and_damaged_files_only(tmp_path):
    contents = {name: f"content of {name}".encode() for name in omniglot.OMNIGLOT_FILES}
    table = {
        name: (remote, hashlib.md5(contents[name]).hexdigest())
        for name, (remote, _) in omniglot.OMNIGLOT_FILES.items()
    }
    asked = []

    def fake_fetch(url):
        asked.append(url)
        return contents[url.rsplit("/", 1)[1]]

    original = omniglot.OMNIGLOT_FILES
    omniglot.OMNIGLOT_FILES = table
    try:
        message = omniglot.download_omniglot(tmp_path, fetch=fake_fetch)
        assert "downloaded" in message and len(asked) == 3
        assert asked[2] == omniglot.OFFICIAL_URL + "one-shot-classification/all_runs.zip"
        (tmp_path / "omniglot" / "all_runs.zip").write_bytes(b"damaged")
        asked.clear()
        omniglot.download_omniglot(tmp_path, fetch=fake_fetch)
        assert asked == [omniglot.OFFICIAL_URL + "one-shot-classification/all_runs.zip"]
        assert (tmp_path / "omniglot" / "all_runs.zip").read_bytes() == contents["all_runs.zip"]
        with pytest.raises(data.CorruptDatasetError, match="MD5"):
            (tmp_path / "omniglot" / "all_runs.zip").unlink()
            omniglot.download_omniglot(tmp_path, fetch=lambda url: b"wrong")

        def offline(url):
            raise OSError("no network")

        (tmp_path / "omniglot" / "all_runs.zip").unlink(missing_ok=True)
        ways = r"(?s)no network.*three ways.*copy them"
        with pytest.raises(data.DatasetNotFoundError, match=ways):
            omniglot.download_omniglot(tmp_path, fetch=offline)
    finally:
        omniglot.OMNIGLOT_FILES = original


def test_bad_splits_and_arguments_say_what_is_valid(fake_omniglot):
    alphabets = ("Greek", "Greek", "Korean", "Korean", "Tagalog", "Tagalog")
    with pytest.raises(ValueError, match="default, unseen-sanskrit-balinese"):
        data.resolve_split("nope", alphabets, data.OMNIGLOT_SPLITS)
    with pytest.raises(ValueError, match=r"unknown alphabet.*Klingon.*Greek, Korean, Tagalog"):
        data.resolve_split(data.AlphabetSplit(val=(), unseen=("Klingon",)), alphabets)
    with pytest.raises(ValueError, match="both"):
        data.resolve_split(data.AlphabetSplit(val=("Greek",), unseen=("Greek",)), alphabets)
    with pytest.raises(ValueError, match="names its validation alphabets itself"):
        data.resolve_split(data.AlphabetSplit((), ("Korean",)), alphabets, val_classes=(0, 1))
    with pytest.raises(ValueError, match="val_classes"):
        data.course_data("omniglot-small", val_classes=(0, 1))
    with pytest.raises(ValueError, match="course_data"):
        data.load_dataset("omniglot-small", "test")
    with pytest.raises(ValueError, match=r"unknown alphabet.*Early_Aramaic"):  # not in these zips
        data.course_data("omniglot-small")


def test_an_alphabet_split_of_the_zips_gives_class_disjoint_parts(fake_omniglot):
    split = data.AlphabetSplit(val=("Tagalog",), unseen=("Korean",))
    parts = data.course_data("omniglot-small", split)
    names = parts.class_names
    assert [names[c] for c in parts.train.classes] == ["Greek/character01", "Greek/character02"]
    assert {omniglot.alphabet_of(names[c]) for c in parts.val.classes} == {"Tagalog"}
    assert parts.unseen_classes == parts.test_unseen.classes == (2, 3, 4)
    assert parts.train_classes == (0, 1) and parts.seen_classes == (0, 1, 5, 6)
    # 3 drawers here, none of them among the held-out 17-20: test_seen is empty, train has all.
    assert len(parts.test_seen) == 0 and len(parts.train) == 2 * 3
    drawers = data.omniglot_course_data(split, test_seen_drawers=(3,))
    assert set(drawers.test_seen.drawers.tolist()) == {3}
    assert set(drawers.train.drawers.tolist()) == {1, 2}


# ---------------------------------------------------------------- the real files

REAL_ALPHABETS = (
    "Balinese",  # 24 characters
    "Early_Aramaic",  # 22
    "Greek",  # 24
    "Japanese_(katakana)",  # 47
    "Korean",  # 40
    "Latin",  # 26
    "Sanskrit",  # 42
    "Tagalog",  # 17
)
real_files = pytest.mark.skipif(
    omniglot.find_omniglot_file("images_background_small1.zip") is None
    or omniglot.find_omniglot_file("images_background_small2.zip") is None,
    reason="Omniglot's zips are not in the course data folder (.ci/run copies them)",
)


@real_files
def test_the_real_files_hold_8_alphabets_242_characters_4840_images():
    dataset = data.load_dataset("omniglot-small")
    assert len(dataset) == 4_840 and len(dataset.class_names) == 242
    assert {omniglot.alphabet_of(name) for name in dataset.class_names} == set(REAL_ALPHABETS)
    assert torch.bincount(dataset.labels).tolist() == [20] * 242
    assert sorted(set(dataset.drawers.tolist())) == list(range(1, 21))
    assert 0.03 < dataset.images.mean() < 0.2  # mostly dark background, bright strokes


@real_files
@pytest.mark.parametrize("split", list(data.OMNIGLOT_SPLITS))
def test_real_splits_are_by_alphabet_and_disjoint(split):
    parts = data.course_data("omniglot-small", split)
    alphabets = {
        part: {omniglot.alphabet_of(parts.class_names[c]) for c in getattr(parts, part).classes}
        for part in ("train", "val", "test_seen", "test_unseen")
    }
    chosen = data.OMNIGLOT_SPLITS[split]
    assert alphabets["val"] == set(chosen.val) and alphabets["test_unseen"] == set(chosen.unseen)
    assert alphabets["train"] == alphabets["test_seen"]
    assert not alphabets["train"] & (alphabets["val"] | alphabets["test_unseen"])
    assert set(parts.train.classes) == set(parts.test_seen.classes) == set(parts.train_classes)
    assert set(parts.test_seen.drawers.tolist()) == set(data.TEST_SEEN_DRAWERS)
    assert not set(parts.train.drawers.tolist()) & set(data.TEST_SEEN_DRAWERS)
    assert len(parts.train) + len(parts.val) + len(parts.test_seen) + len(parts.test_unseen) == 4840


@real_files
def test_the_summary_counts_many_classes_instead_of_listing_them():
    summary = data.course_data("omniglot-small").summary()
    assert "57 classes: Korean/character01, …, Tagalog/character17" in summary
    assert max(len(line) for line in summary.splitlines()) < 100
