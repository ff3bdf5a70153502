"""Every exercise of the course: its notebook, its checker, and its reference solution.

A student asks for a solution with ``show_solution("distance_matrix")`` (typed
in a new cell, never saved in a notebook); the instructor tool builds solution
notebooks from the same table, and the tests run every checker on its
solution and check that no notebook shows a solution before it is asked for.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
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

# A solution's line shorter than this (``return x``, ``if squared:``) is not telling.
MIN_DISTINCTIVE = 20


def normalize_spaces(line: str) -> str:
    """A line of code with its spaces normalised: one space between words, none at the ends."""
    return re.sub(r"\s+", " ", line).strip()


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

    def distinctive_lines(self) -> list[str]:
        """The lines of the solution's body that give it away, whitespace normalised.

        Its statements, without the ``def`` line (the stub has it too), the
        docstring, comments, and lines too short to be telling (``return x``).
        A notebook that shows one of them shows the solution.
        """
        tree = ast.parse(textwrap.dedent(self.source())).body[0]
        body = tree.body[1:] if ast.get_docstring(tree) else tree.body
        code = textwrap.dedent(self.source()).splitlines()
        lines = []
        for statement in body:
            for line in code[statement.lineno - 1 : statement.end_lineno]:
                line = normalize_spaces(line.split("  #")[0].split(" # ")[0])
                if len(line) >= MIN_DISTINCTIVE and not line.startswith(("#", "def ", '"""')):
                    lines.append(line)
        return lines


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
        Exercise("my_neighbours_kept", "06", check_neighbours_kept, solutions.my_neighbours_kept),
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
