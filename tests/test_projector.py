"""The TensorBoard projector export: written by add_embedding, read back and compared."""

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("tensorboard", reason="the projector export needs: pip install tensorboard")

from metric_course.projector import export_projector


def _data(n=10, dim=3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    embeddings = torch.randn(n, dim, generator=generator)
    images = torch.rand(n, 1, 4, 5, generator=generator)
    labels = np.arange(n) % 3
    return embeddings, images, labels


def test_export_reads_back_as_the_vectors_names_and_images(tmp_path):
    embeddings, images, labels = _data()
    names = ["alpha", "beta", "gamma"]
    folder = export_projector(tmp_path, embeddings, labels, images, names, tag="unseen")
    vectors = np.loadtxt(folder / "tensors.tsv", delimiter="\t")
    np.testing.assert_allclose(vectors, embeddings.numpy(), rtol=1e-6)
    metadata = (folder / "metadata.tsv").read_text().splitlines()
    assert metadata == [names[label] for label in labels]

    sprite = np.asarray(Image.open(folder / "sprite.png").convert("L"), dtype=float) / 255
    columns = 4  # the projector's sprite is a square grid: ceil(sqrt(10)) tiles a side
    for i, image in enumerate(images[:, 0].numpy()):
        row, column = divmod(i, columns)
        tile = sprite[row * 4 : (row + 1) * 4, column * 5 : (column + 1) * 5]
        np.testing.assert_allclose(tile, 1 - image, atol=1 / 255)  # dark ink on white

    config = (tmp_path / "projector_config.pbtxt").read_text()
    assert 'tensor_name: "unseen:00000"' in config
    assert 'tensor_path: "00000/unseen/tensors.tsv"' in config
    assert 'metadata_path: "00000/unseen/metadata.tsv"' in config
    assert 'image_path: "00000/unseen/sprite.png"' in config
    assert "single_image_dim: 4" in config and "single_image_dim: 5" in config


def test_export_without_images_writes_no_sprite(tmp_path):
    embeddings, _, labels = _data()
    folder = export_projector(tmp_path, embeddings, labels)
    assert not (folder / "sprite.png").exists()
    assert (folder / "metadata.tsv").read_text().splitlines() == [str(c) for c in labels]


def test_a_second_export_of_the_same_tag_replaces_the_first(tmp_path, capsys):
    embeddings, images, labels = _data()
    export_projector(tmp_path, embeddings, labels, images)
    folder = export_projector(tmp_path, embeddings[:4], labels[:4])
    assert capsys.readouterr().out == ""  # no "embedding dir exists" warning
    assert len(np.loadtxt(folder / "tensors.tsv", delimiter="\t")) == 4
    assert not (folder / "sprite.png").exists()
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"not a projector export \(notes.txt\)"):
        export_projector(tmp_path, embeddings, labels)


def test_export_rejects_what_the_projector_cannot_show(tmp_path):
    embeddings, images, labels = _data()
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        export_projector(tmp_path, embeddings[0], labels)
    with pytest.raises(ValueError, match="9 labels for 10"):
        export_projector(tmp_path, embeddings, labels[:9])
    broken = embeddings.clone()
    broken[2, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        export_projector(tmp_path, broken, labels)
    with pytest.raises(ValueError, match="3 images for 10"):
        export_projector(tmp_path, embeddings, labels, images[:3])
