"""The official one-shot runs, their evaluator and paired episode comparisons."""

import io
import math
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from metric_course.data import find_omniglot_file
from metric_course.few_shot import (
    OneShotRun,
    compare_few_shot,
    draw_episodes,
    episode_accuracies,
    few_shot_accuracy,
    load_one_shot_runs,
    mean_and_ci95,
    one_shot_error,
    pixel_embedding,
    read_one_shot_runs,
)


def image(value: float) -> torch.Tensor:
    return torch.full((1, 28, 28), value)


def three_way_run() -> OneShotRun:
    """Training images of brightness 0.1, 0.5, 0.9; tests 0.45 (-> 1), 0.85 (-> 2), 0.2 (-> 0)."""
    return OneShotRun(
        name="hand-made",
        training_images=torch.stack([image(0.1), image(0.5), image(0.9)]),
        test_images=torch.stack([image(0.45), image(0.85), image(0.2)]),
        answers=torch.tensor([1, 2, 0]),
    )


def test_a_hand_made_three_way_run_has_the_known_error():
    run = three_way_run()
    assert one_shot_error(pixel_embedding, [run]).errors == (0.0,)
    # Swap two answers: the nearest neighbours stay, so two of the three are now wrong.
    wrong = OneShotRun("swapped", run.training_images, run.test_images, torch.tensor([2, 1, 0]))
    result = one_shot_error(pixel_embedding, [run, wrong])
    assert result.errors == (0.0, pytest.approx(2 / 3))
    assert result.mean_error == pytest.approx(1 / 3)
    assert "33.3% error on 2 one-shot runs" in str(result)


def test_a_network_is_embedded_in_evaluation_mode():
    identity = torch.nn.Linear(28 * 28, 28 * 28)
    torch.nn.init.eye_(identity.weight)
    torch.nn.init.zeros_(identity.bias)
    network = torch.nn.Sequential(torch.nn.Flatten(), identity, torch.nn.Dropout(0.99))
    network.train()
    # With dropout active the images would mostly become zero and all look alike.
    assert one_shot_error(network, [three_way_run()]).mean_error == 0.0
    assert network.training
    with pytest.raises(TypeError, match="network or a function"):
        one_shot_error("pixels", [three_way_run()])


def png(brightness: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((105, 105), brightness, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def write_runs_zip(path, mac_entries: bool = False):
    """A zip laid out like all_runs.zip with one 3-way run; a Mac's zip adds ``__MACOSX/``."""
    with zipfile.ZipFile(path, "w") as archive:
        # Black on white: a darker PNG is a brighter image once inverted.
        for c, value in ((1, 230), (2, 130), (3, 30)):
            archive.writestr(f"run01/training/class{c:02d}.png", png(value))
        for i, value in ((1, 140), (2, 40), (3, 220)):
            archive.writestr(f"run01/test/item{i:02d}.png", png(value))
        labels = [
            "run01/test/item01.png run01/training/class02.png",
            "run01/test/item02.png run01/training/class03.png",
            "run01/test/item03.png run01/training/class01.png",
        ]
        archive.writestr("run01/class_labels.txt", "\n".join(labels) + "\n")
        if mac_entries:  # what the Finder's "Compress" adds: resource forks, not images
            archive.writestr("__MACOSX/run01/._class_labels.txt", b"\x00\x05\x16\x07")
            archive.writestr("__MACOSX/run01/training/._class01.png", b"\x00\x05\x16\x07")
            archive.writestr("run01/training/._class01.png", b"\x00\x05\x16\x07")
    return path


@pytest.mark.parametrize("mac_entries", [False, True])
def test_runs_are_read_from_the_official_layout(tmp_path, mac_entries):
    (run,) = read_one_shot_runs(write_runs_zip(tmp_path / "runs.zip", mac_entries))
    assert run.name == "run01" and run.answers.tolist() == [1, 2, 0]
    assert run.training_images.shape == (3, 1, 28, 28)
    assert run.training_images[:, 0, 0, 0].tolist() == pytest.approx(
        [25 / 255, 125 / 255, 225 / 255]
    )
    assert one_shot_error(pixel_embedding, [run]).mean_error == 0.0


@pytest.mark.skipif(
    find_omniglot_file("all_runs.zip") is None,
    reason="all_runs.zip is not in the course data folder (.ci/run copies it)",
)
def test_the_official_runs_and_the_pixel_baseline():
    runs = load_one_shot_runs()
    assert len(runs) == 20
    for run in runs:
        assert run.training_images.shape == run.test_images.shape == (20, 1, 28, 28)
        assert sorted(run.answers.tolist()) == list(range(20))
    # 309 of the 400 test images named wrongly by raw 28×28 pixels (77.2%, as in issue 12).
    assert one_shot_error(pixel_embedding, runs).mean_error == pytest.approx(309 / 400)


# ---------------------------------------------------------------- paired episodes


def clustered(seed: int, spread: float, classes: int = 12, per_class: int = 8):
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, 4, generator=generator)
    labels = torch.arange(classes).repeat_interleave(per_class)
    return centres[labels] + spread * torch.randn(len(labels), 4, generator=generator), labels


def test_episodes_are_those_of_few_shot_accuracy():
    embeddings, labels = clustered(0, 0.8)
    episodes = draw_episodes(labels, n_way=5, k_shot=2, n_query=3, episodes=40, seed=3)
    for episode in episodes:
        support, queries = labels[episode.support], labels[episode.queries]
        assert len(set(support.tolist())) == 5 and set(queries.tolist()) == set(support.tolist())
        assert not set(episode.support.tolist()) & set(episode.queries.tolist())
    accuracies = episode_accuracies(embeddings, labels, episodes, "prototype")
    reference = few_shot_accuracy(embeddings, labels, 5, 2, 3, 40, "prototype", seed=3)
    assert accuracies.mean() == pytest.approx(reference.accuracy)


def test_paired_comparison_on_the_same_episodes():
    embeddings, labels = clustered(0, 0.3)
    noisier = embeddings + 1.5 * torch.randn(
        embeddings.shape, generator=torch.Generator().manual_seed(1)
    )
    same = compare_few_shot(embeddings, embeddings, labels, n_way=5, n_query=3, episodes=50)
    assert same.difference == 0.0 and same.ci95 == 0.0 and not same.significant
    result = compare_few_shot(embeddings, noisier, labels, n_way=5, n_query=3, episodes=200, seed=2)
    # Brute force: score both on the same drawn episodes and take the paired differences.
    episodes = draw_episodes(labels, 5, 1, 3, 200, seed=2)
    a = episode_accuracies(embeddings, labels, episodes)
    b = episode_accuracies(noisier, labels, episodes)
    assert result.accuracy_a == pytest.approx(a.mean()) and result.accuracy_b == pytest.approx(
        b.mean()
    )
    assert result.difference == pytest.approx(a.mean() - b.mean())
    assert result.ci95 == pytest.approx(1.96 * np.std(a - b, ddof=1) / math.sqrt(200))
    assert result.difference > 0 and result.significant
    assert "5-way 1-shot, 200 paired episodes" in str(result)


def test_bad_episode_requests_say_what_to_change():
    embeddings, labels = clustered(0, 0.3, classes=4, per_class=3)
    with pytest.raises(ValueError, match="lower n_way"):
        draw_episodes(labels, n_way=5, n_query=1)
    with pytest.raises(ValueError, match="same images"):
        compare_few_shot(embeddings, embeddings[:-1], labels, n_way=3, n_query=1)
    with pytest.raises(ValueError, match="unknown method"):
        episode_accuracies(embeddings, labels, draw_episodes(labels, 3, 1, 1, 2), "magic")


def test_the_cosine_pixel_baseline_is_unit_length():
    images = torch.rand(5, 1, 28, 28)
    assert torch.equal(pixel_embedding(images), images.flatten(1))
    unit = pixel_embedding(images, normalize=True)
    assert torch.allclose(unit.norm(dim=1), torch.ones(5))
    assert torch.allclose(unit * images.flatten(1).norm(dim=1, keepdim=True), images.flatten(1))


def test_mean_and_ci95_by_hand():
    mean, ci95 = mean_and_ci95(np.array([0.5, 0.7, 0.9, 0.7]))
    standard_deviation = math.sqrt((0.04 + 0 + 0.04 + 0) / 3)
    assert mean == pytest.approx(0.7)
    assert ci95 == pytest.approx(1.96 * standard_deviation / 2)
    assert math.isnan(mean_and_ci95([0.4])[1])
    with pytest.raises(ValueError, match="at least one episode"):
        mean_and_ci95([])


def test_the_few_shot_functions_share_one_default_rule():
    # Issue 23: few_shot_accuracy named queries by prototypes while its siblings used the
    # nearest neighbour, so the same call with two functions measured two different things.
    import inspect

    defaults = {
        function.__name__: inspect.signature(function).parameters["method"].default
        for function in (few_shot_accuracy, compare_few_shot, episode_accuracies)
    }
    assert set(defaults.values()) == {"nearest_neighbour"}, defaults
