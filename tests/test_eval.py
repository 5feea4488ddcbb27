"""The eval harness: SQuAD scoring helpers, a tiny hand-written SQuAD file indexed with the real
model (with out-of-corpus refusals), our JSONL format, and the ``qabot eval`` command.

Takes ~5 s with the session's model fixtures.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from qabot import cli
from qabot.answer import AnswerConfig
from qabot.embedding import Embedder
from qabot.errors import EvalDataError
from qabot.evaluation import (
    EvalQuestion,
    contains_answer,
    evaluate_squad,
    exact_match,
    f1_score,
    is_squad_file,
    load_questions_jsonl,
    load_squad,
    normalize_answer,
    sample,
    threshold_for,
)
from qabot.retriever import RetrievalConfig
from qabot.service import QabotService

ARTICLES = [
    ("Glass_harbour", [
        "Glass Harbour is a fishing town on the northern coast of Veltria. It was founded in 1642 "
        "by salt traders from the south, and today about 12,400 people live there.",
        "The town's lighthouse, built by the engineer Mara Quill in 1871, stands 38 metres tall "
        "and is painted in red and white bands.",
        "Every August the harbour hosts a regatta in which more than 200 wooden boats race around "
        "the Skerry rocks.",
    ]),
    ("Copper_beetle", [
        "The copper beetle is an insect found in the dry forests of Lorandia. Adults are about "
        "two centimetres long and have a shiny metallic shell.",
        "Copper beetles feed on the bark of pine trees, and large outbreaks can kill whole "
        "stands of forest within a few summers.",
    ]),
    ("Orvan_railway", [
        "The Orvan railway links the capital, Tessary, with the mountain city of Brask. The line "
        "opened in 1923 and is 410 kilometres long.",
        "Trains climb through 57 tunnels on the way, the longest of which, the Hollin tunnel, "
        "runs for nine kilometres under the Grey Pass.",
    ]),
]

QUESTIONS = [
    (0, 0, "When was Glass Harbour founded?", ["1642"]),
    (0, 0, "How many people live in Glass Harbour?", ["12,400", "about 12,400"]),
    (0, 1, "Who built the lighthouse of Glass Harbour?", ["Mara Quill"]),
    (0, 1, "How tall is the Glass Harbour lighthouse?", ["38 metres"]),
    (0, 2, "How many wooden boats race in the regatta?", ["more than 200", "200"]),
    (1, 0, "Where is the copper beetle found?", ["dry forests of Lorandia", "Lorandia"]),
    (1, 1, "What do copper beetles feed on?", ["bark of pine trees"]),
    (2, 0, "How long is the Orvan railway?", ["410 kilometres"]),
    (2, 1, "How many tunnels does the Orvan railway pass through?", ["57"]),
    (2, 1, "What is the longest tunnel on the Orvan line?", ["Hollin tunnel", "the Hollin tunnel"]),
]


def write_squad(path: Path, version: str = "1.1", impossible: bool = False) -> Path:
    data = []
    for a, (title, paragraphs) in enumerate(ARTICLES):
        paras = []
        for p, context in enumerate(paragraphs):
            qas = []
            for n, (qa, qp, question, answers) in enumerate(QUESTIONS):
                if (qa, qp) == (a, p):
                    qas.append({"id": f"q{n}", "question": question,
                                "answers": [{"text": t, "answer_start": max(context.find(t), 0)}
                                            for t in answers]})
            if impossible and (a, p) == (0, 1):
                qas.append({"id": "imp", "question": "What colour is the Brask city hall?",
                            "answers": [], "plausible_answers": [], "is_impossible": True})
            paras.append({"context": context, "qas": qas})
        data.append({"title": title, "paragraphs": paras})
    path.write_text(json.dumps({"version": version, "data": data}), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- scoring helpers


def test_official_squad_normalisation_and_scores() -> None:
    assert normalize_answer("The  Hollin Tunnel!") == "hollin tunnel"
    assert exact_match("the Hollin tunnel", ["Hollin tunnel"]) == 1.0
    assert exact_match("Hollin", ["Hollin tunnel"]) == 0.0
    assert f1_score("Hollin", ["Hollin tunnel"]) == pytest.approx(2 / 3)
    assert f1_score("", ["Hollin tunnel"]) == 0.0
    assert f1_score("Grey Pass", ["Hollin tunnel", "the Grey Pass"]) == 1.0


def test_contains_answer_folds_numbers_accents_and_case() -> None:
    assert contains_answer("To date, more than 3,800 people have been arrested.", ["3800"])
    assert contains_answer("about 3800 people", ["3,800"])
    assert contains_answer("the former president Nursultán Nazarbayev", ["nursultan"])
    assert not contains_answer("748 wounded", ["3,800"])
    assert not contains_answer(None, ["3,800"])


def test_sample_is_even_and_reproducible() -> None:
    items = [EvalQuestion(id=str(i), question=str(i), answers=(), answerable=True)
             for i in range(100)]
    even = sample(items, 10)
    assert [q.id for q in even] == [str(i) for i in range(0, 100, 10)]
    assert sample(items, 10, seed=3) == sample(items, 10, seed=3) != even
    assert sample(items, None) == items and sample(items, 500) == items


def test_threshold_for_answers_the_asked_share() -> None:
    confidences = [i / 100 for i in range(100)]  # 0.00 … 0.99
    threshold = threshold_for(confidences, 0.95)
    assert threshold == 0.05
    assert sum(c >= threshold for c in confidences) == 95  # answered at that threshold
    assert threshold_for([], 0.95) == 0.0


def test_loaders_tell_formats_apart(tmp_path: Path) -> None:
    squad = write_squad(tmp_path / "tiny.json", version="v2.0", impossible=True)
    assert is_squad_file(squad)
    loaded = load_squad(squad)
    assert len(loaded.articles) == 3 and loaded.articles[0][0] == "Glass harbour"
    assert sum(not q.answerable for q in loaded.questions) == 1
    jsonl = tmp_path / "mine.jsonl"
    jsonl.write_text('{"question": "How long is it?", "answers": ["9 km"], "answerable": true}\n'
                     '\n{"question": "Who?", "answers": [], "answerable": false}\n')
    assert not is_squad_file(jsonl)
    assert [q.answerable for q in load_questions_jsonl(jsonl)] == [True, False]
    (tmp_path / "bad.jsonl").write_text("not json\n")
    with pytest.raises(EvalDataError, match="bad.jsonl:1"):
        load_questions_jsonl(tmp_path / "bad.jsonl")


# --------------------------------------------------------------------------- with the model


@pytest.mark.model
def test_squad_eval_on_a_tiny_corpus(tmp_path: Path, real_embedder: Embedder) -> None:
    path = write_squad(tmp_path / "tiny-v2.json", version="v2.0", impossible=True)
    report = evaluate_squad(path, real_embedder, RetrievalConfig(), AnswerConfig(),
                            limit=None, out_of_corpus=True, cache_dir=tmp_path / "work")
    m = report.metrics
    assert report.counts["questions"] == len(QUESTIONS) + 1
    assert report.counts["paragraphs"] == 7
    assert m["recall@1"] >= 0.9 and m["recall@5"] == 1.0
    assert m["mrr@10"] >= m["recall@1"]
    assert m["answer_sentence@1"] >= 0.8
    assert 0 < m["span_em"] <= m["span_f1"] <= 1
    assert "unanswerable_refused" in m
    # Articles 0 and 2 are indexed, article 1 is left out: its questions must be refused.
    assert report.counts["out_of_corpus_questions"] == 2
    assert m["out_of_corpus_refused"] == 1.0
    assert m["in_corpus_answered"] >= 0.8
    assert set(report.to_json()) >= {"metrics", "counts", "settings", "seconds"}


@pytest.mark.model
def test_qabot_eval_command(tmp_path: Path, real_service: QabotService,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "make_service", lambda settings: real_service)
    questions = tmp_path / "mine.jsonl"
    questions.write_text("\n".join(json.dumps(q) for q in [
        {"question": "How many checkpoints were installed?", "answers": ["70"],
         "support": "70 checkpoints installed", "answerable": True},
        {"question": "Who won the 2018 football World Cup?", "answers": [], "answerable": False},
    ]) + "\n")
    runner = CliRunner()
    result = runner.invoke(cli.main, ["eval", str(questions), "--json"])
    assert result.exit_code == 0, result.output
    numbers = json.loads(result.output.strip().splitlines()[-1])
    assert numbers["metrics"]["answered_correctly"] == 1.0
    assert numbers["metrics"]["support_cited"] == 1.0
    assert numbers["metrics"]["out_of_corpus_refused"] == 1.0

    squad = write_squad(tmp_path / "tiny.json")
    result = runner.invoke(cli.main, ["eval", str(squad), "--limit", "5", "--no-out-of-corpus"])
    assert result.exit_code == 0, result.output
    assert "recall@1" in result.output and "answer_sentence@1" in result.output
    assert "5 questions" in result.output
