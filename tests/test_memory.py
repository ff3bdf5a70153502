"""Cross-batch memory: the FIFO queue, the losses over batch and memory, and warm-up."""

import pytest
import torch
from torch.utils.data import DataLoader

from metric_course.data import cap_per_class, load_dataset
from metric_course.losses import batch_hard_triplet_loss
from metric_course.memory import (
    CROSS_BATCH_MARGINS,
    CrossBatchMemory,
    CrossBatchMemoryLoss,
    cross_batch_contrastive_loss,
    feature_drift,
)
from metric_course.models import EmbeddingNet
from metric_course.sampling import PKSampler
from metric_course.training import set_seed, train


def test_memory_keeps_the_most_recent_items_like_a_list():
    memory, history = CrossBatchMemory(size=10), []
    generator = torch.Generator().manual_seed(0)
    next_id = 0
    for batch_size in (3, 4, 2, 5, 1, 12, 3):
        ids = torch.arange(next_id, next_id + batch_size)
        next_id += batch_size
        embeddings = ids[:, None].float() * torch.ones(1, 4) + torch.rand(1, generator=generator)
        memory.enqueue(embeddings, ids)
        history.extend(zip(ids.tolist(), embeddings, strict=True))
        expected = dict(history[-10:])
        stored_embeddings, stored_ids = memory.get()
        assert len(memory) == len(expected) == len(stored_ids)
        assert sorted(stored_ids.tolist()) == sorted(expected)
        for i, row in zip(stored_ids.tolist(), stored_embeddings, strict=True):
            assert torch.equal(row, expected[i])


def test_memory_stores_detached_copies_and_checks_its_input():
    memory = CrossBatchMemory(size=4)
    assert len(memory) == 0 and memory.get()[0].numel() == 0
    embeddings = torch.randn(3, 2, requires_grad=True)
    memory.enqueue(embeddings * 2, torch.tensor([0, 1, 2]))
    assert not memory.get()[0].requires_grad
    with pytest.raises(ValueError, match="stores 2-dimensional"):
        memory.enqueue(torch.randn(2, 5), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="labels"):
        memory.enqueue(torch.randn(2, 2), torch.tensor([0]))
    with pytest.raises(ValueError, match="at least 1"):
        CrossBatchMemory(0)


def pairs_of(a, anchors, labels, references, reference_labels, same_items):
    """(similar?, reference) for every reference of anchor a, by a loop."""
    return [
        (bool(reference_labels[r] == labels[a]), references[r])
        for r in range(len(references))
        if not (same_items and r == a)
    ]


def brute_force_hard(anchors, labels, references, reference_labels, margin, same_items):
    per_anchor = []
    for a in range(len(anchors)):
        pairs = pairs_of(a, anchors, labels, references, reference_labels, same_items)
        pos = [(anchors[a] - r).norm() for similar, r in pairs if similar]
        neg = [(anchors[a] - r).norm() for similar, r in pairs if not similar]
        if pos and neg:
            per_anchor.append((max(pos) - min(neg) + margin).clamp(min=0))
    return torch.stack(per_anchor).mean()


def brute_force_contrastive(anchors, labels, references, reference_labels, margin, same_items):
    total = 0
    for a in range(len(anchors)):
        for similar, r in pairs_of(a, anchors, labels, references, reference_labels, same_items):
            s = torch.dot(anchors[a] / anchors[a].norm(), r / r.norm())
            total = total + ((1 - s) if similar else (s - margin).clamp(min=0))
    return total / len(anchors)


@pytest.mark.parametrize(
    ("loss_fn", "brute_force", "margin"),
    [
        (batch_hard_triplet_loss, brute_force_hard, 0.5),
        (cross_batch_contrastive_loss, brute_force_contrastive, 0.1),
    ],
)
@pytest.mark.parametrize("same_items", [False, True])
def test_cross_batch_losses_match_loops_and_leave_the_references_without_gradient(
    loss_fn, brute_force, margin, same_items
):
    generator = torch.Generator().manual_seed(1)
    anchors = torch.randn(8, 3, generator=generator, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 4])
    references = torch.randn(6, 3, generator=generator, dtype=torch.float64)
    reference_labels = torch.tensor([3, 4, 0, 1, 5, 5])
    if same_items:
        references, reference_labels = anchors, labels
    else:
        references.requires_grad_()
    # the batch itself is the reference set when no references are given
    given = {} if same_items else {"references": references, "reference_labels": reference_labels}
    loss = loss_fn(anchors, labels, margin, **given)
    expected = brute_force(anchors, labels, references, reference_labels, margin, same_items)
    torch.testing.assert_close(loss, expected)
    (grad,) = torch.autograd.grad(loss, anchors, retain_graph=True)
    (expected_grad,) = torch.autograd.grad(expected, anchors)
    torch.testing.assert_close(grad, expected_grad)


def test_bad_margins_and_references_are_explained():
    x, y = torch.randn(4, 2), torch.tensor([0, 0, 1, 1])
    with pytest.raises(ValueError, match="margin must be positive"):
        batch_hard_triplet_loss(x, y, margin=-1, references=x, reference_labels=y)
    with pytest.raises(ValueError, match="cosine similarity"):
        cross_batch_contrastive_loss(x, y, margin=2)
    with pytest.raises(ValueError, match="together"):
        cross_batch_contrastive_loss(x, y, references=x[:2])
    with pytest.raises(ValueError, match="2 labels for 3"):
        cross_batch_contrastive_loss(x, y, references=x[:3], reference_labels=y[:2])


@pytest.mark.parametrize("name", ["batch_hard", "contrastive"])
def test_the_training_loss_warms_up_then_adds_the_memory_term(name):
    loss_fn = CrossBatchMemoryLoss(memory_size=20, loss=name, weight=0.5, warmup_steps=2)
    pair_loss = loss_fn.loss_fn
    generator = torch.Generator().manual_seed(3)
    sizes, seen_embeddings, seen_labels = [], [], []
    for step in range(6):
        embeddings = torch.randn(8, 4, generator=generator)
        labels = torch.arange(4).repeat(2)
        stats = {}
        loss = loss_fn(embeddings, labels, stats=stats)
        expected = pair_loss(embeddings, labels, loss_fn.margin)
        if step >= 2:  # the memory: the last 20 items stored, this batch included
            seen_embeddings.append(embeddings)
            seen_labels.append(labels)
            stored = torch.cat(seen_embeddings)[-20:], torch.cat(seen_labels)[-20:]
            memory = {"references": stored[0], "reference_labels": stored[1]}
            expected = expected + 0.5 * pair_loss(embeddings, labels, loss_fn.margin, **memory)
        torch.testing.assert_close(loss, expected)
        sizes.append((stats["memory_items"], len(loss_fn.memory)))
    assert sizes == [(0, 0), (0, 0), (8, 8), (16, 16), (20, 20), (20, 20)]
    with pytest.raises(ValueError, match="warmup_steps"):
        CrossBatchMemoryLoss(10, warmup_steps=-1)
    without_memory = CrossBatchMemoryLoss(0, loss=name)
    stats = {}
    loss = without_memory(embeddings, labels, stats=stats)
    torch.testing.assert_close(loss, pair_loss(embeddings, labels, CROSS_BATCH_MARGINS[name]))
    assert without_memory.memory is None and stats["memory_items"] == 0
    with pytest.raises(ValueError, match="unknown loss"):
        CrossBatchMemoryLoss(10, loss="arcface")


def test_feature_drift_between_snapshots():
    first = torch.zeros(3, 2)
    assert feature_drift([first, first + torch.tensor([3.0, 4.0]), first]) == [5.0, 5.0]
    with pytest.raises(ValueError, match="two snapshots"):
        feature_drift([first])


def test_trains_with_the_course_loop():
    data = cap_per_class(load_dataset("digits", "train").select_classes(range(4)), 32)
    loader = DataLoader(data, batch_sampler=PKSampler(data.labels, p=4, k=4, seed=0))
    set_seed(0)
    loss_fn = CrossBatchMemoryLoss(memory_size=64, loss="contrastive", warmup_steps=5)
    result = train(EmbeddingNet(16, width=8), loader, loss_fn, epochs=2, progress=False)
    assert all(torch.isfinite(torch.tensor(result.column("loss"))))
    assert len(loss_fn.memory) == 64 and loss_fn.steps == 2 * len(loader)
    assert 0 < result.history[-1]["memory_items"] <= 64


# ---------------------------------------------------------------- frozen before the change

# memory.cross_batch_hard_triplet_loss as it was before the batch-hard loss took references
# (commit 9037a56), kept here verbatim as the reference the memory's batch-hard must equal.


def frozen_cross_batch_hard(anchors, anchor_labels, references, reference_labels, margin):
    from metric_course.distances import cross_distances
    from metric_course.mining import hardest_triplets, pair_masks

    is_positive, is_negative = pair_masks(anchor_labels, reference_labels)  # None: same items
    distance = cross_distances(anchors, references.to(anchors))
    mined = hardest_triplets(distance, is_positive, is_negative)
    d_ap = distance.gather(1, mined.positive)[mined.used]
    d_an = distance.gather(1, mined.negative)[mined.used]
    losses = (d_ap - d_an + margin).clamp(min=0)
    return losses.sum() / max(losses.numel(), 1), losses


def memory_steps(seed=5, steps=5, batch=12, dim=6, size=30):
    """Fixed batches of a run: embeddings (requiring grad) and labels, a memory of ``size``."""
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        embeddings = torch.randn(batch, dim, generator=generator, dtype=torch.float64)
        labels = torch.randint(0, 5, (batch,), generator=generator)
        yield embeddings.requires_grad_(), labels


def test_the_memory_batch_hard_equals_the_frozen_loss_of_before_on_fixed_batches():
    loss_fn = CrossBatchMemoryLoss(memory_size=30, loss="batch_hard", margin=0.3, warmup_steps=1)
    seen = []
    for step, (embeddings, labels) in enumerate(memory_steps()):
        stats = {}
        loss = loss_fn(embeddings, labels, stats=stats)
        expected, in_batch = frozen_cross_batch_hard(embeddings, labels, embeddings, None, 0.3)
        active = (in_batch > 0).float().mean().item()
        if step >= 1:
            seen.append((embeddings.detach(), labels))
            stored = torch.cat([e for e, _ in seen])[-30:], torch.cat([y for _, y in seen])[-30:]
            memory_term, memory_losses = frozen_cross_batch_hard(embeddings, labels, *stored, 0.3)
            expected = expected + memory_term
            assert stats["memory_active_fraction"] == pytest.approx(
                (memory_losses > 0).float().mean().item()
            )
            assert stats["memory_loss"] == pytest.approx(memory_term.item())
        assert stats["active_fraction"] == pytest.approx(active)
        torch.testing.assert_close(loss, expected)
        grads = [torch.autograd.grad(x, embeddings, retain_graph=True)[0] for x in (loss, expected)]
        torch.testing.assert_close(*grads)
