"""Data parallelism over every device of every host with ``jax.sharding``.

One mesh axis, ``"data"``, over ``jax.devices()``: batches are split along
their batch axis, the state (parameters, batch statistics, optimiser states)
is replicated, and the same jitted ``train_step`` runs unchanged: XLA's SPMD
partitioner inserts the gradient all-reduce, so there is no per-device code.
Batch norm statistics and losses are means over the whole (global) batch, so
a sharded step computes the same numbers as one device (up to float
summation order).

Several hosts: every process calls :func:`initialize_distributed` first (it
wraps ``jax.distributed.initialize``); then ``jax.devices()`` lists the
devices of every host, :func:`make_mesh` spans them all, each process reads
only its own rows of the global batch (:func:`gan_jax.data.rows.process_rows`) and
:func:`shard_batch` assembles the global array from those per-process slices
(``jax.make_array_from_process_local_data``). On one process every function
here reduces to the single-host case.
"""

from typing import Optional

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from gan_jax.errors import UserError

__all__ = ["DATA_AXIS", "make_mesh", "replicate", "shard_batch",
           "initialize_distributed", "is_lead_process", "barrier"]

#: The name of the mesh axis the batch is split over.
DATA_AXIS = "data"


def make_mesh(devices=None) -> Mesh:
    """A 1-D mesh named ``"data"`` over ``devices`` (default: all devices of all hosts)."""
    devices = jax.devices() if devices is None else devices
    return Mesh(np.asarray(devices), (DATA_AXIS,))


def replicate(tree, mesh: Mesh):
    """Place every array of ``tree`` (e.g. a GANState) whole on every device of ``mesh``.

    With several processes each one passes the same values (the state is
    initialised from the same seed everywhere)."""
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))


def shard_batch(tree, mesh: Mesh, axis: int = 0):
    """The global batch, split along ``axis`` over the ``"data"`` mesh axis,
    from this process's rows of it.

    ``axis=0`` for ``(B, ...)`` batches; ``axis=1`` for train_step's
    ``(k, B, ...)`` real batches and ``(k, B)`` labels. Each process passes its
    own ``B / process_count`` rows (:func:`gan_jax.data.rows.process_rows`); on one process that
    is the whole batch. The rows must split over this process's devices.
    """
    local_devices = len(mesh.local_devices)   # this process's devices (cached by the mesh)

    def put(x):
        if x.shape[axis] % local_devices:
            raise ValueError(f"batch axis of size {x.shape[axis]} does not split over "
                             f"{local_devices} devices; use a batch size divisible by {local_devices}")
        spec = PartitionSpec(*([None] * axis + [DATA_AXIS]))
        return jax.make_array_from_process_local_data(NamedSharding(mesh, spec), np.asarray(x))
    return jax.tree.map(put, tree)


def initialize_distributed(coordinator: Optional[str] = None, num_processes: Optional[int] = None,
                           process_id: Optional[int] = None) -> None:
    """Join a multi-host run: ``jax.distributed.initialize`` on every process.

    With no arguments JAX detects the cluster (Cloud TPU, SLURM, Open MPI);
    elsewhere pass the coordinator's ``host:port`` (process 0's address), the
    number of processes and this process's id. Failures become a UserError.
    A process that has already joined stays in its run (a no-op).
    """
    given = [v is not None for v in (coordinator, num_processes, process_id)]
    if any(given) and not all(given):
        raise UserError("--coordinator, --num-processes and --process-id go together: pass all three "
                        "(or none, on a cluster JAX detects by itself)")
    if num_processes is not None and not 0 <= process_id < num_processes:
        raise UserError(f"--process-id must be in 0..{num_processes - 1}, got {process_id}")
    if jax.distributed.is_initialized():
        return
    try:
        jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes,
                                   process_id=process_id)
    except (RuntimeError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"could not join the distributed run ({first}); check --coordinator "
                        "(process 0's host:port, reachable from every host) and the process counts") from None


def is_lead_process() -> bool:
    """Whether this process writes logs, figures and messages (process 0)."""
    return jax.process_index() == 0


def barrier(name: str) -> None:
    """Wait until every process reaches this point (no-op on one process)."""
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices(name)
