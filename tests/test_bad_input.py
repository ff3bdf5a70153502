"""No silent wrong answer, no lost work: the package under bad and edge input (issue 14).

Each test is one case a careful user met: before the fix it gave a wrong
number, lost data or a puzzling error; now it gives the right result or an
error that says what was wrong and what to do.
"""

import re
import warnings

import pytest
import torch

from metric_course import losses
from metric_course.data import course_data
from metric_course.distances import cross_distances, pairwise_distances
from metric_course.distributed import launch_local
from metric_course.evaluation import embed, few_shot_accuracy, pair_distances, retrieval_metrics
from metric_course.recipe import Recipe, train_embedding
from metric_course.search import build_index, faiss_retrieval_metrics, torch_search

try:
    import faiss
except ImportError:
    faiss = None
needs_faiss = pytest.mark.skipif(faiss is None, reason="faiss-cpu is an optional extra")

LABELS = torch.arange(6).repeat_interleave(10)


def with_bad_rows(*rows, value=float("nan"), n=60, dim=8):
    embeddings = torch.randn(n, dim, generator=torch.Generator().manual_seed(0))
    for row in rows:
        embeddings[row, row % dim] = value
    return embeddings


# ---------------------------------------------------------------- 1. non-finite embeddings


def test_one_nan_embedding_is_an_error_naming_its_row_not_a_perfect_score():
    with pytest.raises(ValueError, match=r"NaN or infinity in embeddings: 1 of 60 rows \(17\)"):
        retrieval_metrics(with_bad_rows(17), LABELS)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_every_metric_names_the_non_finite_rows(value):
    embeddings = with_bad_rows(3, 41, value=value)
    for call in (
        lambda: retrieval_metrics(embeddings, LABELS),
        lambda: few_shot_accuracy(embeddings, LABELS, episodes=2),
        lambda: pair_distances(embeddings, LABELS, n_pairs=10),
        lambda: torch_search(embeddings, embeddings, 3),
        lambda: cross_distances(embeddings[:2], embeddings),
        lambda: pairwise_distances(embeddings),
    ):
        with pytest.raises(ValueError, match=r"2 of 60 rows \(3, 41\)"):
            call()


def test_a_long_list_of_bad_rows_is_cut_short():
    with pytest.raises(ValueError, match=r"12 of 60 rows \(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, …\)"):
        pairwise_distances(with_bad_rows(*range(12)))


@pytest.mark.parametrize(
    "loss_fn",
    [
        losses.batch_all_triplet_loss,
        losses.batch_hard_triplet_loss,
        losses.semi_hard_triplet_loss,
        losses.contrastive_loss_all_pairs,
    ],
)
def test_online_losses_refuse_non_finite_embeddings_instead_of_returning_nan(loss_fn):
    with pytest.raises(ValueError, match=r"rows \(17\).*lower the learning rate"):
        loss_fn(with_bad_rows(17), LABELS)


def test_pair_and_triplet_losses_refuse_non_finite_embeddings():
    good, bad = with_bad_rows(), with_bad_rows(2)
    with pytest.raises(ValueError, match=r"NaN or infinity in the second embeddings: .*\(2\)"):
        losses.contrastive_loss(good, bad, torch.zeros(60))
    with pytest.raises(ValueError, match=r"NaN or infinity in the first embeddings: .*\(2\)"):
        losses.triplet_loss(bad, good, good)


@needs_faiss
def test_faiss_search_names_the_non_finite_rows():
    embeddings = with_bad_rows(5)
    with pytest.raises(ValueError, match=r"in gallery embeddings: 1 of 60 rows \(5\)"):
        build_index(embeddings)
    with pytest.raises(ValueError, match=r"rows \(5\)"):
        faiss_retrieval_metrics(embeddings, LABELS)
    index = build_index(with_bad_rows())
    with pytest.raises(ValueError, match=r"NaN or infinity in queries: 1 of 1 rows \(0\)"):
        index.search(embeddings[5:6], 3)


# ---------------------------------------------------------------- 4. the model cache

TINY = Recipe().with_changes(epochs=1, images_per_epoch=24, batch_images=12, p=3)


@pytest.fixture(scope="module")
def digits():
    return course_data("digits", max_per_class=20)


def train_tiny(digits, cache_dir):
    return train_embedding(
        "batch_hard", digits.train, recipe=TINY, cache_dir=cache_dir, progress=False
    )


def test_an_interrupted_save_leaves_no_file_under_the_final_name(digits, tmp_path, monkeypatch):
    def interrupted(obj, path):
        path.write_bytes(b"PK\x03\x04 half a model")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_tiny(digits, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_damaged_cache_file_is_named_and_trained_again(digits, tmp_path):
    train_tiny(digits, tmp_path)
    (cache,) = tmp_path.glob("*.pt")
    cache.write_bytes(cache.read_bytes()[:1000])  # a save cut short
    with pytest.warns(UserWarning, match=f"cached model {re.escape(str(cache))} is damaged"):
        retrained = train_tiny(digits, tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = train_tiny(digits, tmp_path)  # the cache is whole again
    images = digits.test_unseen.images
    assert torch.equal(embed(retrained.model, images), embed(loaded.model, images))


# ---------------------------------------------------------------- 7. launch_local's results

BIG = 2_000_000  # 8 MB of float32, far more than a pipe holds


def _returns_tensors(context):
    return {"rank": torch.tensor(context.rank), "big": torch.full((BIG,), float(context.rank))}


def test_launch_local_returns_tensors_large_ones_included():
    results = launch_local(_returns_tensors, 2, timeout_seconds=60)
    assert [result["rank"].item() for result in results] == [0, 1]
    assert torch.equal(results[1]["big"], torch.ones(BIG))
