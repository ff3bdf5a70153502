"""The training loop: batch kinds, history, validation, snapshots, seeding, steps."""

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from metric_course import losses
from metric_course.evaluation import embed
from metric_course.models import EmbeddingNet
from metric_course.sampling import PKSampler
from metric_course.training import LOSS_NAMES, TrainResult, make_loss, set_seed, train


class Labelled:
    """A tiny labelled image set with the ``images`` / ``labels`` of the course's datasets."""

    def __init__(self, n=48, classes=4, seed=0):
        generator = torch.Generator().manual_seed(seed)
        self.labels = torch.arange(classes).repeat(n // classes)
        patterns = torch.rand(classes, 1, 8, 8, generator=generator)
        noise = 0.3 * torch.rand(n, 1, 8, 8, generator=generator)
        self.images = patterns[self.labels] + noise


def loader_for(kind, data, seed=0):
    generator = torch.Generator().manual_seed(seed)
    x, y = data.images, data.labels
    if kind == "online":
        dataset = TensorDataset(x, y)
    elif kind == "pairs":
        other = torch.randperm(len(y), generator=generator)
        dataset = TensorDataset(x, x[other], (y != y[other]).long())
    else:
        same = torch.stack([torch.nonzero(y == c).squeeze(1) for c in y]).float()
        pos = same[
            torch.arange(len(y)), torch.randint(same.shape[1], (len(y),), generator=generator)
        ]
        neg = (torch.arange(len(y)) + 1) % len(y)  # neighbours differ in class (labels cycle)
        dataset = TensorDataset(x, x[pos.long()], x[neg])
    return DataLoader(dataset, batch_size=16, shuffle=True, generator=generator)


@pytest.mark.parametrize(
    ("kind", "loss_name"),
    [
        ("pairs", "contrastive"),
        ("triplets", "triplet"),
        ("online", "batch_all"),
        ("online", "batch_hard"),
        ("online", "semi_hard"),
        ("online", "contrastive_all_pairs"),
    ],
)
def test_train_runs_every_batch_kind_and_records_history(kind, loss_name):
    data = Labelled()
    set_seed(0)
    model = EmbeddingNet(embedding_dim=4)
    result = train(
        model,
        loader_for(kind, data),
        make_loss(loss_name),
        epochs=2,
        lr=1e-2,
        val_data=data,
        snapshot_images=data.images[:10],
        progress=False,
    )
    assert [row["epoch"] for row in result.history] == [1, 2]
    for key in ("loss", "seconds", "val_map_at_r", "active_fraction", "embedding_norm"):
        assert key in result.history[0], key
    assert len(result.snapshots) == 3 and result.snapshots[0].shape == (10, 4)
    assert result.best_epoch in (1, 2)
    assert result.column("loss") == [row["loss"] for row in result.history]


def test_seeded_training_is_reproducible():
    data = Labelled()

    def run():
        set_seed(3)
        model = EmbeddingNet(embedding_dim=4)
        result = train(
            model,
            loader_for("online", data, seed=3),
            make_loss("batch_hard"),
            epochs=2,
            progress=False,
        )
        return result.column("loss"), model.head.weight.detach().clone()

    (loss_a, weight_a), (loss_b, weight_b) = run(), run()
    assert loss_a == loss_b
    assert torch.equal(weight_a, weight_b)


def test_early_stopping_restores_the_best_epoch():
    data = Labelled()
    set_seed(0)
    model = EmbeddingNet(embedding_dim=4)
    result = train(
        model,
        loader_for("online", data),
        make_loss("batch_hard"),
        epochs=6,
        lr=0.05,
        val_data=data,
        early_stopping_patience=1,
        progress=False,
    )
    best = max(result.column("val_map_at_r"))
    assert result.history[result.best_epoch - 1]["val_map_at_r"] == best
    assert len(result.history) <= 6


def test_nan_loss_is_reported_not_trained_on():
    data = Labelled()
    data.images[0] = float("nan")
    model = EmbeddingNet(embedding_dim=4)
    loader = DataLoader(TensorDataset(data.images, data.labels), batch_size=48)
    # the loss itself refuses NaN embeddings (one NaN image spreads through batch norm)
    with pytest.raises(ValueError, match=r"NaN or infinity in embeddings.*lower the learning rate"):
        train(model, loader, make_loss("batch_hard"), epochs=1, progress=False)


def test_make_loss_and_train_reject_bad_arguments():
    assert set(LOSS_NAMES) >= {"contrastive", "triplet", "batch_hard"}
    with pytest.raises(ValueError, match="unknown loss"):
        make_loss("hardest")
    with pytest.raises(ValueError, match="margin must be positive"):
        make_loss("triplet", margin=0)
    loader = loader_for("online", Labelled())
    model = EmbeddingNet(embedding_dim=4)
    with pytest.raises(ValueError, match="epochs"):
        train(model, loader, make_loss("batch_hard"), epochs=0)
    with pytest.raises(ValueError, match="needs val_data"):
        train(model, loader, make_loss("batch_hard"), epochs=1, early_stopping_patience=2)
    bad = DataLoader(
        TensorDataset(torch.rand(4, 1, 8, 8), torch.zeros(4), torch.zeros(4), torch.zeros(4)),
        batch_size=4,
    )
    with pytest.raises(ValueError, match="a batch must be"):
        train(model, bad, make_loss("batch_hard"), epochs=1, progress=False)


def test_pair_statistics_count_dissimilar_pairs_inside_the_margin():
    """Similar pairs are active until they coincide; the dissimilar share counts the others."""
    emb_a = torch.zeros(4, 2)
    emb_b = torch.tensor([[0.5, 0.0], [0.0, 0.0], [0.5, 0.0], [2.0, 0.0]])
    y = torch.tensor([0, 0, 1, 1])  # two similar pairs (one coincides), two dissimilar
    stats = {}
    make_loss("contrastive", margin=1.0)(emb_a, emb_b, y, stats=stats)
    assert stats["active_fraction"] == pytest.approx(2 / 4)  # the 0.5 similar and 0.5 dissimilar
    assert stats["active_dissimilar_fraction"] == pytest.approx(1 / 2)  # 0.5 inside, 2.0 past m
    assert stats["mean_positive_distance"] == pytest.approx(0.25)
    assert stats["mean_negative_distance"] == pytest.approx(1.25)


def test_make_loss_passes_the_options_its_loss_takes_and_refuses_the_others():
    embeddings = torch.randn(12, 3, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(3).repeat(4)
    for name, options in [
        ("batch_hard", {"distance": "cosine", "reducer": "non_zero"}),
        ("batch_all", {"squared": True, "reducer": "mean"}),
        ("contrastive_all_pairs", {"distance": "cosine"}),
    ]:
        loss = make_loss(name, margin=0.3, **options)(embeddings, labels)
        torch.testing.assert_close(loss, losses.LOSSES[name](embeddings, labels, 0.3, **options))
    with pytest.raises(ValueError, match="contrastive loss takes no squared; its options are"):
        make_loss("contrastive", squared=True)
    with pytest.raises(ValueError, match="unknown reducer 'sum'; choose one of mean, non_zero"):
        make_loss("batch_hard", reducer="sum")
    with pytest.raises(ValueError, match="unknown distance 'manhattan'"):
        make_loss("triplet", distance="manhattan")
    with pytest.raises(ValueError, match="leave squared out"):
        make_loss("semi_hard", distance="cosine", squared=True)


def _hand_written_loop(data, steps, seed):
    """The loop notebook 07 and the memory benchmark wrote out: ``steps`` P×K steps, cosine."""
    set_seed(seed)
    model = EmbeddingNet(embedding_dim=4)
    sampler = PKSampler(data.labels, 2, 3, seed=seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    loss_fn, losses_seen, epoch = make_loss("batch_hard"), [], 0
    snapshots = [embed(model, data.images[:5])]
    while len(losses_seen) < steps:
        epoch += 1
        sampler.set_epoch(epoch)
        for rows in sampler:
            model.train()
            loss = loss_fn(model(data.images[rows]), data.labels[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            losses_seen.append(loss.item())
            if len(losses_seen) % 4 == 0:
                snapshots.append(embed(model, data.images[:5]))
            if len(losses_seen) == steps:
                break
    return model, losses_seen, snapshots


def test_a_step_budget_trains_exactly_as_the_hand_written_loop():
    """``steps=`` over several epochs, the last one cut: the same weights, bit for bit."""
    data = Labelled()
    sampler = PKSampler(data.labels, 2, 3, seed=4)
    steps = 2 * len(sampler) + 3
    expected, expected_losses, expected_snapshots = _hand_written_loop(data, steps, seed=4)
    set_seed(4)
    model = EmbeddingNet(embedding_dim=4)
    loader = DataLoader(TensorDataset(data.images, data.labels), batch_sampler=sampler)
    result = train(
        model,
        loader,
        make_loss("batch_hard"),
        steps=steps,
        lr=1e-2,
        snapshot_images=data.images[:5],
        snapshot_every=4,
        progress=False,
    )
    assert [row["loss"] for row in result.steps] == expected_losses
    for a, b in zip(model.state_dict().values(), expected.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert [row["step"] for row in result.steps] == list(range(1, steps + 1))
    assert [row["epoch"] for row in result.history] == [1, 2, 3]
    last_epoch = [row["loss"] for row in result.steps if row["epoch"] == 3]
    assert len(last_epoch) == 3
    assert result.history[2]["loss"] == pytest.approx(sum(last_epoch) / 3)
    assert len(result.snapshots) == 1 + steps // 4  # before training, then every 4 steps
    for got, wanted in zip(result.snapshots, expected_snapshots, strict=True):
        assert torch.equal(got, wanted)
    assert "active_fraction" in result.steps[0]


def test_the_step_is_a_parameter():
    """A step of one's own replaces the plain backward (as the distributed script's does)."""
    data = Labelled()
    seen = []

    def halved_step(model, batch, loss_fn, device):
        stats = {}
        loss = loss_fn(model(batch[0].to(device)), batch[1].to(device), stats=stats)
        (loss / 2).backward()
        seen.append(len(batch[0]))
        return loss.item(), stats

    rows = []
    result = train(
        EmbeddingNet(embedding_dim=4),
        loader_for("online", data),
        make_loss("batch_hard"),
        epochs=2,
        step=halved_step,
        on_epoch=rows.append,
        progress=False,
    )
    assert seen == [16, 16, 16] * 2
    assert rows == result.history


def test_train_says_how_long_and_refuses_a_bad_budget():
    loader = loader_for("online", Labelled())
    model = EmbeddingNet(embedding_dim=4)
    with pytest.raises(ValueError, match="say how long to train: epochs"):
        train(model, loader, make_loss("batch_hard"))
    with pytest.raises(ValueError, match="steps must be at least 1, got 0"):
        train(model, loader, make_loss("batch_hard"), steps=0)
    with pytest.raises(ValueError, match="snapshot_every must be at least 1"):
        train(model, loader, make_loss("batch_hard"), epochs=1, snapshot_every=0)
    result = train(model, loader, make_loss("batch_hard"), epochs=5, steps=4, progress=False)
    assert len(result.steps) == 4 and len(result.history) == 2  # 3 steps an epoch


def test_a_result_says_whether_it_was_trained_or_loaded():
    result = TrainResult(EmbeddingNet(embedding_dim=4), seconds=5.25, device="cpu")
    assert result.describe() == "trained in 5.2 s on cpu"
    result.cached = True
    assert result.describe() == "loaded from the cache (trained in 5.2 s on cpu earlier)"
