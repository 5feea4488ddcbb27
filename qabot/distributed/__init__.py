"""Distributed builds: a build's new vectors computed by a pool of encoder actors on a Ray
cluster, streamed back as the ``VectorChunks`` ``index.build_index`` consumes.

``pool`` (what each actor loads, and the pool's shape from the cluster's CPUs), ``actor`` (the
encoder a Ray Data actor runs), ``driver`` (the Ray driver, a child process: connecting, the
Ray Data pipeline, streaming the vectors back) and ``ray_source`` (the ``VectorSource`` that
runs the driver and turns a cluster that is unreachable or goes away into ``ClusterError``). Only this package imports ``ray``, and only
inside functions: importing it costs nothing, and the local engine never loads Ray.
"""

from .pool import EncoderSpec, PoolShape, RayOptions, pool_shape
from .ray_source import ray_vector_source

__all__ = ["EncoderSpec", "PoolShape", "RayOptions", "pool_shape", "ray_vector_source"]
