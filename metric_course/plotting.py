"""Figures shared by the notebooks: image grids, embedding scatters, training curves.

Each function draws on a Matplotlib axis (made for you when not given) and
returns the figure or axis, so a notebook can add to it. Colours follow one
rule throughout the course: a class keeps the same colour in every figure.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .neighbours import nearest_neighbours

CLASS_COLOURS = plt.get_cmap("tab10").colors


def class_colour(label: int) -> tuple[float, float, float]:
    """The colour of a class, the same in every figure of the course."""
    return CLASS_COLOURS[int(label) % len(CLASS_COLOURS)]


def _numpy(values) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy()
    return np.asarray(values)


def show_images(
    images,
    labels=None,
    class_names: Sequence[str] | None = None,
    ncols: int = 10,
    titles: Sequence[str] | None = None,
    size: float = 1.2,
) -> Figure:
    """A grid of grey images, titled by class name or by ``titles`` (notebook 00)."""
    images = _numpy(images)
    if images.ndim == 4:
        images = images[:, 0]
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(size * ncols, size * nrows + 0.3), squeeze=False
    )
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(images[i], cmap="gray_r", vmin=0, vmax=1)
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)
        elif labels is not None:
            label = int(_numpy(labels)[i])
            name = class_names[label] if class_names is not None else str(label)
            ax.set_title(name, fontsize=8, color=class_colour(label))
    fig.tight_layout()
    return fig


def scatter_embeddings(
    points,
    labels,
    class_names: Sequence[str] | None = None,
    ax: Axes | None = None,
    title: str | None = None,
    size: float = 6,
    alpha: float = 0.6,
    legend: bool = True,
) -> Axes:
    """Scatter 2-D points coloured by class, with a legend of class names."""
    points, labels = _numpy(points), _numpy(labels)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(
            f"scatter_embeddings draws 2-D points, got shape {points.shape}; "
            "project first (e.g. with UMAP) or train with embedding_dim=2"
        )
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 5))
    for label in np.unique(labels):
        here = labels == label
        name = class_names[label] if class_names is not None else str(label)
        ax.scatter(*points[here].T, s=size, alpha=alpha, color=class_colour(label), label=name)
    if legend:
        ax.legend(markerscale=3, fontsize=8, loc="best", framealpha=0.8)
    if title:
        ax.set_title(title)
    ax.set_aspect("equal", adjustable="datalim")
    return ax


def plot_history(
    histories: dict[str, Sequence[dict[str, float]]],
    keys: Sequence[str] = ("loss",),
    labels: dict[str, str] | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Curves of history entries against the epoch: a panel per key, a line per run (notebook 02).

    ``histories`` maps a run's name to its list of per-epoch rows (as in
    ``TrainResult.history``); ``labels`` gives the y-axis label of each key.
    """
    labels = labels or {}
    fig, axes = plt.subplots(1, len(keys), figsize=figsize or (4.2 * len(keys), 3.2), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=True):
        for name, history in histories.items():
            epochs = [row["epoch"] for row in history]
            ax.plot(epochs, [row.get(key, np.nan) for row in history], marker="o", label=name)
        ax.set_xlabel("epoch")
        ax.set_ylabel(labels.get(key, key.replace("_", " ")))
        ax.grid(alpha=0.3)
    if len(histories) > 1:
        axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def distance_histograms(
    distances,
    same,
    ax: Axes | None = None,
    title: str | None = None,
    bins: int | Sequence[float] = 40,
) -> Axes:
    """Histograms of the distances of similar and of dissimilar pairs (notebook 01).

    ``bins`` is a number of bins from 0 to the largest distance, or the bin
    edges themselves: pass the same edges to every panel of a figure so that
    bar heights compare across panels.
    """
    distances, same = _numpy(distances), _numpy(same).astype(bool)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.2))
    if isinstance(bins, int):
        edges = np.linspace(0, max(float(distances.max()), 1e-6), bins + 1)
    else:
        edges = np.asarray(bins, dtype=float)
        if edges.ndim != 1 or len(edges) < 2 or np.any(np.diff(edges) <= 0):
            raise ValueError(f"bins must be a number or increasing bin edges, got {bins!r}")
    ax.hist(distances[same], bins=edges, alpha=0.6, label="similar pairs", color="tab:green")
    ax.hist(distances[~same], bins=edges, alpha=0.6, label="dissimilar pairs", color="tab:red")
    ax.set_xlabel("distance")
    ax.set_ylabel("number of pairs")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return ax


def show_distance_matrix(
    distances,
    class_names: Sequence[str],
    ax: Axes | None = None,
    title: str | None = None,
    label: str = "distance",
) -> Axes:
    """A class-sorted distance matrix, as many items of each: close yellow, far dark (notebook 01).

    Row and column ``i`` belong to class ``i // (N / len(class_names))``. White
    lines separate the classes, and each is named at the centre of its block,
    so a good embedding shows bright blocks on the diagonal.
    """
    distances = _numpy(distances)
    n, classes = len(distances), len(class_names)
    if distances.shape != (n, n) or classes == 0 or n % classes:
        raise ValueError(
            f"expected a square matrix with the same number of rows for each of the "
            f"{classes} classes, got shape {distances.shape}"
        )
    if ax is None:
        _, ax = plt.subplots(figsize=(5.2, 4.4))
    block = n // classes
    image = ax.imshow(distances, cmap="viridis_r")
    ax.figure.colorbar(image, ax=ax, label=label, shrink=0.85)
    centres = [block / 2 - 0.5 + block * k for k in range(classes)]
    ax.set_xticks(centres, class_names, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(centres, class_names, fontsize=8)
    for edge in range(block, n, block):
        ax.axhline(edge - 0.5, color="white", lw=1)
        ax.axvline(edge - 0.5, color="white", lw=1)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def draw_siamese_diagram(
    images: Sequence,
    embeddings: Sequence,
    names: Sequence[str],
    label: int,
) -> Figure:
    """One pair through a Siamese network: two images, one shared network, D (notebook 02).

    ``images`` are the two images (H×W or 1×H×W), ``embeddings`` their two
    embedding vectors, ``names`` what each image shows, ``label`` the pair's Y.
    """
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    if len(images) != 2 or len(embeddings) != 2 or len(names) != 2:
        raise ValueError("draw_siamese_diagram draws one pair: pass two images, embeddings, names")
    vectors = [_numpy(vector).ravel() for vector in embeddings]
    distance = float(np.linalg.norm(vectors[0] - vectors[1]))
    fig = plt.figure(figsize=(10, 3.4))

    def arrow(start: tuple[float, float], end: tuple[float, float]) -> None:
        fig.add_artist(
            FancyArrowPatch(
                start,
                end,
                transform=fig.transFigure,
                arrowstyle="-|>",
                mutation_scale=14,
                color="0.3",
            )
        )

    for row, (image, vector, name) in enumerate(zip(images, vectors, names, strict=True)):
        bottom = 0.52 - 0.47 * row
        ax = fig.add_axes([0.02, bottom, 0.12, 0.36])
        ax.imshow(np.squeeze(_numpy(image)), cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(f"$x_{row + 1}$: {name}", fontsize=9)
        ax.axis("off")
        strip = fig.add_axes([0.50, bottom + 0.14, 0.22, 0.08])
        strip.imshow(vector[None, :], cmap="coolwarm", aspect="auto")
        strip.set_xticks([])
        strip.set_yticks([])
        strip.set_title(f"$f_\\theta(x_{row + 1})$: {len(vector)} numbers", fontsize=9)
        middle = 0.58 if row == 0 else 0.42
        arrow((0.15, bottom + 0.18), (0.25, middle))
        arrow((0.41, middle), (0.495, bottom + 0.18))
        arrow((0.725, bottom + 0.18), (0.80, 0.5))
    fig.add_artist(
        FancyBboxPatch(
            (0.25, 0.3),
            0.16,
            0.4,
            boxstyle="round,pad=0.01",
            transform=fig.transFigure,
            facecolor="#dbe9f6",
            edgecolor="tab:blue",
        )
    )
    fig.text(0.33, 0.5, "$f_\\theta$\none network,\nshared weights", ha="center", va="center")
    fig.text(
        0.81,
        0.5,
        f"$D = \\Vert f_\\theta(x_1) - f_\\theta(x_2) \\Vert$\n$= {distance:.2f}$\n\n"
        f"label $Y = {label}$",
        ha="left",
        va="center",
        fontsize=11,
    )
    return fig


def show_neighbours(
    queries,
    neighbours,
    correct,
    row_titles: Sequence[str],
    size: float = 0.9,
) -> Figure:
    """Each query image, then its nearest neighbours; wrong ones framed in red (notebook 01).

    ``queries`` is (Q, H, W) or (Q, 1, H, W), ``neighbours`` (Q, k, H, W) or
    (Q, k, 1, H, W), ``correct`` a (Q, k) boolean array (neighbour of the
    query's class), ``row_titles`` one line of text per query row.
    """
    queries, neighbours = _numpy(queries), _numpy(neighbours)
    correct = _numpy(correct).astype(bool)
    if queries.ndim == 4:
        queries = queries[:, 0]
    if neighbours.ndim == 5:
        neighbours = neighbours[:, :, 0]
    n_queries, k = correct.shape
    if len(queries) != n_queries or neighbours.shape[:2] != (n_queries, k):
        raise ValueError(
            f"got {len(queries)} queries, neighbours of shape {neighbours.shape[:2]} and correct "
            f"of shape {correct.shape}: they must agree as (Q,), (Q, k) and (Q, k)"
        )
    fig, axes = plt.subplots(
        n_queries, k + 1, figsize=(size * (k + 1) + 2.2, size * n_queries + 0.2), squeeze=False
    )
    for row in range(n_queries):
        for column, ax in enumerate(axes[row]):
            image = queries[row] if column == 0 else neighbours[row, column - 1]
            ax.imshow(image, cmap="gray_r", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            colour = (
                "black" if column == 0 else ("tab:green" if correct[row, column - 1] else "tab:red")
            )
            for spine in ax.spines.values():
                spine.set_edgecolor(colour)
                spine.set_linewidth(1 if column == 0 else 2.5)
        axes[row, 0].set_ylabel(row_titles[row], rotation=0, ha="right", va="center", fontsize=8)
    axes[0, 0].set_title("query", fontsize=8)
    for column in range(1, k + 1):
        axes[0, column].set_title(f"#{column}", fontsize=8)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- 2-D projections


def _as_rows(values) -> torch.Tensor:
    """Embeddings (N, D) or images (N, ...) as a float32 (N, D) tensor of rows."""
    rows = torch.as_tensor(_numpy(values), dtype=torch.float32)
    if rows.ndim < 2:
        raise ValueError(f"expected one row per item, (N, D) or (N, ...) images, got {rows.shape}")
    return rows.reshape(len(rows), -1)


def exact_neighbour_table(embeddings, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and Euclidean distances of each item's ``k`` nearest items, itself first.

    Row i starts with i at distance 0, the convention of UMAP's ``precomputed_knn``,
    even where another item coincides with it; the others come from
    :func:`metric_course.neighbours.nearest_neighbours` (notebook 06).
    """
    rows = _as_rows(embeddings)
    if not 1 <= k <= len(rows):
        raise ValueError(f"k must lie in 1..{len(rows)} (the number of items), got {k}")
    indices = torch.arange(len(rows))[:, None]
    distances = torch.zeros(len(rows), 1)
    if k > 1:
        others = nearest_neighbours(rows, rows, k - 1, exclude_self=True)
        indices = torch.cat([indices, others.indices], 1)
        distances = torch.cat([distances, others.distances], 1)
    return indices.numpy().astype(np.int32), distances.numpy().astype(np.float32)


def neighbours_kept(space, projection, k: int) -> torch.Tensor:
    """How faithful a 2-D picture is: the share of each item's k neighbours it keeps (notebook 06).

    For each item, the share of its ``k`` nearest other items in ``space``
    (N, D) that are also among its ``k`` nearest in ``projection`` (N, 2), a
    float64 tensor of shape (N,); its mean is one number for the whole picture
    (1 when every neighbourhood survives, about k / N for a random picture).
    Notebook 06 reads it beside the UMAP view, whose clusters it qualifies.
    """
    space, projection = _as_rows(space), _as_rows(projection)
    if len(space) != len(projection):
        raise ValueError(
            f"space and projection must hold the same items, got {len(space)} and "
            f"{len(projection)} rows"
        )
    if not 1 <= k < len(space):
        raise ValueError(f"k must lie in 1..{len(space) - 1} (the other items), got {k}")
    in_space = nearest_neighbours(space, space, k, exclude_self=True).indices
    in_picture = nearest_neighbours(projection, projection, k, exclude_self=True).indices
    kept = (in_space[:, :, None] == in_picture[:, None, :]).any(dim=2)
    return kept.double().mean(dim=1)


def project_umap(
    embeddings, random_state: int = 0, n_neighbors: int = 15, min_dist: float = 0.1
) -> np.ndarray:
    """A reproducible 2-D UMAP (McInnes et al. 2018) of (N, D) embeddings or images (notebook 06).

    UMAP keeps each point's nearest neighbours near it in 2-D: clusters and
    neighbourhoods are meaningful, distances between far-apart clusters are
    not. ``UMAP(random_state=..., n_jobs=1)`` gives the same picture on every
    run (and no warning). The exact nearest neighbours are computed here with
    PyTorch and handed to UMAP, which is what UMAP itself does below 4,096
    points, but skips a slow first-time compilation.
    """
    import warnings

    from umap import UMAP  # imported here: the first import takes seconds

    rows = _as_rows(embeddings)
    if len(rows) <= n_neighbors:
        raise ValueError(
            f"UMAP with n_neighbors={n_neighbors} needs more than {n_neighbors} points, "
            f"got {len(rows)}; pass a smaller n_neighbors"
        )
    indices, distances = exact_neighbour_table(rows, n_neighbors)
    reducer = UMAP(
        n_neighbors=n_neighbors,
        min_dist=min_dist,
        random_state=random_state,
        n_jobs=1,
        precomputed_knn=(indices, distances),
    )
    with warnings.catch_warnings():
        # Expected here, and harmless: no search index is kept (we never call
        # transform), and well-separated classes make a graph of several pieces.
        warnings.filterwarnings("ignore", message=".*knn_search_index.*")
        warnings.filterwarnings("ignore", message=".*not fully connected.*")
        return reducer.fit_transform(rows.numpy()).astype(np.float64)


def project_pca(embeddings) -> np.ndarray:
    """The first two principal components of (N, D) embeddings or images, (N, 2) (notebook 06).

    A linear projection: it keeps large distances honest but separates
    clusters less than UMAP. Signs are fixed (the largest loading of each
    component is positive) so reruns give the same picture.
    """
    rows = _as_rows(embeddings).double()
    if len(rows) < 2:
        raise ValueError(f"PCA needs at least 2 items, got {len(rows)}")
    centred = rows - rows.mean(0)
    _, _, components = torch.linalg.svd(centred, full_matrices=False)
    components = components[:2]
    signs = torch.sign(components.gather(1, components.abs().argmax(1, keepdim=True)))
    components = components * signs
    points = centred @ components.T
    if points.shape[1] < 2:  # one-dimensional data: pad with a zero column
        points = torch.cat([points, torch.zeros(len(points), 2 - points.shape[1])], 1)
    return points.numpy()


def align_points(points, reference) -> np.ndarray:
    """Rotate (or mirror) 2-D ``points`` to best match ``reference``, the same items elsewhere.

    Orthogonal Procrustes: with both sets centred, the rotation R minimising
    ||P R − Q||² is U Vᵀ from the SVD Pᵀ Q = U S Vᵀ. Rotating changes no
    distance, so the aligned picture says the same, and consecutive frames of
    an animation no longer spin or flip.
    """
    points, reference = _numpy(points).astype(float), _numpy(reference).astype(float)
    if points.shape != reference.shape or points.ndim != 2:
        raise ValueError(
            f"points and reference must be the same items, shapes {points.shape} and "
            f"{reference.shape}"
        )
    centred = points - points.mean(0)
    u, _, vt = np.linalg.svd(centred.T @ (reference - reference.mean(0)))
    return centred @ (u @ vt) + reference.mean(0)


def project_snapshots(snapshots: Sequence) -> list[np.ndarray]:
    """2-D views of the same items embedded at several epochs, for an epoch slider (notebook 06).

    Each snapshot gets its own PCA (the best linear 2-D view of that epoch),
    rotated to match the last snapshot, so points move smoothly between frames.
    Fast (no UMAP fit per epoch) and honest: distances within a frame are real.
    """
    if len(snapshots) == 0:
        raise ValueError("no snapshots: train with snapshot_images=... to record them")
    projections = [project_pca(snapshot) for snapshot in snapshots]
    final = projections[-1]
    return [align_points(points, final) for points in projections]


def plot_projections(
    projections: dict[str, np.ndarray],
    labels,
    class_names: Sequence[str] | None = None,
    captions: dict[str, str] | None = None,
    size: float = 4,
    panel_size: float = 4.0,
) -> Figure:
    """Several 2-D projections of the same items side by side, coloured by class (notebook 06).

    ``projections`` maps a panel title to its (N, 2) points; ``captions`` adds
    a line under a title (a measured score, say). One legend serves all panels.
    """
    if not projections:
        raise ValueError("nothing to draw: pass at least one projection")
    captions = captions or {}
    fig, axes = plt.subplots(
        1, len(projections), figsize=(panel_size * len(projections), panel_size + 0.6)
    )
    axes = np.atleast_1d(axes)
    for ax, (name, points) in zip(axes, projections.items(), strict=True):
        title = f"{name}\n{captions[name]}" if name in captions else name
        scatter_embeddings(points, labels, class_names, ax=ax, size=size, legend=False)
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(
        handles,
        names,
        loc="lower center",
        ncol=min(len(names), 10),
        fontsize=8,
        markerscale=3,
        frameon=False,
    )
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


def show_episode(
    support_images,
    support_labels,
    query_images,
    query_labels,
    predicted,
    class_names: Sequence[str] | None = None,
    size: float = 1.1,
) -> Figure:
    """A few-shot episode: the support set (a row per class), queries marked ✓ or ✗ (notebook 05).

    Each query is titled with the predicted class, in that class's colour.
    """
    support_images, query_images = _numpy(support_images), _numpy(query_images)
    support_labels, query_labels = _numpy(support_labels), _numpy(query_labels)
    predicted = _numpy(predicted)
    if support_images.ndim == 4:
        support_images, query_images = support_images[:, 0], query_images[:, 0]
    classes = np.unique(support_labels)
    k_shot = max(int((support_labels == c).sum()) for c in classes)
    query_columns = int(np.ceil(len(query_images) / len(classes)))
    columns = k_shot + 1 + query_columns
    fig, axes = plt.subplots(
        len(classes), columns, figsize=(size * columns, size * len(classes) + 0.7), squeeze=False
    )
    for ax in axes.flat:
        ax.axis("off")

    def name(label) -> str:
        return class_names[label] if class_names is not None else str(label)

    for row, c in enumerate(classes):
        for column, image in enumerate(support_images[support_labels == c]):
            axes[row, column].imshow(image, cmap="gray_r", vmin=0, vmax=1)
        axes[row, 0].set_title(name(c), fontsize=8, color=class_colour(c), loc="left")
    for i, (image, truth, guess) in enumerate(
        zip(query_images, query_labels, predicted, strict=True)
    ):
        ax = axes[i % len(classes), k_shot + 1 + i // len(classes)]
        ax.imshow(image, cmap="gray_r", vmin=0, vmax=1)
        mark = "✓" if truth == guess else "✗"
        ax.set_title(f"{mark} {name(guess)}", fontsize=7, color=class_colour(guess))
    fig.text(0.02, 0.99, f"support set: {k_shot} per class", va="top", fontsize=10)
    fig.text(
        (k_shot + 1) / columns, 0.99, "queries, named by the classifier", va="top", fontsize=10
    )
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    return fig
