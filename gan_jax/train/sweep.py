"""Many GANs in one compiled program: N members (seeds) vmapped, steps scanned.

The training state of N runs is one stacked :class:`~gan_jax.core.state.GANState`
whose every array has a leading member axis ``(N, ...)``. One dispatch runs
``T = steps_per_call`` steps of all N members: ``jax.vmap`` over the members
and, for ``T > 1``, ``jax.lax.scan`` over the steps (the PureJaxRL pattern),
so the host loops once per chunk instead of once per step per run. A single
run is the same program with N = 1. This module builds that program and its
inputs; :func:`gan_jax.train.driver.train_members` runs it.

Divergence: a member whose losses or state become NaN or inf at a step is
frozen at its state before that step (``jnp.where`` per member, inside the
compiled program), marked dead, and stays so; the others go on.
"""

import dataclasses
import functools
from typing import Callable, Iterator, List, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from gan_jax.config.build import batches_per_step, init_state
from gan_jax.config.schema import Config
from gan_jax.core.state import Batch, GANState
from gan_jax.core.steps import naive_train_step, train_step
from gan_jax.train.parallel import DATA_AXIS

__all__ = ["member_config", "init_members", "member", "stack_members", "make_chunk_fn",
           "chunk_stops", "host_chunk"]


def member_config(config: Config, seed: int) -> Config:
    """The config of the sweep member with ``seed``."""
    return dataclasses.replace(config, seed=int(seed))


def init_members(config: Config, seeds: Sequence[int]) -> GANState:
    """The initial states of the members, stacked: every array ``(N, ...)``.

    Member ``i`` is ``init_state(config, PRNGKey(seeds[i]))``, the state a
    single run with ``seed=seeds[i]`` starts from.
    """
    keys = jnp.stack([jax.random.PRNGKey(int(s)) for s in seeds])
    return _init_program(config)(keys)


@functools.lru_cache(maxsize=32)
def _init_program(config: Config) -> Callable:
    """``keys (N, 2) -> stacked initial states``, compiled once per config (a config is hashable)."""
    return jax.jit(jax.vmap(lambda k: init_state(config, k)))


def member(states: GANState, i: int) -> GANState:
    """Member ``i`` of stacked states, as an ordinary GANState."""
    return jax.tree.map(lambda x: x[i], states)


def stack_members(members: Sequence[GANState]) -> GANState:
    """Ordinary GANStates stacked along a new leading member axis."""
    return jax.tree.map(lambda *xs: jnp.stack(xs), *members)


def _all_finite(tree) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)
              if jnp.issubdtype(jnp.asarray(x).dtype, jnp.inexact)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)


class _Program(NamedTuple):
    """The settings of a config that the compiled chunk depends on (besides the state's
    static fields, which ``jax.jit`` keys on itself): equal settings share one program."""
    naive: bool
    naive_tol: float
    naive_max_d_steps: int
    batches_per_step: int
    labelled: bool

    @classmethod
    def of(cls, config: Config) -> "_Program":
        return cls(config.naive, config.naive_tol, config.naive_max_d_steps, batches_per_step(config),
                   config.conditional != "none")

    def step(self) -> Callable:
        """``(state, batches (k, B, ...), labels (k, B) | None, key) -> (state, metrics)`` for one member."""
        if self.naive:
            def naive(state, batches, labels, key):
                return naive_train_step(state, Batch(batches[0], None if labels is None else labels[0]), key,
                                        tol=self.naive_tol, max_d_steps=self.naive_max_d_steps)
            return naive
        return lambda state, batches, labels, key: train_step(state, Batch(batches, labels), key)


def make_chunk_fn(config: Config, source=None, mesh=None) -> Callable:
    """The compiled chunk of training for ``config``.

    Host-fed data (``source`` None, or a source that streams from the host):
    ``chunk(states, alive, died_at, seeds, first_step, images, labels) -> (states, alive, died_at, metrics)``.
    Data on the device (a source with ``on_device``, see :mod:`gan_jax.data.sources`):
    ``chunk(states, alive, died_at, seeds, first_step, positions, arrays, steps=T)``, where the
    real batches are drawn inside the program: batch j of step t of member i is
    ``source.device_batch(arrays, seeds[i], positions[i] + t k + j)``, the batch a host-fed run
    of that seed would get at that data position.

    Shapes (N members, T steps, k batches per step, B batch):
      states: stacked GANState ``(N, ...)``; alive: ``(N,)`` bool; died_at: ``(N,)`` int32
      (the step whose update was refused, -1 while alive); seeds: ``(N,)`` int32;
      first_step: scalar int32, the step number of the chunk's first step; positions: ``(N,)``
      int32 data positions; images: ``(T, N, k, B, ...)`` float32; labels: ``(T, N, k, B)`` int32 or None.

    Returns the states after T steps (a dead member unchanged since it died), the
    alive mask, the steps of death, and the metrics of the chunk's last step ``{name: (N,)}``.

    Step ``t`` of member ``i``: ``new, m = step(state_i, images[t, i], labels[t, i],
    fold_in(PRNGKey(seeds[i]), first_step + t))``; it is kept only when the member is
    alive and ``m`` and ``new`` are finite, else the member keeps its state and dies.
    With T = 1 the step runs without a scan (XLA:CPU runs convolutions slower in a scan body).

    One program per distinct setting: a config whose program settings, on-device batch
    function (``source.device_batch``, hashable, holding no arrays) and mesh equal an earlier
    call's gets the same compiled function back (a resumed run, or a second sweep, in the same
    process does not compile again).
    """
    on_device = source is not None and getattr(source, "on_device", False)
    return _chunk_program(_Program.of(config), source.device_batch if on_device else None, mesh)


@functools.lru_cache(maxsize=64)
def _chunk_program(program: _Program, device_batch: Optional[Callable], mesh) -> Callable:
    """:func:`make_chunk_fn`'s program, built once per ``(program, device_batch, mesh)``."""
    step, k = program.step(), program.batches_per_step

    def member_step(state, alive, died_at, seed, t, images, labels):
        new, metrics = step(state, images, labels, jax.random.fold_in(jax.random.PRNGKey(seed), t))
        ok = alive & _all_finite(metrics) & _all_finite(new)
        kept = jax.tree.map(lambda a, b: jnp.where(ok, a, b), new, state)
        died_at = jnp.where(alive & ~ok, t, died_at)
        return kept, ok, died_at, metrics

    vstep = jax.vmap(member_step, in_axes=(0, 0, 0, 0, None, 0, 0))

    def chunk(states, alive, died_at, seeds, first_step, images, labels):
        if images.shape[0] == 1:
            states, alive, died_at, metrics = vstep(states, alive, died_at, seeds, first_step,
                                                    images[0], None if labels is None else labels[0])
            return states, alive, died_at, metrics

        def body(carry, xs):
            t, imgs, labs = xs
            states, alive, died_at, metrics = vstep(*carry, seeds, t, imgs, labs)
            return (states, alive, died_at), metrics

        steps = first_step + jnp.arange(images.shape[0], dtype=jnp.int32)
        (states, alive, died_at), metrics = jax.lax.scan(body, (states, alive, died_at),
                                                         (steps, images, labels))
        return states, alive, died_at, jax.tree.map(lambda m: m[-1], metrics)

    if device_batch is None:
        return jax.jit(chunk, donate_argnums=(0,))

    def device_chunk(states, alive, died_at, seeds, first_step, positions, arrays, steps):
        n = seeds.shape[0]
        offsets = (jnp.arange(steps)[:, None, None] * k + jnp.arange(k)[None, None, :])   # (T, 1, k)
        where = (positions[None, :, None] + offsets).reshape(-1)                           # T N k
        who = jnp.broadcast_to(seeds[None, :, None], (steps, n, k)).reshape(-1)
        images, labels = jax.vmap(lambda s, p: device_batch(arrays, s, p))(who, where)
        if not program.labelled:
            labels = None   # unconditional models take no labels, even where the data has them
        images = images.reshape((steps, n, k) + images.shape[1:])
        labels = None if labels is None else labels.reshape((steps, n, k) + labels.shape[1:])
        if mesh is not None and mesh.size > 1:   # data parallel: split each batch over the devices
            images, labels = jax.lax.with_sharding_constraint(
                (images, labels), NamedSharding(mesh, PartitionSpec(None, None, None, DATA_AXIS)))
        return chunk(states, alive, died_at, seeds, first_step, images, labels)

    return jax.jit(device_chunk, donate_argnums=(0,), static_argnames=("steps",))


def chunk_stops(start: int, steps: int, steps_per_call: int, event_every: Sequence[int] = ()) -> List[int]:
    """The chunk boundaries after ``start`` up to ``steps``: the multiples of ``steps_per_call``
    and of every interval in ``event_every`` (0 = none), and ``steps`` itself, in order."""
    stops = {steps} if steps > start else set()
    for every in (steps_per_call, *event_every):
        if every > 0:
            stops.update(range((start // every + 1) * every, steps, every))
    return sorted(stops)


def host_chunk(iterators: Sequence[Optional[Iterator]], steps: int, batches_per_step: int, labelled: bool,
               shape: tuple):
    """``(images (T, N, k, B, ...), labels (T, N, k, B) | None)`` drawn from one batch iterator
    per member (each yields ``(images (B, ...), labels (B,) | None)``, ``images.shape == shape``);
    a member whose iterator is None (a frozen member) gets zeros and draws nothing."""
    n = len(iterators)
    images = np.zeros((steps, n, batches_per_step) + tuple(shape), np.float32)
    labels = np.zeros((steps, n, batches_per_step, shape[0]), np.int32) if labelled else None
    for t in range(steps):
        for i, it in enumerate(iterators):
            if it is None:
                continue
            for j in range(batches_per_step):
                x, y = next(it)
                images[t, i, j] = x
                if labelled:
                    labels[t, i, j] = y
    return images, labels
