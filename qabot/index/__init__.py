"""The index: immutable generations of passages, sentences and their vectors in a folder.

``store`` (the folder, ``CURRENT``, the build lock), ``manifest`` (file names, checksums),
``vectors`` (FAISS by size), ``generation`` (an opened generation: search and reading),
``build`` (``build_index``) with ``seeds`` (reading the seed files), ``reuse`` and ``plan``
(which vectors to reuse or embed), and ``writer`` (writing a generation atomically).
"""

from .build import BuildReport, build_index
from .generation import Generation
from .store import IndexStore
from .vectors import EXACT_SEARCH_MAX, make_faiss_index

__all__ = [
    "EXACT_SEARCH_MAX",
    "BuildReport",
    "Generation",
    "IndexStore",
    "build_index",
    "make_faiss_index",
]
