"""Interactive front ends (core ipywidgets, versions 7.7 and 8), one module per notebook's widget.

Each widget is a thin shell around plain functions: the logic (which points
are neighbours, which item a class and position name, which snapshot an epoch
shows) lives in functions that tests call directly, because widget callbacks
never run outside a live front end. Every widget draws with Matplotlib into an
``Output``, which renders the same in JupyterLab, classic Jupyter and Google
Colab, and has a ``draw`` method that returns the same picture as a static
figure (for GitHub, printed notes and nbval).

- ``margin``      notebook 02: :class:`MarginPlayground`, one pair's contrastive loss and slope
- ``triplets``    notebook 04: :class:`TripletChooser`, one anchor's negatives by hardness
- ``explorer``    notebook 06: :class:`EmbeddingExplorer`, a query image and its neighbours
- ``projection_view``  notebook 06: :class:`ProjectionView`, the same as a clickable page
  (HTML and JavaScript, no widget manager: click a point, hover, select a box)
- ``snapshots``   notebook 06: :class:`SnapshotSlider`, the epochs of a training run
- ``comparison``  notebook 06: :class:`SpaceComparison`, one query in several spaces
- ``drawing``     the figure pieces the three notebook-06 widgets share

The explorer, slider and comparison take plain arrays, so they work on any
embeddings you bring.
"""

from .comparison import SpaceComparison
from .explorer import EmbeddingExplorer, QueryPicker, class_members, locate
from .margin import (
    MarginPlayground,
    contrastive_pair_loss,
    contrastive_pair_slope,
    describe_pair_losses,
    draw_margin_playground,
)
from .projection_view import (
    ProjectionView,
    class_mix,
    neighbour_table,
    points_in_box,
    sprite_sheet,
)
from .snapshots import SnapshotSlider, shared_limits, snapshot_index
from .triplets import TripletChooser, describe_anchor_triplets, draw_anchor_triplets

__all__ = [
    "EmbeddingExplorer",
    "MarginPlayground",
    "ProjectionView",
    "QueryPicker",
    "SnapshotSlider",
    "SpaceComparison",
    "TripletChooser",
    "class_members",
    "class_mix",
    "contrastive_pair_loss",
    "contrastive_pair_slope",
    "describe_anchor_triplets",
    "describe_pair_losses",
    "draw_anchor_triplets",
    "draw_margin_playground",
    "locate",
    "neighbour_table",
    "points_in_box",
    "shared_limits",
    "snapshot_index",
    "sprite_sheet",
]
