"""qabot's reader: the shipped model loads and reads (without torch), its checksum is enforced,
windows and labels are right, and a tiny training run through the real CLI produces a loadable
ONNX reader that resumes from its checkpoint."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from qabot.embedding import resolve_model_dir
from qabot.errors import ReaderError
from qabot.reader.data import QAExample, encode_windows, reader_tokenizer
from qabot.reader.model import SHIPPED_READER_DIR, OnnxReader, sha256_of, verify_reader
from qabot.reader.train import batch_order

from .conftest import ROOT, SEED, run_qabot
from .tiny_squad import ARTICLES, write_tiny_squad

TOKENIZER = resolve_model_dir("all-MiniLM-L6-v2") / "tokenizer.json"
ARRESTS = next(p for p in SEED.read_text("utf-8").splitlines() if "arrested" in p)


@pytest.fixture(scope="module")
def shipped() -> OnnxReader:
    """The reader shipped in the package, loaded once."""
    return OnnxReader(SHIPPED_READER_DIR, TOKENIZER)


def test_shipped_reader_has_card_and_matching_checksum() -> None:
    meta = verify_reader(SHIPPED_READER_DIR, TOKENIZER)
    card = (SHIPPED_READER_DIR / "MODEL_CARD.md").read_text("utf-8")
    assert meta.onnx_sha256 == sha256_of(SHIPPED_READER_DIR / meta.onnx_file)
    assert meta.onnx_sha256 in card
    assert (SHIPPED_READER_DIR / meta.onnx_file).stat().st_size < 50 * 2**20
    assert "Validation" in card and meta.seen_articles  # it says what it must not be judged on


def test_shipped_reader_marks_the_answer_span(shipped: OnnxReader) -> None:
    [span] = shipped.read("How many people have been arrested?", [ARRESTS])
    assert span is not None and "3,800" in span.text
    assert ARRESTS[span.start:span.end] == span.text
    assert shipped.answerable(span)


def test_shipped_reader_reads_several_passages_in_one_call(shipped: OnnxReader) -> None:
    other = "The weather in Almaty was cold and snowy for most of the week."
    spans = shipped.read("How many people have been arrested?", [other, ARRESTS, ""])
    assert spans[2] is None  # an empty passage has nothing to mark
    assert spans[1] is not None and spans[0] is not None
    assert spans[1].margin > spans[0].margin  # the passage that answers it wins


def test_answering_never_imports_torch() -> None:
    code = ("import sys; sys.modules['torch'] = None\n"
            "from qabot.embedding import resolve_model_dir\n"
            "from qabot.reader.model import SHIPPED_READER_DIR, OnnxReader\n"
            "r = OnnxReader(SHIPPED_READER_DIR, resolve_model_dir('all-MiniLM-L6-v2') / "
            "'tokenizer.json')\n"
            f"print(r.read('How many were arrested?', [{ARRESTS!r}])[0].text)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "3,800" in result.stdout


@pytest.fixture
def reader_copy(tmp_path: Path) -> Path:
    """A copy of the shipped reader that a test may damage."""
    return Path(shutil.copytree(SHIPPED_READER_DIR, tmp_path / "reader"))


def test_altered_model_file_is_refused(reader_copy: Path) -> None:
    onnx = reader_copy / "reader.onnx"
    data = bytearray(onnx.read_bytes())
    data[len(data) // 2] ^= 0xFF
    onnx.write_bytes(bytes(data))
    with pytest.raises(ReaderError, match="does not match its checksum"):
        OnnxReader(reader_copy, TOKENIZER)


def test_missing_files_are_named(reader_copy: Path) -> None:
    (reader_copy / "reader.onnx").unlink()
    with pytest.raises(ReaderError, match="reader.onnx is missing"):
        OnnxReader(reader_copy, TOKENIZER)
    (reader_copy / "reader.json").unlink()
    with pytest.raises(ReaderError, match="no reader model"):
        OnnxReader(reader_copy, TOKENIZER)


def test_cli_says_clearly_when_the_reader_is_altered(reader_copy: Path, tmp_path: Path) -> None:
    with open(reader_copy / "reader.onnx", "ab") as fh:
        fh.write(b"\0")
    squad = write_tiny_squad(tmp_path / "tiny.json")
    result = run_qabot("reader", "eval", str(squad), "--reader", str(reader_copy))
    assert result.returncode != 0
    assert "does not match its checksum" in result.stderr
    assert "Traceback" not in result.stderr


def test_long_passage_is_cut_into_overlapping_windows_and_labelled_once() -> None:
    tokenizer = reader_tokenizer(TOKENIZER)
    filler = " ".join(f"Sentence {n} says nothing in particular." for n in range(80))
    context = f"{filler} The bridge was opened by Mayor Ilse Brandt. {filler}"
    answer = ("Mayor Ilse Brandt", context.index("Mayor Ilse Brandt"))
    windows = encode_windows(tokenizer, ["Who opened the bridge?"], [context], 128, 32)
    assert len(windows) > 3 and all(len(w) <= 128 for w in windows)
    labels = [w.label(answer) for w in windows]
    hits = [(w, lab) for w, lab in zip(windows, labels) if lab != (0, 0)]
    assert hits, "some window must hold the answer"
    for window, (start, end) in hits:
        first, last = window.offsets[start], window.offsets[end]
        assert first is not None and last is not None
        assert context[first[0]:last[1]] == "Mayor Ilse Brandt"
    assert (0, 0) in labels  # the windows that miss it point at [CLS], "no answer"
    question_tokens = windows[0].type_ids.count(0)
    assert all(w.type_ids.count(0) == question_tokens for w in windows)  # whole question each


def test_unanswerable_example_is_labelled_no_answer() -> None:
    tokenizer = reader_tokenizer(TOKENIZER)
    example = QAExample("x", "a", "Who opened the bridge?", "It rained all day.", ())
    [window] = encode_windows(tokenizer, [example.question], [example.context])
    assert window.label(example.main_answer()) == (0, 0)


def test_batches_cover_every_window_once_with_little_padding() -> None:
    lengths = [(n * 37) % 200 + 20 for n in range(1000)]
    batches = batch_order(lengths, batch_size=16, bucket_batches=10, seed=1)
    assert sorted(i for b in batches for i in b) == list(range(1000))
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    assert padded < 1.15 * sum(lengths)
    assert batches != batch_order(lengths, batch_size=16, bucket_batches=10, seed=2)
    assert batches == batch_order(lengths, batch_size=16, bucket_batches=10, seed=1)


TINY_TRAIN = ["--max-steps", "2", "--batch-size", "4", "--threads", "1",
              "--validation-articles", "1", "--tune-articles", "1"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """A tiny training run through the real CLI: (squad file, output folder, its stdout)."""
    base = tmp_path_factory.mktemp("tiny-reader")
    squad = write_tiny_squad(base / "tiny.json")
    result = run_qabot("reader", "train", "--squad", str(squad), "--out", str(base / "out"),
                       "--work", str(base / "work"), *TINY_TRAIN, timeout=600)
    assert result.returncode == 0, result.stderr
    return squad, base / "out", result.stdout


def test_tiny_training_run_produces_a_loadable_reader(tiny_run: tuple[Path, Path, str]) -> None:
    squad, out, stdout = tiny_run
    assert "trained 2 steps" in stdout
    reader = OnnxReader(out, TOKENIZER)
    context, answerable, _ = ARTICLES["Port Elin harbour"]
    [span] = reader.read(answerable[0][0], [context])
    assert span is not None and context[span.start:span.end] == span.text
    card = (out / "MODEL_CARD.md").read_text("utf-8")
    assert reader.meta.onnx_sha256 in card and "Validation articles:" in card
    assert len(reader.meta.seen_articles) == 2  # train + tune; the third is held out


def test_reader_eval_reports_only_unseen_articles(tiny_run: tuple[Path, Path, str]) -> None:
    squad, out, _ = tiny_run
    result = run_qabot("reader", "eval", str(squad), "--reader", str(out), "--json")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["questions"] == 4  # the held-out article's 3 + 1, not all 12
    assert 0.0 <= figures["f1"] <= 1.0 and figures["batched_passages_per_s"] > 0
    table = run_qabot("reader", "eval", str(squad), "--reader", str(out), "--articles", "all")
    assert table.returncode == 0, table.stderr
    assert "12 (9 answerable, 3 unanswerable)" in table.stdout


def test_stopped_training_resumes_to_the_same_weights(tmp_path: Path) -> None:
    import torch

    from qabot.reader.data import load_squad_examples
    from qabot.reader.train import TrainConfig, train

    examples = load_squad_examples(write_tiny_squad(tmp_path / "tiny.json"))
    model_dir = resolve_model_dir("all-MiniLM-L6-v2")
    config = TrainConfig(max_steps=4, batch_size=4, threads=1, checkpoint_every=1)

    def stop_after_two(step: int, total: int, loss: float) -> None:
        if step == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(examples, model_dir, tmp_path / "stopped", config, stop_after_two)
    resumed = train(examples, model_dir, tmp_path / "stopped", config)
    straight = train(examples, model_dir, tmp_path / "straight", config)
    assert resumed.steps == straight.steps == 4
    assert resumed.losses == straight.losses
    a = torch.load(resumed.weights, weights_only=True)
    b = torch.load(straight.weights, weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_made_up_negatives_swap_a_name_the_paragraph_lacks() -> None:
    from qabot.reader.data import near_miss_negatives

    first = ("The harbour of Port Elin reopened in 2019. The mayor, Anna Varga, cut the ribbon.")
    second = ("Lisbon and Northbridge sent delegations. Their boats arrived in 2021.")
    examples = [QAExample("a", "Ports", "When did the harbour of Port Elin reopen?", first,
                          (("2019", first.index("2019")),)),
                QAExample("b", "Ports", "Who cut the ribbon in Port Elin?", first,
                          (("Anna Varga", first.index("Anna Varga")),)),
                QAExample("c", "Ports", "Which towns sent delegations?", second,
                          (("Lisbon and Northbridge", 0),))]
    made = near_miss_negatives(examples, swap_share=1.0, other_share=1.0, seed=3)
    assert made and all(not m.answerable for m in made)
    swapped = [m for m in made if m.id.endswith(":swap")]
    assert swapped
    for m in swapped:
        original = next(e for e in examples if m.id.startswith(e.id + ":"))
        assert m.context == original.context and m.question != original.question
        assert "Port Elin" not in m.question or "2019" not in m.question
        # the name put in comes from the article, and this paragraph does not hold it
        assert any(name in m.question and name not in m.context
                   for name in ("Lisbon", "Northbridge", "2021", "Anna Varga", "Port Elin"))
    others = [m for m in made if m.id.endswith(":other")]
    assert others and all(m.context != next(e for e in examples if m.id.startswith(e.id + ":")
                                            ).context for m in others)
    assert made == near_miss_negatives(examples, 1.0, 1.0, seed=3)  # seeded, repeatable
