"""What the language model is told: the rules (answer only from the numbered passages, cite
``[n]``) and the passages themselves, numbered as the answer's Sources list them.

Plain strings here; ``chain.py`` turns them into a LangChain ``ChatPromptTemplate``. README
"Generated answers (optional LLM)" quotes them: keep the two in step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..schema import Answer, Citation

SYSTEM = """\
You answer questions about news articles using only the numbered passages you are given.
Rules:
- Use only facts stated in the passages, never your own knowledge.
- After each sentence, cite the passages it comes from by their numbers, like [1] or [1][2].
- Cite only numbers from the list of passages.
- If the passages do not answer the question, say that the articles do not say.
- Answer in a few plain sentences, without headings or lists."""

HUMAN = """\
Passages:

{passages}

Question: {question}"""


def passage_block(number: int, citation: Citation) -> str:
    """``[n] Title (file, paragraph 3, published 2022-01-08)`` and the passage text below it."""
    where = [citation.source, f"paragraph {citation.paragraph}"]
    if citation.published:
        where.append(f"published {citation.published[:10]}")  # the day of an ISO stamp
    head = f"[{number}] {citation.title} ({', '.join(where)})" if citation.title else \
        f"[{number}] ({', '.join(where)})"
    return f"{head}\n{' '.join(citation.text.split())}"


def prompt_inputs(answer: Answer, passages: Sequence[Citation]) -> dict[str, str]:
    """The prompt's variables for ``answer``'s question (as read, after spelling correction)."""
    return {"question": answer.read_as or answer.question,
            "passages": "\n\n".join(passage_block(n, c) for n, c in enumerate(passages, 1))}
