"""Data parallelism over every local device with ``jax.sharding``.

One mesh axis, ``"data"``: batches are split along their batch axis, the
state (parameters, batch statistics, optimiser states) is replicated, and the
same jitted ``train_step`` runs unchanged: XLA's SPMD partitioner inserts the
gradient all-reduce, so there is no per-device code. Batch norm statistics and
losses are means over the whole (global) batch, so a sharded step computes the
same numbers as one device (up to float summation order).

``gan_jax.loop.train`` uses these over ``jax.local_devices()``: one host.
Multi-host: after ``jax.distributed.initialize()`` on every host,
``jax.devices()`` lists every device of every host and :func:`make_mesh`
spans them all, but :func:`shard_batch` places a whole host array and so does
not build a global batch from per-host slices (that needs
``jax.make_array_from_process_local_data``); the training loop does not do it.
"""

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

__all__ = ["DATA_AXIS", "make_mesh", "replicate", "shard_batch"]

DATA_AXIS = "data"


def make_mesh(devices=None) -> Mesh:
    """A 1-D mesh named ``"data"`` over ``devices`` (default: all devices)."""
    devices = jax.devices() if devices is None else devices
    return Mesh(np.asarray(devices), (DATA_AXIS,))


def replicate(tree, mesh: Mesh):
    """Place every array of ``tree`` (e.g. a GANState) whole on every device of ``mesh``."""
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))


def shard_batch(tree, mesh: Mesh, axis: int = 0):
    """Split every array of ``tree`` along ``axis`` over the ``"data"`` mesh axis.

    ``axis=0`` for ``(B, ...)`` batches; ``axis=1`` for train_step's
    ``(k, B, ...)`` real batches and ``(k, B)`` labels. The size along
    ``axis`` must be a multiple of the number of devices.
    """
    def put(x):
        if x.shape[axis] % mesh.size:
            raise ValueError(f"batch axis of size {x.shape[axis]} does not split over "
                             f"{mesh.size} devices; use a batch size divisible by {mesh.size}")
        spec = PartitionSpec(*([None] * axis + [DATA_AXIS]))
        return jax.device_put(x, NamedSharding(mesh, spec))
    return jax.tree.map(put, tree)
