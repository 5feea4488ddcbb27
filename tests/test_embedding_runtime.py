"""The ONNX encoder's use of the CPU (issue 16, point 5): the cores a process may really use
(affinity and cgroup quota, not ``os.cpu_count()``), the ``encoder_threads`` setting, and
batches run side by side giving exactly the vectors of one-at-a-time encoding."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from qabot.config import load_settings
from qabot.embedding import Embedder, OnnxEmbedder, load_embedder
from qabot.embedding.runtime import cgroup_cpu_limit, parallel_map, usable_cores

from .conftest import ROOT, SEED


def _cgroup(tmp_path: Path, files: dict[str, str], membership: str = "0::/\n") -> float | None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    (tmp_path / "self-cgroup").write_text(membership)
    return cgroup_cpu_limit(tmp_path, tmp_path / "self-cgroup")


def test_cgroup_v2_quota_is_read(tmp_path: Path) -> None:
    assert _cgroup(tmp_path, {"cpu.max": "150000 100000\n"}) == 1.5


def test_cgroup_without_quota_means_no_limit(tmp_path: Path) -> None:
    assert _cgroup(tmp_path, {"cpu.max": "max 100000\n"}) is None
    assert cgroup_cpu_limit(tmp_path / "missing", tmp_path / "missing-cgroup") is None


def test_cgroup_v2_nested_group_quota_is_read(tmp_path: Path) -> None:
    limit = _cgroup(tmp_path, {"cpu.max": "max 100000\n", "job/cpu.max": "200000 100000\n"},
                    membership="0::/job\n")
    assert limit == 2.0


def test_cgroup_v1_quota_is_read(tmp_path: Path) -> None:
    files = {"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n",
             "cpu/box/cpu.cfs_quota_us": "100000\n", "cpu/box/cpu.cfs_period_us": "100000\n"}
    assert _cgroup(tmp_path, files, membership="4:cpu,cpuacct:/box\n0::/\n") == 1.0


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs Linux CPU affinity")
def test_usable_cores_follow_the_affinity_mask_not_the_machine() -> None:
    """A process pinned to one core (cpuset, taskset) counts one core, whatever the machine has."""
    code = ("import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
            "from qabot.embedding.runtime import usable_cores; "
            "from qabot.embedding import OnnxEmbedder; "
            "print(usable_cores(), OnnxEmbedder().runtime.workers, os.cpu_count())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"}, check=True, timeout=120)
    cores, workers, machine = map(int, out.stdout.split())
    assert (cores, workers) == (1, 1)
    assert machine == os.cpu_count()
    assert 1 <= usable_cores() <= len(os.sched_getaffinity(0))


def test_parallel_map_keeps_order_and_runs_side_by_side() -> None:
    running, peak, lock = [0], [0], threading.Lock()

    def work(n: int) -> int:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.02 * (n % 3))  # out-of-order finishes
        with lock:
            running[0] -= 1
        return n * n

    assert list(parallel_map(work, range(12), workers=3)) == [n * n for n in range(12)]
    assert peak[0] > 1
    assert list(parallel_map(work, range(5), workers=1)) == [n * n for n in range(5)]


def test_encoder_threads_setting_reaches_the_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QABOT_ENCODER_THREADS", "3")
    settings = load_settings()
    assert settings.encoder_threads == 3
    embedder = load_embedder(settings.model, batch_size=8, threads=settings.encoder_threads)
    assert isinstance(embedder, OnnxEmbedder)
    described = embedder.runtime.describe()
    assert (described["workers"], described["batch_size"], described["intra_op_threads"]) == \
        (3, 8, 1)
    assert described["usable_cores"] == usable_cores()
    monkeypatch.delenv("QABOT_ENCODER_THREADS")
    assert load_settings().encoder_threads is None
    assert OnnxEmbedder().runtime.workers == usable_cores()


@pytest.mark.model
def test_parallel_batches_give_the_vectors_of_one_at_a_time(real_embedder: Embedder) -> None:
    """Batches side by side on one shared session: the same vectors, bit for bit, as batches one
    after the other, for documents and for sentence spans (so indexes do not change)."""
    lines = [line.strip() for line in SEED.read_text("utf-8").splitlines() if line.strip()]
    texts = lines * 2 + ["word " * 300, "x"]
    spans = [[(0, len(t) // 2), (len(t) // 2, len(t))] if len(t) > 40 else [] for t in texts]
    one = OnnxEmbedder(batch_size=4, threads=1)
    many = OnnxEmbedder(batch_size=4, threads=3)
    assert np.array_equal(one.embed_documents(texts), many.embed_documents(texts))
    done: list[int] = []
    vectors_one, spans_one = one.embed_with_spans(texts, spans)
    vectors_many, spans_many = many.embed_with_spans(texts, spans, progress=done.append)
    assert np.array_equal(vectors_one, vectors_many)
    assert all(np.array_equal(a, b) for a, b in zip(spans_one, spans_many))
    assert sum(done) == len(texts)
    reference = real_embedder.embed_documents(texts)  # the default batch size and threads
    assert float(np.min(np.sum(reference * vectors_many, axis=1))) >= 0.99999
