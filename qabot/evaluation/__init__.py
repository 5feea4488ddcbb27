"""The evaluation harness behind ``qabot eval``: load questions, run them, compute metrics.

``data.py`` loads our JSON Lines questions and SQuAD files, ``squad_index.py`` turns a SQuAD
file into an indexed corpus, ``runner.py`` asks the questions through retrieval and the answer
path, ``metrics.py`` scores one answer (SQuAD EM/F1) and ``report.py`` holds what a run measures.
"""

from .data import EvalQuestion, SquadSet, is_squad_file, load_questions_jsonl, load_squad, sample
from ..squad_scores import exact_match, f1_score, normalize_answer
from .metrics import contains_answer, threshold_for
from .report import EvalReport, Outcome
from .runner import ask_all, evaluate_jsonl, evaluate_squad
from .squad_index import build_squad_index

__all__ = ["EvalQuestion", "EvalReport", "Outcome", "SquadSet", "ask_all", "build_squad_index",
           "contains_answer", "evaluate_jsonl", "evaluate_squad", "exact_match", "f1_score",
           "is_squad_file", "load_questions_jsonl", "load_squad", "normalize_answer", "sample",
           "threshold_for"]
