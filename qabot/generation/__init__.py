"""Generated answers (optional, off unless ``llm`` or ``llm_base_url`` is set): a chat model
rewrites qabot's answer from the numbered passages it cites, and a parser checks its ``[n]``
citations. Refusals never reach the model; every failure gives the extractive answer and a note.

Importing this package loads no LangChain: ``chain`` and ``model`` import it on first use.
"""

from .citations import check_citations, cited_numbers, first_invalid
from .generator import MODES, GeneratedStream, Generator, generated, within
from .model import LlmConfig
from .prompt import HUMAN, SYSTEM

__all__ = ["HUMAN", "MODES", "SYSTEM", "GeneratedStream", "Generator", "LlmConfig",
           "check_citations",
           "cited_numbers", "first_invalid", "generated", "within"]
