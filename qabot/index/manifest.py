"""A generation's files and its ``manifest.json``: names, format version, checksums.

The manifest records what a generation was built from and with (model, chunking, seed files) and
the size and blake2b checksum of each data file, so that opening a generation can tell a
foreign, stale or damaged one from a good one.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import corpus
from ..errors import IndexCorruptError

if TYPE_CHECKING:
    from ..embedding import Embedder

FORMAT_VERSION = 3  # 2: articles.publisher; 3: articles.dated_by, files.first_indexed
MANIFEST = "manifest.json"
SQLITE = "passages.sqlite"
PASSAGE_VECTORS = "passage_vectors.npy"
SENTENCE_VECTORS = "sentence_vectors.npy"
FAISS_FILE = "vectors.faiss"
#: The checksummed data files of a generation, in the order they are written.
DATA_FILES = (SQLITE, PASSAGE_VECTORS, SENTENCE_VECTORS, FAISS_FILE)
REBUILD_HINT = "run `qabot index --rebuild`"

#: Files up to this size are checksummed whole when an index is opened; larger ones by a sample
#: of 64 blocks of 64 KiB spread over the file (plus the size), so opening a large index stays
#: fast (hashing runs at ~1 GB/s here: a 1M-passage index would add seconds to every cold start).
FULL_CHECKSUM_MAX = 64 * 2**20
_SAMPLE_BLOCKS, _SAMPLE_BLOCK = 64, 64 * 2**10


def _blake2b() -> Any:
    return hashlib.blake2b(digest_size=16)


def file_digest(path: Path) -> str:
    """blake2b of the whole file, or of an evenly spread sample of it above FULL_CHECKSUM_MAX."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        if size <= FULL_CHECKSUM_MAX:
            return hashlib.file_digest(fh, _blake2b).hexdigest()
        digest = _blake2b()
        digest.update(size.to_bytes(8, "little"))
        last_start = size - _SAMPLE_BLOCK
        for i in range(_SAMPLE_BLOCKS):
            fh.seek(last_start * i // (_SAMPLE_BLOCKS - 1))
            digest.update(fh.read(_SAMPLE_BLOCK))
    return digest.hexdigest()


def file_checksums(path: Path) -> dict[str, dict[str, Any]]:
    """The manifest's ``files_checksums`` entry for the data files of generation ``path``."""
    return {name: {"size": (path / name).stat().st_size, "blake2b": file_digest(path / name)}
            for name in DATA_FILES}


def read_manifest(path: Path) -> dict[str, Any]:
    """The parsed manifest of a generation directory."""
    try:
        manifest = json.loads((path / MANIFEST).read_text("utf-8"))
    except FileNotFoundError as exc:
        raise IndexCorruptError(f"index {path} has no {MANIFEST}", hint=REBUILD_HINT) from exc
    except (OSError, ValueError) as exc:
        raise IndexCorruptError(f"index {path}: {MANIFEST} is unreadable ({exc})",
                                hint=REBUILD_HINT) from exc
    if not isinstance(manifest, dict) or "counts" not in manifest:
        raise IndexCorruptError(f"index {path}: {MANIFEST} is incomplete", hint=REBUILD_HINT)
    return manifest


def verify_files(path: Path, manifest: dict[str, Any]) -> None:
    """Check every data file against the size and checksum the manifest recorded."""
    for problem in file_problems(path, manifest).values():
        raise IndexCorruptError(f"index {path}: {problem}", hint=REBUILD_HINT)


def file_problems(path: Path, manifest: dict[str, Any]) -> dict[str, str]:
    """Each data file of ``path`` that is missing, truncated or altered, with what is wrong."""
    problems: dict[str, str] = {}
    for name, expected in manifest.get("files_checksums", {}).items():
        file = path / name
        try:
            size = file.stat().st_size
            if size != expected["size"]:
                problems[name] = (f"{name} is truncated or altered ({size} bytes, expected "
                                  f"{expected['size']})")
            elif file_digest(file) != expected["blake2b"]:
                problems[name] = f"{name} is corrupted (checksum mismatch)"
        except FileNotFoundError:
            problems[name] = f"{name} is missing"
        except OSError as exc:
            problems[name] = f"{name} cannot be read ({exc.strerror or exc})"
    return problems


def chunking(embedder: Embedder) -> dict[str, Any]:
    """How passages and sentence vectors are made; vectors are reused only when this matches."""
    # "reader": how files become paragraphs; a change (e.g. boilerplate dropped) re-reads them.
    return {"max_tokens": embedder.max_tokens, "splitter": "pysbd-v1",
            "reader": corpus.READER_VERSION,
            "sentence_vectors": ("pooled-from-passage" if embedder.pools_sentences
                                 else "encoded-separately")}


def corpus_fingerprint(files: dict[str, str]) -> str:
    """One digest of the seed-file table (name → content hash)."""
    return hashlib.blake2b(json.dumps(files, sort_keys=True).encode(),
                           digest_size=16).hexdigest()
