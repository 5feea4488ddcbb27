"""The index: immutable generations of passages, sentences and their vectors in a folder.

``store`` (the folder, ``CURRENT``, the build lock), ``manifest`` (file names, checksums),
``vectors`` (FAISS by size), ``generation`` (an opened generation: search and reading),
``build`` (``build_index``) with ``seeds`` (reading the seed files), ``parsed`` (parsing them,
here or by an engine's ``SeedParser``), ``unchanged`` (unchanged files carried over instead),
``ingest`` (streaming them into the new tables), ``reuse`` and ``plan`` (which vectors to reuse
or embed, and the engines that embed), ``arrival`` (when each file was first indexed, the date of articles nothing else
dates), ``vector_files`` (vectors written to disk as they come) and ``writer`` (writing a
generation atomically).
"""

from .build import BuildReport, build_index
from .generation import ArticleSummary, Generation
from .store import IndexStore
from .vectors import EXACT_SEARCH_MAX, make_faiss_index

__all__ = [
    "EXACT_SEARCH_MAX",
    "ArticleSummary",
    "BuildReport",
    "Generation",
    "IndexStore",
    "build_index",
    "make_faiss_index",
]
