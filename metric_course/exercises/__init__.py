"""The notebooks' exercises: checkers, reference solutions, and ``show_solution``.

Each exercise is a function the student writes in a notebook; its checker runs
it on random inputs against the package's tested version and prints a verdict
with a hint (never raises). The reference solutions live here, not in the
notebooks: ``show_solution("distance_matrix")`` prints one when asked.

- ``checking``       the framework: cases, one printed verdict, hints (never raises)
- ``distances``      notebook 01: :func:`check_pairwise_distances`
- ``siamese``        notebook 02: :func:`check_contrastive_loss`, :func:`check_threshold_at_far`
- ``triplets``       notebook 03: :func:`check_triplet_loss`
- ``online_mining``  notebook 04: :func:`check_batch_hard`, :func:`check_batch_all`
- ``few_shot``       notebook 05: :func:`check_prototype_classifier`
- ``neighbours``     notebook 06: :func:`check_neighbours_kept`
- ``scaling``        notebook 07: :func:`check_global_batch_loss`
- ``solutions``      one reference solution per exercise, named as the notebook's stub
- ``catalogue``      :data:`EXERCISES` (name → notebook, checker, solution), :func:`show_solution`
"""

from .catalogue import EXERCISES, Exercise, show_solution
from .checking import compare_tensors, run_checks
from .distances import check_pairwise_distances
from .few_shot import check_prototype_classifier
from .neighbours import check_neighbours_kept
from .online_mining import (
    batch_all_from_distances,
    batch_hard_from_distances,
    check_batch_all,
    check_batch_hard,
)
from .scaling import check_global_batch_loss
from .siamese import check_contrastive_loss, check_threshold_at_far
from .triplets import check_triplet_loss

__all__ = [
    "EXERCISES",
    "Exercise",
    "batch_all_from_distances",
    "batch_hard_from_distances",
    "check_batch_all",
    "check_batch_hard",
    "check_contrastive_loss",
    "check_global_batch_loss",
    "check_neighbours_kept",
    "check_pairwise_distances",
    "check_prototype_classifier",
    "check_threshold_at_far",
    "check_triplet_loss",
    "compare_tensors",
    "run_checks",
    "show_solution",
]
