"""Distributed builds: a build's new and changed seed files parsed, and its new passages
embedded, on a Ray cluster, streamed back into the tables and ``VectorChunks``
``index.build_index`` consumes.

``pool`` (what each actor loads, the pool's shape from the cluster's CPUs, the windows of work),
``parser`` (the parse stage: the local engine's per-file function on a Ray Data task),
``actor`` (the encoder a Ray Data actor runs), ``driver`` (the Ray driver, a child process:
connecting, one Ray Data pipeline per window, results back as they come) and ``ray_source``
(``RayEngine``: the build's ``SeedParser`` and ``VectorSource``, which runs the driver and
turns a cluster that is unreachable or goes away into ``ClusterError``). Only this package
imports ``ray`` (and pyarrow), and only inside functions: importing it costs nothing, and the
local engine never loads Ray.
"""

from .pool import EncoderSpec, PoolShape, RayOptions, pool_shape
from .ray_source import RayEngine

__all__ = ["EncoderSpec", "PoolShape", "RayEngine", "RayOptions", "pool_shape"]
