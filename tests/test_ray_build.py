"""Issue 16's distributed builds: `qabot index --engine ray` through a real two-node Ray cluster
on this machine (in network and PID namespaces of its own, see ``ray_cluster``), checked
against a local build of the same texts with the real ONNX encoder: every file parsed on the
cluster (bad input reported as locally), the same tables, the same vectors (cosine >= 0.9999
per passage and sentence), the same answers, an incremental run that sends only the changed
files and passages to the cluster, and a cluster that goes away mid-build reported as one error
while the previous generation keeps answering. The fast checks (pool sizing, the local
engine's chunks, a seed parser's files and tables, Ray never loaded by the local engine, an
unreachable cluster) need no cluster."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
import pytest

from qabot.distributed import EncoderSpec, pool_shape
from qabot.distributed.actor import EncoderActor, passage_rows
from qabot.embedding import FakeEmbedder
from qabot.errors import EmbeddingError
from qabot.index import build_index
from qabot.index.generation import connect_read_only, load_vectors
from qabot.index.parsed import EMPTY, ParsedFile, parse_file
from qabot.index.plan import (
    VectorChunks,
    VectorPlan,
    embed_new,
    local_vector_chunks,
    new_passages,
    plan_vectors,
)
from qabot.schema import Passage

from .conftest import QABOT, ROOT, run_qabot
from .ray_cluster import (
    RAY,
    cluster_script,
    namespaces_available,
    run_in_namespaces,
    write_articles,
)

QUESTIONS = ["How many security forces were wounded?", "Who rejected any negotiations?",
             "How many residents were affected, according to Pavel Novak?"]
REPORT = re.compile(r"passages: (\d+) embedded, (\d+) reused")


def test_the_pool_leaves_every_node_a_share_for_ray_data() -> None:
    assert pool_shape([1.0, 1.0]) == pool_shape([2.0]) == pool_shape([1.0, 1.0], None, 0.75)
    two = pool_shape([1.0, 1.0])
    assert (two.actors, two.threads) == (2, 1) and two.cpus < 1
    squeezed = pool_shape([1.0, 1.0], actors=3)  # three must fit on two one-CPU nodes
    assert squeezed.actors == 3 and 2 * squeezed.cpus <= 1
    big = pool_shape([16.0, 16.0], actor_cpus=4)
    assert (big.actors, big.cpus, big.threads) == (8, 4, 4)


def _plan(count: int = 40) -> VectorPlan:
    """A plan of ``count`` new passages of one to three sentences."""
    texts = [f"Passage {n} has a sentence. It names place {n * 7}. " * (1 + n % 3)
             for n in range(count)]
    return plan_vectors([Passage(article_key="a", source="a.txt", title="A", paragraph=n,
                                 window=0, text=t.strip()) for n, t in enumerate(texts)], None)


@pytest.mark.parametrize("pools_sentences", [False, True])
def test_local_chunks_are_whole_passages_and_cover_every_text_once(
        pools_sentences: bool) -> None:
    plan, embedder = _plan(), FakeEmbedder(pools_sentences=pools_sentences)
    chunks = list(local_vector_chunks(embedder, plan, lambda n: None, block_texts=9))
    assert len(chunks) > 4
    passage_starts = {p for p, _, _ in new_passages(plan)}
    assert {start for start, _ in chunks} <= passage_starts
    covered = sorted(p for start, rows in chunks for p in range(start, start + len(rows)))
    assert covered == list(range(len(plan.new_texts)))
    whole = embed_new(embedder, plan, lambda n: None)
    for start, rows in chunks:
        assert np.array_equal(rows, whole[start:start + len(rows)])


def test_an_encoder_actor_gives_the_rows_of_its_passages() -> None:
    plan = _plan(12)
    spec = EncoderSpec(model="all-MiniLM-L6-v2", batch_size=8, encoder="fake", cache_dir=None,
                       model_id=FakeEmbedder().model_id, pools_sentences=False)
    passages = list(new_passages(plan))[3:9]
    columns = passage_rows(passages)
    out = EncoderActor(spec, threads=1)({k: np.array(v, dtype=object if k != "position"
                                                     else np.int64)
                                         for k, v in columns.items()})
    whole = embed_new(FakeEmbedder(), plan, lambda n: None)
    assert np.array_equal(out["vector"], whole[out["position"]])
    assert sorted(out["position"]) == list(range(passages[0][0],
                                                 passages[-1][0] + 1 + len(passages[-1][2])))
    with pytest.raises(EmbeddingError, match="this node's encoder"):
        EncoderActor(dataclasses.replace(spec, model_id="another-model"), threads=1)


def test_a_build_takes_its_vectors_from_the_source_in_any_block_order(tmp_path: Path) -> None:
    write_articles(tmp_path / "seeds", 6)
    embedder = FakeEmbedder(pools_sentences=True)
    build_index(tmp_path / "seeds", tmp_path / "local", embedder)

    def shuffled(plan: VectorPlan, advance: Callable[[int], None]) -> VectorChunks:
        return iter(reversed(list(local_vector_chunks(embedder, plan, advance, block_texts=5))))

    build_index(tmp_path / "seeds", tmp_path / "source", embedder, vector_source=shuffled)
    for name in ("passage_vectors.npy", "sentence_vectors.npy"):
        assert np.array_equal(np.load(tmp_path / "local" / "gen-000001" / name),
                              np.load(tmp_path / "source" / "gen-000001" / name))

    def short(plan: VectorPlan, advance: Callable[[int], None]) -> VectorChunks:
        return iter(list(local_vector_chunks(embedder, plan, advance, block_texts=5))[1:])

    write_articles(tmp_path / "seeds", 1, seed=3, start=50)
    with pytest.raises(EmbeddingError, match="without a vector"):
        build_index(tmp_path / "seeds", tmp_path / "source", embedder, vector_source=short)
    assert (tmp_path / "source" / "CURRENT").read_text().strip() == "gen-000001"


def _bad_files(seeds: Path) -> None:
    """A feed with one malformed line and a binary file: skipped-file reports."""
    (seeds / "bad.jsonl").write_text('{"title": "Feed", "text": "Feed text. Second one."}\n'
                                     "{not json\n", "utf-8")
    (seeds / "noise.txt").write_bytes(bytes(range(256)) * 8)


def _tables(index: Path) -> dict[str, object]:
    """The live generation's rows (dates by arrival left out: they differ between builds), its
    skipped files and counts."""
    generation = index / (index / "CURRENT").read_text().strip()
    db = connect_read_only(generation)
    try:
        rows = {table: db.execute(f"SELECT {columns} FROM {table} ORDER BY rowid").fetchall()
                for table, columns in [
                    ("files", "name, content_hash, size"), ("passages", "*"),
                    ("sentences", "*"),
                    ("articles", "key, source, title, url, publisher, dated_by, "
                                 "iif(dated_by = 'indexed', NULL, date)")]}
    finally:
        db.close()
    manifest = json.loads((generation / "manifest.json").read_text())
    return {**rows, "skipped": manifest["skipped"], "counts": manifest["counts"]}


def test_a_seed_parser_gets_only_new_and_changed_files_and_builds_the_same(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    embedder = FakeEmbedder(pools_sentences=True)
    budget = (embedder.count_tokens, embedder.max_tokens)
    sent: list[str] = []

    def remote(files: Iterable[tuple[str, bytes | None]]) -> Iterator[ParsedFile]:
        for name, data in files:  # what a Ray worker runs, here
            sent.append(name)
            yield EMPTY if data is None else parse_file(name, data, budget)

    for name in ("local", "remote"):
        write_articles(tmp_path / name / "seeds", 12)
        _bad_files(tmp_path / name / "seeds")
    write_articles(tmp_path / "added", 2, seed=99, start=500)
    for step in ("first", "second"):
        caplog.clear()
        build_index(tmp_path / "local" / "seeds", tmp_path / "local" / "indexes", embedder)
        local_log = caplog.text
        caplog.clear()
        build_index(tmp_path / "remote" / "seeds", tmp_path / "remote" / "indexes", embedder,
                    seed_parser=remote)
        assert "skipping bad.jsonl:2" in caplog.text and "skipping noise.txt" in caplog.text
        assert "skipping bad.jsonl:2" in local_log
        assert _tables(tmp_path / "local" / "indexes") == _tables(tmp_path / "remote" / "indexes")
        generations = [tmp_path / name / "indexes" / f"gen-00000{1 + (step == 'second')}"
                       for name in ("local", "remote")]
        for vectors in ("passage_vectors.npy", "sentence_vectors.npy"):
            assert np.array_equal(*(np.load(g / vectors) for g in generations))
        if step == "first":
            assert sorted(sent) == sorted(p.name for p in (tmp_path / "remote/seeds").iterdir())
            sent.clear()
            for name in ("local", "remote"):
                _change(tmp_path / name / "seeds", tmp_path / "added")
    assert sorted(sent) == ["gen_0005.txt", "gen_0500.txt", "gen_0501.txt"]
    # The unchanged files were carried over, not parsed: the same as parsing them all again.
    build_index(tmp_path / "local" / "seeds", tmp_path / "fresh", embedder)
    assert _tables(tmp_path / "fresh") == _tables(tmp_path / "remote" / "indexes")


def test_the_local_engine_never_imports_ray(tmp_path: Path) -> None:
    write_articles(tmp_path / "seeds", 3)
    probe = ("import sys; from qabot.cli import main\n"
             "try:\n    main()\nexcept SystemExit:\n    pass\n"
             "print('RAY', 'ray' in sys.modules)")
    result = subprocess.run(
        [sys.executable, "-c", probe, "index", "--seeds", str(tmp_path / "seeds"),
         "--index", str(tmp_path / "indexes")], capture_output=True, text=True, timeout=120,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "QABOT_ENCODER": "fake"}, cwd=ROOT)
    assert "Indexed 3 articles" in result.stdout, result.stderr
    assert "RAY False" in result.stdout


def test_an_unreachable_cluster_is_one_error_and_the_live_index_stays(tmp_path: Path) -> None:
    write_articles(tmp_path / "seeds", 3)
    where = ["--seeds", str(tmp_path / "seeds"), "--index", str(tmp_path / "indexes")]
    fake = {"QABOT_ENCODER": "fake"}
    assert run_qabot("index", *where, env=fake).returncode == 0
    live = (tmp_path / "indexes" / "CURRENT").read_text()
    write_articles(tmp_path / "seeds", 2, seed=5, start=100)
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    result = run_qabot("index", "--engine", "ray", "--ray-address", f"127.0.0.1:{port}", *where,
                       env=fake)
    assert result.returncode == 69 and time.monotonic() - started < 60
    assert f"error: cannot reach the Ray cluster at 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
    assert (tmp_path / "indexes" / "CURRENT").read_text() == live
    asked = run_qabot("ask", "--json", QUESTIONS[2], *where, env=fake)
    assert asked.returncode == 0 and json.loads(asked.stdout)["question"] == QUESTIONS[2]


def _vectors(index: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Content hash → (passage vector, its sentence vectors) of the live generation."""
    generation = index / (index / "CURRENT").read_text().strip()
    db = connect_read_only(generation)
    try:
        rows = {h: (r, s, c) for r, h, s, c in db.execute(
            "SELECT row, content_hash, sentence_start, sentence_count FROM passages")}
    finally:
        db.close()
    passages = load_vectors(generation / "passage_vectors.npy")
    sentences = load_vectors(generation / "sentence_vectors.npy")
    return {h: (np.asarray(passages[r]), np.asarray(sentences[s:s + c]))
            for h, (r, s, c) in rows.items()}


def _answers(base: Path) -> tuple[list[dict[str, object]], list[float]]:
    """``qabot ask --json``'s answers to ``QUESTIONS`` without their citation scores and dates
    (undated files are dated by arrival: when each build first saw them), and the scores."""
    result = run_qabot("ask", "--json", "--seeds", str(base / "seeds"), "--index",
                       str(base / "indexes"), input="\n".join(QUESTIONS) + "\n")
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    scores = []
    for answer in answers:
        for citation in answer["citations"]:
            citation.pop("published")
            scores.append(citation.pop("score"))
    return answers, scores


def _change(seeds: Path, added: Path) -> None:
    """One article edited, two added, one deleted: the incremental run's work (the script run
    under the cluster does the same in shell)."""
    edited = seeds / "gen_0005.txt"
    edited.write_text(edited.read_text("utf-8").replace("residents", "households"), "utf-8")
    for path in added.iterdir():
        shutil.copy(path, seeds / path.name)
    (seeds / "gen_0010.txt").unlink()


@pytest.mark.ray
@pytest.mark.model
def test_a_build_through_a_two_node_cluster_matches_a_local_build(tmp_path: Path) -> None:
    if not namespaces_available():
        pytest.skip("needs network and PID namespaces (root or user namespaces): unshare -n -p")
    ray_dir, local_dir = tmp_path / "ray", tmp_path / "local"
    shutil.copytree(ROOT / "seeds", ray_dir / "seeds")
    write_articles(ray_dir / "seeds", 200)
    _bad_files(ray_dir / "seeds")
    shutil.copytree(ray_dir / "seeds", local_dir / "seeds")
    qabot = " ".join(shlex.quote(part) for part in QABOT)
    where = f"--seeds {ray_dir}/seeds --index {ray_dir}/indexes"
    # Small windows: several of each per build, the next sent while the cluster runs one.
    run = (f"QABOT_LOG_LEVEL=INFO QABOT_RAY_WINDOW_FILES=90 QABOT_RAY_WINDOW_PASSAGES=200 "
           f"{qabot} index --engine ray --ray-address $ADDRESS {where}")
    added = tmp_path / "added"
    write_articles(added, 2, seed=99, start=500)
    seeds = ray_dir / "seeds"
    change = (f"sed -i 's/residents/households/g' {seeds}/gen_0005.txt && "
              f"cp {added}/*.txt {seeds}/ && rm {seeds}/gen_0010.txt")
    body = f"""
{run} >{tmp_path}/first.out 2>{tmp_path}/first.err
{change}
{run} >{tmp_path}/second.out 2>{tmp_path}/second.err
{run} --rebuild >{tmp_path}/third.out 2>{tmp_path}/third.err &
for i in $(seq 900); do grep -q "passages on Ray" {tmp_path}/third.err && break; sleep 0.2; done
sleep 2
{RAY} stop --force >/dev/null 2>&1
set +e
wait $!
echo "third rc=$?"
"""
    started = time.monotonic()
    local = run_qabot("index", "--seeds", str(local_dir / "seeds"),
                      "--index", str(local_dir / "indexes"))
    assert local.returncode == 0, local.stderr
    # Five seconds, not Ray's 60, for the driver to give up on a head that went away.
    nodes = Path(tempfile.mkdtemp(prefix="qray", dir="/tmp"))  # short: Ray's socket paths
    try:
        cluster = run_in_namespaces(cluster_script(body, nodes), timeout=420,
                                    env={"RAY_gcs_rpc_server_reconnect_timeout_s": "5"})
    finally:
        shutil.rmtree(nodes, ignore_errors=True)
    logs = {name: (tmp_path / f"{name}.err").read_text() for name in ("first", "second", "third")
            if (tmp_path / f"{name}.err").exists()}
    assert "third rc=69" in cluster.stdout, (cluster.stdout, cluster.stderr, logs)
    first = (tmp_path / "first.out").read_text()
    assert "Indexed 202 articles" in first, logs
    assert "2 nodes, 2 CPUs" in logs["first"]
    # Every file was parsed on the cluster, its bad input reported as a local parse reports it.
    assert "parsed 203 new or changed files on Ray" in logs["first"]
    assert "skipping bad.jsonl:2: malformed JSON" in logs["first"]
    assert "skipping noise.txt: binary file" in logs["first"]

    _change(local_dir / "seeds", added)
    local_second = run_qabot("index", "--seeds", str(local_dir / "seeds"),
                             "--index", str(local_dir / "indexes"))
    assert local_second.returncode == 0, local_second.stderr
    ray_counts = REPORT.search((tmp_path / "second.out").read_text())
    local_counts = REPORT.search(local_second.stdout)
    assert ray_counts and local_counts and ray_counts.groups() == local_counts.groups()
    embedded, reused = map(int, ray_counts.groups())
    assert 0 < embedded < 12 and reused > 300
    assert f"embedding {embedded} passages on Ray" in logs["second"]
    # Only the edited and the two added files went to the cluster; the rest were reused.
    assert "parsed 3 new or changed files on Ray" in logs["second"]

    # The cluster went away during the third run: one message, the second generation stays.
    assert "error: the Ray cluster at 127.0.0.1:6390 went away during the build" in logs["third"]
    assert "Traceback" not in logs["third"]
    assert (ray_dir / "indexes" / "CURRENT").read_text().strip() == "gen-000002"

    assert _tables(ray_dir / "indexes") == _tables(local_dir / "indexes")
    ray_vectors, local_vectors = _vectors(ray_dir / "indexes"), _vectors(local_dir / "indexes")
    assert ray_vectors.keys() == local_vectors.keys()
    for key, (passage, sentences) in local_vectors.items():
        other_passage, other_sentences = ray_vectors[key]
        assert float(passage @ other_passage) >= 0.9999
        assert sentences.shape == other_sentences.shape
        assert (np.einsum("ij,ij->i", sentences, other_sentences) >= 0.9999).all()
    (ray_answers, ray_scores), (local_answers, local_scores) = (_answers(ray_dir),
                                                                _answers(local_dir))
    assert len(ray_answers) == len(QUESTIONS) and ray_answers == local_answers
    assert sum(not answer["abstained"] for answer in ray_answers) >= 2
    assert np.allclose(ray_scores, local_scores, atol=1e-3)
    print(f"ray build test: {time.monotonic() - started:.0f} s")
