"""The training loop's progress bar: plain text in a terminal, a bar in Jupyter (every notebook).

In a terminal (and in tests) this is tqdm's text bar, on stderr. In Jupyter
(JupyterLab, Notebook, VS Code, Colab) tqdm's own notebook bar is an
ipywidget, and a saved notebook keeps it badly: the saved output is the
text of the bar *when it was first shown* ("0% 0/300"), so a notebook
opened later shows a stale bar, or "Error displaying widget" without the
widget's state. Here the bar is an ordinary cell output instead, drawn as
an HTML ``<progress>`` beside tqdm's text and replaced in place while it
runs (one display id): what is saved is its last state, the finished bar,
and nothing is written to stderr.
"""

from __future__ import annotations

import html
import io
import sys
from typing import Any

from tqdm.std import tqdm

# What the notebook bar prints beside the drawn bar (the text bar draws its own).
NOTEBOOK_FORMAT = "{desc}: {percentage:3.0f}% {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]"


def in_jupyter() -> bool:
    """Whether this code runs in a Jupyter kernel (Lab, Notebook, VS Code, Colab)."""
    zmqshell, ipython = sys.modules.get("ipykernel.zmqshell"), sys.modules.get("IPython")
    if zmqshell is None or ipython is None:
        return False
    return isinstance(ipython.get_ipython(), zmqshell.ZMQInteractiveShell)


class NotebookBar(tqdm):
    """tqdm's bar as one output of the cell, replaced in place until it is finished."""

    monitor_interval = 0  # no monitor thread: output from another thread may land in another cell

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._handle = None
        kwargs.setdefault("ascii", False)  # block characters, as in a terminal
        kwargs.setdefault("mininterval", 0.5)  # each redraw is a message to the front end
        super().__init__(*args, file=io.StringIO(), **kwargs)  # the text stream stays unused

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:
        if msg == "":  # tqdm clears the line when it closes with leave=False: keep the bar
            return True
        from IPython.display import display

        meter = self.format_meter(**{**self.format_dict, "bar_format": NOTEBOOK_FORMAT})
        total = self.total or max(self.n, 1)
        bundle = {
            "text/plain": str(self) if msg is None else msg,
            "text/html": f'<progress value="{self.n}" max="{total}" style="width: 16em"></progress>'
            f" <code>{html.escape(meter)}</code>",
        }
        if self._handle is None:
            self._handle = display(bundle, raw=True, display_id=True)
        else:
            self._handle.update(bundle, raw=True)
        return True


def progress_bar(**options: Any) -> tqdm:
    """A tqdm bar (same options): :class:`NotebookBar` in Jupyter, tqdm's text bar elsewhere."""
    return (NotebookBar if in_jupyter() else tqdm)(**options)
