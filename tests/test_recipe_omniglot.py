"""The named recipes, training on Omniglot with augmentation, the curve and the benchmark."""

import importlib.util
import itertools
from pathlib import Path

import pytest
import torch

from metric_course.augmentation import RandomAffine
from metric_course.data import OMNIGLOT_FILES, OMNIGLOT_SPLITS, course_data, find_omniglot_file
from metric_course.evaluation import embed
from metric_course.few_shot import OneShotRun
from metric_course.recipe import RECIPES, Recipe, make_loader, train_embedding
from metric_course.sampling import PKSampler
from metric_course.training_classes import (
    fixed_drawings_subset,
    identities_curve,
    nested_class_subsets,
    training_classes_curve,
)

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "omniglot.py"
TINY_BUDGET = {"epochs": 1, "images_per_epoch": 224}

needs_omniglot = pytest.mark.skipif(
    any(find_omniglot_file(name) is None for name in OMNIGLOT_FILES),
    reason="Omniglot's files are not in the course data folder (.ci/run copies them)",
)


def test_the_fashion_mnist_recipe_is_the_default_and_omniglot_turns_its_classes():
    assert RECIPES["fashion-mnist"] == Recipe()
    assert Recipe().augmentation is None and Recipe().class_turns == 1  # as measured
    assert RECIPES["omniglot"].class_turns == 4 and RECIPES["omniglot-notebook"].class_turns == 1
    for name in ("omniglot", "omniglot-notebook"):
        assert RECIPES[name] != Recipe() and RECIPES[name].fingerprint() != Recipe().fingerprint()
    with pytest.raises(ValueError, match="class_turns must be 1, 2, 3 or 4"):
        Recipe(class_turns=8)


def test_class_turns_train_on_every_turned_class(monkeypatch):
    import metric_course.recipe as recipe_module

    digits = course_data("digits", max_per_class=10)
    seen = {}
    real_make_loader = recipe_module.make_loader

    def spy(loss, data, recipe, seed=0):
        loader = real_make_loader(loss, data, recipe, seed)
        seen["classes"] = len(loader.dataset.classes)
        return loader

    monkeypatch.setattr(recipe_module, "make_loader", spy)
    recipe = Recipe().with_changes(class_turns=4, p=14, batch_images=28, **TINY_BUDGET)
    train_embedding("batch_hard", digits.train, None, recipe, progress=False)
    assert seen["classes"] == 4 * len(digits.train.classes)
    for loss in ("contrastive", "triplet"):  # pairs and triplets are drawn from the turned data
        data = make_loader(loss, digits.train, recipe).dataset.data
        assert len(data.classes) == 4 * len(digits.train.classes)


def test_nested_class_subsets_add_classes_instead_of_swapping_them():
    subsets = nested_class_subsets(range(100, 150), [3, 10, None], seed=1)
    assert [len(s) for s in subsets] == [3, 10, 50]
    assert set(subsets[0]) < set(subsets[1]) < set(subsets[2]) == set(range(100, 150))
    assert subsets == nested_class_subsets(range(100, 150), [3, 10, None], seed=1)
    with pytest.raises(ValueError, match=r"2\.\.50"):
        nested_class_subsets(range(100, 150), [51])


@pytest.fixture(scope="module")
def small_omniglot():
    return course_data("omniglot-small", max_per_class=8, max_test_per_class=4)


@needs_omniglot
@pytest.mark.parametrize("loss", ["contrastive", "triplet", "batch_all", "batch_hard", "semi_hard"])
def test_every_loss_trains_on_omniglot_and_is_cached(small_omniglot, loss, tmp_path):
    recipe = RECIPES["omniglot"].with_changes(**TINY_BUDGET)
    data = small_omniglot
    first = train_embedding(loss, data.train, data.val, recipe, cache_dir=tmp_path, progress=False)
    assert len(first.history) == 1 and "val_map_at_r" in first.history[0]
    again = train_embedding(loss, data.train, data.val, recipe, cache_dir=tmp_path, progress=False)
    images = data.test_unseen.images[:16]
    assert torch.equal(embed(first.model, images), embed(again.model, images))
    assert len(list(tmp_path.glob("*.pt"))) == 1


@needs_omniglot
def test_augmentation_changes_what_the_network_learns(small_omniglot):
    data = small_omniglot
    recipe = Recipe().with_changes(p=28, batch_images=56, **TINY_BUDGET)
    plain = train_embedding("batch_hard", data.train, None, recipe, progress=False)
    again = train_embedding("batch_hard", data.train, None, recipe, progress=False)
    distorted = train_embedding(
        "batch_hard",
        data.train,
        None,
        recipe.with_changes(augmentation=RandomAffine()),
        progress=False,
    )
    images = data.test_unseen.images[:16]
    assert torch.equal(embed(plain.model, images), embed(again.model, images))
    assert not torch.allclose(embed(plain.model, images), embed(distorted.model, images))


@needs_omniglot
def test_the_training_classes_curve_trains_one_model_per_count(small_omniglot):
    run = OneShotRun(
        "tiny",
        small_omniglot.test_unseen.images[[0, 4]],
        small_omniglot.test_unseen.images[[5, 1]],
        torch.tensor([1, 0]),
    )
    recipe = RECIPES["omniglot-notebook"].with_changes(**TINY_BUDGET)
    rows = training_classes_curve(small_omniglot, (7, None), recipe, runs=[run])
    assert [row["classes"] for row in rows] == [7, len(small_omniglot.train_classes)]
    assert rows[0]["images"] == 7 * 8 and rows[1]["images"] == len(small_omniglot.train)
    for row in rows:
        assert 0 <= row["map_at_r"] <= 1 and row["one_shot_error"] in (0.0, 0.5, 1.0)


@needs_omniglot
def test_fixed_drawings_subsets_hold_the_drawings_and_nest(small_omniglot):
    train = small_omniglot.train
    few = fixed_drawings_subset(train, 7, 8)
    many = fixed_drawings_subset(train, 28, 2)
    for subset, characters, drawings in ((few, 7, 8), (many, 28, 2)):
        assert len(subset) == characters * drawings
        assert (
            torch.bincount(subset.labels)[list(subset.classes)].tolist() == [drawings] * characters
        )
    assert set(few.classes) < set(many.classes)  # more identities keep the fewer ones
    fewer = fixed_drawings_subset(train, 7, 4)
    kept = {tuple(image.flatten().tolist()) for image in few.images}
    assert all(tuple(image.flatten().tolist()) in kept for image in fewer.images)
    with pytest.raises(ValueError, match="at most 8"):
        fixed_drawings_subset(train, 7, 9)
    with pytest.raises(ValueError, match="at least 2"):
        fixed_drawings_subset(train, 7, 1)


@needs_omniglot
def test_the_identities_curve_holds_the_drawings_and_fills_every_batch(small_omniglot, monkeypatch):
    import metric_course.training_classes as curve_module

    run = OneShotRun(
        "tiny",
        small_omniglot.test_unseen.images[[0, 4]],
        small_omniglot.test_unseen.images[[5, 1]],
        torch.tensor([1, 0]),
    )
    recipe = RECIPES["omniglot-notebook"].with_changes(**TINY_BUDGET)
    shapes_trained = []
    train_embedding_itself = curve_module.train_embedding

    def spy(loss, train, val, shaped, *args, **kwargs):
        shapes_trained.append((shaped.p, shaped.batch_images // shaped.p, len(train.classes)))
        return train_embedding_itself(loss, train, val, shaped, *args, **kwargs)

    monkeypatch.setattr(curve_module, "train_embedding", spy)
    rows = identities_curve(small_omniglot, ((7, 8), (28, 2)), recipe, runs=[run])
    assert [(row["classes"], row["drawings"], row["images"]) for row in rows] == [
        (7, 8, 56),
        (28, 2, 56),
    ]
    assert shapes_trained == [(14, 8, 7), (56, 2, 28)]  # K = every drawing; P capped by make_loader
    for row in rows:
        assert 0 <= row["map_at_r"] <= 1 and row["one_shot_error"] in (0.0, 0.5, 1.0)


def _benchmark():
    spec = importlib.util.spec_from_file_location("omniglot_benchmark", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@needs_omniglot
def test_benchmark_quick_run_reports_pixels_and_every_loss():
    table = _benchmark().main(["--quick", "--threads", "1"])
    rows = [line.split("|")[2].strip() for line in table.splitlines()[2:]]
    assert rows == ["raw pixels", "contrastive", "triplet", "batch_all", "batch_hard", "semi_hard"]
    assert "| default | raw pixels | 0 | 77.2 |" in table


@needs_omniglot
@pytest.mark.parametrize("split", list(OMNIGLOT_SPLITS))
def test_the_refit_trains_on_every_drawing_of_every_alphabet_not_held_out(split):
    refit = _benchmark().refit_training_set(split)
    data = course_data("omniglot-small", split)
    names = {refit.class_names[c] for c in refit.classes}
    held_out = {data.class_names[c] for c in data.unseen_classes}
    assert not names & held_out
    assert names == {data.class_names[c] for c in (*data.train.classes, *data.val.classes)}
    assert len(refit) == 20 * len(names)  # all 20 drawers, the validation alphabet's too


def test_a_small_dataset_is_passed_over_again_to_fill_the_budget():
    digits = course_data("digits", max_per_class=10)  # 7 classes × 10 images: 5 P×K batches
    recipe = Recipe().with_changes(p=7, batch_images=14, images_per_epoch=14 * 12)
    loader = make_loader("batch_hard", digits.train, recipe)
    loader.batch_sampler.set_epoch(1)
    first = list(loader.batch_sampler)
    assert len(first) == len(loader) == 12  # the budget, not one pass of 5 batches
    assert first[:5] != first[5:10]  # each pass shuffled anew
    loader.batch_sampler.set_epoch(2)
    assert list(loader.batch_sampler) != first


def test_one_pass_is_cut_to_the_budget_with_the_samplers_epoch():
    digits = course_data("digits")
    loader = make_loader("batch_hard", digits.train, Recipe().with_changes(images_per_epoch=336))
    loader.batch_sampler.set_epoch(3)
    sampler = PKSampler(digits.train.labels, p=7, k=16, seed=0)
    sampler.set_epoch(3)
    expected = list(itertools.islice(iter(sampler), len(loader)))
    assert list(loader.batch_sampler) == expected


@needs_omniglot
def test_benchmark_validation_mode_scores_the_validation_alphabet_only():
    table = _benchmark().main(
        ["--quick", "--threads", "1", "--validation", "--losses", "batch_hard",
         "--changes", '{"width": 8, "augmentation": {}}']
    )  # fmt: skip
    assert "val 20-way one-shot error" in table and "| default | batch_hard |" in table
