"""Class labels as whole-number ids, checked once for every function that takes labels.

A label is a class id: 0, 1, 2, … A float label such as 0.3 would be cut to
class 0 by ``.long()`` or ``astype(int)``, silently merging classes (and a
retrieval score of 1.00 for one merged class looks perfect), so fractions
are refused with a message saying how to map classes to ids.
"""

from __future__ import annotations

import numpy as np
import torch


def as_labels(labels, what: str = "labels") -> np.ndarray:
    """``labels`` as a 1-D int array of class ids; a ValueError if any is fractional or not 1-D."""
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"{what} must be 1-D, one class id per item, got shape {labels.shape}")
    if labels.dtype.kind not in "biuf":
        raise ValueError(f"{what} must be whole-number class ids, got {labels.dtype} values")
    if labels.dtype.kind == "f" and not np.array_equal(labels, np.round(labels)):
        fractions = np.unique(labels[labels != np.round(labels)])[:5].tolist()
        raise ValueError(
            f"{what} must be whole class ids 0, 1, 2, …, got {fractions}; map each class to an "
            "integer id, e.g. with np.unique(labels, return_inverse=True)"
        )
    return labels.astype(np.int64)
