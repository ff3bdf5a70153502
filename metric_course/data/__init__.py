"""The course's datasets: where they are found, how they are checked, how they are split.

Notebook 00 loads each; every other notebook starts from :func:`course_data`.
One module per idea, each importing only those above it:

- :mod:`.files`: the course data folder, checksums, downloads, writing a file whole;
- :mod:`.dataset`: :class:`ImageDataset`, images with integer labels;
- :mod:`.fashion_mnist`: Fashion-MNIST's IDX files, found, verified and fetched;
- :mod:`.omniglot`: Omniglot background-small's official files;
- :mod:`.catalogue`: every dataset by name (digits, MNIST and full Omniglot too);
- :mod:`.splits`: class-disjoint splits of classes or alphabets, and :class:`CourseData`;
- :mod:`.__main__`: ``python -m metric_course.data download|info``.

Everything a notebook uses is importable from here: ``from metric_course.data
import course_data``. Where each dataset is found is in ``data/README.md``.
"""

from .catalogue import DATASET_NAMES, DIGIT_CLASSES, load_dataset, load_digits_dataset
from .dataset import ImageDataset, cap_per_class
from .fashion_mnist import (
    DEBIAN_DIR,
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_FILES,
    download_fashion_mnist,
    find_fashion_mnist,
    load_fashion_mnist,
    read_idx,
)
from .files import (
    DATA_ENV,
    CorruptDatasetError,
    DatasetNotFoundError,
    data_search_dirs,
    default_data_dir,
    write_atomically,
)
from .omniglot import (
    OMNIGLOT_FILES,
    alphabet_of,
    download_omniglot,
    find_omniglot_file,
    load_omniglot_small,
    verified_omniglot_file,
)
from .splits import (
    OMNIGLOT_SPLITS,
    SPLITS,
    TEST_SEEN_DRAWERS,
    AlphabetSplit,
    ClassSplit,
    CourseData,
    course_data,
    omniglot_course_data,
    resolve_split,
)

__all__ = [
    "DATASET_NAMES",
    "DATA_ENV",
    "DEBIAN_DIR",
    "DIGIT_CLASSES",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_FILES",
    "OMNIGLOT_FILES",
    "OMNIGLOT_SPLITS",
    "SPLITS",
    "TEST_SEEN_DRAWERS",
    "AlphabetSplit",
    "ClassSplit",
    "CorruptDatasetError",
    "CourseData",
    "DatasetNotFoundError",
    "ImageDataset",
    "alphabet_of",
    "cap_per_class",
    "course_data",
    "data_search_dirs",
    "default_data_dir",
    "download_fashion_mnist",
    "download_omniglot",
    "find_fashion_mnist",
    "find_omniglot_file",
    "load_dataset",
    "load_digits_dataset",
    "load_fashion_mnist",
    "load_omniglot_small",
    "omniglot_course_data",
    "read_idx",
    "resolve_split",
    "verified_omniglot_file",
    "write_atomically",
]
