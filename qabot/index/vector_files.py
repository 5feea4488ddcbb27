"""A new generation's ``.npy`` vector files, written a block at a time as vectors arrive.

The files are created at their final size (the plan knows the row counts) and each block of
vectors is written straight to its rows with ``os.pwrite``, reused vectors copied in batches from
the previous generation's files with ``os.pread``; nothing is memory-mapped, so the memory a
build holds does not grow with the corpus. The files are byte for byte what ``np.save`` writes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from ..errors import EmbeddingError
from .manifest import PASSAGE_VECTORS, SENTENCE_VECTORS

if TYPE_CHECKING:
    from .plan import VectorPlan

#: Rows read per batch when copying or reading vector files back.
BATCH_ROWS = 65_536


def _header(fh: BinaryIO) -> tuple[tuple[int, ...], int]:
    """The shape a ``.npy`` file of float32 rows declares and where its data starts."""
    version = np.lib.format.read_magic(fh)
    if version not in ((1, 0), (2, 0)):
        raise ValueError(f"{fh.name} is a .npy file of version {version}")
    read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
            else np.lib.format.read_array_header_2_0)
    shape, fortran, dtype = read(fh)
    if fortran or dtype != np.dtype(np.float32) or len(shape) != 2:
        raise ValueError(f"{fh.name} does not hold float32 rows")
    return tuple(shape), fh.tell()


def read_rows(source: Path | np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Rows ``rows`` of a ``.npy`` file or of an array, as a copy. Read with one
    ``pread`` per run of consecutive rows, not through a memory map: a map of a large file
    touched at scattered rows (a training sample) would count most of the file in RSS."""
    if isinstance(source, np.ndarray):
        return np.asarray(source[rows], dtype=np.float32)
    rows = np.asarray(rows, dtype=np.int64)
    with open(source, "rb") as fh:
        (count, dimension), start = _header(fh)
        out = np.empty((len(rows), dimension), dtype=np.float32)
        if not len(rows):
            return out
        if rows.min() < 0 or rows.max() >= count:
            raise ValueError(f"{source.name} has no row {int(rows.max())}")
        breaks = np.flatnonzero(np.diff(rows) != 1) + 1
        row_bytes = dimension * 4
        for begin, end in zip(np.r_[0, breaks], np.r_[breaks, len(rows)]):
            wanted = (end - begin) * row_bytes
            data = os.pread(fh.fileno(), wanted, start + int(rows[begin]) * row_bytes)
            if len(data) != wanted:
                raise ValueError(f"{source.name} is shorter than its header says")
            out[begin:end] = np.frombuffer(data, dtype=np.float32).reshape(-1, dimension)
    return out


def read_range(path: Path, start: int, stop: int) -> np.ndarray:
    """Rows ``start`` to ``stop`` of a ``.npy`` file, as a copy."""
    return read_rows(path, np.arange(start, stop))


def npy_shape(path: Path) -> tuple[int, ...]:
    """The shape a ``.npy`` file of float32 rows declares (read from its header only)."""
    with open(path, "rb") as fh:
        return _header(fh)[0]


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
            raise EmbeddingError(f"the embedding engine gave vectors of shape {vectors.shape} "
                                  f"for positions {start}-{stop} of {self.plan.new_count}")
        if self.covered[start:stop].any():
            raise EmbeddingError(f"the embedding engine gave positions {start}-{stop} twice")
        passage_rows, sentence_rows = self.plan.destinations(start, stop)
        self.passages.write(passage_rows, vectors)
        self.sentences.write(sentence_rows, vectors)
        self.covered[start:stop] = True

    def close(self, complete: bool = True) -> None:
        """Close both files; with ``complete``, first check every new text got its vector."""
        try:
            if complete and not self.covered.all():
                missing = int((~self.covered).sum())
                raise EmbeddingError(f"the embedding engine left {missing} of "
                                      f"{self.plan.new_count} texts without a vector")
        finally:
            try:
                self.passages.close()
            finally:
                self.sentences.close()
