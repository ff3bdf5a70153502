"""Bad input to verification, pair sampling, the projector export and faiss (issue 22, round 2).

Each case once gave a wrong answer without a word, hung or crashed the interpreter; now
each is refused with a message that says what was wrong and how to fix it.
"""

import subprocess
import sys

import numpy as np
import pytest
import torch

from metric_course.evaluation import (
    accept_rates,
    pair_distances,
    sample_pairs,
    threshold_at_far,
    verification_roc,
)
from metric_course.labels import as_labels

EMBEDDINGS = torch.randn(40, 8, generator=torch.Generator().manual_seed(0))
LABELS = torch.arange(4).repeat_interleave(10)


def run_briefly(code: str, seconds: float = 60) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter: a hang fails the test instead of stalling pytest."""
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=seconds
    )


def test_pair_distances_refuses_labels_of_another_length():
    with pytest.raises(ValueError, match="one label per embedding: got labels of shape"):
        pair_distances(EMBEDDINGS, LABELS[:20])


@pytest.mark.parametrize(
    "labels, message",
    [
        (torch.zeros(40, dtype=torch.long), "in 1 classes"),
        (torch.arange(40), "0 of them with two items or more"),
        (torch.zeros(1, dtype=torch.long), "from 1 items"),
    ],
)
def test_pairs_that_cannot_exist_are_refused_at_once(labels, message):
    # Today's sampler looped forever looking for the missing kind of pair.
    with pytest.raises(ValueError, match=message):
        sample_pairs(labels, n_pairs=10)


def test_pair_sampling_never_hangs_in_a_fresh_interpreter():
    result = run_briefly(
        "import torch\n"
        "from metric_course.evaluation import pair_distances\n"
        "try:\n"
        "    pair_distances(torch.randn(40, 8), torch.zeros(40, dtype=torch.long))\n"
        "except ValueError as error:\n"
        "    print('refused:', error)\n"
    )
    assert result.returncode == 0 and "refused: cannot draw similar and dissimilar" in result.stdout


def test_fractional_labels_are_refused_by_pair_sampling():
    with pytest.raises(ValueError, match=r"whole class ids .*\[0\.1"):
        pair_distances(EMBEDDINGS, LABELS.float() / 10)


@pytest.mark.parametrize("n_pairs", [0, 1, 2.5, True])
def test_a_number_of_pairs_that_is_not_a_count_is_refused(n_pairs):
    with pytest.raises(ValueError, match="n_pairs must be a whole number of at least 2"):
        sample_pairs(LABELS, n_pairs=n_pairs)


def test_verification_refuses_the_contrastive_y_instead_of_scoring_auc_zero():
    distances, same = pair_distances(EMBEDDINGS, LABELS, n_pairs=200)
    y = (~same).astype(int)  # the contrastive loss's convention: 0 = similar
    assert verification_roc(distances, same).auc > 0.5
    for function in (
        lambda s: verification_roc(distances, s),
        lambda s: threshold_at_far(distances, s, 0.1),
        lambda s: accept_rates(distances, s, 1.0),
    ):
        with pytest.raises(ValueError, match=r"same must be a boolean array.*same = \(y == 0\)"):
            function(y)
        with pytest.raises(ValueError, match="got float64 values"):
            function(np.where(same, 3.0, 7.0))  # class ids are refused too


def test_verification_accepts_torch_bool_tensors():
    distances = torch.tensor([0.1, 0.2, 0.9, 1.0])
    same = torch.tensor([True, True, False, False])
    assert verification_roc(distances, same).auc == 1.0
    assert accept_rates(distances, same, 0.5) == (0.0, 1.0)


def test_accept_rates_refuses_distances_and_flags_of_different_lengths():
    # Today: IndexError from deep inside numpy.
    with pytest.raises(ValueError, match=r"equal length, got \(3,\) and \(2,\)"):
        accept_rates(np.array([0.1, 0.2, 0.3]), np.array([True, False]), 0.15)


def test_accept_rates_needs_both_kinds_of_pair():
    with pytest.raises(ValueError, match="both similar and dissimilar"):
        accept_rates(np.array([0.1, 0.2]), np.array([True, True]), 0.15)


def test_non_finite_distances_are_named():
    with pytest.raises(ValueError, match=r"NaN or infinite values \(pairs \[1\]"):
        verification_roc(np.array([0.1, np.nan, 0.3]), np.array([True, False, False]))


def test_as_labels_keeps_whole_floats_and_refuses_others():
    assert as_labels(np.array([0.0, 2.0])).tolist() == [0, 2]
    with pytest.raises(ValueError, match="must be 1-D"):
        as_labels(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="whole-number class ids"):
        as_labels(np.array(["a", "b"]))


# --- the projector export -------------------------------------------------------------------


def test_the_projector_refuses_fractional_labels_instead_of_merging_classes(tmp_path):
    pytest.importorskip("tensorboard")
    from metric_course.projector import export_projector

    with pytest.raises(ValueError, match=r"whole class ids .*\[0\.2"):
        export_projector(tmp_path, torch.randn(4, 3), [0.2, 0.7, 1.2, 1.7], class_names=["a", "b"])


def test_two_tags_in_one_log_folder_are_both_in_the_projector_config(tmp_path):
    pytest.importorskip("tensorboard")
    from metric_course.projector import export_projector

    embeddings, labels = torch.randn(6, 3), np.arange(6) % 2
    export_projector(tmp_path, embeddings, labels, tag="before")
    export_projector(tmp_path, embeddings, labels, tag="after")
    export_projector(tmp_path, embeddings[:4], labels[:4], tag="after")  # replaced, not doubled
    config = (tmp_path / "projector_config.pbtxt").read_text()
    assert config.count("tensor_path") == 2
    assert 'tensor_path: "00000/before/tensors.tsv"' in config
    assert 'tensor_path: "00000/after/tensors.tsv"' in config


# --- faiss settings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"hnsw_m": 1}, "hnsw_m must be a whole number of at least 2, got 1"),
        ({"hnsw_m": 0}, "hnsw_m must be a whole number of at least 2, got 0"),
        ({"hnsw_m": -3}, "hnsw_m must be a whole number of at least 2, got -3"),
        ({"hnsw_m": 8.5}, "hnsw_m must be a whole number"),
        ({"ef_search": 0}, "ef_search must be a whole number of at least 1"),
        ({"ef_construction": -1}, "ef_construction must be a whole number of at least 1"),
    ],
)
def test_faiss_settings_that_crash_or_hang_faiss_are_refused_first(settings, message):
    # In a fresh interpreter: today hnsw_m=1 segfaults, 0 aborts and -3 hangs.
    pytest.importorskip("faiss")
    result = run_briefly(
        "import torch\n"
        "from metric_course.search import build_index\n"
        "try:\n"
        f"    build_index(torch.randn(50, 4), 'hnsw', **{settings!r})\n"
        "except ValueError as error:\n"
        "    print('refused:', error)\n"
    )
    assert result.returncode == 0, result.stderr[-500:]
    assert f"refused: {message}" in result.stdout


def test_search_settings_are_checked_too():
    pytest.importorskip("faiss")
    from metric_course.search import build_index

    index = build_index(torch.randn(300, 4), "ivf", nlist=4)
    with pytest.raises(ValueError, match="nprobe must be a whole number of at least 1"):
        index.search(torch.randn(2, 4), 3, nprobe=0)
    with pytest.raises(ValueError, match="nlist must be a whole number"):
        build_index(torch.randn(300, 4), "ivf", nlist=2.5)


# --- embeddings too large to square ---------------------------------------------------------


def test_a_loss_on_embeddings_too_large_to_square_is_an_error_not_nan():
    # ×1e20: every squared distance overflows float32, and the loss came out NaN with no word.
    from metric_course import losses
    from metric_course.distances import cross_distances, pairwise_distances

    huge = EMBEDDINGS * 1e20
    for compute in (
        lambda: losses.batch_hard_triplet_loss(huge, LABELS, 0.1),
        lambda: losses.batch_all_triplet_loss(huge, LABELS, 0.1),
        lambda: losses.contrastive_loss(huge[:20], huge[20:], torch.zeros(20), 1.0),
        lambda: pairwise_distances(huge),
        lambda: cross_distances(huge, EMBEDDINGS),
    ):
        with pytest.raises(
            ValueError, match=r"values up to \d\.\de\+20: their squared distances overflow float32"
        ):
            compute()


def test_large_but_squarable_embeddings_still_work_and_retrieval_takes_any_size():
    from metric_course.distances import pairwise_distances
    from metric_course.evaluation import retrieval_metrics

    scaled = pairwise_distances(EMBEDDINGS * 1e15)
    torch.testing.assert_close(scaled / 1e15, pairwise_distances(EMBEDDINGS), rtol=1e-4, atol=0)
    assert retrieval_metrics(EMBEDDINGS * 1e20, LABELS) == retrieval_metrics(EMBEDDINGS, LABELS)
