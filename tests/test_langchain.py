"""qabot.langchain in LangChain apps: LangChain's own standard retriever suite, citations in the
metadata, ``k`` from the constructor and per call, async that leaves the event loop free, the
since/source filters, the ``Answer`` runnable, and an import that loads no model runtime.

The retriever tests use an index built with the fake encoder (seconds); the answer tests use the
session's real model and seed index.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_tests.integration_tests import RetrieversIntegrationTests

from qabot.config import load_settings
from qabot.errors import IndexMissingError, NoArticlesMatchError
from qabot.langchain import QabotAnswerer, QabotRetriever
from qabot.schema import Answer
from qabot.service import QabotService, build_service

from .conftest import ROOT, SEED

QUESTION = "how many people were arrested?"


@pytest.fixture(scope="module")
def fake_index(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The seed article (undated: dated today) and an AP report of Jan 13, indexed with the fake
    encoder; returns the QabotRetriever arguments that point at it."""
    base = tmp_path_factory.mktemp("langchain")
    seeds = base / "seeds"
    seeds.mkdir()
    shutil.copy(SEED, seeds / SEED.name)
    (seeds / "thursday.md").write_text(
        "---\ndate: 2022-01-13\nsource: AP\n---\n\nNearly 10,000 people have been arrested "
        "after the protests in Almaty, police said.\n", "utf-8")
    config = base / "qabot.toml"
    config.write_text('encoder = "fake"\nreader = "off"\n', "utf-8")
    arguments = {"index_dir": base / "indexes", "seeds_dir": seeds, "config_file": config}
    build_service(load_settings(config, index_dir=arguments["index_dir"],
                                seeds_dir=seeds)).index()
    return arguments


class TestQabotRetrieverStandard(RetrieversIntegrationTests):
    """LangChain's standard retriever tests (k in the constructor and in invoke, sync, async)."""

    @pytest.fixture(autouse=True)
    def _over_the_fake_index(self, fake_index: dict[str, Path]) -> None:
        self.arguments = fake_index

    @property
    def retriever_constructor(self) -> type[BaseRetriever]:
        return QabotRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {**self.arguments, "k": 2}

    @property
    def retriever_query_example(self) -> str:
        return "Tokayev security forces protests"


def test_documents_carry_the_citation(fake_index: dict[str, Path]) -> None:
    documents = QabotRetriever(**fake_index, k=3).invoke("Nearly 10,000 people arrested")
    assert documents[0].page_content.startswith("Nearly 10,000 people have been arrested")
    assert documents[0].metadata | {"score": 0, "dense_score": 0} == {
        "source": "thursday.md", "paragraph": 1, "title": "thursday", "section": None,
        "published": "2022-01-13", "publisher": "AP", "score": 0, "dense_score": 0}
    seed = [d.metadata for d in documents if d.metadata["source"] == SEED.name]
    assert seed and all(m["paragraph"] >= 1 and m["published"] for m in seed)
    assert seed[0]["title"].startswith("The government faces major protests")
    scores = [d.metadata["score"] for d in documents]
    assert scores == sorted(scores, reverse=True)


def test_k_comes_from_the_constructor_unless_invoke_gives_one(fake_index: dict[str, Path]) -> None:
    assert len(QabotRetriever(**fake_index).invoke(QUESTION)) == 4
    retriever = QabotRetriever(**fake_index, k=2)
    assert len(retriever.invoke(QUESTION)) == 2
    assert len(retriever.invoke(QUESTION, k=5)) == 5
    assert len(retriever.invoke(QUESTION)) == 2
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        QabotRetriever(**fake_index, k=0)


async def test_ainvoke_leaves_the_event_loop_free(fake_index: dict[str, Path],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    retriever = QabotRetriever(**fake_index, k=3)
    service = retriever.service()
    search = service.search

    def slow_search(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.5)
        return search(*args, **kwargs)

    monkeypatch.setattr(service, "search", slow_search)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.02)
            ticks += 1

    ticker = asyncio.create_task(tick())
    documents, more = await asyncio.gather(retriever.ainvoke(QUESTION),
                                           retriever.ainvoke(QUESTION, k=1))
    ticker.cancel()
    assert ticks >= 10  # the loop kept running while both searches slept in their threads
    assert [d.page_content for d in documents] == [
        d.page_content for d in retriever.invoke(QUESTION)]
    assert len(more) == 1 and isinstance(more[0], Document)


def test_since_and_source_restrict_the_articles(fake_index: dict[str, Path]) -> None:
    def sources(**filters: Any) -> set[str]:
        found = QabotRetriever(**fake_index, k=10, **filters).invoke(QUESTION)
        return {d.metadata["source"] for d in found}

    assert sources() == {"thursday.md", SEED.name}
    assert sources(source="ap") == {"thursday.md"}
    assert sources(since=date.today()) == {SEED.name}  # dated by arrival: today
    assert sources(since="2022-01-13", source="AP") == {"thursday.md"}
    with pytest.raises(NoArticlesMatchError, match="source nobody"):
        sources(source="nobody")
    with pytest.raises(NoArticlesMatchError, match="since"):
        sources(since=date.today() + timedelta(days=1))


def test_nothing_loads_before_the_first_question(tmp_path: Path,
                                                 fake_index: dict[str, Path]) -> None:
    retriever = QabotRetriever(index_dir=tmp_path / "no-index",
                               config_file=fake_index["config_file"])
    with pytest.raises(IndexMissingError):
        retriever.invoke(QUESTION)
    ready = QabotRetriever(**fake_index)
    assert ready.service() is ready.service()  # built once, kept for later calls


def test_importing_loads_no_model_runtime_or_vector_store() -> None:
    heavy = ("numpy", "faiss", "onnxruntime", "sentence_transformers", "torch", "transformers")
    code = ("import sys; from qabot.langchain import QabotAnswerer, QabotRetriever; "
            f"print(sorted(m for m in {heavy!r} if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, timeout=120, check=True)
    assert loaded.stdout.strip() == "[]"


@pytest.mark.model
def test_a_retriever_over_a_built_service_reuses_it(real_service: QabotService) -> None:
    retriever = QabotRetriever.from_service(real_service, k=2)
    assert isinstance(retriever, QabotRetriever) and retriever.service() is real_service
    documents = retriever.invoke("how many were arrested?")
    assert len(documents) == 2
    assert "3,800" in documents[0].page_content
    assert documents[0].metadata["paragraph"] >= 1 and documents[0].metadata["source"]


@pytest.mark.model
def test_the_answerer_returns_cited_answers(real_service: QabotService) -> None:
    answerer = QabotAnswerer.from_service(real_service, k=2)
    answer = answerer.invoke("how many were arrested?")
    assert isinstance(answer, Answer) and not answer.abstained
    assert "3,800" in (answer.text or "")
    assert 1 <= len(answer.citations) <= 2
    assert answer.citations[0].source == SEED.name and "3,800" in answer.citations[0].text
    refused, again = answerer.batch(["who won the 1998 football world cup?",
                                     "how many were arrested?"])
    assert refused.abstained and refused.text is None
    assert again == answer


@pytest.mark.model
async def test_the_answerer_answers_asynchronously(real_service: QabotService) -> None:
    answerer = QabotAnswerer.from_service(real_service)
    answers = await answerer.abatch(["how many were arrested?", "who is Tokayev?"])
    assert "3,800" in (answers[0].text or "")
    assert (await answerer.ainvoke("how many were arrested?")) == answers[0]
    with pytest.raises(NoArticlesMatchError):
        await QabotAnswerer.from_service(real_service, source="nobody").ainvoke("arrested?")
