"""The checking framework every exercise uses: cases, one printed verdict, hints.

Each checker runs the student's function on random inputs, compares it with
the package's tested version, and *prints* a verdict with a hint. It never
raises, so a notebook still runs to the end while an exercise is unsolved,
and it returns True or False so tests (and curious students) can use it.

A checker is a list of cases; each case names what it checks and returns
``None`` when the student's answer passes or a hint when it does not. The
student's function gets copies of the inputs (an answer that works in place
is still judged on the right numbers), and a checker stops after
``TIME_LIMIT_SECONDS`` (a loop that never ends is reported, not waited for).
"""

from __future__ import annotations

import ast
import inspect
import os
import signal
import sysconfig
import textwrap
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch

Case = tuple[str, Callable[[], str | None]]

# Far more than any checker needs (well under a second); enough for a slow loop.
TIME_LIMIT_SECONDS = 30.0

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.realpath(__file__))) + os.sep
_LIBRARY_DIRS = tuple(
    os.path.realpath(sysconfig.get_paths()[key]) + os.sep
    for key in ("stdlib", "platstdlib", "purelib", "platlib")
)


class _TimeUp(BaseException):
    """Raised by the alarm; a BaseException, so the student's ``except Exception`` lets it by."""


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Interrupt the code inside after ``seconds`` with :class:`_TimeUp`.

    Uses the Unix alarm signal, so only in the main thread of Linux or macOS
    (Jupyter and Colab run cells there); elsewhere there is no limit.
    """
    if (
        not hasattr(signal, "setitimer")
        or threading.current_thread() is not threading.main_thread()
    ):
        yield
        return

    def alarm(signum, frame):
        raise _TimeUp

    previous = signal.signal(signal.SIGALRM, alarm)
    previous_timer = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, *previous_timer)  # (0, 0), none, as a rule
        signal.signal(signal.SIGALRM, previous)


def _student_frame(error: BaseException) -> traceback.FrameSummary | None:
    """The deepest line of the traceback in the student's code (not the course, not a library)."""
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        if not os.path.realpath(frame.filename).startswith((_PACKAGE_DIR, *_LIBRARY_DIRS)):
            return frame
    return None


def run_checks(exercise: str, cases: list[Case]) -> bool:
    """Run the cases in order, print one verdict, and return whether all passed.

    The first failing case stops the run: its hint is the most useful one.
    An exception is reported, never re-raised: with the student's line when
    it came from their code, as a bug of the course when it did not.
    """
    description = cases[0][0] if cases else ""
    try:
        with _time_limit(TIME_LIMIT_SECONDS):
            for description, case in cases:
                hint = case()
                if hint is not None:
                    print(f"❌ {exercise}: {description} failed.\n   Hint: {hint}")
                    return False
    except NotImplementedError:
        print(f"⏳ {exercise}: not solved yet; replace `raise NotImplementedError` with your code.")
        return False
    except _TimeUp:
        print(
            f"⏱ {exercise}: stopped after {TIME_LIMIT_SECONDS:g} s while checking: {description}. "
            "Your function never finished: does a loop reach its stopping condition?"
        )
        return False
    except Exception as error:  # report it and keep the notebook going
        where = _student_frame(error)
        if where is None:
            print(
                f"❌ {exercise}: the checker itself failed on your answer with "
                f"{type(error).__name__}: {error}\n   while checking: {description}. That is a "
                "bug of the course (please report it); check that your function returns what "
                "the exercise asks for."
            )
        else:
            print(
                f"❌ {exercise}: your function raised {type(error).__name__}: {error}\n"
                f"   (line {where.lineno}: {where.line})\n   while checking: {description}"
            )
        return False
    print(f"✅ {exercise}: correct ({len(cases)} checks passed).")
    return True


def _not_a_tensor(got, what: str) -> str:
    """The hint for a result that is not a tensor, naming the two usual causes."""
    if got is None:
        return f"{what} should be a torch.Tensor, got None: does your function `return` it?"
    if isinstance(got, np.ndarray):
        return (
            f"{what} should be a torch.Tensor, got a NumPy array: compute it with torch "
            "operations (NumPy cuts the gradient), or convert with torch.from_numpy(...)"
        )
    return f"{what} should be a torch.Tensor, got {type(got).__name__}"


def compare_tensors(
    got, expected: torch.Tensor, what: str, atol: float = 1e-4, rtol: float = 1e-4
) -> str | None:
    """A hint when ``got`` is not a tensor close to ``expected``, else ``None``."""
    if not isinstance(got, torch.Tensor):
        return _not_a_tensor(got, what)
    if got.shape != expected.shape:
        return f"{what} should have shape {tuple(expected.shape)}, got {tuple(got.shape)}"
    if not torch.isfinite(got).all():
        return f"{what} contains NaN or infinity"
    if not torch.allclose(got.double(), expected.double(), atol=atol, rtol=rtol):
        worst = (got.double() - expected.double()).abs().max().item()
        return f"{what} differs from the reference by up to {worst:.3g}"
    return None


def diagnose(
    got, expected: torch.Tensor, what: str, mistakes: list[tuple[torch.Tensor, str]]
) -> str | None:
    """Like :func:`compare_tensors`, but name the typical mistake that ``got`` reproduces.

    ``mistakes`` pairs the result of a typical wrong answer with the hint for
    it; the first one that ``got`` matches (and the reference does not) wins.
    """
    hint = compare_tensors(got, expected, what)
    if hint is None or not isinstance(got, torch.Tensor) or got.shape != expected.shape:
        return hint
    got = got.detach().double()
    for wrong, mistake in mistakes:
        wrong = wrong.detach().double()
        if torch.allclose(got, wrong, atol=1e-4, rtol=1e-4, equal_nan=True):
            return mistake
    return hint


def scalar_hint(got, what: str) -> str | None:
    """A hint unless ``got`` is one number that autograd can differentiate."""
    if not isinstance(got, torch.Tensor):
        return _not_a_tensor(got, what)
    if got.ndim != 0:
        return (
            f"{what} should be one number (a 0-dim tensor), got shape {tuple(got.shape)}: "
            "average over the batch with .mean()"
        )
    if not got.requires_grad:
        return (
            f"{what} is not connected to the inputs, so backward() cannot train the network: "
            "keep it a tensor computed from them (no .item(), no NumPy, no torch.tensor(...))"
        )
    return None


def integer_hint(got, expected: torch.Tensor, what: str) -> str | None:
    """A hint unless ``got`` is an integer tensor equal to ``expected`` (labels or indices)."""
    if not isinstance(got, torch.Tensor):
        return _not_a_tensor(got, what)
    if got.shape != expected.shape:
        return f"{what} should have shape {tuple(expected.shape)}, got {tuple(got.shape)}"
    if got.is_floating_point() or got.is_complex():
        return f"{what} should hold integers (labels or indices), got {got.dtype}"
    if not torch.equal(got.long().cpu(), expected.long()):
        wrong = int((got.long().cpu() != expected.long()).sum())
        return f"{what} differs from the reference at {wrong} of {expected.numel()} places"
    return None


def name_mistake(got, expected, what: str, mistakes: list[tuple[torch.Tensor, str]]):
    """Like :func:`integer_hint`, but name the typical mistake ``got`` reproduces, if any."""
    hint = integer_hint(got, expected, what)
    if hint is None or not isinstance(got, torch.Tensor):
        return hint
    for wrong, mistake in mistakes:
        same_shape = got.shape == wrong.shape
        if same_shape and not got.is_floating_point() and torch.equal(got.long().cpu(), wrong):
            return mistake
    return hint


def _source_tree(fn: Callable) -> ast.AST | None:
    """The syntax tree of ``fn``'s source; ``None`` when it cannot be read (typed at a prompt)."""
    try:
        return ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return None


def loop_hint(fn: Callable, instead: str) -> str | None:
    """A hint when ``fn``'s source has a ``for``/``while`` loop or a comprehension, else ``None``.

    Exercises that ask for tensor code (no Python loop) share this check;
    ``instead`` says what to use. A function whose source cannot be read passes.
    """
    tree = _source_tree(fn)
    loops = (ast.For, ast.While, ast.comprehension)
    if tree is None or not any(isinstance(node, loops) for node in ast.walk(tree)):
        return None
    return (
        "the values are right, but your function uses a Python loop (for, while or a "
        f"comprehension), one small operation at a time. {instead}"
    )


def called_names(fn: Callable) -> set[str]:
    """The names of the functions and methods ``fn``'s source calls (empty when unreadable)."""
    tree = _source_tree(fn)
    if tree is None:
        return set()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            target = node.func
            if isinstance(target, ast.Attribute):
                names.add(target.attr)
            elif isinstance(target, ast.Name):
                names.add(target.id)
    return names
