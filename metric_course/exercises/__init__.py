"""Checkers for the notebook exercises, one module per notebook's exercise set.

- ``checking``       the framework: cases, one printed verdict, hints (never raises)
- ``distances``      notebook 01: :func:`check_pairwise_distances`
- ``siamese``        notebook 02: :func:`check_contrastive_loss`, :func:`check_threshold_at_far`
- ``triplets``       notebook 03: :func:`check_triplet_loss`
- ``online_mining``  notebook 04: :func:`check_batch_hard`
- ``few_shot``       notebook 05: :func:`check_prototype_classifier`
- ``neighbours``     notebook 06: :func:`check_k_nearest`
- ``scaling``        notebook 07: :func:`check_global_batch`
"""

from .checking import compare_tensors, run_checks
from .distances import check_pairwise_distances
from .few_shot import check_prototype_classifier
from .neighbours import check_k_nearest
from .online_mining import batch_hard_from_distances, check_batch_hard
from .scaling import check_global_batch
from .siamese import check_contrastive_loss, check_threshold_at_far
from .triplets import check_triplet_loss

__all__ = [
    "batch_hard_from_distances",
    "check_batch_hard",
    "check_contrastive_loss",
    "check_global_batch",
    "check_k_nearest",
    "check_pairwise_distances",
    "check_prototype_classifier",
    "check_threshold_at_far",
    "check_triplet_loss",
    "compare_tensors",
    "run_checks",
]
