"""One training loop for every kind of metric-learning batch.

The course trains with three kinds of batches, and this loop takes all three:

- **pairs** ``(x1, x2, y)`` for a Siamese network and the contrastive loss,
  ``y = 0`` for a similar pair and ``1`` for a dissimilar one;
- **triplets** ``(anchor, positive, negative)`` for the triplet loss;
- **labelled batches** ``(x, labels)``, P classes × K images, for online
  mining: the loss itself picks the pairs or triplets inside the batch.

Each step adds one row to ``TrainResult.steps`` and each epoch one row to
``TrainResult.history``: the loss, what the loss reports (share of active
triplets, mean distances, the embedding norm that reveals a collapse) and,
given validation data, the retrieval MAP@R on it.

It is the only training loop of the package: what differs between the
course's ways of training is the *step*, a parameter. The plain step
(:func:`backward_step`) backpropagates the loss of the batch; the
distributed script's (:func:`metric_course.distributed.global_batch_step`)
backpropagates the loss of the global batch of all processes; a cross-batch
memory (:class:`metric_course.memory.CrossBatchMemoryLoss`) is a loss that
updates its memory as it is called, so it takes the plain step.
"""

from __future__ import annotations

import copy
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import torch
from torch import nn

from . import losses
from .evaluation import embed, retrieval_metrics
from .progress import progress_bar

LossOutput = tuple[torch.Tensor, dict[str, float]]
LOSS_NAMES = tuple(losses.LOSSES)


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and PyTorch: a rerun here gives the same numbers (notebook 01)."""
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002  (the global generator other libraries draw from)
    torch.manual_seed(seed)


def make_loss(name: str, margin: float | None = None, **options) -> Callable[..., torch.Tensor]:
    """A loss for :func:`train`: ``losses.LOSSES[name]``, its margin and options (notebook 04).

    ``name`` is one of ``LOSS_NAMES``: "contrastive" takes pair batches,
    "triplet" triplet batches, the others labelled P×K batches. The margin
    defaults to the recipe's, ``losses.MARGINS[name]``, and must be positive;
    ``options`` are the keywords ``losses.OPTIONS[name]`` lists (``distance``,
    ``reducer``, and ``squared`` for the triplet losses), checked here.
    """
    if name not in losses.LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(LOSS_NAMES)}")
    unknown = set(options) - losses.OPTIONS[name]
    if unknown:
        raise ValueError(
            f"the {name} loss takes no {', '.join(sorted(unknown))}; its options are "
            f"{', '.join(sorted(losses.OPTIONS[name]))}"
        )
    margin = losses.MARGINS[name] if margin is None else margin
    losses.check_margin(margin)
    losses.check_options(
        options.get("distance", "euclidean"), options.get("reducer", "mean"), options.get("squared")
    )
    return partial(losses.LOSSES[name], margin=margin, **options)


def _compute_loss(
    model: nn.Module, batch: list[torch.Tensor], loss_fn: Callable, device: torch.device
) -> LossOutput:
    """Embed one batch and apply the loss, whatever kind of batch it is.

    ``loss_fn(*embeddings_and_targets, stats=dict)`` returns the loss and writes its stats.
    """
    batch = [t.to(device) for t in batch]
    stats: dict[str, float] = {}
    if len(batch) == 2:  # (images, labels): online mining inside the batch
        images, labels = batch
        loss = loss_fn(model(images), labels, stats=stats)
    elif len(batch) == 3 and batch[2].ndim == 1:  # (x1, x2, y): pairs
        x1, x2, y = batch
        emb_1, emb_2 = model(torch.cat([x1, x2])).split(len(x1))
        loss = loss_fn(emb_1, emb_2, y, stats=stats)
    elif len(batch) == 3:  # (anchor, positive, negative): triplets
        anchor, positive, negative = model(torch.cat(batch)).split(len(batch[0]))
        loss = loss_fn(anchor, positive, negative, stats=stats)
    else:
        raise ValueError(
            "a batch must be (images, labels), (x1, x2, y) or (anchor, positive, negative); "
            f"got {len(batch)} items"
        )
    return loss, stats


@dataclass
class TrainResult:
    """What :func:`train` returns: the model, one history row per epoch and per step, snapshots.

    ``cached`` is True when :func:`~metric_course.recipe.train_embedding` loaded
    the model from its cache instead of training it; ``seconds`` and
    ``device`` then describe the run that trained it. :meth:`describe` says
    which, in words a notebook can print.
    """

    model: nn.Module
    history: list[dict[str, float]] = field(default_factory=list)
    snapshots: list[torch.Tensor] = field(default_factory=list)
    best_epoch: int | None = None
    seconds: float = 0.0
    steps: list[dict[str, float]] = field(default_factory=list)
    device: str = ""
    cached: bool = False

    def column(self, key: str) -> list[float]:
        """One history entry over the epochs, e.g. ``result.column("loss")``."""
        return [row.get(key, float("nan")) for row in self.history]

    def describe(self) -> str:
        """How the model came to be, e.g. "trained in 5.3 s on cpu" or "loaded from the cache"."""
        trained = f"trained in {self.seconds:.1f} s on {self.device or 'an unknown device'}"
        return f"loaded from the cache ({trained} earlier)" if self.cached else trained


# A step: embed one batch, apply the loss, backpropagate; returns the loss value and its stats.
Step = Callable[[nn.Module, list[torch.Tensor], Callable, torch.device], tuple[float, dict]]


def backward_step(
    model: nn.Module, batch: list[torch.Tensor], loss_fn: Callable, device: torch.device
) -> tuple[float, dict[str, float]]:
    """The plain step of :func:`train`: the loss of the batch, backpropagated.

    Other steps take its place through ``train(step=...)``:
    :func:`metric_course.distributed.global_batch_step` backpropagates the loss
    of the batches of all processes (notebook 07).
    """
    loss, stats = _compute_loss(model, batch, loss_fn, device)
    loss.backward()
    return loss.item(), stats


def device_name(device: torch.device) -> str:
    """The device in words: "cpu", "cuda (NVIDIA H100 80GB HBM3)", "mps"."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type


def train(
    model: nn.Module,
    loader: torch.utils.data.DataLoader,
    loss_fn: Callable,
    *,
    epochs: int | None = None,
    steps: int | None = None,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    schedule: str = "cosine",
    val_data=None,
    early_stopping_patience: int | None = None,
    snapshot_images: torch.Tensor | None = None,
    snapshot_every: int | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
    label: str = "training",
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
    step: Step = backward_step,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train ``model`` with ``loss_fn`` on ``loader`` for ``epochs`` or ``steps`` (notebook 04).

    The one training loop of the course (notebooks 02 to 07, the recipes, the
    distributed script, the benchmarks). Adam with learning rate ``lr``;
    ``schedule="cosine"`` lowers it smoothly to zero over the run,
    ``"constant"`` keeps it. ``steps`` stops after that many batches in all
    (the last epoch is then cut short); with only ``steps``, the epochs are as
    many as it takes. With ``val_data`` (a dataset of classes held out of
    training) each epoch records ``val_map_at_r``, and the weights of the best
    epoch are restored at the end; with ``early_stopping_patience`` training
    also stops after that many epochs without improvement.
    ``snapshot_images`` are embedded before training and after every epoch,
    or every ``snapshot_every`` steps (the explorer's epoch slider, the drift
    of notebook 07). ``augment`` (e.g. a
    :class:`~metric_course.augmentation.RandomAffine`) distorts every image
    batch before the network sees it. ``step`` computes and backpropagates
    the loss of one batch (:func:`backward_step`, or the distributed global
    batch's); ``on_epoch`` is called with each epoch's history row.

    ``progress`` shows a bar over the steps, named ``label``: tqdm's text
    bar on stderr, in Jupyter a bar in the cell's output that is saved
    finished (:mod:`metric_course.progress`).
    """
    if epochs is None and steps is None:
        raise ValueError("say how long to train: epochs=..., steps=..., or both")
    for name, value in (("epochs", epochs), ("steps", steps), ("snapshot_every", snapshot_every)):
        if value is not None and value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    if schedule not in ("cosine", "constant"):
        raise ValueError(f"schedule must be 'cosine' or 'constant', got {schedule!r}")
    if early_stopping_patience is not None and val_data is None:
        raise ValueError("early stopping needs val_data to decide when the model stops improving")
    if len(loader) == 0:
        raise ValueError("the loader yields no batches; check the dataset and batch size")
    epochs = epochs if epochs is not None else math.ceil(steps / len(loader))
    total_steps = epochs * len(loader) if steps is None else min(steps, epochs * len(loader))
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = (
        torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
        if schedule == "cosine"
        else None
    )
    result = TrainResult(model, device=device_name(device))
    if snapshot_images is not None:
        result.snapshots.append(embed(model, snapshot_images))
    best_score, best_state, since_best = -float("inf"), None, 0
    start = time.perf_counter()
    bar = progress_bar(total=total_steps, desc=label, unit="step", disable=not progress)
    for epoch in range(1, epochs + 1):
        if hasattr(loader.batch_sampler, "set_epoch"):
            loader.batch_sampler.set_epoch(epoch)
        if hasattr(loader.dataset, "set_epoch"):
            loader.dataset.set_epoch(epoch)
        epoch_start, first_step = time.perf_counter(), len(result.steps)
        model.train()
        for batch in loader:
            if augment is not None:  # distort the images, keep labels and pair flags
                batch = [augment(t) if t.ndim == 4 else t for t in batch]
            optimizer.zero_grad(set_to_none=True)
            loss, stats = step(model, batch, loss_fn, device)
            if not math.isfinite(loss):
                raise FloatingPointError(
                    f"the loss became {loss} at epoch {epoch}, step {len(result.steps) + 1}; "
                    "lower the learning rate or check the inputs for NaN"
                )
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            result.steps.append({"step": len(result.steps) + 1, "epoch": epoch, "loss": loss})
            result.steps[-1].update((key, float(value)) for key, value in stats.items())
            bar.update()
            if snapshot_every and snapshot_images is not None:
                if len(result.steps) % snapshot_every == 0:
                    result.snapshots.append(embed(model, snapshot_images))
            if len(result.steps) == total_steps:
                break
        epoch_steps = result.steps[first_step:]
        row = {"epoch": epoch}
        for key in [k for k in epoch_steps[0] if k not in ("step", "epoch")]:
            row[key] = sum(s[key] for s in epoch_steps) / len(epoch_steps)
        row["seconds"] = time.perf_counter() - epoch_start
        if val_data is not None:
            row["val_map_at_r"] = retrieval_metrics(embed(model, val_data), val_data.labels)[
                "map_at_r"
            ]
            if row["val_map_at_r"] > best_score:
                best_score, since_best, result.best_epoch = row["val_map_at_r"], 0, epoch
                best_state = copy.deepcopy(model.state_dict())
            else:
                since_best += 1
        if snapshot_images is not None and snapshot_every is None:
            result.snapshots.append(embed(model, snapshot_images))
        result.history.append(row)
        shown = {k: f"{row[k]:.3f}" for k in ("loss", "val_map_at_r") if k in row}
        bar.set_postfix(epoch=f"{epoch}/{epochs}", **shown)
        if on_epoch is not None:
            on_epoch(row)
        stop_early = early_stopping_patience is not None and since_best >= early_stopping_patience
        if stop_early or len(result.steps) == total_steps:
            break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    result.seconds = time.perf_counter() - start
    return result
