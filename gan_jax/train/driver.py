"""The one training driver: N seeds (N = 1 included) trained in one compiled program.

:func:`train_members` trains the stacked states of N members chunk by chunk
(:func:`gan_jax.train.sweep.make_chunk_fn`: the members vmapped, up to
``steps_per_call`` steps scanned per dispatch), feeding each member its own
data stream, from the host or drawn on the device. At every chunk boundary it
calls its hooks with a :class:`Boundary`. It writes nothing: the command
line's loop (:func:`gan_jax.train.loop.train`) is this driver plus hooks that
log, draw samples, evaluate, checkpoint and handle divergence; a JAX user
calls it directly and gets the states in memory::

    from gan_jax.config.schema import get_config
    from gan_jax.train.driver import train_members
    from gan_jax.train.sweep import member

    config = get_config("ring8", ["steps=2000", "steps_per_call=500"])
    states, diverged = train_members(config, seeds=[0, 1, 2, 3, 4])
    seed_3 = member(states, 3)          # an ordinary GANState

Step ``t`` of the member with seed ``s`` uses the key ``fold_in(PRNGKey(s), t)``
and that seed's own data stream, so member ``s`` of a sweep computes what a
single run with ``seed=s`` computes. A member whose losses or state become
NaN or inf is frozen at its state before that step, marked dead and stays so;
the others go on.
"""

from typing import Callable, NamedTuple, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.config.build import batches_per_step
from gan_jax.config.schema import Config
from gan_jax.core.state import GANState
from gan_jax.data.sources import make_source
from gan_jax.train.memory import check_training_memory
from gan_jax.train.parallel import replicate, shard_batch
from gan_jax.train.sweep import (
    chunk_stops,
    host_chunk,
    init_members,
    make_chunk_fn,
    member_config,
)

__all__ = ["Boundary", "train_members"]


class Boundary(NamedTuple):
    """What a hook sees at the end of a chunk.

    Attributes:
      done: steps done so far (the chunk's last step number + 1).
      states: the stacked states ``(N, ...)`` (on the device; the next chunk donates their
        buffers, so a hook that keeps a state copies it, e.g. with ``jax.device_get``).
      alive: ``(N,)`` bool on the host: the members still training.
      died: ``{i: t}`` of the members that died in this chunk, ``t`` the step whose update was refused.
      metrics: ``{name: (N,)}`` of the chunk's last step (on the device).
      positions: ``(N,)`` int data positions (real batches drawn) of each member after the chunk.
    """
    done: int
    states: GANState
    alive: np.ndarray
    died: dict
    metrics: dict
    positions: np.ndarray


def train_members(config: Config, seeds: Sequence[int], states: Optional[GANState] = None,
                  start_step: int = 0, *, hooks: Sequence[Callable[[Boundary], None]] = (),
                  stop_at: Sequence[int] = (), chunk_fn: Optional[Callable] = None, sources=None,
                  mesh=None, positions: Optional[Sequence[int]] = None,
                  alive: Optional[Sequence[bool]] = None) -> Tuple[GANState, dict]:
    """Train one member per seed from ``start_step`` to ``config.steps``; returns the stacked
    states and ``{seed: t}`` of the members that diverged (frozen at their last finite state,
    ``t`` the step whose update was refused).

    Args:
      config: the run's config (``seed`` is replaced by each member's).
      seeds: the members' seeds.
      states: stacked states to continue from (default: each seed's initial state; the
        training's memory is checked first and a run that cannot fit is refused).
      start_step: the step ``states`` are at.
      hooks: called in order at every chunk boundary with a :class:`Boundary`.
      stop_at: extra chunk boundaries (besides the multiples of ``steps_per_call``).
      chunk_fn: the compiled program of an earlier call (``make_chunk_fn(config, source, mesh)``), reused.
      sources: one data source per member (default: :func:`gan_jax.data.sources.make_source` of each seed).
      mesh: a device mesh the batches are split over and the state replicated on (default: none).
      positions: each member's data position at ``start_step`` (default: ``start_step * k``).
      alive: which members still train (default: all); a dead member stays frozen.
    """
    seeds = tuple(int(s) for s in seeds)
    n, k = len(seeds), batches_per_step(config)
    if states is None:
        check_training_memory(config, n)   # from shapes, before any state is allocated
        states = init_members(config, seeds)
    sources = [make_source(member_config(config, s)) for s in seeds] if sources is None else sources
    chunk = make_chunk_fn(config, sources[0], mesh) if chunk_fn is None else chunk_fn
    place = (lambda x: x) if mesh is None else (lambda x: replicate(x, mesh))
    positions = np.full(n, start_step * k, np.int64) if positions is None else np.asarray(positions, np.int64)
    alive_host = np.ones(n, bool) if alive is None else np.asarray(alive, bool)
    alive_dev = place(jnp.asarray(alive_host))
    died_at = place(jnp.full((n,), -1, jnp.int32))
    seed_array = place(jnp.asarray(seeds, jnp.int32))
    on_device = getattr(sources[0], "on_device", False)
    iterators = [src.iterate(int(p)) if ok and not on_device else None
                 for src, p, ok in zip(sources, positions, alive_host)]
    arrays = (jax.device_put(sources[0].device_arrays) if mesh is None else place(sources[0].device_arrays)
              ) if on_device else None
    rows = config.batch_size if mesh is None else config.batch_size // jax.process_count()   # this process's
    shape = (rows,) + tuple(sources[0].data_shape)
    labelled = config.conditional != "none"
    stops = sorted(set(chunk_stops(start_step, config.steps, config.steps_per_call))
                   | {s for s in stop_at if start_step < s < config.steps})
    done = start_step
    for stop in stops:
        if on_device:
            where = place(jnp.asarray(positions, jnp.int32))
            states, alive_dev, died_at, metrics = chunk(states, alive_dev, died_at, seed_array, jnp.int32(done),
                                                        where, arrays, steps=stop - done)
        else:
            batch = host_chunk(iterators, stop - done, k, labelled, shape)
            images, labels = batch if mesh is None else shard_batch(batch, mesh, axis=3)
            states, alive_dev, died_at, metrics = chunk(states, alive_dev, died_at, seed_array, jnp.int32(done),
                                                        images, labels)
        positions = positions + np.where(alive_host, (stop - done) * k, 0)
        done = stop
        now_alive = np.asarray(jax.device_get(alive_dev))
        newly_dead = np.flatnonzero(alive_host & ~now_alive)
        died = {}
        if newly_dead.size:
            steps_of_death = np.asarray(jax.device_get(died_at))
            died = {int(i): int(steps_of_death[i]) for i in newly_dead}
            for i in newly_dead:
                iterators[i] = None
        alive_host = now_alive
        for hook in hooks:
            hook(Boundary(done, states, alive_host, died, metrics, positions))
    final = np.asarray(jax.device_get(died_at))
    return states, {s: int(d) for s, d in zip(seeds, final) if d >= 0}
