"""The embedding network and the device choice."""

import pytest
import torch

from metric_course.models import EmbeddingNet, get_device


@pytest.mark.parametrize("size", [8, 28])
def test_embedding_net_shapes_and_normalisation(size):
    torch.manual_seed(0)
    model = EmbeddingNet(embedding_dim=16)
    out = model(torch.rand(4, 1, size, size))
    assert out.shape == (4, 16)
    assert torch.allclose(out.norm(dim=1), torch.ones(4), atol=1e-5)
    raw = EmbeddingNet(embedding_dim=3, normalize=False)(torch.rand(4, 1, size, size))
    assert raw.shape == (4, 3)


def test_embedding_net_rejects_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match="embedding_dim must be at least 1"):
        EmbeddingNet(embedding_dim=0)
    model = EmbeddingNet(embedding_dim=4)
    with pytest.raises(ValueError, match=r"unsqueeze\(1\)"):
        model(torch.rand(4, 28, 28))
    with pytest.raises(ValueError, match="batch, 1, height, width"):
        model(torch.rand(4, 3, 28, 28))


def test_get_device_default_and_override(monkeypatch):
    monkeypatch.delenv("METRIC_COURSE_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else None
    device = get_device()
    if expected:
        assert device.type == expected
    assert get_device("cpu") == torch.device("cpu")
    monkeypatch.setenv("METRIC_COURSE_DEVICE", "cpu")
    assert get_device() == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_get_device_refuses_a_missing_gpu():
    with pytest.raises(ValueError, match="no CUDA GPU"):
        get_device("cuda")
