"""The corpus: discover seed files and parse them into articles, paragraphs and passages.

Supported formats: plain text (``.txt``), Markdown (``.md``, ``.markdown``), HTML (``.html``,
``.htm``) and JSON Lines feeds (``.jsonl``, one article per line), one table from suffix to
parser in :mod:`.formats`. Bad input (an empty, binary, unreadable or oversized file, a malformed
JSONL line, a file without paragraphs) never raises: it becomes a :class:`SkippedFile` plus one
logged warning, and the rest of the corpus is kept.

The way through the package: :mod:`.files` (discover, hash, read bytes) → :mod:`.decoding`
(bytes → text) → :mod:`.formats` (one parser per format: :mod:`.plain`, :mod:`.markdown`,
:mod:`.html`, :mod:`.jsonl`, sharing :mod:`.cleaning`, :mod:`.paragraphs` and
:mod:`.boilerplate`; :mod:`.html_meta` reads a page's own date and publisher) →
:mod:`.dating` (every article's date as an ISO day, from its metadata or a dateline, and its
publisher, else its seeds sub-folder) → :mod:`.reading` (the entry: :func:`read_corpus`,
:func:`read_file`, :func:`parse_bytes`). :func:`split_passages` (:mod:`.passages`) then turns
paragraphs into the passages that get embedded and cited, cutting paragraphs that exceed the
model's token budget into overlapping windows of whole sentences (found with ``pysbd``, see
:func:`sentences`).
"""

from .files import DEFAULT_MAX_BYTES, SeedFile, discover, display_name
from .formats import PARSERS, SUFFIXES
from .paragraphs import MAX_TITLE_CHARS
from .passages import split_passages
from .reading import READER_VERSION, parse_bytes, read_corpus, read_file
from .sentences import sentences
from .skipped import SkippedFile, skip

__all__ = ["DEFAULT_MAX_BYTES", "MAX_TITLE_CHARS", "PARSERS", "READER_VERSION", "SUFFIXES",
           "SeedFile", "SkippedFile", "discover", "display_name", "parse_bytes", "read_corpus",
           "read_file", "sentences", "skip", "split_passages"]
