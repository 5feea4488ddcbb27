"""Forwarding module: the evaluation harness lives in ``qabot.evaluation``.

Kept only so that ``cli.py``, ``render.py`` and ``reader/evaluate.py`` keep working until their
import lines name ``qabot.evaluation``; then this file is deleted.
"""

from .evaluation import EvalReport, evaluate_jsonl, evaluate_squad, exact_match, f1_score
from .evaluation import is_squad_file, load_squad

__all__ = ["EvalReport", "evaluate_jsonl", "evaluate_squad", "exact_match", "f1_score",
           "is_squad_file", "load_squad"]
