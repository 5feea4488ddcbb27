"""Fine-tune the local all-MiniLM-L6-v2 weights as qabot's extractive reader, on the CPU.

The recipe: ``[CLS] question [SEP] passage [SEP]`` windows (``data.encode_windows``), a linear
start/end head, cross-entropy on both, the no-answer option at ``[CLS]`` (SQuAD v2.0's
unanswerable questions and windows that miss the answer), AdamW with linear warm-up and decay,
word embeddings frozen (few examples; it also halves the optimiser's work), length-bucketed
batches so little is padding. Everything random comes from one seed; a checkpoint every
``checkpoint_every`` steps lets a stopped run resume where it stopped. Then the model is
exported to ONNX, quantised to int8, and the no-answer threshold is fitted on the tune articles.

Torch is imported here only: answering never needs it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ReaderError
from .data import (DOC_STRIDE, MAX_LENGTH, ArticleSplit, QAExample, Window, encode_windows,
                   reader_tokenizer)

log = logging.getLogger(__name__)

StepCallback = Callable[[int, int, float], None]  # step done, total steps, loss


@dataclass(frozen=True)
class TrainConfig:
    """Every choice of a training run; saved beside the model so a run can be repeated."""

    seed: int = 13
    epochs: float = 2.0
    batch_size: int = 16
    learning_rate: float = 1e-4
    warmup: float = 0.1
    weight_decay: float = 0.01
    max_length: int = MAX_LENGTH
    stride: int = DOC_STRIDE
    bucket_batches: int = 50
    validation_articles: int = 5
    tune_articles: int = 2
    threads: int = 2
    checkpoint_every: int = 50
    max_steps: int | None = None
    # Made-up unanswerable questions (data.near_miss_negatives), as shares of the answerable ones.
    # Off by default: with 0.3 / 0.1 they raised validation refusals from 0.27 to 0.32 but cost
    # 3 F1 points (README "The reader"), so the shipped reader is trained without them.
    swap_negatives: float = 0.0
    other_paragraph_negatives: float = 0.0


@dataclass
class TrainResult:
    """What a finished run leaves: the fp32 weights and how long it took."""

    weights: Path
    steps: int
    seconds: float
    losses: list[float] = field(default_factory=list)
    threads: tuple[int, ...] = ()  # torch threads of the sessions that did the steps


def _labelled(windows: Sequence[Window], examples: Sequence[QAExample]) -> list[tuple[Window, int, int]]:
    return [(w, *w.label(examples[w.example].main_answer())) for w in windows]


def batch_order(lengths: Sequence[int], batch_size: int, bucket_batches: int,
                seed: int) -> list[list[int]]:
    """One epoch's batches: shuffled, then sorted by length within buckets of
    ``bucket_batches`` batches (little padding), and the batches shuffled again."""
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    bucket = batch_size * bucket_batches
    batches: list[list[int]] = []
    for start in range(0, len(order), bucket):
        chunk = sorted(order[start:start + bucket], key=lambda i: lengths[i])
        batches.extend(chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def _tensors(items: Sequence[tuple[Window, int, int]], pad_id: int) -> dict[str, Any]:
    import torch

    width = max(len(w) for w, _, _ in items)
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    types = torch.zeros((len(items), width), dtype=torch.long)
    mask = torch.zeros((len(items), width), dtype=torch.long)
    for row, (window, _, _) in enumerate(items):
        n = len(window)
        ids[row, :n] = torch.tensor(window.input_ids)
        types[row, :n] = torch.tensor(window.type_ids)
        mask[row, :n] = 1
    return {"input_ids": ids, "token_type_ids": types, "attention_mask": mask,
            "start_positions": torch.tensor([s for _, s, _ in items]),
            "end_positions": torch.tensor([e for _, _, e in items])}


def load_qa_model(model_dir: Path, attention: str = "sdpa") -> Any:
    """The encoder's weights under a freshly initialised start/end head (transformers)."""
    from ..config import prepare_environment

    prepare_environment()
    from transformers import AutoModelForQuestionAnswering
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()  # "qa_outputs newly initialised" is the point, not news
    return AutoModelForQuestionAnswering.from_pretrained(str(model_dir),
                                                         attn_implementation=attention)


def train(examples: Sequence[QAExample], model_dir: Path, work_dir: Path, config: TrainConfig,
          on_step: StepCallback | None = None) -> TrainResult:
    """Fine-tune on ``examples``; resumes from ``work_dir/checkpoint.pt`` when it exists."""
    try:
        import torch
    except ImportError as exc:
        raise ReaderError("training the reader needs torch",
                          hint="run `make install` (it installs torch==2.13.0)") from exc
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    work_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = reader_tokenizer(model_dir / "tokenizer.json")
    windows = encode_windows(tokenizer, [e.question for e in examples],
                             [e.context for e in examples], config.max_length, config.stride)
    items = _labelled(windows, examples)
    lengths = [len(w) for w, _, _ in items]
    steps_per_epoch = math.ceil(len(items) / config.batch_size)
    total = math.ceil(steps_per_epoch * config.epochs)
    if config.max_steps is not None:
        total = min(total, config.max_steps)
    log.info("training on %d questions, %d windows, %d steps", len(examples), len(items), total)

    model = load_qa_model(model_dir)
    optimizer, scheduler = _optimizer(model, config, total)
    checkpoint = work_dir / "checkpoint.pt"
    step, elapsed, losses, threads = _resume(checkpoint, model, optimizer, scheduler, config, total)

    resumed_at = step
    pad_id = tokenizer.token_to_id("[PAD]") or 0
    model.train()
    started = time.perf_counter() - elapsed
    epoch = step // steps_per_epoch
    while step < total:
        batches = batch_order(lengths, config.batch_size, config.bucket_batches,
                              seed=config.seed * 1000 + epoch)
        for batch in batches[step - epoch * steps_per_epoch:]:
            if step >= total:
                break
            loss = model(**_tensors([items[i] for i in batch], pad_id)).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            losses.append(round(loss.item(), 4))
            if on_step is not None:
                on_step(step, total, losses[-1])
            if step % config.checkpoint_every == 0 or step == total:
                _save_checkpoint(checkpoint, model, optimizer, scheduler, step,
                                 time.perf_counter() - started, losses, config, sorted(threads))
        epoch += 1
    weights = work_dir / "reader-fp32.pt"
    torch.save(model.state_dict(), weights)
    seconds = elapsed if step == resumed_at else time.perf_counter() - started
    log.info("trained %d steps in %.0f s", step, seconds)
    return TrainResult(weights=weights, steps=step, seconds=seconds, losses=losses,
                       threads=tuple(sorted(threads)))


def _optimizer(model: Any, config: TrainConfig, total: int) -> tuple[Any, Any]:
    """AdamW (no decay on biases and LayerNorm, frozen word embeddings) and a linear warm-up
    then decay schedule over ``total`` steps."""
    import torch

    model.get_input_embeddings().weight.requires_grad_(False)
    decay = [p for n, p in model.named_parameters()
             if p.requires_grad and not any(k in n for k in ("bias", "LayerNorm"))]
    no_decay = [p for n, p in model.named_parameters()
                if p.requires_grad and any(k in n for k in ("bias", "LayerNorm"))]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}],
                                  lr=config.learning_rate)
    warmup = max(1, int(total * config.warmup))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / max(1, total - warmup))))
    return optimizer, scheduler


def _resume(checkpoint: Path, model: Any, optimizer: Any, scheduler: Any, config: TrainConfig,
            total: int) -> tuple[int, float, list[float], set[int]]:
    """Load ``checkpoint`` into the run when it exists: (step, seconds so far, losses, threads)."""
    import torch

    if not checkpoint.is_file():
        return 0, 0.0, [], {config.threads}
    state = torch.load(checkpoint, weights_only=True)
    if state["config"] != _recipe(config):
        raise ReaderError(f"{checkpoint} belongs to a run with other settings",
                          hint=f"delete {checkpoint.parent} or train with the same settings")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"])
    step = int(state["step"])
    threads = set(state.get("threads", [config.threads]))
    if step < total:
        threads.add(config.threads)
    log.info("resuming at step %d of %d", step, total)
    return step, float(state["elapsed"]), list(state["losses"]), threads


def _save_checkpoint(path: Path, model: Any, optimizer: Any, scheduler: Any, step: int,
                     elapsed: float, losses: list[float], config: TrainConfig,
                     threads: list[int]) -> None:
    import torch

    tmp = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "rng": torch.get_rng_state(),
                "step": step, "elapsed": elapsed, "losses": losses, "threads": threads,
                "config": _recipe(config)}, tmp)
    os.replace(tmp, path)  # a run killed mid-save keeps the previous checkpoint


def _recipe(config: TrainConfig) -> str:
    """The settings that change what is learnt (not threads or checkpoint spacing): a run may
    resume with other values of those."""
    recipe = asdict(config)
    for key in ("threads", "checkpoint_every"):
        recipe.pop(key)
    return json.dumps(recipe, sort_keys=True)


def export_onnx(model_dir: Path, weights: Path, target: Path) -> Path:
    """The trained reader as ONNX (fp32): inputs input_ids, attention_mask, token_type_ids;
    outputs start_logits, end_logits; batch and sequence axes dynamic."""
    import warnings

    import torch

    model = load_qa_model(model_dir, attention="eager")  # SDPA's masking does not trace faithfully
    model.load_state_dict(torch.load(weights, weights_only=True))
    model.eval()

    class _Logits(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                    token_type_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            out = self.inner(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=token_type_ids)
            return out.start_logits, out.end_logits

    inputs = ("input_ids", "attention_mask", "token_type_ids")
    outputs = ("start_logits", "end_logits")
    example = torch.ones((2, 8), dtype=torch.long)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(_Logits(model), (example, torch.ones_like(example),
                                           torch.zeros_like(example)),
                          str(tmp), dynamo=False, opset_version=17, input_names=list(inputs),
                          output_names=list(outputs),
                          dynamic_axes={n: {0: "batch", 1: "sequence"} for n in inputs + outputs})
    os.replace(tmp, target)
    return target


def quantize_int8(source: Path, target: Path) -> Path:
    """Dynamic int8 quantisation of the matrix multiplications (ONNX Runtime's), one scale per
    output channel: per-tensor scales cost 3.5 F1 points on the tune articles, per-channel none."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True)
    return target


def split_summary(split: ArticleSplit) -> dict[str, list[str]]:
    """The split as plain lists, for the model card and ``reader.json``."""
    return {"train": list(split.train), "tune": list(split.tune),
            "validation": list(split.validation)}
