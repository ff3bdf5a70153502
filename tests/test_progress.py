"""The training bar: tqdm's text bar outside Jupyter; in a kernel, a bar saved finished.

The kernel test runs a real Jupyter kernel through nbclient (as nbval and
nbconvert do) and reads the outputs that would be saved in the notebook.
"""

import textwrap

import nbformat
import pytest
from tqdm.std import tqdm

from metric_course.progress import NotebookBar, in_jupyter, progress_bar

nbclient = pytest.importorskip("nbclient")


def test_outside_jupyter_the_bar_is_tqdms_text_bar(capsys):
    assert not in_jupyter()
    bar = progress_bar(total=3, desc="training")
    assert type(bar) is tqdm and not isinstance(bar, NotebookBar)
    bar.update(3)
    bar.close()
    assert "training: 100%" in capsys.readouterr().err


def test_in_a_kernel_training_shows_a_bar_saved_finished_and_nothing_on_stderr():
    source = textwrap.dedent(
        """
        import torch
        from torch.utils.data import DataLoader, TensorDataset
        from metric_course.models import EmbeddingNet
        from metric_course.training import make_loss, train

        torch.manual_seed(0)
        images, labels = torch.rand(48, 1, 8, 8), torch.arange(4).repeat(12)
        loader = DataLoader(TensorDataset(images, labels), batch_size=16)
        model = EmbeddingNet(embedding_dim=4)
        result = train(model, loader, make_loss("batch_hard"), epochs=3, label="batch_hard")
        print("done")
        """
    )
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    outputs = notebook.cells[0].outputs
    assert [o.output_type for o in outputs] == ["display_data", "stream"], outputs
    assert outputs[1].name == "stdout" and outputs[1].text == "done\n"
    bar = outputs[0].data
    assert "batch_hard: 100%" in bar["text/plain"] and "9/9" in bar["text/plain"]
    assert '<progress value="9" max="9"' in bar["text/html"]
    assert "epoch=3/3" in bar["text/plain"]
    assert "widgets" not in notebook.metadata  # no widget state saved for a bar
