"""What a distributed build asks of the cluster: the encoder every actor loads (``EncoderSpec``),
the connection and batching options (``RayOptions``) and the actor pool's shape, sized from the
cluster's CPUs (``pool_shape``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

#: CPUs per actor never go below this when a pool is squeezed onto small nodes.
MIN_ACTOR_CPUS = 0.05


@dataclass(frozen=True, slots=True)
class EncoderSpec:
    """The embedder each actor loads through qabot's own ``load_embedder``, and what the driver's
    embedder is (an actor whose model differs refuses to embed: the index names one model)."""

    model: str
    batch_size: int
    encoder: str
    cache_dir: Path | None
    model_id: str
    pools_sentences: bool


@dataclass(frozen=True, slots=True)
class RayOptions:
    """Where the cluster is and how the work is cut (the ``ray_*`` settings)."""

    address: str | None = None  # host:port of the head, "auto", or None: start Ray here
    actors: int | None = None  # None: one per ``ceil(actor_cpus)`` CPUs of each node
    actor_cpus: float = 0.75
    batch_passages: int = 256
    connect_timeout_s: float = 10.0
    #: The work the driver holds at once (two windows: one running, the next waiting): the
    #: build's memory stays the same however many files and passages it sends.
    window_files: int = 512
    window_bytes: int = 16 * 2**20
    window_passages: int = 16_384


@dataclass(frozen=True, slots=True)
class PoolShape:
    """How many encoder actors run, the CPUs each reserves, and its ONNX Runtime threads."""

    actors: int
    cpus: float
    threads: int


def _capacity(node_cpus: Sequence[float], cpus: float) -> int:
    """Actors of ``cpus`` CPUs each that fit on the nodes (an actor never spans two nodes)."""
    return sum(math.floor(n / cpus + 1e-9) for n in node_cpus)


def pool_shape(node_cpus: Sequence[float], actors: int | None = None,
               actor_cpus: float = 0.75) -> PoolShape:
    """The pool for nodes with ``node_cpus`` CPUs each: ``actors`` (default one per
    ``ceil(actor_cpus)`` CPUs of every node) of ``actor_cpus`` CPUs, shrunk until they all fit.

    Below one CPU per actor each node keeps a share for Ray Data's own tasks: a pool that takes
    every CPU starves them and the pipeline hangs (2 actors x 1 CPU on a 2-CPU node did).
    """
    threads = max(1, math.ceil(actor_cpus))
    count = actors or max(1, sum(int(n // threads) for n in node_cpus))
    cpus = actor_cpus
    while _capacity(node_cpus, cpus) < count and cpus > MIN_ACTOR_CPUS:
        cpus = max(MIN_ACTOR_CPUS, round(cpus * 0.8, 4))
    return PoolShape(actors=count, cpus=cpus, threads=threads)
