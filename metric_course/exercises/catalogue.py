"""Every exercise of the course: its notebook, its checker, and its reference solution.

A student asks for a solution with ``show_solution("distance_matrix")`` (typed
in a new cell, never saved in a notebook); the instructor tool builds solution
notebooks from the same table, and the tests run every checker on its
solution and check that no notebook shows a solution before it is asked for.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

from . import solutions
from .distances import check_pairwise_distances
from .few_shot import check_prototype_classifier
from .neighbours import check_neighbours_kept
from .online_mining import check_batch_all, check_batch_hard
from .scaling import check_global_batch_loss
from .siamese import check_contrastive_loss, check_threshold_at_far
from .triplets import check_triplet_loss


@dataclass(frozen=True)
class Exercise:
    """One exercise: the student's function (named as in the stub), where, and how it is checked."""

    name: str
    notebook: str  # the notebook's number, e.g. "01"
    checker: Callable[[Callable], bool]
    solution: Callable

    def source(self) -> str:
        """The reference solution's code, as ``show_solution`` prints it."""
        return inspect.getsource(self.solution)


EXERCISES: dict[str, Exercise] = {
    exercise.name: exercise
    for exercise in (
        Exercise("distance_matrix", "01", check_pairwise_distances, solutions.distance_matrix),
        Exercise("contrastive_loss", "02", check_contrastive_loss, solutions.contrastive_loss),
        Exercise("choose_threshold", "02", check_threshold_at_far, solutions.choose_threshold),
        Exercise("my_triplet_loss", "03", check_triplet_loss, solutions.my_triplet_loss),
        Exercise("my_batch_hard", "04", check_batch_hard, solutions.my_batch_hard),
        Exercise("my_batch_all", "04", check_batch_all, solutions.my_batch_all),
        Exercise(
            "prototype_classifier", "05", check_prototype_classifier, solutions.prototype_classifier
        ),
        Exercise("neighbours_kept", "06", check_neighbours_kept, solutions.neighbours_kept),
        Exercise("global_batch_loss", "07", check_global_batch_loss, solutions.global_batch_loss),
    )
}


def show_solution(name: str) -> None:
    """Print the reference solution of the exercise whose function is called ``name``.

    Meant to be typed in a new cell when a student is stuck; the notebooks
    only mention it in their Markdown, so no saved output shows a solution.
    """
    if name not in EXERCISES:
        raise ValueError(
            f"no exercise writes a function called {name!r}; the exercises are "
            f"{', '.join(map(repr, EXERCISES))}"
        )
    exercise = EXERCISES[name]
    checker = exercise.checker.__name__
    print(
        f"# One solution of notebook {exercise.notebook}'s exercise, from "
        f"metric_course/exercises/solutions.py.\n# Paste it over your function, run the cell, "
        f"then run {checker}({name}) again.\n"
    )
    print(exercise.source())
