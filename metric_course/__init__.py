"""metric_course: the tested helper package of the metric-learning course.

Notebooks explain each idea in a few lines of code, then import the tested
version from here. One module per idea:

- ``data``         a package: the data folder and checksums, the datasets (Fashion-MNIST,
                   Omniglot background-small: many identities, split by alphabet), one
                   resolver of class-disjoint splits, the download command
- ``sampling``     pair and triplet datasets, the P×K batch sampler
- ``models``       the embedding CNN and the device choice
- ``distances``    pairwise distance matrices with finite gradients at zero
- ``mining``       masks, miners (batch-hard, semi-hard, batch-all) and triplet categories
- ``losses``       contrastive, triplet, batch-all, batch-hard and semi-hard losses
- ``memory``       cross-batch memory: mining against the embeddings of past batches
- ``training``     the one training loop (its step a parameter), per-step and per-epoch history
- ``progress``     its progress bar: text in a terminal, saved finished in a notebook
- ``augmentation`` random affine distortions of a batch (more drawings for free) and
  turned classes (more characters for free)
- ``recipe``       the shared training recipes (network, data, margins) and their model cache
- ``training_classes`` how new-identity scores grow with the number of training classes
- ``distributed``  online mining over the global batch of several processes
- ``launch``       joining a process group; a small torchrun for tests and notebooks
- ``neighbours``   the one nearest-neighbour search (exact in blocks, or through faiss)
- ``evaluation``   embedding, retrieval metrics, few-shot, verification
- ``few_shot``     Lake et al.'s official one-shot runs; paired N-way K-shot comparisons
- ``search``       nearest-neighbour search at scale with faiss
- ``plotting``     figures used across notebooks, projections (PCA, UMAP) and how faithful they are
- ``environment``  lecture mode, Colab, versions and the device
- ``widgets``      ipywidgets front ends, one module per notebook's widget, and a clickable
                   projection that needs no widget manager
- ``projector``    export an embedding space to TensorBoard's Embedding Projector
- ``exercises``    checkers for the notebook exercises, one module per notebook, their
                   reference solutions, and ``show_solution`` to print one when asked

``instructor`` is a tool, not course content: it writes solution notebooks
and student copies of the notebooks and sets the repository address
(``python -m metric_course.instructor``).
"""

__version__ = "0.1.0"
