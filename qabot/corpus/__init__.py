"""The corpus: seed files → articles → paragraphs → passages (being split into modules)."""

from .files import (
    DEFAULT_MAX_BYTES,
    MAX_TITLE_CHARS,
    READER_VERSION,
    SUFFIXES,
    SeedFile,
    SkippedFile,
    discover,
    display_name,
    parse_bytes,
    read_corpus,
    read_file,
    sentences,
    split_passages,
)

__all__ = ["DEFAULT_MAX_BYTES", "MAX_TITLE_CHARS", "READER_VERSION", "SUFFIXES", "SeedFile",
           "SkippedFile", "discover", "display_name", "parse_bytes", "read_corpus", "read_file",
           "sentences", "split_passages"]
