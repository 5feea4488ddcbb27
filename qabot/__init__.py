"""qabot: offline question answering over a corpus of news articles, with cited passages."""

__version__ = "0.1.0"
