"""metric_course: the tested helper package of the metric-learning course.

Notebooks explain each idea in a few lines of code, then import the tested
version from here. One module per idea:

- ``data``        datasets, class-disjoint splits, the download command
- ``sampling``    pair and triplet datasets, the P×K batch sampler
- ``models``      the embedding CNN and the device choice
- ``distances``   pairwise distance matrices with finite gradients at zero
- ``losses``      contrastive, triplet, batch-all, batch-hard and semi-hard losses
- ``mining``      triplet masks and easy / semi-hard / hard categories
- ``training``    one training loop with a progress bar and per-epoch history
- ``evaluation``  embedding a dataset, retrieval metrics, few-shot episodes, verification
- ``plotting``    figures used across notebooks
- ``widgets``     ipywidgets front ends
- ``exercises``   checkers for the notebook exercises
"""

__version__ = "0.1.0"
