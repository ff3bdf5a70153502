"""The shared training recipe: copies, fingerprints, loaders, the model cache, the benchmark."""

import importlib.util
from pathlib import Path

import pytest
import torch

from metric_course.data import course_data
from metric_course.evaluation import embed
from metric_course.recipe import Recipe, make_loader, train_embedding

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "unseen_classes.py"
# 3 classes × 4 images a batch, 4 batches an epoch: small enough for a test
TINY = Recipe().with_changes(epochs=2, images_per_epoch=48, batch_images=12, p=3)


@pytest.fixture(scope="module")
def digits():
    return course_data("digits", max_per_class=30)


def test_with_changes_returns_a_changed_copy_with_its_own_fingerprint():
    recipe = Recipe()
    longer = recipe.with_changes(epochs=recipe.epochs + 1)
    assert longer.epochs == recipe.epochs + 1
    assert recipe == Recipe()  # the original is untouched
    assert longer.fingerprint() != recipe.fingerprint()
    assert Recipe().fingerprint() == recipe.fingerprint()
    assert len(recipe.fingerprint()) == 12
    int(recipe.fingerprint(), 16)  # hexadecimal
    margins = {**recipe.margins, "batch_hard": recipe.margins["batch_hard"] + 0.1}
    assert recipe.with_changes(margins=margins).fingerprint() != recipe.fingerprint()


def test_pair_loader_gives_pairs_with_both_kinds_of_label(digits):
    loader = make_loader("contrastive", digits.train, TINY)
    batches = list(loader)
    assert len(batches) == len(loader) == 48 // 12
    x1, x2, y = batches[0]
    assert y.shape == (6,)
    assert set(torch.cat([b[2] for b in batches]).tolist()) == {0, 1}
    assert x1.shape == x2.shape == (6, 1, 8, 8)


def test_triplet_loader_gives_anchor_positive_negative(digits):
    batches = list(make_loader("triplet", digits.train, TINY))
    assert len(batches) == 4
    anchor, positive, negative = batches[0]
    assert anchor.shape == positive.shape == negative.shape == (4, 1, 8, 8)


@pytest.mark.parametrize("loss", ["batch_all", "batch_hard", "semi_hard", "contrastive_all_pairs"])
def test_online_losses_get_p_classes_of_k_images(digits, loss):
    loader = make_loader(loss, digits.train, TINY)
    batches = list(loader)
    assert len(batches) == len(loader) == 4  # the budget, not the whole data
    for images, labels in batches:
        assert images.shape == (12, 1, 8, 8)
        assert sorted(torch.bincount(labels)[labels.unique()].tolist()) == [4, 4, 4]


def test_cached_model_gives_identical_embeddings(digits, tmp_path):
    trained = train_embedding(
        "batch_hard", digits.train, digits.val, TINY, seed=1, cache_dir=tmp_path, progress=False
    )
    assert len(list(tmp_path.glob("*.pt"))) == 1
    loaded = train_embedding(
        "batch_hard", digits.train, digits.val, TINY, seed=1, cache_dir=tmp_path, progress=False
    )
    images = digits.test_unseen.images
    assert torch.equal(embed(trained.model, images), embed(loaded.model, images))
    assert loaded.history == trained.history
    train_embedding(
        "batch_hard", digits.train, recipe=TINY, seed=2, cache_dir=tmp_path, progress=False
    )
    assert len(list(tmp_path.glob("*.pt"))) == 2  # another seed is another model


def test_the_default_recipe_builds_its_network_on_small_and_large_images(digits):
    result = train_embedding(
        "batch_hard",
        digits.train,
        recipe=Recipe().with_changes(epochs=1, images_per_epoch=1),
        progress=False,
    )
    assert embed(result.model, torch.rand(2, 1, 28, 28)).shape == (2, Recipe().embedding_dim)


def test_recipe_network_is_the_network_train_embedding_trains(digits):
    """Notebooks build an untrained twin with ``RECIPE.network()``: same layers, same shapes."""
    result = train_embedding("batch_hard", digits.train, recipe=TINY, progress=False)
    shapes = {name: tensor.shape for name, tensor in result.model.state_dict().items()}
    twin = TINY.network(in_channels=digits.train.images.shape[1])
    assert {name: tensor.shape for name, tensor in twin.state_dict().items()} == shapes
    wider_pool = TINY.with_changes(pool_size=TINY.pool_size + 1).network()
    assert wider_pool.state_dict()["head.weight"].shape != shapes["head.weight"]


def _benchmark():
    spec = importlib.util.spec_from_file_location("unseen_classes", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_quick_run_reports_every_method():
    pytest.importorskip("pytorch_metric_learning")
    table = _benchmark().main(["--dataset", "digits", "--quick", "--val"])
    rows = [line.split("|")[1].strip() for line in table.splitlines()[2:]]
    assert rows[0] == "raw pixels"
    for loss in ("contrastive", "triplet", "batch_all", "batch_hard", "semi_hard"):
        assert f"course {loss}" in rows
        assert f"course {loss} + val stop" in rows
    for loss in ("contrastive", "batch_all", "batch_hard", "semi_hard"):
        assert f"PML {loss}" in rows
    assert "MAP@R" in table.splitlines()[0]


def test_benchmark_quick_ablation_undoes_each_choice():
    module = _benchmark()
    table = module.main(["--dataset", "digits", "--quick", "--ablation"])
    assert len(table.splitlines()) == 2 + 2 + len(module.ABLATIONS)
    for changes in module.ABLATIONS.values():
        assert module._undo(Recipe(), changes) != Recipe()  # each row changes something
