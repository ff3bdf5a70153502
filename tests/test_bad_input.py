"""No silent wrong answer, no lost work: the package under bad and edge input (issue 14).

Each test is one case a careful user met: before the fix it gave a wrong
number, lost data or a puzzling error; now it gives the right result or an
error that says what was wrong and what to do.
"""

import re
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from metric_course import losses
from metric_course.data import ImageDataset, course_data, resolve_split
from metric_course.distances import check_embeddings, cross_distances, pairwise_distances
from metric_course.evaluation import (
    embed,
    pair_distances,
    retrieval_metrics,
)
from metric_course.few_shot import few_shot_accuracy
from metric_course.launch import launch_local
from metric_course.models import EmbeddingNet, get_device
from metric_course.neighbours import neighbour_table
from metric_course.recipe import Recipe, train_embedding
from metric_course.sampling import PairDataset, PKSampler, TripletDataset
from metric_course.search import build_index, faiss_retrieval_metrics, torch_search
from metric_course.widgets import EmbeddingExplorer

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


def test_huge_but_finite_embeddings_pass_even_when_their_sum_overflows():
    huge = torch.full((4, 3), 3e38)
    assert torch.isinf(huge.sum())
    check_embeddings(huge, squared=False)  # finite: not reported as NaN or infinity
    with pytest.raises(ValueError, match="squared distances overflow"):  # but not squarable
        check_embeddings(huge)


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
    def interrupted(obj, file):  # the cache writes through an open file
        file.write(b"PK\x03\x04 half a model")
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


# ---------------------------------------------------------------- 8. silent coercions


@pytest.mark.parametrize("labels", [[0.0, 1.5, 2.0], np.array([0, 1, 2.5]), [0, float("nan"), 1]])
def test_fractional_labels_are_refused_not_truncated(labels):
    with pytest.raises(ValueError, match="labels must be whole numbers"):
        ImageDataset(torch.zeros(3, 1, 2, 2), labels, ("a", "b", "c"))


def test_whole_float_labels_are_accepted_as_class_ids():
    data = ImageDataset(torch.zeros(3, 1, 2, 2), np.array([0.0, 2.0, 1.0]), ("a", "b", "c"))
    assert data.labels.tolist() == [0, 2, 1] and data.labels.dtype == torch.int64


def test_a_fractional_class_id_in_a_split_is_refused_not_truncated():
    with pytest.raises(ValueError, match=r"seen classes must be whole numbers .*\[1.5\]"):
        resolve_split((0, 1.5, 2))
    assert resolve_split((0.0, 1, 2)).seen == (0, 1, 2)


# ---------------------------------------------------------------- 9. errors that say what to do

UNEVEN = ImageDataset(torch.zeros(12, 1, 2, 2), torch.arange(4).repeat(3), tuple("abcd"))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: PKSampler(UNEVEN.labels, p=2.0, k=2), r"p must be a whole number .* got 2\.0; "),
        (lambda: PKSampler(UNEVEN.labels, p=2, k=3 / 1), r"k must be .* divide with // "),
        (lambda: PKSampler(UNEVEN.labels, p=2, k=2, seed=-1), "seed must be .* at least 0"),
        (lambda: PairDataset(UNEVEN, pairs_per_epoch=2.5), "pairs_per_epoch must be a whole"),
        (lambda: TripletDataset(UNEVEN, triplets_per_epoch=2.5), "triplets_per_epoch must be"),
    ],
)
def test_sampler_settings_must_be_whole_numbers(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_pk_sampler_never_says_lower_p_to_at_most_zero():
    with pytest.raises(
        ValueError, match=r"0 of them with at least 5 images .*; lower k to at most 3$"
    ):
        PKSampler(UNEVEN.labels, p=2, k=5)
    with pytest.raises(ValueError, match=r"at most 2, or lower k to at most 2$"):
        PKSampler([0, 0, 0, 1, 1, 1, 2, 2], p=3, k=3)


def test_an_unknown_device_name_says_which_names_work(monkeypatch):
    monkeypatch.setenv("METRIC_COURSE_DEVICE", "gpu")
    with pytest.raises(
        ValueError, match="METRIC_COURSE_DEVICE='gpu' is not a device name; use 'cuda'"
    ):
        get_device()


def test_embedding_net_explains_uint8_and_colour_images():
    model = EmbeddingNet(embedding_dim=4)
    with pytest.raises(ValueError, match=r"floats in \[0, 1\], got torch.uint8; convert with"):
        model(torch.zeros(2, 1, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match="colour images: build the network with in_channels=3"):
        model(torch.rand(2, 3, 8, 8))


@pytest.mark.parametrize(
    ("margin", "message"),
    [("0.2", r"got '0.2'; e.g. margin=0.2"), (None, r"got None; leave it out for the default")],
)
def test_a_margin_that_is_not_a_number_is_explained(margin, message):
    embeddings, labels = with_bad_rows(), LABELS
    for call in (
        lambda: losses.triplet_loss(embeddings, embeddings, embeddings, margin=margin),
        lambda: losses.contrastive_loss(embeddings, embeddings, torch.zeros(60), margin=margin),
        lambda: losses.batch_hard_triplet_loss(embeddings, labels, margin=margin),
    ):
        with pytest.raises(ValueError, match=f"the margin must be a number > 0, {message}"):
            call()


# ---------------------------------------------------------------- the explorer (1, 8 and 9)


def explore(embeddings=None, labels=None, images=None):
    generator = torch.Generator().manual_seed(0)
    return EmbeddingExplorer(
        with_bad_rows(n=12, dim=4) if embeddings is None else embeddings,
        torch.randn(12, 2, generator=generator),
        torch.rand(12, 1, 4, 4, generator=generator) if images is None else images,
        torch.arange(3).repeat(4) if labels is None else labels,
        class_names=["a", "b", "c"],
    )


def test_a_nan_embedding_is_never_its_own_neighbour():
    for query in (3, 7):  # the bad row itself, and another
        with pytest.raises(ValueError, match=r"NaN or infinity in embeddings: 1 of 12 rows \(7\)"):
            neighbour_table(with_bad_rows(7, n=12, dim=4), k=3, items=[query])
    with pytest.raises(ValueError, match=r"rows \(7\)"):
        explore(embeddings=with_bad_rows(7, n=12, dim=4))


def test_the_explorer_refuses_fractional_and_negative_labels():
    with pytest.raises(ValueError, match=r"labels must be whole class ids .*\[2.5\]"):
        explore(labels=torch.arange(3).repeat(4) + torch.tensor([0.0] * 11 + [0.5]))
    with pytest.raises(ValueError, match="got -1: a negative id would be shown under the last"):
        explore(labels=torch.arange(3).repeat(4) - (torch.arange(12) == 3).long())
    explorer = explore(labels=torch.arange(3).repeat(4).double())  # whole floats are class ids
    assert explorer.labels.tolist() == torch.arange(3).repeat(4).tolist()
    plt.close("all")


def test_the_explorer_explains_images_with_two_channels():
    with pytest.raises(ValueError, match=r"got \(12, 2, 4, 4\); .* show one, e.g. images\[:, :1\]"):
        explore(images=torch.rand(12, 2, 4, 4))


def test_the_triplet_chooser_and_the_projection_view_refuse_fractional_labels():
    from metric_course.widgets import ProjectionView, TripletChooser, class_mix

    labels = torch.arange(3).repeat(4) + torch.tensor([0.0] * 11 + [0.5])
    embeddings = torch.randn(12, 4, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"labels must be whole class ids .*\[2.5\]"):
        TripletChooser(pairwise_distances(embeddings), labels, None)
    with pytest.raises(ValueError, match=r"labels must be whole class ids .*\[2.5\]"):
        ProjectionView(embeddings, embeddings[:, :2], torch.rand(12, 8, 8), labels)
    with pytest.raises(ValueError, match=r"labels must be whole class ids .*\[2.5\]"):
        class_mix(labels, [0, 1, 2])
    plt.close("all")
