"""The Ray driver of a distributed build, run in a child process of ``qabot index``.

Ray ends its driver's process when the cluster under it goes away (the local raylet's death is
fatal to a driver), so the driver is not the qabot process: ``ray_source`` starts this one,
sends it the passages and reads back messages through a pipe: ``("info", text)``,
``("rows", start, vectors)``, ``("error", message, hint)`` and finally ``("done",)``. A child
that dies without ``done`` is a cluster failure for the parent to report.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ClusterError, QabotError
from ..index.plan import NewPassage
from .actor import EncoderActor, passage_rows
from .pool import EncoderSpec, PoolShape, RayOptions, pool_shape

if TYPE_CHECKING:
    from ray.data import Dataset

log = logging.getLogger(__name__)

RETRY_HINT = ("the live index is unchanged; check the cluster (`ray status --address ADDR`) "
              "and run `qabot index --engine ray` again, or build with --engine local")


def drive(conn: Connection, options: RayOptions, spec: EncoderSpec) -> None:
    """The child's entry point: read the passages (lists, then None), embed them on the
    cluster, send the vectors back as they come."""
    passages: list[NewPassage] = []
    while (part := conn.recv()) is not None:
        passages.extend(part)
    messages = _embed(passages, options, spec)
    final: tuple[Any, ...] = ("done",)
    try:
        for message in messages:
            try:
                conn.send(message)
            except OSError:  # the build stopped listening: end the pipeline, leave quietly
                messages.close()
                return
    except QabotError as exc:
        final = ("error", exc.message, exc.hint)
    except Exception as exc:  # Ray's failures share no base class (RayError, ConnectionError...)
        final = ("error", f"the Ray cluster at {options.address or 'this machine'} failed "
                          f"during the build: {first_line(exc)}", RETRY_HINT)
    try:
        conn.send(final)
    except OSError:
        pass
    conn.close()


def _embed(passages: Sequence[NewPassage], options: RayOptions,
           spec: EncoderSpec) -> Iterator[tuple[Any, ...]]:
    import ray

    connected_here = _connect(ray, options)
    try:
        nodes = [n["Resources"].get("CPU", 0.0) for n in ray.nodes() if n.get("Alive")]
        shape = pool_shape(nodes, options.actors, options.actor_cpus)
        yield ("info", f"embedding {len(passages)} passages on Ray ({len(nodes)} nodes, "
                       f"{sum(nodes):g} CPUs): {shape.actors} actors x {shape.cpus:g} CPUs, "
                       f"{shape.threads} ONNX threads each")
        dataset = _pipeline(ray, passages, shape, options, spec)
        for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
            for start, rows in runs(batch["position"], batch["vector"]):
                yield ("rows", start, rows)
    finally:
        if connected_here:
            ray.shutdown()


def _connect(ray: Any, options: RayOptions) -> bool:
    """Join the cluster, or start Ray here when no address is set; True when this call did."""
    if ray.is_initialized():
        return False
    address = options.address
    try:
        if address:
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
        else:
            ray.init(include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    except Exception as exc:
        raise ClusterError(f"cannot join the Ray cluster at {address or 'this machine'}: "
                           f"{first_line(exc)}", hint=RETRY_HINT) from exc
    return True


def _pipeline(ray: Any, passages: Sequence[NewPassage], shape: PoolShape, options: RayOptions,
              spec: EncoderSpec) -> Dataset:
    """Arrow blocks of passages → ``map_batches`` over a fixed pool of encoder actors."""
    import pyarrow as pa
    from ray.data import ActorPoolStrategy, DataContext

    context = DataContext.get_current()
    context.enable_progress_bars = False  # qabot reports progress itself
    context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # its notices would reach the terminal
    # Small builds are cut finer, so that every actor gets blocks to work on.
    size = max(1, min(options.batch_passages, -(-len(passages) // (2 * shape.actors))))
    blocks = [pa.table(passage_rows(passages[i:i + size])) for i in range(0, len(passages), size)]
    return ray.data.from_arrow(blocks).map_batches(
        EncoderActor, batch_size=size, batch_format="numpy",
        compute=ActorPoolStrategy(size=shape.actors), num_cpus=shape.cpus,
        fn_constructor_kwargs={"spec": spec, "threads": shape.threads})


def runs(positions: np.ndarray, vectors: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """A batch's rows as runs of consecutive ``new_texts`` positions (a run never splits a
    passage from its sentences: the actors return whole passages)."""
    order = np.argsort(positions, kind="stable")
    ordered = positions[order]
    breaks = np.flatnonzero(np.diff(ordered) != 1) + 1
    for start, end in zip(np.r_[0, breaks], np.r_[breaks, len(order)]):
        yield int(ordered[start]), np.ascontiguousarray(vectors[order[start:end]],
                                                        dtype=np.float32)


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's text (Ray's can run to a page)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0][:300] if lines else type(exc).__name__
