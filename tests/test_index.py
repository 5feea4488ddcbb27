"""Index generations with the fake embedder: build, reuse by hash, no-change, checks on open."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from qabot.config import Settings
from qabot.embedding import FakeEmbedder
from qabot.errors import CorpusError, IndexCorruptError, IndexMismatchError, IndexMissingError
from qabot.index import IndexStore
from qabot.service import QabotService

NEW_ARTICLE = """Floods hit the river town of Umbria Vale.
Heavy rain on Tuesday flooded 240 homes in Umbria Vale, officials said.
The mayor, Carla Benedetti, asked residents to stay indoors.
"""


def test_build_writes_a_complete_generation(fake_service: QabotService, index_dir: Path) -> None:
    report = fake_service.index()
    assert report.articles == 1 and report.passages > 20
    assert report.files_added == 1 and report.passages_embedded == report.passages
    generation = index_dir / (index_dir / "CURRENT").read_text().strip()
    names = {p.name for p in generation.iterdir()}
    assert {"manifest.json", "passages.sqlite", "vectors.faiss", "passage_vectors.npy",
            "sentence_vectors.npy"} <= names
    manifest = json.loads((generation / "manifest.json").read_text())
    assert manifest["model_id"] == "fake-hashing-embedder"
    assert manifest["dimension"] == 64 and manifest["counts"]["passages"] == report.passages


def test_no_pickle_anywhere_in_the_index(fake_service: QabotService, index_dir: Path) -> None:
    fake_service.index()
    for file in index_dir.rglob("*"):
        if file.is_file():
            assert file.suffix not in {".pkl", ".pickle"}
            if file.suffix == ".npy":
                assert b"'descr': '<f4'" in file.read_bytes()[:128]  # plain float32, no objects


def test_no_change_run_embeds_nothing(fake_service: QabotService,
                                      fake_embedder: FakeEmbedder) -> None:
    first = fake_service.index()
    calls = fake_embedder.calls
    second = fake_service.index()
    assert second.no_change and second.generation == first.generation
    assert fake_embedder.calls == calls


def test_added_file_embeds_only_its_passages(fake_service: QabotService, seeds_dir: Path,
                                             fake_embedder: FakeEmbedder) -> None:
    first = fake_service.index()
    (seeds_dir / "floods.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    before = fake_embedder.texts_embedded
    second = fake_service.index()
    assert second.files_added == 1 and second.files_unchanged == 1
    assert second.passages_embedded == 2 and second.passages_reused == first.passages
    assert fake_embedder.texts_embedded - before <= 4  # two passages, their sentences at most
    hits = fake_service.search("Umbria Vale flooded homes", k=1)
    assert hits[0].passage.source == "floods.txt"


def test_removed_file_disappears_from_search(fake_service: QabotService, seeds_dir: Path) -> None:
    (seeds_dir / "floods.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    fake_service.index()
    (seeds_dir / "floods.txt").unlink()
    report = fake_service.index()
    assert report.files_removed == 1
    sources = {h.passage.source for h in fake_service.search("Umbria Vale flooded homes", k=10)}
    assert "floods.txt" not in sources


def test_generations_are_pruned_to_two(fake_service: QabotService, seeds_dir: Path,
                                       index_dir: Path) -> None:
    for n in range(4):
        (seeds_dir / f"extra{n}.txt").write_text(NEW_ARTICLE.replace("240", str(n)), "utf-8")
        fake_service.index()
    assert len(IndexStore(index_dir).generations()) == 2


def test_rebuild_re_embeds_everything(fake_service: QabotService) -> None:
    first = fake_service.index()
    report = fake_service.index(rebuild=True)
    assert not report.no_change and report.passages_embedded == first.passages
    assert report.generation != first.generation


def test_asking_before_any_index_says_what_to_do(fake_service: QabotService) -> None:
    with pytest.raises(IndexMissingError) as err:
        fake_service.ask("how many were arrested?")
    assert "qabot index" in (err.value.hint or "")


def test_index_of_another_model_is_refused(make_settings: Callable[..., Settings],
                                           fake_service: QabotService) -> None:
    fake_service.index()
    other = QabotService(make_settings(), embedder=FakeEmbedder(model_id="another-model"))
    with pytest.raises(IndexMismatchError) as err:
        other.ask("how many were arrested?")
    assert "another-model" in err.value.message and "--rebuild" in (err.value.hint or "")


def test_index_of_another_format_version_is_refused(fake_service: QabotService,
                                                    index_dir: Path) -> None:
    report = fake_service.index()
    manifest_path = index_dir / str(report.generation) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["format_version"] = 999
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatchError, match="format version 999"):
        fake_service.ask("how many were arrested?")


@pytest.mark.parametrize("victim", ["vectors.faiss", "passages.sqlite", "sentence_vectors.npy"])
def test_truncated_file_is_reported_as_corrupt(fake_service: QabotService, index_dir: Path,
                                               victim: str) -> None:
    report = fake_service.index()
    path = index_dir / str(report.generation) / victim
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(IndexCorruptError) as err:
        fake_service.ask("how many were arrested?")
    assert victim in err.value.message and "--rebuild" in (err.value.hint or "")


def test_flipped_byte_is_reported_as_corrupt(fake_service: QabotService, index_dir: Path) -> None:
    report = fake_service.index()
    path = index_dir / str(report.generation) / "passage_vectors.npy"
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IndexCorruptError, match="checksum"):
        fake_service.ask("anything")


def test_corrupt_index_is_rebuilt_by_rebuild(fake_service: QabotService, index_dir: Path) -> None:
    report = fake_service.index()
    (index_dir / str(report.generation) / "vectors.faiss").write_bytes(b"junk")
    fake_service.index(rebuild=True)
    assert fake_service.search("more than 3,800 people arrested", k=1)[0].passage.paragraph > 0


def test_empty_corpus_is_a_clear_error(fake_service: QabotService, seeds_dir: Path) -> None:
    for file in seeds_dir.iterdir():
        file.unlink()
    with pytest.raises(CorpusError):
        fake_service.index()


def test_missing_seeds_folder_is_a_clear_error(fake_service: QabotService, seeds_dir: Path) -> None:
    shutil.rmtree(seeds_dir)
    with pytest.raises(CorpusError, match="seeds folder not found"):
        fake_service.index()


def test_reader_switches_to_a_newer_generation(fake_service: QabotService,
                                               make_settings: Callable[..., Settings],
                                               seeds_dir: Path) -> None:
    fake_service.index()
    reader = QabotService(make_settings(), embedder=FakeEmbedder())
    before = reader.generation().name
    (seeds_dir / "floods.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    fake_service.index()
    assert reader.generation().name != before
    assert reader.search("Umbria Vale flooded homes", k=1)[0].passage.source == "floods.txt"


def test_vectors_made_another_way_are_not_reused(make_settings: Callable[..., Settings],
                                                 fake_service: QabotService,
                                                 seeds_dir: Path) -> None:
    first = fake_service.index()
    pooling = QabotService(make_settings(), embedder=FakeEmbedder(pools_sentences=True))
    report = pooling.index()
    assert not report.no_change and report.passages_embedded == first.passages


def test_large_files_are_checked_by_sample(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from qabot.index import manifest

    monkeypatch.setattr(manifest, "FULL_CHECKSUM_MAX", 1024)
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(range(256)) * 4096)  # 1 MiB: sampled
    before = manifest.file_digest(big)
    data = bytearray(big.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside the sampled block at the middle
    big.write_bytes(bytes(data))
    assert manifest.file_digest(big) != before


def test_scaled_progress_reports_exactly_the_texts_asked_for() -> None:
    from qabot.progress import ScaledProgress

    steps: list[int] = []
    scaled = ScaledProgress(steps.append, asked=10, encoded=3)
    for _ in range(3):
        scaled(1)
    scaled.finish()
    assert sum(steps) == 10 and all(step > 0 for step in steps)
