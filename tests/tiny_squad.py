"""A handful of made-up SQuAD-format questions (ours, not SQuAD's) for a tiny training run."""

from __future__ import annotations

import json
from pathlib import Path

ARTICLES = {
    "Port Elin harbour": (
        "The harbour of Port Elin reopened on Monday after repairs that cost 12 million euros. "
        "The mayor, Anna Varga, said the work had taken two years.",
        [("How much did the repairs cost?", "12 million euros"),
         ("Who is the mayor of Port Elin?", "Anna Varga"),
         ("How long did the work take?", "two years")],
        ["How many ships sank in the harbour?"]),
    "Lisbon cafe protest": (
        "About 450 cafe owners marched through Lisbon on Saturday against a new tourism tax. "
        "The organisers, the Lisbon Cafe Guild, promised another march in June.",
        [("How many cafe owners marched?", "About 450"),
         ("What did the cafe owners protest against?", "a new tourism tax"),
         ("When is the next march?", "in June")],
        ["Who proposed the tourism tax?"]),
    "Northbridge flood": (
        "Heavy rain flooded the town of Northbridge on Tuesday. Firefighters rescued 37 people "
        "from their homes, and the river rose by three metres overnight.",
        [("How many people did firefighters rescue?", "37 people"),
         ("How much did the river rise?", "three metres"),
         ("Which town was flooded?", "Northbridge")],
        ["How much did the flood damage cost?"]),
}


def write_tiny_squad(path: Path) -> Path:
    """Write the articles above as SQuAD v2.0 JSON (answerable and unanswerable) to ``path``."""
    data = []
    for n, (title, (context, answerable, unanswerable)) in enumerate(ARTICLES.items()):
        qas = [{"id": f"t{n}a{i}", "question": q, "is_impossible": False,
                "answers": [{"text": a, "answer_start": context.index(a)}]}
               for i, (q, a) in enumerate(answerable)]
        qas += [{"id": f"t{n}u{i}", "question": q, "is_impossible": True, "answers": []}
                for i, q in enumerate(unanswerable)]
        data.append({"title": title, "paragraphs": [{"context": context, "qas": qas}]})
    path.write_text(json.dumps({"version": "v2.0", "data": data}), encoding="utf-8")
    return path
