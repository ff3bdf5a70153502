"""Class-disjoint splits: one resolver for classes and for alphabets, and the parts it gives.

**Class-disjoint splits.** Metric learning promises that a network trained on
some classes can compare images of classes it has never seen, the way a face
recognition system recognises people who joined after it was trained. To
measure that promise honestly we split the *classes*, not only the images
(notebook 01 shows why):

- **seen** classes are the only ones training ever touches;
- **unseen** classes play the "new people": the course measures every model on
  them, from the test images, and never trains or tunes anything on them.

With Fashion-MNIST the default split (``SPLITS["default"]``) trains on classes
0–6 (T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt) and keeps 7–9
(Sneaker, Bag, Ankle boot) unseen. Other named splits are in :data:`SPLITS`;
any tuple of seen classes works too. Omniglot is split by *alphabet*, never
by character (:data:`OMNIGLOT_SPLITS`): characters of one alphabet share
strokes and style, so a test on other characters of a trained alphabet would
look better than a truly new script. :func:`resolve_split` turns either kind
into class ids, with the same checks.

**Validation without peeking.** Early stopping needs a score measured on data
the model does not train on, and it must not be the unseen test classes, or
the "unseen" number is tuned on. :func:`course_data` can therefore hold some
*seen* classes out of training (``val_classes``; for Omniglot the split's
validation alphabets): the validation score then asks the same question as the
test without touching the test classes. The parts:

========================  ==========================================  ==============
part                      classes                                     images from
========================  ==========================================  ==============
``train``                 seen classes minus ``val_classes``          training file
``val``                   ``val_classes`` (None when there are none)  training file
``test_seen``             the classes ``train`` holds                 test file
``test_unseen``           unseen classes                              test file
========================  ==========================================  ==============

Omniglot background-small is one set: its ``test_seen`` holds the last drawers
(:data:`TEST_SEEN_DRAWERS`) of the training characters, ``train`` the others.
``max_per_class`` and ``max_test_per_class`` keep a seeded random subset of
each class for quick runs; a smaller cap keeps a subset of a larger one.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from .catalogue import dataset_key, load_dataset
from .dataset import ImageDataset, cap_per_class, check_class_ids
from .fashion_mnist import FASHION_MNIST_CLASSES
from .omniglot import alphabet_of, load_omniglot_small

SPLITS: dict[str, tuple[int, ...]] = {
    # Unseen: Sneaker, Bag, Ankle boot. The course's split: two kinds of shoe
    # and a bag; the seen Sandal is the only relative they have in training.
    "default": (0, 1, 2, 3, 4, 5, 6),
    # Unseen: T-shirt/top, Pullover, Shirt. The hardest: three look-alike tops
    # that must be told apart from each other and from the seen Coat and Dress.
    "unseen-tops": (1, 3, 4, 5, 7, 8, 9),
    # Unseen: Trouser, Sandal, Bag. The easiest: one class from each family
    # (bottoms, shoes, accessories), each far from the others.
    "unseen-mixed": (0, 2, 3, 4, 6, 7, 9),
}


@dataclass(frozen=True)
class AlphabetSplit:
    """Which alphabets validate and which stay unseen; all the others train."""

    val: tuple[str, ...]
    unseen: tuple[str, ...]


OMNIGLOT_SPLITS: dict[str, AlphabetSplit] = {
    # The default. Unseen: Korean (40 characters, a script unlike any other
    # here) and Tagalog (17); the held-out pair of the measurements in
    # issue 12 and ECOSYSTEM.md, so numbers stay comparable. Early Aramaic
    # (22) validates: small, so training keeps 163 characters.
    "default": AlphabetSplit(val=("Early_Aramaic",), unseen=("Korean", "Tagalog")),
    # The second held-out choice of the benchmark. Unseen: Sanskrit (42) and
    # Balinese (24), two Brahmic scripts whose only relative in training is
    # Tagalog; training keeps 154 characters.
    "unseen-sanskrit-balinese": AlphabetSplit(
        val=("Early_Aramaic",), unseen=("Sanskrit", "Balinese")
    ),
}
TEST_SEEN_DRAWERS: tuple[int, ...] = (17, 18, 19, 20)
MIN_CLASSES_PER_PART = 2  # training needs negatives; a one-class retrieval score is perfect


@dataclass(frozen=True)
class ClassSplit:
    """The class ids of each part of a class-disjoint split, sorted."""

    train: tuple[int, ...]
    val: tuple[int, ...]
    unseen: tuple[int, ...]

    @property
    def seen(self) -> tuple[int, ...]:
        """Training and validation classes: all that are not kept unseen."""
        return tuple(sorted(self.train + self.val))


def _ids(ids: tuple[int, ...]) -> str:
    return str(ids) if len(ids) <= 10 else f"{len(ids)} classes"


def resolve_split(
    split: str | Sequence[int] | AlphabetSplit,
    groups: Sequence[Hashable] = tuple(range(len(FASHION_MNIST_CLASSES))),
    named: Mapping[str, Sequence[int] | AlphabetSplit] = SPLITS,
    val_classes: Sequence[int] = (),
) -> ClassSplit:
    """The train, val and unseen class ids of a split, of classes or of alphabets alike.

    ``groups[c]`` is what the split speaks of for class ``c``: the class
    itself for a 10-class dataset (the default: Fashion-MNIST's classes), its
    alphabet for Omniglot.
    ``split`` is a name of ``named`` (:data:`SPLITS`, :data:`OMNIGLOT_SPLITS`)
    or what it names: a tuple of seen class ids, of which ``val_classes``
    validate; or an :class:`AlphabetSplit`, whose own ``val`` alphabets
    validate. Every part holds at least 2 classes (validation none or 2):
    training needs positives and negatives, and a retrieval score on a single
    class would be trivially perfect.
    """
    groups = tuple(groups)
    if isinstance(split, str):
        if split not in named:
            raise ValueError(
                f"unknown split {split!r}; choose one of {', '.join(named)} or pass a tuple of "
                "seen class ids (Omniglot: an AlphabetSplit(val=(...), unseen=(...)))"
            )
        split = named[split]
    if isinstance(split, AlphabetSplit):
        if len(val_classes):
            raise ValueError(
                "an AlphabetSplit names its validation alphabets itself (its val): pass no "
                "val_classes"
            )
        val, unseen = tuple(split.val), tuple(split.unseen)
        unknown = [group for group in (*val, *unseen) if group not in groups]
        if unknown:
            known = ", ".join(map(str, dict.fromkeys(groups)))
            raise ValueError(f"unknown alphabet(s) {unknown}; the alphabets are {known}")
        if set(val) & set(unseen):
            raise ValueError(f"an alphabet cannot both validate and stay unseen: {split}")
    else:
        seen = check_class_ids(split, len(groups), "seen classes")
        val = check_class_ids(val_classes, len(groups), "val_classes")
        if any(c not in seen for c in val):
            raise ValueError(
                f"val_classes must be some of the seen classes {tuple(sorted(seen))}, got {val}"
            )
        val = tuple(groups[c] for c in val)
        unseen = tuple(group for c, group in enumerate(groups) if c not in seen)
    parts = ClassSplit(
        train=tuple(c for c, g in enumerate(groups) if g not in val and g not in unseen),
        val=tuple(c for c, g in enumerate(groups) if g in val),
        unseen=tuple(c for c, g in enumerate(groups) if g in unseen),
    )
    if (
        len(parts.train) < MIN_CLASSES_PER_PART
        or len(parts.unseen) < MIN_CLASSES_PER_PART
        or 0 < len(parts.val) < MIN_CLASSES_PER_PART
    ):
        raise ValueError(
            f"a split needs at least {MIN_CLASSES_PER_PART} training classes, "
            f"{MIN_CLASSES_PER_PART} unseen ones and none or at least {MIN_CLASSES_PER_PART} "
            f"validating; {split} leaves {_ids(parts.train)} to train, {_ids(parts.val)} to "
            f"validate and {_ids(parts.unseen)} unseen, of classes 0..{len(groups) - 1}"
        )
    return parts


# --------------------------------------------------------------------------- the parts


@dataclass(repr=False)
class CourseData:
    """The class-disjoint parts of one dataset that the notebooks train and measure on.

    See the module docstring for what each part holds and why.
    """

    train: ImageDataset
    val: ImageDataset | None
    test_seen: ImageDataset
    test_unseen: ImageDataset
    class_names: tuple[str, ...]
    seen_classes: tuple[int, ...]
    unseen_classes: tuple[int, ...]
    val_classes: tuple[int, ...]

    @property
    def train_classes(self) -> tuple[int, ...]:
        """The classes training uses: seen classes minus the validation classes."""
        return tuple(c for c in self.seen_classes if c not in self.val_classes)

    def summary(self) -> str:
        """A small table: each part, its number of images and its classes."""
        parts = [
            ("train", self.train),
            ("val", self.val),
            ("test_seen", self.test_seen),
            ("test_unseen", self.test_unseen),
        ]
        lines = []
        for part, data in parts:
            if data is None:
                lines.append(f"{part:<12} (none: pass val_classes to hold seen classes out)")
                continue
            names = [self.class_names[c] for c in data.classes]
            if len(names) > 10:  # Omniglot: say how many, and show the first and last
                names = [f"{len(names)} classes: {names[0]}", "…", names[-1]]
            lines.append(f"{part:<12} {len(data):>6} images  {', '.join(names)}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"CourseData({self.train.name.split()[0]})\n{self.summary()}"


def _parts(
    train: ImageDataset,
    val: ImageDataset | None,
    test_seen: ImageDataset,
    test_unseen: ImageDataset,
    split: ClassSplit,
    caps: tuple[int | None, int | None],
    seed: int,
) -> CourseData:
    """``CourseData`` from the uncapped parts, each class capped (``caps``: train/val, tests)."""
    max_per_class, max_test_per_class = caps
    return CourseData(
        train=cap_per_class(train, max_per_class, seed),
        val=None if val is None else cap_per_class(val, max_per_class, seed),
        test_seen=cap_per_class(test_seen, max_test_per_class, seed),
        test_unseen=cap_per_class(test_unseen, max_test_per_class, seed),
        class_names=train.class_names,
        seen_classes=split.seen,
        unseen_classes=split.unseen,
        val_classes=split.val,
    )


def course_data(
    dataset: str = "fashion-mnist",
    split: str | Sequence[int] | AlphabetSplit = "default",
    val_classes: Sequence[int] = (),
    max_per_class: int | None = None,
    max_test_per_class: int | None = None,
    seed: int = 0,
    data_dir: str | Path | None = None,
    download: bool = False,
) -> CourseData:
    """The train / val / test_seen / test_unseen parts of a dataset (notebook 00).

    ``split`` is a name from :data:`SPLITS` or a tuple of seen classes.
    ``val_classes`` (a subset of the seen classes, at least two, or none) are
    held out of training for validation. ``max_per_class`` caps each class of
    ``train`` and ``val``, ``max_test_per_class`` each class of the test parts.

    For ``"omniglot-small"`` the split is by alphabet: ``split`` names an entry
    of :data:`OMNIGLOT_SPLITS` (or is an :class:`AlphabetSplit`), which also
    fixes the validation alphabets (see :func:`omniglot_course_data`).
    """
    key = dataset_key(dataset)
    if key == "omniglot-small":
        if val_classes:
            raise ValueError(
                "Omniglot's validation classes are whole alphabets, named by the split: pass "
                "split='default' or another name of OMNIGLOT_SPLITS (or an AlphabetSplit) "
                "instead of val_classes"
            )
        return omniglot_course_data(
            split, max_per_class, max_test_per_class, seed, data_dir, download
        )
    if key == "omniglot":
        raise ValueError(
            "Omniglot's own splits are already class-disjoint: train on "
            "load_dataset('omniglot', 'train') and test on load_dataset('omniglot', 'test'), "
            "or use course_data('omniglot-small') for the 8 small alphabets split by alphabet"
        )
    train_file = load_dataset(key, "train", data_dir, download)
    test_file = load_dataset(key, "test", data_dir, download)
    parts = resolve_split(split, range(len(train_file.class_names)), SPLITS, val_classes)
    return _parts(
        train=train_file.select_classes(parts.train),
        val=train_file.select_classes(parts.val) if parts.val else None,
        test_seen=test_file.select_classes(parts.train),
        test_unseen=test_file.select_classes(parts.unseen),
        split=parts,
        caps=(max_per_class, max_test_per_class),
        seed=seed,
    )


def omniglot_course_data(
    split: str | AlphabetSplit = "default",
    max_per_class: int | None = None,
    max_test_per_class: int | None = None,
    seed: int = 0,
    data_dir: str | Path | None = None,
    download: bool = False,
    test_seen_drawers: tuple[int, ...] = TEST_SEEN_DRAWERS,
) -> CourseData:
    """The parts of Omniglot background-small, split by alphabet.

    ``train``: the training alphabets' characters, drawers not in
    ``test_seen_drawers``; ``val``: the validation alphabets (all drawers);
    ``test_seen``: the training characters' ``test_seen_drawers``;
    ``test_unseen``: the unseen alphabets (all drawers).
    """
    full = load_omniglot_small(data_dir, download)
    alphabets = tuple(alphabet_of(name) for name in full.class_names)
    parts = resolve_split(split, alphabets, OMNIGLOT_SPLITS)
    training_characters = full.select_classes(parts.train)
    held_out = torch.isin(training_characters.drawers, torch.tensor(test_seen_drawers))
    return _parts(
        train=training_characters.subset(torch.nonzero(~held_out).flatten()),
        val=full.select_classes(parts.val) if parts.val else None,
        test_seen=training_characters.subset(torch.nonzero(held_out).flatten()),
        test_unseen=full.select_classes(parts.unseen),
        split=parts,
        caps=(max_per_class, max_test_per_class),
        seed=seed,
    )
