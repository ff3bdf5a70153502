"""Tests of metric_course.data: finding, verifying and splitting the datasets.

Most tests write tiny IDX files themselves and point the search at them, with
the checksum table patched to match; no test touches the network.
"""

import gzip
import hashlib
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from metric_course import data
from metric_course.data import (
    FASHION_MNIST_CLASSES,
    OMNIGLOT_SPLITS,
    SPLITS,
    AlphabetSplit,
    ClassSplit,
    CorruptDatasetError,
    DatasetNotFoundError,
    ImageDataset,
    catalogue,
    course_data,
    fashion_mnist,
    files,
    load_dataset,
    load_fashion_mnist,
    omniglot,
    read_idx,
    resolve_split,
)
from metric_course.data import __main__ as command_line

TINY_SIZES = {"train": 30, "test": 20}  # images per split, each 4×3 pixels


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file of unsigned bytes, as in the MNIST format."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def tiny_fashion_arrays(offset: int = 0) -> dict[str, np.ndarray]:
    """Images and labels of a tiny Fashion-MNIST; ``offset`` makes copies tell apart."""
    rng = np.random.default_rng(offset)
    arrays = {}
    for split, n in TINY_SIZES.items():
        images_name, labels_name = fashion_mnist.SPLIT_FILES[split]
        arrays[images_name] = rng.integers(0, 256, size=(n, 4, 3), dtype=np.uint8)
        arrays[labels_name] = (np.arange(n) + offset) % 10
    return arrays


def write_fashion(folder: Path, offset: int = 0, compress: bool = True) -> dict[str, np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    arrays = tiny_fashion_arrays(offset)
    for name, array in arrays.items():
        raw = idx_bytes(array)
        if compress:
            (folder / f"{name}.gz").write_bytes(gzip.compress(raw))
        else:
            (folder / name).write_bytes(raw)
    return arrays


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No course folder, no Debian package and checksums of the tiny files (offset 0)."""
    monkeypatch.delenv(data.DATA_ENV, raising=False)
    monkeypatch.setattr(files, "REPO_ROOT", tmp_path / "repo")
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", tmp_path / "debian")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    table = {
        name: (len(raw := idx_bytes(array)), hashlib.md5(raw).hexdigest())
        for name, array in tiny_fashion_arrays(0).items()
    }
    monkeypatch.setattr(fashion_mnist, "FASHION_MNIST_FILES", table)
    # `download` also fetches Omniglot's small files (tested in test_omniglot.py): no network here.
    monkeypatch.setattr(command_line, "download_omniglot", lambda data_dir: "Omniglot: not fetched")
    return tmp_path


# ---------------------------------------------------------------- IDX files


@pytest.mark.parametrize("compress", [True, False])
def test_read_idx_reads_what_was_written(tmp_path, compress):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    raw = idx_bytes(array)
    path = tmp_path / ("a.gz" if compress else "a")
    path.write_bytes(gzip.compress(raw) if compress else raw)
    out = read_idx(path, (len(raw), hashlib.md5(raw).hexdigest()))
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, array)


def damaged_files(tmp_path):
    raw = idx_bytes(np.arange(60, dtype=np.uint8).reshape(5, 12))
    expected = (len(raw), hashlib.md5(raw).hexdigest())
    flipped = bytearray(raw)
    flipped[-1] ^= 0xFF
    cases = {
        "truncated.gz": gzip.compress(raw)[:-10],
        "truncated": raw[:-7],
        "too-long": raw + b"\x00",
        "flipped-byte": bytes(flipped),
        "not-gzip.gz": b"\x1f\x8b" + b"\x00" * 30,
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
    return [tmp_path / name for name in cases], expected


def test_truncated_or_corrupt_files_are_reported_with_path_and_fix(tmp_path):
    paths, expected = damaged_files(tmp_path)
    for path in paths:
        with pytest.raises(CorruptDatasetError) as info:
            read_idx(path, expected)
        assert str(path) in str(info.value)
        assert "python -m metric_course.data download" in str(info.value)


@pytest.mark.parametrize(
    "raw",
    [
        b"\x00\x01\x08\x01" + struct.pack(">I", 3) + b"abc",  # bad magic number
        b"\x00\x00\x0d\x01" + struct.pack(">I", 3) + b"abc",  # float type code
        b"\x00\x00\x08\x02" + struct.pack(">2I", 2, 3) + b"abcde",  # one byte missing
        b"\x00\x00\x08\x02" + struct.pack(">I", 2),  # header cut short
        b"\x00\x00",
    ],
)
def test_bad_idx_header_is_detected_without_checksums(tmp_path, raw):
    path = tmp_path / "bad-idx"
    path.write_bytes(raw)
    with pytest.raises(CorruptDatasetError, match="bad-idx is damaged"):
        read_idx(path)


# ---------------------------------------------------------------- finding Fashion-MNIST


def test_loads_tiny_files_from_the_data_dir(isolated):
    arrays = write_fashion(isolated / "mine" / "fashion-mnist")
    for split, n in TINY_SIZES.items():
        dataset = load_fashion_mnist(split, data_dir=isolated / "mine")
        images_name, labels_name = fashion_mnist.SPLIT_FILES[split]
        assert dataset.images.shape == (n, 1, 4, 3)
        assert dataset.images.dtype == torch.float32
        assert dataset.labels.dtype == torch.int64
        np.testing.assert_allclose(dataset.images[:, 0].numpy(), arrays[images_name] / 255)
        np.testing.assert_array_equal(dataset.labels.numpy(), arrays[labels_name])
        assert dataset.class_names == FASHION_MNIST_CLASSES
        assert dataset.source == str(isolated / "mine" / "fashion-mnist")


def test_uncompressed_files_and_the_torchvision_layout_are_accepted(isolated):
    write_fashion(isolated / "mine" / "FashionMNIST" / "raw", compress=False)
    dataset = load_fashion_mnist("test", data_dir=isolated / "mine")
    assert len(dataset) == TINY_SIZES["test"]
    assert dataset.source.endswith("raw")


def test_search_order_data_dir_then_debian(isolated):
    write_fashion(isolated / "debian", offset=0)
    assert load_fashion_mnist("train").source.startswith(str(isolated / "debian"))
    write_fashion(isolated / "mine" / "fashion-mnist", offset=0)
    assert load_fashion_mnist("train", data_dir=isolated / "mine").source == str(
        isolated / "mine" / "fashion-mnist"
    )


def test_environment_variable_names_the_data_folder(isolated, monkeypatch):
    write_fashion(isolated / "env" / "fashion-mnist")
    monkeypatch.setenv(data.DATA_ENV, str(isolated / "env"))
    assert load_fashion_mnist("test").source == str(isolated / "env" / "fashion-mnist")
    assert data.default_data_dir() == isolated / "env"


def test_a_notebook_in_a_subfolder_finds_the_course_data_folder(isolated, monkeypatch):
    course = isolated / "course"
    write_fashion(course / "data" / "fashion-mnist")
    (course / "notebooks").mkdir()
    monkeypatch.chdir(course / "notebooks")
    assert load_fashion_mnist("test").source == str(course / "data" / "fashion-mnist")


def test_the_repository_data_folder_is_found_and_is_the_download_target(isolated, monkeypatch):
    repo = isolated / "repo"
    write_fashion(repo / "data" / "fashion-mnist")
    (repo / "pyproject.toml").write_text("")
    assert load_fashion_mnist("train").source == str(repo / "data" / "fashion-mnist")
    assert data.default_data_dir() == repo / "data"


def test_missing_data_names_the_three_ways(isolated):
    with pytest.raises(DatasetNotFoundError) as info:
        load_fashion_mnist("train")
    message = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert data.DATA_ENV in message and "fashion-mnist/" in message
    assert "sudo apt-get install dataset-fashion-mnist" in message
    assert "python -m metric_course.data download" in message


def test_a_corrupt_file_is_reported_not_skipped(isolated):
    write_fashion(isolated / "debian")  # a good copy that must not hide the damage
    folder = isolated / "mine" / "fashion-mnist"
    write_fashion(folder)
    path = folder / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(CorruptDatasetError, match=r"t10k-images-idx3-ubyte\.gz is damaged"):
        load_fashion_mnist("test", data_dir=isolated / "mine")


def test_second_load_reuses_the_decoded_arrays(isolated, monkeypatch):
    write_fashion(isolated / "mine" / "fashion-mnist")
    fashion_mnist._read_idx_cached.cache_clear()
    calls = []
    original = fashion_mnist.read_idx
    monkeypatch.setattr(fashion_mnist, "read_idx", lambda *a: calls.append(a) or original(*a))
    first = load_fashion_mnist("train", data_dir=isolated / "mine")
    second = load_fashion_mnist("train", data_dir=isolated / "mine")
    assert len(calls) == 2  # images and labels, read once
    first.images.zero_()  # each call hands out its own tensors
    assert second.images.max() > 0


# ---------------------------------------------------------------- download command


def test_download_copies_from_the_debian_package_and_verifies(isolated, capsys):
    write_fashion(isolated / "debian")
    target = isolated / "classroom"
    assert command_line.main(["download", "--data-dir", str(target)]) == 0
    assert "copied from" in capsys.readouterr().out
    assert sorted(p.name for p in (target / "fashion-mnist").iterdir()) == sorted(
        f"{name}.gz" for name in fashion_mnist.FASHION_MNIST_FILES
    )
    assert command_line.main(["download", "--data-dir", str(target)]) == 0
    assert "already in" in capsys.readouterr().out
    assert load_fashion_mnist("train", data_dir=target).source == str(target / "fashion-mnist")


def test_download_replaces_a_damaged_file(isolated):
    write_fashion(isolated / "debian")
    folder = isolated / "classroom" / "fashion-mnist"
    write_fashion(folder, compress=False)
    (folder / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01")
    message = fashion_mnist.download_fashion_mnist(isolated / "classroom")
    assert "copied from" in message
    assert not (folder / "train-labels-idx1-ubyte").exists()
    assert len(load_fashion_mnist("train", data_dir=isolated / "classroom")) == 30


def test_download_falls_back_to_torchvision(isolated, monkeypatch):
    calls = []

    def fake_torchvision_download(folder: Path) -> None:
        calls.append(folder)
        write_fashion(folder)

    monkeypatch.setattr(fashion_mnist, "_download_with_torchvision", fake_torchvision_download)
    dataset = load_fashion_mnist("test", data_dir=isolated / "class", download=True)
    assert [folder.parent for folder in calls] == [isolated / "class" / "fashion-mnist"]
    assert len(dataset) == TINY_SIZES["test"]


def test_a_failed_download_says_what_to_do(isolated, monkeypatch, capsys):
    def offline(folder: Path) -> None:
        raise RuntimeError("no network")

    monkeypatch.setattr(fashion_mnist, "_download_with_torchvision", offline)
    with pytest.raises(DatasetNotFoundError, match="no network") as info:
        load_fashion_mnist("train", download=True)
    assert "sudo apt-get install dataset-fashion-mnist" in str(info.value)
    assert command_line.main(["download"]) == 1
    assert "python -m metric_course.data download" in capsys.readouterr().err


def test_a_downloaded_file_that_fails_its_checksum_is_an_error(isolated, monkeypatch):
    monkeypatch.setattr(
        fashion_mnist, "_download_with_torchvision", lambda f: write_fashion(f, offset=3)
    )
    with pytest.raises(CorruptDatasetError):
        fashion_mnist.download_fashion_mnist(isolated / "class")


def folder_contents(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in folder.iterdir()}


def test_an_offline_download_keeps_the_good_files(isolated, monkeypatch):
    def offline(folder: Path) -> None:
        raise OSError("no network")

    monkeypatch.setattr(fashion_mnist, "_download_with_torchvision", offline)
    folder = isolated / "classroom" / "fashion-mnist"
    write_fashion(folder, compress=False)
    (folder / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01")
    before = folder_contents(folder)
    with pytest.raises(DatasetNotFoundError, match="no network"):
        fashion_mnist.download_fashion_mnist(isolated / "classroom")
    assert folder_contents(folder) == before  # three good files and the damaged one, no leftovers
    assert len(load_fashion_mnist("test", data_dir=isolated / "classroom")) == TINY_SIZES["test"]


def test_a_damaged_fresh_copy_changes_nothing(isolated, monkeypatch):
    monkeypatch.setattr(
        fashion_mnist, "_download_with_torchvision", lambda f: write_fashion(f, offset=3)
    )
    folder = isolated / "classroom" / "fashion-mnist"
    write_fashion(folder)
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b cut")
    before = folder_contents(folder)
    with pytest.raises(CorruptDatasetError, match=r"fresh copy of t10k-images.* left as it was"):
        fashion_mnist.download_fashion_mnist(isolated / "classroom")
    assert folder_contents(folder) == before


def test_download_replaces_only_the_damaged_file(isolated, monkeypatch):
    monkeypatch.setattr(fashion_mnist, "_download_with_torchvision", write_fashion)
    folder = isolated / "classroom" / "fashion-mnist"
    write_fashion(folder, compress=False)
    (folder / "t10k-labels-idx1-ubyte").write_bytes(b"damaged")
    before = folder_contents(folder)
    assert "downloaded with torchvision" in fashion_mnist.download_fashion_mnist(
        isolated / "classroom"
    )
    after = folder_contents(folder)
    assert after.pop("t10k-labels-idx1-ubyte.gz")  # the fresh copy, in place of the damaged one
    del before["t10k-labels-idx1-ubyte"]
    assert after == before  # the three good files untouched
    assert len(load_fashion_mnist("test", data_dir=isolated / "classroom")) == TINY_SIZES["test"]


def write_omniglot_files(folder: Path, monkeypatch) -> None:
    """Stand-ins for Omniglot's three files in ``folder``, with their checksums patched in."""
    folder.mkdir(parents=True)
    table = {}
    for name, (remote, _) in omniglot.OMNIGLOT_FILES.items():
        (folder / name).write_bytes(name.encode())
        table[name] = (remote, hashlib.md5(name.encode()).hexdigest())
    monkeypatch.setattr(omniglot, "OMNIGLOT_FILES", table)


def test_info_reports_where_the_data_is(isolated, monkeypatch, capsys):
    monkeypatch.setattr(command_line, "find_torchvision_set", lambda *args: None)
    assert command_line.main(["info"]) == 1
    out = capsys.readouterr().out
    assert "sudo apt-get install dataset-fashion-mnist" in out
    assert "Omniglot file(s) images_background_small1.zip, " in out and "three ways" in out
    write_fashion(isolated / "debian")
    assert command_line.main(["info"]) == 1  # Omniglot's files are still missing
    out = capsys.readouterr().out
    assert "Debian package dataset-fashion-mnist), verified" in out
    assert "apt-get" not in out and "Omniglot file(s) images_background_small1.zip" in out
    write_omniglot_files(isolated / "work" / "data" / "omniglot", monkeypatch)
    assert command_line.main(["info"]) == 0
    out = capsys.readouterr().out
    assert "all_runs.zip, verified" in out and "three ways" not in out
    assert "scikit-learn" in out and "not downloaded (--omniglot)" in out


def test_info_reports_an_unreadable_file_instead_of_crashing(isolated, monkeypatch, capsys):
    monkeypatch.setattr(command_line, "find_torchvision_set", lambda *args: None)
    write_fashion(isolated / "debian")
    unreadable = isolated / "debian" / "t10k-labels-idx1-ubyte.gz"
    read_bytes = Path.read_bytes

    def refuse(path):
        if path == unreadable:
            raise PermissionError(13, "Permission denied", str(path))
        return read_bytes(path)

    monkeypatch.setattr(Path, "read_bytes", refuse)
    assert command_line.main(["info"]) == 1
    out = capsys.readouterr().out
    assert f"test  {unreadable} cannot be read: Permission denied" in out
    assert "train " + str(isolated / "debian") in out  # the readable split is still verified


REPO = Path(__file__).resolve().parents[1]
OFFLINE = "http://127.0.0.1:9"  # a proxy on the discard port: every download is refused


def run_command_line(command: str, data_folder: Path) -> subprocess.CompletedProcess:
    """The real ``python -m metric_course.data COMMAND`` on ``data_folder``, with no network."""
    env = {
        **os.environ,
        data.DATA_ENV: str(data_folder),
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
        **dict.fromkeys(["http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"], OFFLINE),
        **dict.fromkeys(["no_proxy", "NO_PROXY"], ""),
    }
    return subprocess.run(
        [sys.executable, "-m", "metric_course.data", command],
        env=env,
        cwd=data_folder,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_info_and_an_offline_download_on_an_empty_folder_say_what_to_do(tmp_path):
    """Under ``-m`` the errors raised by the data modules are caught: no traceback (issue 22)."""
    debian = (data.DEBIAN_DIR / "train-images-idx3-ubyte.gz").exists()
    info = run_command_line("info", tmp_path)
    assert "Traceback" not in info.stderr, info.stderr
    assert info.returncode == 1
    assert "omniglot-small all_runs.zip: not found (see below)" in info.stdout
    assert "Omniglot file(s) images_background_small1.zip, images_background_small2.zip, " in (
        info.stdout
    )
    assert info.stdout.count("in one of three ways") == (1 if debian else 2)
    download = run_command_line("download", tmp_path)
    assert "Traceback" not in download.stderr, download.stderr
    assert download.returncode == 1
    assert "Omniglot: downloading https://raw.githubusercontent.com/" in download.stderr
    assert "Get them in one of three ways" in download.stderr
    if debian:
        assert "Fashion-MNIST: copied from" in download.stdout
    else:
        assert "Fashion-MNIST: the download failed" in download.stderr
        assert "Get it in one of three ways" in download.stderr


def test_a_data_folder_that_is_a_file_is_a_clear_error(tmp_path, capsys):
    not_a_folder = tmp_path / "notes.txt"
    not_a_folder.write_text("")
    for command in ("download", "info"):
        with pytest.raises(SystemExit) as exit_info:
            command_line.main([command, "--data-dir", str(not_a_folder)])
        assert exit_info.value.code == 2
        assert f"the data folder {not_a_folder} is a file" in capsys.readouterr().err
    with pytest.raises(NotADirectoryError, match=r"notes.txt is a file, not a folder"):
        data.download_fashion_mnist(not_a_folder / "inside")
    with pytest.raises(NotADirectoryError, match=r"notes.txt is a file, not a folder"):
        data.download_omniglot(not_a_folder)


# ---------------------------------------------------------------- other datasets


def test_unknown_dataset_or_split_is_a_value_error():
    with pytest.raises(ValueError, match="fashion-mnist, digits, mnist, omniglot"):
        load_dataset("cifar")
    with pytest.raises(ValueError, match="'train' or 'test'"):
        load_dataset("digits", split="validation")


def test_digits_are_always_there_in_a_fixed_split():
    train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    assert train.images.shape[1:] == (1, 8, 8) and len(train) + len(test) == 1797
    assert 0 <= train.images.min() and train.images.max() == 1
    assert train.classes == test.classes == tuple(range(10))
    assert torch.equal(load_dataset("digits").images, train.images)
    share = np.bincount(test.labels.numpy()) / np.bincount(train.labels.numpy())
    assert np.allclose(
        share, catalogue.DIGITS_TEST_FRACTION / (1 - catalogue.DIGITS_TEST_FRACTION), atol=0.05
    )


def test_mnist_offline_is_a_clear_error(isolated):
    with pytest.raises(DatasetNotFoundError, match="download --mnist"):
        load_dataset("mnist", data_dir=isolated / "empty")


def test_a_failed_torchvision_download_is_a_clear_error(isolated, monkeypatch):
    def offline(name, split, root, download):
        raise OSError("no network") if download else RuntimeError("Dataset not found")

    monkeypatch.setattr(catalogue, "_open_torchvision", offline)
    with pytest.raises(DatasetNotFoundError, match="no network"):
        load_dataset("omniglot", download=True)


class FakeOmniglot:
    """What torchvision's Omniglot offers: PIL images 105×105 and character ids."""

    root = "fake/omniglot-py"
    _characters = ("Greek/character01", "Greek/character02")

    def __len__(self):
        return 4

    def __getitem__(self, i):
        pixels = np.full((105, 105), 255, dtype=np.uint8)  # white paper
        pixels[:, 45:60] = 0  # a black stroke, 4 pixels wide once resized
        return Image.fromarray(pixels), i % 2


def test_omniglot_images_are_resized_and_inverted(isolated, monkeypatch):
    monkeypatch.setattr(catalogue, "_open_torchvision", lambda *args, **kw: FakeOmniglot())
    catalogue._omniglot_arrays.cache_clear()
    dataset = load_dataset("omniglot", "test", data_dir=isolated)
    catalogue._omniglot_arrays.cache_clear()
    assert dataset.images.shape == (4, 1, omniglot.IMAGE_SIZE, omniglot.IMAGE_SIZE)
    assert dataset.images[0, 0, 0, 0] == 0  # paper is dark
    assert dataset.images[0, 0].max() > 0.9  # the stroke is bright
    assert dataset.class_names == FakeOmniglot._characters
    assert dataset.labels.tolist() == [0, 1, 0, 1]


# ---------------------------------------------------------------- ImageDataset


def toy(n_per_class=3, classes=3) -> ImageDataset:
    labels = torch.arange(classes).repeat_interleave(n_per_class)
    images = torch.rand(len(labels), 1, 2, 2)
    return ImageDataset(images, labels, tuple(f"c{i}" for i in range(classes)), "toy", "test")


def test_image_dataset_rejects_inconsistent_input():
    images = torch.rand(4, 1, 2, 2)
    with pytest.raises(ValueError, match="4 images but labels of shape"):
        ImageDataset(images, torch.zeros(3), ("a",))
    with pytest.raises(ValueError, match="unsqueeze"):
        ImageDataset(torch.rand(4, 2, 2), torch.zeros(4), ("a",))
    with pytest.raises(ValueError, match="/ 255"):
        ImageDataset(torch.zeros(4, 1, 2, 2, dtype=torch.uint8), torch.zeros(4), ("a",))
    with pytest.raises(ValueError, match=r"labels must lie in 0\.\.1"):
        ImageDataset(images, torch.tensor([0, 1, 2, 0]), ("a", "b"))


def test_image_dataset_indexing_subsets_and_class_selection():
    dataset = toy()
    image, label = dataset[4]
    assert torch.equal(image, dataset.images[4]) and label == 1
    images, labels = next(iter(DataLoader(dataset, batch_size=5)))
    assert images.shape == (5, 1, 2, 2) and labels.tolist() == [0, 0, 0, 1, 1]
    part = dataset.subset([8, 0])
    assert part.labels.tolist() == [2, 0] and part.class_names == dataset.class_names
    chosen = dataset.select_classes((2, 0))
    assert chosen.labels.tolist() == [0, 0, 0, 2, 2, 2]  # original ids, original order
    assert chosen.classes == (0, 2)
    assert "toy" in repr(chosen) and "6 images" in repr(chosen)
    with pytest.raises(ValueError, match=r"class ids in 0\.\.2"):
        dataset.select_classes((3,))


# ---------------------------------------------------------------- splits


def test_named_splits_hold_seven_seen_and_three_unseen_classes():
    assert resolve_split("default") == ClassSplit((0, 1, 2, 3, 4, 5, 6), (), (7, 8, 9))
    for name in SPLITS:
        parts = resolve_split(name)
        assert len(parts.seen) == 7 and len(parts.unseen) == 3
        assert set(parts.seen) | set(parts.unseen) == set(range(10))
    assert resolve_split((9, 0, 4)).unseen == (1, 2, 3, 5, 6, 7, 8)
    assert resolve_split((9, 0, 4, 5), val_classes=(9, 4)) == ClassSplit(
        train=(0, 5), val=(4, 9), unseen=(1, 2, 3, 6, 7, 8)
    )


def test_one_resolver_splits_classes_and_alphabets_alike():
    alphabets = ("Greek", "Greek", "Korean", "Korean", "Korean", "Latin", "Latin")
    split = AlphabetSplit(val=("Latin",), unseen=("Korean",))
    assert resolve_split(split, alphabets, OMNIGLOT_SPLITS) == ClassSplit(
        train=(0, 1), val=(5, 6), unseen=(2, 3, 4)
    )
    assert resolve_split(split, alphabets).seen == (0, 1, 5, 6)
    with pytest.raises(ValueError, match="at least 2 training classes"):  # Greek: 1 character
        resolve_split(split, ("Greek", "Korean", "Korean", "Latin", "Latin"))


@pytest.mark.parametrize(
    ("split", "message"),
    [
        ("nope", "default, unseen-tops, unseen-mixed"),
        ((0, 10), "distinct class ids in 0..9"),
        ((1, 1, 2), "distinct class ids"),
        ((0,), r"at least 2 training classes, 2 unseen ones.*\(0,\) to train"),
        (tuple(range(9)), r"at least 2 training classes, 2 unseen ones.*\(9,\) unseen"),
    ],
)
def test_bad_splits_say_what_is_valid(split, message):
    with pytest.raises(ValueError, match=message):
        resolve_split(split)


def test_course_data_parts_are_class_disjoint():
    parts = course_data("digits", val_classes=(5, 2))
    assert parts.train.classes == parts.test_seen.classes == parts.train_classes == (0, 1, 3, 4, 6)
    assert parts.val.classes == parts.val_classes == (2, 5)
    assert parts.test_unseen.classes == parts.unseen_classes == (7, 8, 9)
    assert parts.train.name == parts.val.name == "digits train"
    assert parts.test_unseen.name == "digits test"
    assert "test_unseen" in repr(parts)
    assert course_data("digits").val is None


def test_course_data_caps_are_seeded_and_nested():
    small = course_data("digits", max_per_class=10, max_test_per_class=4, seed=1)
    assert np.bincount(small.train.labels.numpy()).max() == 10
    assert len(small.test_unseen) == 12
    again = course_data("digits", max_per_class=10, max_test_per_class=4, seed=1)
    assert torch.equal(small.train.images, again.train.images)
    larger = course_data("digits", max_per_class=20, seed=1)
    small_rows = {row.numpy().tobytes() for row in small.train.images}
    large_rows = {row.numpy().tobytes() for row in larger.train.images}
    assert small_rows <= large_rows
    other_seed = course_data("digits", max_per_class=10, seed=2)
    assert not torch.equal(small.train.images, other_seed.train.images)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"val_classes": (7, 8)}, "must be some of the seen classes"),
        ({"val_classes": (3,)}, r"none or at least 2 validating.*\(3,\) to validate"),
        ({"split": (0, 1, 2), "val_classes": (0, 1)}, r"at least 2 training.*\(2,\) to train"),
        ({"max_per_class": 0}, "at least 1"),
        ({"dataset": "omniglot"}, "already class-disjoint"),
        ({"split": "nope"}, "unknown split"),
    ],
)
def test_course_data_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        course_data(**{"dataset": "digits", **kwargs})


# ---------------------------------------------------------------- the real files


@pytest.mark.skipif(
    not (data.DEBIAN_DIR / "train-images-idx3-ubyte.gz").exists(),
    reason="the Debian package dataset-fashion-mnist is not installed",
)
def test_the_real_debian_files_load_with_balanced_classes(tmp_path):
    train = load_fashion_mnist("train", data_dir=tmp_path)  # empty folder: Debian is next
    test = load_fashion_mnist("test", data_dir=tmp_path)
    assert train.images.shape == (60_000, 1, 28, 28) and test.images.shape == (10_000, 1, 28, 28)
    assert torch.bincount(train.labels).tolist() == [6_000] * 10
    assert torch.bincount(test.labels).tolist() == [1_000] * 10
    assert train.images.min() == 0 and train.images.max() == 1
    assert "Debian" in train.source
    parts = course_data(data_dir=tmp_path)
    assert len(parts.train) == 42_000 and len(parts.test_seen) == 7_000
    assert len(parts.test_unseen) == 3_000
    assert [FASHION_MNIST_CLASSES[c] for c in parts.test_unseen.classes] == [
        "Sneaker",
        "Bag",
        "Ankle boot",
    ]
