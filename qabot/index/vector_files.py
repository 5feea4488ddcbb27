"""A new generation's ``.npy`` vector files, written a block at a time as vectors arrive.

The files are created at their final size (the plan knows the row counts) and each block of
vectors is written straight to its rows with ``os.pwrite``, reused vectors copied in batches from
the previous generation's files; nothing is mapped for longer than one batch, so the memory a
build holds does not grow with the corpus. The files are byte for byte what ``np.save`` writes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import IndexWriteError
from .manifest import PASSAGE_VECTORS, SENTENCE_VECTORS

if TYPE_CHECKING:
    from .plan import VectorPlan

#: Rows read per batch when copying or reading vector files back.
BATCH_ROWS = 65_536


def read_rows(source: Path | np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Rows ``rows`` of a ``.npy`` file (mapped only while reading) or of an array, as a copy."""
    if isinstance(source, np.ndarray):
        return np.asarray(source[rows], dtype=np.float32)
    mapped = np.load(source, mmap_mode="r", allow_pickle=False)
    try:
        return np.array(mapped[rows], dtype=np.float32)
    finally:
        del mapped


def read_range(path: Path, start: int, stop: int) -> np.ndarray:
    """Rows ``start`` to ``stop`` of a ``.npy`` file, as a copy."""
    mapped = np.load(path, mmap_mode="r", allow_pickle=False)
    try:
        return np.array(mapped[start:stop], dtype=np.float32)
    finally:
        del mapped


def npy_shape(path: Path) -> tuple[int, ...]:
    """The shape a ``.npy`` file declares (read from its header only)."""
    mapped = np.load(path, mmap_mode="r", allow_pickle=False)
    try:
        return tuple(mapped.shape)
    finally:
        del mapped


class _RowFile:
    """One ``.npy`` file of ``rows`` float32 vectors, created full size, written by row."""

    def __init__(self, path: Path, rows: int, dimension: int) -> None:
        created = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32,
                                            shape=(rows, dimension))
        del created  # the header and a sparse file of the right size; rows come later
        self.row_bytes = dimension * 4
        self.header = path.stat().st_size - rows * self.row_bytes
        self.fd = os.open(path, os.O_WRONLY)

    def write(self, rows: np.ndarray, values: np.ndarray) -> None:
        """Write ``values[i]`` to row ``rows[i]``, one system call per run of consecutive rows."""
        keep = rows >= 0
        rows, values = rows[keep], np.ascontiguousarray(values[keep], dtype=np.float32)
        if not len(rows):
            return
        breaks = np.flatnonzero(np.diff(rows) != 1) + 1
        for begin, end in zip(np.r_[0, breaks], np.r_[breaks, len(rows)]):
            data = values[begin:end].tobytes()
            offset = self.header + int(rows[begin]) * self.row_bytes
            while data:
                written = os.pwrite(self.fd, data, offset)
                data, offset = data[written:], offset + written

    def close(self) -> None:
        """Make the file durable and close it."""
        try:
            os.fsync(self.fd)
        finally:
            os.close(self.fd)


class VectorFiles:
    """The passage and sentence ``.npy`` files of the generation at ``path``, filled from the
    previous generation's vectors (``fill_reused``) and the engine's chunks (``write_chunk``)."""

    def __init__(self, path: Path, plan: VectorPlan, dimension: int) -> None:
        self.plan = plan
        self.dimension = dimension
        self.covered = np.zeros(plan.new_count, dtype=bool)
        self.passages = _RowFile(path / PASSAGE_VECTORS, plan.passages, dimension)
        try:
            self.sentences = _RowFile(path / SENTENCE_VECTORS, plan.sentences, dimension)
        except BaseException:
            os.close(self.passages.fd)
            raise

    def fill_reused(self, passage_vectors: Path | np.ndarray, sentence_vectors: Path) -> None:
        """Copy the vectors of every reused passage and its sentences from the previous
        generation's (``reuse.Previous``)."""
        for batch in self.plan.reused(BATCH_ROWS // 4):
            table = np.asarray(batch, dtype=np.int64).reshape(-1, 5)
            self.passages.write(table[:, 0], read_rows(passage_vectors, table[:, 1]))
            counts = table[:, 4]
            if not counts.sum():
                continue
            within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
            new_rows = np.repeat(table[:, 2], counts) + within
            old_rows = np.repeat(table[:, 3], counts) + within
            self.sentences.write(new_rows, read_rows(sentence_vectors, old_rows))

    def write_chunk(self, start: int, vectors: np.ndarray) -> None:
        """Write the vectors of ``plan.new_texts[start:start + len(vectors)]`` to their rows."""
        stop = start + len(vectors)
        if (start < 0 or stop > self.plan.new_count or vectors.ndim != 2
                or vectors.shape[1] != self.dimension):
            raise IndexWriteError(f"the embedding engine gave vectors of shape {vectors.shape} "
                                  f"for positions {start}-{stop} of {self.plan.new_count}")
        if self.covered[start:stop].any():
            raise IndexWriteError(f"the embedding engine gave positions {start}-{stop} twice")
        passage_rows, sentence_rows = self.plan.destinations(start, stop)
        self.passages.write(passage_rows, vectors)
        self.sentences.write(sentence_rows, vectors)
        self.covered[start:stop] = True

    def close(self, complete: bool = True) -> None:
        """Close both files; with ``complete``, first check every new text got its vector."""
        try:
            if complete and not self.covered.all():
                missing = int((~self.covered).sum())
                raise IndexWriteError(f"the embedding engine left {missing} of "
                                      f"{self.plan.new_count} texts without a vector")
        finally:
            try:
                self.passages.close()
            finally:
                self.sentences.close()
