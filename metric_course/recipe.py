"""The course's training recipe: one set of choices every notebook shares.

Comparing losses is only fair when everything else is equal: the network,
the data, the number of images seen, the optimiser. A :class:`Recipe` holds
those choices, and :func:`train_embedding` trains one model with any of the
course's losses under them, so notebook 04's table compares losses and
nothing else.

Trained models can be cached on disk (``cache_dir``): later notebooks reuse
the models of earlier ones instead of training them again, and a notebook
run on its own trains what it needs. A model is found in the cache only when
the code that trains it is unchanged: the cache key holds a hash of the
package's training code (edit a loss or the network and the model is trained
anew), torch's version and the device kind. A cache file is written whole or
not at all (to a temporary file, then renamed), readable as the umask says;
a damaged one is named and retrained.
"""

from __future__ import annotations

import ast
import hashlib
import itertools
import json
import math
import pickle
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Sampler

from .augmentation import RandomAffine, check_quarter_turns, rotated_classes
from .data import default_data_dir
from .data.files import write_atomically
from .losses import MARGINS
from .models import EmbeddingNet, get_device
from .sampling import PairDataset, PKSampler, TripletDataset
from .training import LOSS_NAMES, TrainResult, make_loss, set_seed, train

PACKAGE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Recipe:
    """How the course trains an embedding network (the same for every loss).

    The budget is counted in *images through the network* per epoch, so a pair
    batch (2 images per example), a triplet batch (3) and a P×K batch (1) all
    cost the same.

    The defaults are judged on classes the network never saw, and measured in
    ``docs/recipe.md`` with ``benchmarks/unseen_classes.py``: a 3×3 pooling grid
    that keeps the layout of the image (``pool_size``; the choice that matters
    most), L2-normalised embeddings, P×K batches holding every seen class, small
    margins for the online triplet losses, and 12,000 images in all.
    """

    embedding_dim: int = 64
    normalize: bool = True
    width: int = 16
    pool_size: int = 3
    epochs: int = 4
    images_per_epoch: int = 3_000
    batch_images: int = 112
    p: int = 7
    lr: float = 1e-3
    weight_decay: float = 0.0
    schedule: str = "cosine"
    positive_fraction: float = 0.25
    # one margin per loss: the table beside the losses (measured in docs/recipe.md)
    margins: dict[str, float] = field(default_factory=lambda: dict(MARGINS))
    augmentation: RandomAffine | None = None
    # 4: each training class also turned by 90°, 180° and 270°, each turn a class of its own
    # (augmentation.rotated_classes): four times the identities; 1 trains on the data as it is
    class_turns: int = 1

    def __post_init__(self) -> None:
        check_quarter_turns(self.class_turns, "class_turns")

    def with_changes(self, **changes) -> Recipe:
        """A copy with some fields changed, e.g. ``recipe.with_changes(epochs=10)``."""
        return replace(self, **changes)

    def network(self, in_channels: int = 1) -> EmbeddingNet:
        """A fresh :class:`EmbeddingNet` of this recipe's shape (on the CPU)."""
        return EmbeddingNet(
            embedding_dim=self.embedding_dim,
            normalize=self.normalize,
            in_channels=in_channels,
            width=self.width,
            pool_size=self.pool_size,
        )

    def fingerprint(self) -> str:
        """A short hash of every field: the name of a cached model."""
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


RECIPES: dict[str, Recipe] = {
    # Fashion-MNIST, 7 seen classes: the defaults above (docs/recipe.md).
    "fashion-mnist": Recipe(),
    # Omniglot background-small, 163 training characters (docs/recipe.md, "Omniglot"): each
    # character also turned by 90°, 180° and 270° as a character of its own (652 in all),
    # 28 characters × 4 drawings a batch, 1,000 steps, a network twice as wide. Chosen on the
    # validation alphabet: 14.6% and 14.3% one-shot error with two seeds against 16.3% and
    # 18.0% for the same recipe without turns and with random affine distortions instead.
    "omniglot": Recipe(
        width=32,
        p=28,
        batch_images=112,
        epochs=10,
        images_per_epoch=11_200,
        class_turns=4,
    ),
    # The notebooks' budget (a few seconds): the default width, 300 steps, no distortions.
    "omniglot-notebook": Recipe(p=28, batch_images=112, epochs=3, images_per_epoch=11_200),
}


def model_cache_dir() -> Path:
    """Where trained models are cached: ``models/`` in the course data folder (notebook 02)."""
    return default_data_dir() / "models"


def training_code_files() -> list[Path]:
    """The package's source files that shape a trained model: recipe.py and all it imports.

    Followed through every import of the package inside them, deferred
    imports included, so editing a loss, the network, the sampler or the
    loop (as the course invites) changes the model cache's key.
    """
    files, todo = set(), [PACKAGE / "recipe.py"]
    while todo:
        path = todo.pop()
        if path in files:
            continue
        files.add(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:  # relative: from .x import y, from . import x, from ..x import y
                    base = path.parents[node.level - 1]
                elif (node.module or "").split(".")[0] == PACKAGE.name:
                    base = PACKAGE.parent
                else:
                    continue
                module = (node.module or "").split(".") if node.module else []
                names = [module] + [[*module, alias.name] for alias in node.names]
            elif isinstance(node, ast.Import):
                base = PACKAGE.parent
                names = [a.name.split(".") for a in node.names if a.name.startswith(PACKAGE.name)]
            else:
                continue
            for parts in names:  # the module, its packages' __init__.py, a submodule imported
                for depth in range(len(parts) + 1):
                    folder = base.joinpath(*parts[:depth])
                    candidates = [folder / "__init__.py"]
                    if depth:
                        candidates.append(folder.with_suffix(".py"))
                    todo += [
                        c.resolve()
                        for c in candidates
                        if c.is_file() and PACKAGE in c.resolve().parents
                    ]
    return sorted(files)


def training_code_fingerprint() -> str:
    """A short hash of what trains a model besides its data: the code, torch, the device kind.

    The code is :func:`training_code_files` as they are on disk now.
    """
    setting = f"{_code_digest()} torch {torch.__version__} on {get_device().type}"
    return hashlib.sha256(setting.encode()).hexdigest()[:12]


def _code_digest() -> str:
    digest = hashlib.sha256()
    for path in training_code_files():
        digest.update(path.relative_to(PACKAGE).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _fingerprint(*tensors: torch.Tensor | None) -> str:
    """A short hash of the data a model is trained, chosen and snapshotted on."""
    digest = hashlib.sha256()
    for tensor in tensors:
        if tensor is not None:
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:12]


def make_loader(loss: str, data, recipe: Recipe, seed: int = 0) -> DataLoader:
    """The batches a loss needs: pairs, triplets, or P×K labelled batches (notebook 02).

    P×K batches take P = ``recipe.p`` classes (all of them when the data has
    fewer) and K = ``batch_images // recipe.p`` images of each. With
    ``recipe.class_turns`` > 1 the batches are drawn from ``data`` with its
    classes turned into new ones (:func:`~metric_course.augmentation.rotated_classes`).
    """
    data = rotated_classes(data, recipe.class_turns)
    generator = torch.Generator().manual_seed(seed)
    if loss == "contrastive":
        dataset = PairDataset(
            data,
            pairs_per_epoch=recipe.images_per_epoch // 2,
            positive_fraction=recipe.positive_fraction,
            seed=seed,
        )
        return DataLoader(dataset, batch_size=recipe.batch_images // 2, generator=generator)
    if loss == "triplet":
        dataset = TripletDataset(data, triplets_per_epoch=recipe.images_per_epoch // 3, seed=seed)
        return DataLoader(dataset, batch_size=recipe.batch_images // 3, generator=generator)
    k = recipe.batch_images // recipe.p
    p = min(recipe.p, len(data.classes))  # all the classes when there are fewer than P
    sampler = PKSampler(data.labels, p=p, k=k, seed=seed)
    budget = max(1, recipe.images_per_epoch // (p * k))
    return DataLoader(data, batch_sampler=_FirstBatches(sampler, budget))


class _FirstBatches(Sampler[list[int]]):
    """``n`` batches of P×K passes over the data every epoch: the recipe's budget.

    One pass over a large dataset (Fashion-MNIST) holds more batches than the
    budget: it is cut. One over a small dataset (Omniglot's 2,600 training
    images) holds fewer: further passes, each shuffled anew, fill the budget.
    Either way every epoch holds as many images as the pair and triplet loaders.
    """

    def __init__(self, sampler: PKSampler, n: int) -> None:
        self.sampler, self.n = sampler, n
        self.passes = math.ceil(n / max(1, len(sampler)))  # P×K passes per epoch
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        def batches():
            for i in range(self.passes):  # with one pass, the sampler's epoch is ours
                self.sampler.set_epoch(self.epoch * self.passes + i)
                yield from self.sampler

        return itertools.islice(batches(), self.n)


def train_embedding(
    loss: str,
    train_data,
    val_data=None,
    recipe: Recipe | None = None,
    seed: int = 0,
    snapshot_images: torch.Tensor | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train an :class:`EmbeddingNet` with ``loss`` under ``recipe``; the result (notebook 02).

    With ``val_data`` (classes held out of training, never the test classes)
    the best epoch's weights are kept. With ``cache_dir`` (for example
    :func:`model_cache_dir`) a model trained before with the same loss,
    recipe, seed and data, *by the same code* (:func:`training_code_fingerprint`:
    the package's training code, torch's version, the device kind), is loaded
    instead of trained again; ``result.cached`` says so. ``progress`` shows
    the training bar, or one line saying the model was loaded from the cache.
    A model that cannot be saved (a cache folder without write access) is
    returned with a warning.
    """
    if loss not in LOSS_NAMES:
        raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSS_NAMES)}")
    recipe = recipe or Recipe()
    cache_file = None
    if cache_dir is not None:
        cache_file = _cache_file(
            Path(cache_dir), loss, train_data, val_data, recipe, seed, snapshot_images
        )
    if cache_file is not None and cache_file.exists():
        try:
            result = _load(cache_file, recipe)
        except (RuntimeError, EOFError, pickle.UnpicklingError, KeyError) as error:
            warnings.warn(
                f"the cached model {cache_file} is damaged ({error}); training it again",
                stacklevel=2,
            )
        else:
            if progress:
                print(f"{loss}: {result.describe()}")
            return result
    set_seed(seed)
    model = recipe.network(in_channels=train_data.images.shape[1]).to(get_device())
    result = train(
        model,
        make_loader(loss, train_data, recipe, seed),
        make_loss(loss, margin=recipe.margins[loss]),
        epochs=recipe.epochs,
        lr=recipe.lr,
        weight_decay=recipe.weight_decay,
        schedule=recipe.schedule,
        val_data=val_data,
        snapshot_images=snapshot_images,
        progress=progress,
        label=loss,
        augment=recipe.augmentation,
    )
    if cache_file is not None:
        try:
            _save(cache_file, result)
        except (OSError, RuntimeError) as error:  # RuntimeError: torch's writer, e.g. disk full
            warnings.warn(
                f"the trained model could not be cached in {cache_file.parent} ({error}); it "
                "is returned, but the next run trains it again: give a cache_dir you can "
                "write to, or none",
                stacklevel=2,
            )
    return result


# The training code as this process imported it: a model is cached only when the files on disk
# are still these, so that a cached model is always one that the code on disk trains.
_CODE_AT_IMPORT = _code_digest()


def _cache_file(
    cache_dir: Path, loss: str, train_data, val_data, recipe: Recipe, seed: int, snapshot_images
) -> Path | None:
    """Where the model of these inputs is cached; None when the code changed since import.

    The name holds all a model depends on: loss, recipe, data, seed and the
    training code (with torch's version and the device kind).
    """
    if _code_digest() != _CODE_AT_IMPORT:
        warnings.warn(
            "the package's training code changed since this process imported it, so the code "
            "that runs may not be the code on disk: training without the cache. Restart the "
            "kernel (or Python) to use the cache again.",
            stacklevel=3,
        )
        return None
    data = _fingerprint(
        train_data.labels,
        train_data.images,
        None if val_data is None else val_data.labels,
        snapshot_images,
    )
    code = training_code_fingerprint()
    return cache_dir / f"{loss}-{recipe.fingerprint()}-{data}-code{code}-seed{seed}.pt"


def _save(path: Path, result: TrainResult) -> None:
    """Write the cache file whole or not at all, readable as the umask says (0644 under 022).

    :func:`~metric_course.data.files.write_atomically`: an interrupted save
    never leaves a truncated model under the final name, and the other
    accounts of a shared classroom data folder can read it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    saved = {
        "state_dict": {k: v.cpu() for k, v in result.model.state_dict().items()},
        "in_channels": result.model.in_channels,
        "history": result.history,
        "steps": result.steps,
        "snapshots": result.snapshots,
        "best_epoch": result.best_epoch,
        "seconds": result.seconds,
        "device": result.device,
    }
    write_atomically(path, lambda file: torch.save(saved, file))


def _load(path: Path, recipe: Recipe) -> TrainResult:
    saved = torch.load(path, map_location="cpu", weights_only=False)
    model = recipe.network(in_channels=saved["in_channels"])
    model.load_state_dict(saved["state_dict"])
    model.to(get_device())
    return TrainResult(
        model,
        history=saved["history"],
        snapshots=saved["snapshots"],
        best_epoch=saved["best_epoch"],
        seconds=saved["seconds"],
        steps=saved["steps"],
        device=saved["device"],
        cached=True,
    )
