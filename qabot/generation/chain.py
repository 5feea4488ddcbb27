"""The LCEL chain of a generated answer: prompt (the numbered passages and the rules) → chat
model → text → ``CitedAnswerParser`` (every ``[n]`` among the passages shown, at least one).

Imported only when a model is configured (it loads ``langchain_core``). Streaming runs the
chain without its last step and checks the whole text at the end with the same parser.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from langchain_core.output_parsers import BaseOutputParser, StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from .citations import check_citations
from .prompt import HUMAN, SYSTEM

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.runnables import Runnable

PROMPT = ChatPromptTemplate.from_messages([("system", SYSTEM), ("human", HUMAN)])


class CitedAnswerParser(BaseOutputParser[str]):
    """Accepts a reply only when each citation names one of ``passages`` numbered passages and
    there is at least one; raises ``GenerationError`` otherwise."""

    passages: int

    def parse(self, text: str) -> str:
        """The reply, stripped, once its citations check out."""
        return check_citations(text, self.passages)

    @property
    def _type(self) -> str:
        return "qabot_cited_answer"


def text_chain(model: BaseChatModel) -> Runnable[dict[str, str], str]:
    """prompt | model | text: what streams, chunk by chunk."""
    return PROMPT | model | StrOutputParser()


def answer_chain(model: BaseChatModel, passages: int) -> Runnable[dict[str, str], str]:
    """prompt | model | text | citation check: the whole reply, checked."""
    return text_chain(model) | CitedAnswerParser(passages=passages)
