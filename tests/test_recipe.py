"""The shared training recipe: copies, fingerprints, loaders, the model cache, the benchmark."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from metric_course import recipe as recipe_module
from metric_course.data import course_data
from metric_course.evaluation import embed
from metric_course.recipe import Recipe, make_loader, train_embedding, training_code_files

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
    assert loaded.history == trained.history and loaded.steps == trained.steps
    assert (trained.cached, loaded.cached) == (False, True)
    assert loaded.seconds == trained.seconds and loaded.device == trained.device == "cpu"
    train_embedding(
        "batch_hard", digits.train, recipe=TINY, seed=2, cache_dir=tmp_path, progress=False
    )
    assert len(list(tmp_path.glob("*.pt"))) == 2  # another seed is another model


def test_a_cached_model_says_it_was_loaded_in_one_line_without_a_bar(digits, tmp_path, capsys):
    train_embedding("batch_hard", digits.train, recipe=TINY, cache_dir=tmp_path, progress=False)
    loaded = train_embedding("batch_hard", digits.train, recipe=TINY, cache_dir=tmp_path)
    captured = capsys.readouterr()
    assert (
        captured.out
        == f"batch_hard: loaded from the cache (trained in {loaded.seconds:.1f} s on cpu earlier)\n"
    )
    assert captured.err == ""  # no progress bar


def test_the_cache_key_follows_the_training_code():
    names = {path.name for path in training_code_files()}
    for module in ("models", "losses", "distances", "mining", "training", "recipe", "sampling"):
        assert f"{module}.py" in names, module
    assert "augmentation.py" in names and "plotting.py" not in names


EDITED_NETWORK = """

_plain_init = EmbeddingNet.__init__


def _init_with_a_larger_head(self, *args, **kwargs):  # a student's edit of the network
    _plain_init(self, *args, **kwargs)
    with torch.no_grad():
        self.head.weight.mul_(3)


EmbeddingNet.__init__ = _init_with_a_larger_head
"""


def test_a_model_of_edited_code_is_trained_anew_never_served_stale(tmp_path):
    """A student edits the package (a copy on PYTHONPATH) and reruns: a new model is trained."""
    package = Path(recipe_module.__file__).parent
    copy = tmp_path / "course" / package.name
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    script = textwrap.dedent(
        """
        import json, sys
        import torch
        from metric_course.data import course_data
        from metric_course.evaluation import embed
        from metric_course.recipe import Recipe, train_embedding
        digits = course_data("digits", max_per_class=30)
        tiny = Recipe().with_changes(epochs=2, images_per_epoch=48, batch_images=12, p=3)
        result = train_embedding(
            "batch_hard", digits.train, recipe=tiny, cache_dir=sys.argv[1], progress=False
        )
        weights = result.model.head.weight.detach()
        print(json.dumps({"cached": result.cached, "head": weights.abs().sum().item()}))
        """
    )
    environment = {**os.environ, "PYTHONPATH": str(copy.parent), "METRIC_COURSE_DEVICE": "cpu"}

    def run() -> dict:
        finished = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / "models")],
            capture_output=True,
            text=True,
            timeout=300,
            env=environment,
            cwd=tmp_path,
        )
        assert finished.returncode == 0, finished.stderr
        return json.loads(finished.stdout.splitlines()[-1])

    first, again = run(), run()
    assert (first["cached"], again["cached"]) == (False, True)  # the cache works here
    assert again["head"] == first["head"]
    losses = copy / "losses.py"
    losses.write_text(losses.read_text() + "\n# a student's edit of a loss\n")
    assert run() == first  # trained again (not cached), and to the same model
    with open(copy / "models.py", "a", encoding="utf-8") as models:
        models.write(EDITED_NETWORK)
    edited = run()
    assert edited["cached"] is False  # the stale model of the old code is not served
    assert edited["head"] != first["head"]
    assert len(list((tmp_path / "models").glob("*.pt"))) == 3


def test_code_changed_since_import_trains_without_the_cache(digits, tmp_path, monkeypatch):
    """The files on disk are not the code that runs (an edit without a restart): no caching."""
    monkeypatch.setattr(recipe_module, "_CODE_AT_IMPORT", "the code of an older import")
    with pytest.warns(UserWarning, match="changed since this process imported it.*Restart"):
        result = train_embedding(
            "batch_hard", digits.train, recipe=TINY, cache_dir=tmp_path, progress=False
        )
    assert not result.cached and list(tmp_path.iterdir()) == []


def test_an_unwritable_cache_warns_and_returns_the_trained_model(digits, tmp_path):
    (tmp_path / "a file").write_text("")
    unwritable = tmp_path / "a file" / "models"  # under a file: no one can write there
    with pytest.warns(UserWarning, match=r"could not be cached in .*a file.*it is returned"):
        result = train_embedding(
            "batch_hard", digits.train, recipe=TINY, cache_dir=unwritable, progress=False
        )
    assert len(result.history) == TINY.epochs and not result.cached


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640)])
def test_cached_models_are_readable_as_the_umask_says(digits, tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        train_embedding("batch_hard", digits.train, recipe=TINY, cache_dir=tmp_path, progress=False)
    finally:
        os.umask(previous)
    (saved,) = tmp_path.glob("*.pt")
    assert saved.stat().st_mode & 0o777 == mode
    assert [p.name for p in tmp_path.iterdir()] == [saved.name]  # no temporary file left


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
