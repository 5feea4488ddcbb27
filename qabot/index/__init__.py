"""The index: immutable generations of passages, sentences and their vectors in a folder."""

from .build import BuildReport, Generation, IndexStore, build_index, make_faiss_index

__all__ = ["BuildReport", "Generation", "IndexStore", "build_index", "make_faiss_index"]
