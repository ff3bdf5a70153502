"""Old home of Omniglot's names, kept only so the notebooks' imports work until they are updated.

Everything moved to :mod:`metric_course.data` (``from metric_course.data
import alphabet_of``). Delete this file once no notebook imports
``metric_course.omniglot``.
"""

from .data import OMNIGLOT_FILES, alphabet_of, verified_omniglot_file

__all__ = ["OMNIGLOT_FILES", "alphabet_of", "verified_omniglot_file"]
