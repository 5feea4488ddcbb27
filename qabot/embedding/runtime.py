"""How the ONNX encoder uses the CPU: the cores this process may really use, the session options,
and running batches side by side on them.

``os.cpu_count()`` is the machine's count, not this process's: a container limited by a cgroup
CPU quota, or a process pinned to a few cores (cpuset, ``taskset``), sees more CPUs than it may
run on. Sized from it, ONNX Runtime's intra-op pool starts more threads than there are cores;
they spin waiting for work and every operator waits for the slowest one, so a build slows down
several-fold while torch (whose OpenMP pool follows the affinity mask) does not. Batch encoding
here therefore runs whole batches in parallel, one per usable core, each on a single-threaded
run of one shared session (ONNX Runtime releases the GIL and shares the weights): no per-operator
barrier, no spinning, and a core taken by another process slows one batch, not every operator.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

from ..errors import EmbeddingError

log = logging.getLogger(__name__)

_T = TypeVar("_T")
_R = TypeVar("_R")
_CGROUP_ROOT = Path("/sys/fs/cgroup")


def cgroup_cpu_limit(root: Path = _CGROUP_ROOT, proc_cgroup: Path = Path("/proc/self/cgroup")
                     ) -> float | None:
    """CPUs allowed by this process's cgroup quota (v2 ``cpu.max`` or v1 ``cfs_quota_us``),
    ``None`` when there is no quota or it cannot be read."""
    candidates = [root / "cpu.max", root / "cpu" / "cpu.cfs_quota_us"]
    try:
        for line in proc_cgroup.read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if controllers == "" and path not in ("", "/"):
                candidates.append(root / path.lstrip("/") / "cpu.max")
            elif "cpu" in controllers.split(",") and path not in ("", "/"):
                candidates.append(root / "cpu" / path.lstrip("/") / "cpu.cfs_quota_us")
    except (OSError, ValueError):
        pass
    limits = [limit for limit in map(_read_quota, candidates) if limit is not None]
    return min(limits) if limits else None


def _read_quota(path: Path) -> float | None:
    try:
        if path.name == "cpu.max":
            quota, period = path.read_text().split()[:2]
        else:
            quota = path.read_text().strip()
            period = (path.parent / "cpu.cfs_period_us").read_text().strip()
        if quota == "max" or int(quota) <= 0 or int(period) <= 0:
            return None
        return int(quota) / int(period)
    except (OSError, ValueError):
        return None


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity, capped by the cgroup quota
    (rounded up), at least 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_limit()
    if quota is not None:
        cores = min(cores, math.ceil(quota))
    return max(cores, 1)


@dataclass(frozen=True)
class RuntimeSettings:
    """What a batch-encoding run uses; ``describe`` is what ``make bench`` prints."""

    workers: int
    batch_size: int
    usable_cores: int
    machine_cpus: int
    intra_op_threads: int = 1
    inter_op_threads: int = 1
    execution_mode: str = "ORT_SEQUENTIAL"
    graph_optimization: str = "ORT_ENABLE_ALL"
    cpu_mem_arena: bool = True
    mem_pattern: bool = True
    spinning: bool = False
    #: What batches are sorted by before being cut (``OnnxEmbedder._batches``): least padding.
    batch_order: str = "token count"

    def describe(self) -> dict[str, Any]:
        """The settings as a flat dict (JSON-friendly)."""
        return asdict(self)


def make_session(path: Path, settings: RuntimeSettings) -> Any:
    """An ONNX Runtime CPU session for ``path`` with ``settings``' options."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = settings.intra_op_threads
    options.inter_op_num_threads = settings.inter_op_threads
    options.execution_mode = getattr(ort.ExecutionMode, settings.execution_mode)
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel,
                                               settings.graph_optimization)
    options.enable_cpu_mem_arena = settings.cpu_mem_arena
    options.enable_mem_pattern = settings.mem_pattern
    options.add_session_config_entry("session.intra_op.allow_spinning",
                                     "1" if settings.spinning else "0")
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise EmbeddingError(f"cannot load the ONNX model {path}: {exc}",
                             hint="delete it to re-export, or set encoder = \"torch\"") from exc


def parallel_map(work: Callable[[_T], _R], items: Iterable[_T], workers: int) -> Iterator[_R]:
    """``work`` over ``items`` on ``workers`` threads, results in order; inline for one worker.
    At most ``2 × workers`` items are in flight, so results do not pile up in memory."""
    if workers <= 1:
        yield from map(work, items)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="qabot-encode") as pool:
        pending = []
        for item in items:
            pending.append(pool.submit(work, item))
            if len(pending) >= 2 * workers:
                yield pending.pop(0).result()
        for future in pending:
            yield future.result()
