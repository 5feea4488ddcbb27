"""The Ray driver of a distributed build, run in a child process of ``qabot index``.

Ray ends its driver's process when the cluster under it goes away (the local raylet's death is
fatal to a driver), so the driver is not the qabot process: ``ray_source`` starts this one and
sends it windows of work through a pipe: ``("parse", [(name, bytes), ...])`` (files to parse),
``("embed", [NewPassage, ...])`` (passages to embed) and finally None. Each window runs as a
Ray Data pipeline of its own; the driver answers ``("info", text)`` once connected, then per
window its files parsed as ``("parsed", [pickled ParsedFile, ...])`` in the window's order, or
its vectors as ``("rows", start, vectors)``, as they come, and ``("window",)`` when it is done;
``("error", message, hint)`` on failure and ``("done",)`` at the end. A thread reads the next window while the pipeline
runs the current one, so the cluster never waits for the build, and the driver never holds
more than two windows. A child that dies without ``done`` is a cluster failure for the parent
to report.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator, Sequence
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ClusterError, QabotError
from ..index.plan import NewPassage
from .actor import EncoderActor, passage_rows
from .parser import file_rows, parse_batch
from .pool import EncoderSpec, PoolShape, RayOptions, pool_shape

if TYPE_CHECKING:
    from ray.data import Dataset

log = logging.getLogger(__name__)

RETRY_HINT = ("the live index is unchanged; check the cluster (`ray status --address ADDR`) "
              "and run `qabot index --engine ray` again, or build with --engine local")


class _Gone(Exception):
    """The build stopped listening: end quietly."""


def drive(conn: Connection, options: RayOptions, spec: EncoderSpec) -> None:
    """The child's entry point: run each window of work on the cluster as it comes, send the
    results back, until None."""
    commands: queue.Queue[tuple[str, Any] | None] = queue.Queue(maxsize=1)
    threading.Thread(target=_read_commands, args=(conn, commands), name="qabot-windows",
                     daemon=True).start()
    session: _Session | None = None
    final: tuple[Any, ...] = ("done",)
    try:
        while (command := commands.get()) is not None:
            if session is None:
                session = _Session(options, spec)
                _send(conn, ("info", session.describe()))
            for message in session.run(*command):
                _send(conn, message)
    except _Gone:
        final = ()
    except QabotError as exc:
        final = ("error", exc.message, exc.hint)
    except Exception as exc:  # Ray's failures share no base class (RayError, ConnectionError...)
        final = ("error", f"the Ray cluster at {options.address or 'this machine'} failed "
                          f"during the build: {first_line(exc)}", RETRY_HINT)
    finally:
        if session is not None:
            session.close()
    if final:
        try:
            conn.send(final)
        except OSError:
            pass
    conn.close()


def _read_commands(conn: Connection, commands: queue.Queue[tuple[str, Any] | None]) -> None:
    """Read windows from the build into ``commands`` (one waits there); None at the end."""
    while True:
        try:
            command = conn.recv()
        except (EOFError, OSError):  # the build went: end after the current window
            command = None
        commands.put(command)
        if command is None:
            return


def _send(conn: Connection, message: tuple[Any, ...]) -> None:
    try:
        conn.send(message)
    except OSError:
        raise _Gone from None


class _Session:
    """This driver's connection to the cluster and the pipelines it runs there."""

    def __init__(self, options: RayOptions, spec: EncoderSpec) -> None:
        import ray

        self.ray, self.options, self.spec = ray, options, spec
        self.connected_here = _connect(ray, options)
        self.nodes = [n["Resources"].get("CPU", 0.0) for n in ray.nodes() if n.get("Alive")]
        self.shape = pool_shape(self.nodes, options.actors, options.actor_cpus)
        _quiet_ray_data()

    def describe(self) -> str:
        """What the build runs on, for its log."""
        shape = self.shape
        return (f"Ray at {self.options.address or 'this machine'}: {len(self.nodes)} nodes, "
                f"{sum(self.nodes):g} CPUs; encoder pool of {shape.actors} actors x "
                f"{shape.cpus:g} CPUs, {shape.threads} ONNX threads each")

    def run(self, kind: str, work: list[Any]) -> Iterator[tuple[Any, ...]]:
        """The messages that answer one window of work."""
        if kind == "parse" and work:
            yield from self._parse(work)
        elif work:
            for batch in _pipeline(self.ray, work, self.shape, self.options,
                                   self.spec).iter_batches(batch_size=None,
                                                           batch_format="numpy"):
                for start, rows in runs(batch["position"], batch["vector"]):
                    yield ("rows", start, rows)
        yield ("window",)

    def _parse(self, files: list[tuple[str, bytes]]) -> Iterator[tuple[str, list[bytes]]]:
        """The pickled ``ParsedFile`` of each file, parsed by Ray Data tasks, sent on in file
        order as soon as the files before them are done (only those out of order wait)."""
        size = max(1, -(-len(files) // max(2, int(2 * sum(self.nodes)))))
        blocks = [file_rows([(i, name, data) for i, (name, data)
                             in enumerate(files[start:start + size], start)])
                  for start in range(0, len(files), size)]
        files.clear()  # the blocks hold the bytes now
        dataset = self.ray.data.from_arrow(blocks).map_batches(
            parse_batch, batch_size=None, batch_format="pyarrow", fn_kwargs={"spec": self.spec})
        del blocks
        waiting: dict[int, bytes] = {}
        done = 0
        for batch in dataset.iter_batches(batch_size=None, batch_format="pyarrow"):
            waiting.update(zip(batch.column("position").to_pylist(),
                               batch.column("parsed").to_pylist()))
            ready = []
            while done in waiting:
                ready.append(waiting.pop(done))
                done += 1
            if ready:
                yield ("parsed", ready)

    def close(self) -> None:
        """Leave the cluster (and stop the Ray this driver started)."""
        if self.connected_here:
            self.ray.shutdown()


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
    from ray.data import ActorPoolStrategy

    # Small windows are cut finer, so that every actor gets blocks to work on.
    size = max(1, min(options.batch_passages, -(-len(passages) // (2 * shape.actors))))
    blocks = [pa.table(passage_rows(passages[i:i + size])) for i in range(0, len(passages), size)]
    return ray.data.from_arrow(blocks).map_batches(
        EncoderActor, batch_size=size, batch_format="numpy",
        compute=ActorPoolStrategy(size=shape.actors), num_cpus=shape.cpus,
        fn_constructor_kwargs={"spec": spec, "threads": shape.threads})


def _quiet_ray_data() -> None:
    """Ray Data without its progress bars and notices (qabot reports progress itself)."""
    from ray.data import DataContext

    context = DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # its notices would reach the terminal


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
