"""The index: immutable generations of passages, sentences and their vectors in a folder.

``store`` (the folder, ``CURRENT``, the build lock), ``manifest`` (file names, checksums),
``vectors`` (FAISS by size), ``generation`` (an opened generation: search and reading),
``build`` (``build_index``) with ``seeds`` (reading), ``reuse`` and ``plan`` (which vectors to
reuse or embed), and ``writer`` (writing a generation atomically).
"""

from .build import BuildReport, build_index
from .generation import Generation
from .manifest import (
    FAISS_FILE,
    FORMAT_VERSION,
    FULL_CHECKSUM_MAX,
    MANIFEST,
    PASSAGE_VECTORS,
    SENTENCE_VECTORS,
    SQLITE,
    file_problems,
    read_manifest,
    verify_files,
)
from .store import CURRENT_FILE, KEEP_GENERATIONS, LOCK_FILE, IndexStore
from .vectors import EXACT_SEARCH_MAX, make_faiss_index, set_search_params

__all__ = [
    "CURRENT_FILE",
    "EXACT_SEARCH_MAX",
    "FAISS_FILE",
    "FORMAT_VERSION",
    "FULL_CHECKSUM_MAX",
    "KEEP_GENERATIONS",
    "LOCK_FILE",
    "MANIFEST",
    "PASSAGE_VECTORS",
    "SENTENCE_VECTORS",
    "SQLITE",
    "BuildReport",
    "Generation",
    "IndexStore",
    "build_index",
    "file_problems",
    "make_faiss_index",
    "read_manifest",
    "set_search_params",
    "verify_files",
]
