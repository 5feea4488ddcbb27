"""qabot for LangChain apps: ``QabotRetriever`` (a ``BaseRetriever`` over the hybrid search) and
``QabotAnswerer`` (a ``Runnable`` from a question to qabot's cited ``Answer``).

Both build their ``QabotService`` from settings the first time they are used (never at import or
construction) and keep it for later calls; ``from_service`` reuses a service already built.
Importing this module loads LangChain's core and pydantic only: numpy, FAISS and the model
runtimes come with the first search.
"""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableConfig, RunnableSerializable
from langchain_core.runnables.config import run_in_executor
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from .schema import Answer, ArticleFilter, Hit

if TYPE_CHECKING:
    from .service import QabotService

__all__ = ["QabotAnswerer", "QabotRetriever", "hit_document"]


class _QabotSource(BaseModel):
    """Where the service comes from (settings, or an existing service) and which articles count."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index_dir: Path | None = Field(None, description="The index folder; None: the settings' "
                                   "index_dir (config file, QABOT_INDEX_DIR, or indexes/).")
    seeds_dir: Path | None = Field(None, description="The seeds folder; None: the settings'.")
    config_file: Path | None = Field(None, description="A qabot TOML config file; None: "
                                     "QABOT_CONFIG or the project's config/qabot.toml.")
    since: date | None = Field(None, description="Only articles published on or after this day.")
    source: str | None = Field(None, description="Only articles from this publisher "
                               "(case-insensitive), like `qabot ask --source`.")

    _service: Any = PrivateAttr(default=None)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)

    @classmethod
    def from_service(cls, service: QabotService, **fields: Any) -> Self:
        """One over ``service`` (its index and settings; nothing is loaded twice); ``fields``
        as the constructor's (``k``, ``since``, ``source``)."""
        made = cls(index_dir=service.settings.index_dir, seeds_dir=service.settings.seeds_dir,
                   **fields)
        made._service = service
        return made

    def service(self) -> QabotService:
        """The service, built from settings on the first call and kept for the later ones."""
        with self._lock:
            if self._service is None:
                from .config import load_settings
                from .service import build_service

                settings = load_settings(self.config_file, index_dir=self.index_dir,
                                         seeds_dir=self.seeds_dir)
                self._service = build_service(settings)
            return self._service

    @property
    def article_filter(self) -> ArticleFilter | None:
        """The filter ``since`` and ``source`` make, or None when neither is set."""
        chosen = ArticleFilter(since=self.since, publisher=self.source)
        return chosen if chosen else None


def hit_document(hit: Hit) -> Document:
    """A search hit as a LangChain ``Document`` whose metadata is its citation."""
    passage = hit.passage
    return Document(page_content=passage.text, metadata={
        "source": passage.source, "paragraph": passage.paragraph, "title": passage.title,
        "section": passage.section, "published": passage.date, "publisher": passage.publisher,
        "score": hit.score, "dense_score": hit.dense_score})


class QabotRetriever(_QabotSource, BaseRetriever):
    """qabot's hybrid search (dense + BM25, one hit per paragraph) as a LangChain retriever.

    ``QabotRetriever(index_dir="indexes", k=4).invoke("how many were arrested?")`` returns the
    ``k`` best paragraphs as ``Document``s, best first; ``invoke(query, k=2)`` overrides ``k``
    for one call. With ``since``/``source`` set, a filter no article passes raises
    ``qabot.errors.NoArticlesMatchError``.
    """

    k: int = Field(4, ge=1, description="Documents returned per query.")

    def _search(self, query: str, k: int | None) -> list[Document]:
        hits = self.service().search(query, k=k or self.k, article_filter=self.article_filter)
        return [hit_document(hit) for hit in hits]

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun,
                                k: int | None = None) -> list[Document]:
        return self._search(query, k)

    async def _aget_relevant_documents(self, query: str, *,
                                       run_manager: AsyncCallbackManagerForRetrieverRun,
                                       k: int | None = None) -> list[Document]:
        # The search (and the first call's model loading) runs in a worker thread, so the
        # event loop keeps serving other tasks meanwhile.
        return await run_in_executor(None, self._search, query, k)


class QabotAnswerer(_QabotSource, RunnableSerializable[str, Answer]):
    """A ``Runnable`` from a question to qabot's ``Answer`` (text, span, citations, refusal).

    ``invoke``, ``batch`` and their async forms work as for any runnable; the async ones run
    the answer in a worker thread. ``k`` is the number of citations (None: the ``top_k``
    setting).
    """

    k: int | None = Field(None, ge=1, description="Citations per answer; None: top_k.")
    mode: Literal["extractive", "llm"] = Field("extractive", description=(
        "llm: the configured chat model writes the answer from its cited passages (README "
        "'Generated answers'); any failure gives the extractive answer with a note."))

    def _answer(self, question: str) -> Answer:
        return self.service().ask(question, k=self.k, article_filter=self.article_filter,
                                  mode=self.mode)

    def invoke(self, input: str, config: RunnableConfig | None = None,  # noqa: A002
               **kwargs: Any) -> Answer:
        """Answer one question (traced as one run in LangChain's callbacks)."""
        return self._call_with_config(self._answer, input, config)
