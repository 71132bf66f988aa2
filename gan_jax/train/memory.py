"""Memory estimates made before anything is allocated or compiled, and the refusals they lead to (shell).

Every training (a single run, a sweep, an unrolled GAN) is estimated from
shapes alone (``jax.eval_shape`` of its initial state and of its networks'
activations: nothing is allocated, compiled or run) and refused in one line
naming the estimate and the limit when it cannot fit. The limit is the
device's memory on an accelerator (``bytes_limit``) and, on the CPU, the least
of the host's physical memory, the cgroup's memory limit (``memory.max``, or
v1's ``memory.limit_in_bytes``) and the address space left under
``RLIMIT_AS``. What slips past the estimate and still runs out of memory in
XLA (``RESOURCE_EXHAUSTED``) is turned into one line by
:func:`refuse_out_of_memory`.
"""

import dataclasses
import functools
import math
import os
import resource
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp

from gan_jax.config.build import batches_per_step, check_config, data_shape, init_state
from gan_jax.config.schema import Config
from gan_jax.core.state import GANState
from gan_jax.errors import UserError

__all__ = ["unroll_memory_bytes", "available_memory_bytes", "memory_limit", "MemoryLimit", "check_unroll",
           "abstract_state", "training_memory_parts", "sweep_memory_bytes", "check_sweep_memory",
           "check_training_memory", "refuse_out_of_memory", "CGROUP_ROOT"]

Params = Any

# Per unrolled step the backward pass keeps the parameters, the gradient and
# the two Adam moments (4 copies of the parameters), and the forward
# activations of the real and the fake batch with their pre-activations.
_PARAM_COPIES_PER_STEP = 4
_ACTIVATION_COPIES_PER_STEP = 4
# Refuse a training whose estimate exceeds this share of the memory (the rest is
# left to the data, XLA's buffers and the estimate's error).
_MEMORY_SHARE = 0.5
#: Where the cgroup file system is mounted (a module constant so that tests can point it elsewhere).
CGROUP_ROOT = "/sys/fs/cgroup"


def _tree_bytes(tree) -> int:
    return sum(math.prod(x.shape) * jnp.dtype(x.dtype).itemsize for x in jax.tree.leaves(tree))


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


def unroll_memory_bytes(discriminator, d_params: Params, batch_shape, steps: int,
                        d_batch_stats: Optional[Params] = None, labelled: bool = False) -> int:
    """Estimated bytes kept for the backward pass of a k-step unroll.

    ``bytes ~= k * (4 |theta_D| + 4 * 2 * |activations of D on one batch|)``:
    parameters, gradient and two Adam moments per step, and the activations
    of the real and the fake batch. The activations come from
    ``jax.eval_shape`` with Flax's ``capture_intermediates``, so nothing is
    compiled or run.

    Args:
      discriminator: the Flax module D.
      d_params: its parameters.
      batch_shape: ``(B, ...)``, the shape of one real batch.
      steps: k.
      d_batch_stats: its batch statistics, for models with batch norm.
      labelled: D is class-conditional (it takes labels ``(B,)``).
    """
    return steps * _unroll_step_bytes(_tree_bytes(d_params), _activation_bytes(discriminator, d_params, d_batch_stats,
                                                                               batch_shape, labelled))


def _unroll_step_bytes(d_param_bytes: int, d_activation_bytes: int) -> int:
    """Bytes one unrolled step keeps: 4 copies of D's parameters, and D's activations on the real
    and the fake batch, 4 copies each."""
    return _PARAM_COPIES_PER_STEP * d_param_bytes + _ACTIVATION_COPIES_PER_STEP * 2 * d_activation_bytes


def _activation_bytes(module, params: Params, batch_stats: Optional[Params], input_shape,
                      labelled: bool = False) -> int:
    """Bytes of a network's intermediate activations on one batch of shape ``input_shape``, from
    ``jax.eval_shape`` with Flax's ``capture_intermediates`` (nothing is compiled or run)."""
    x = jax.ShapeDtypeStruct(tuple(input_shape), jnp.float32)
    variables = {"params": params}
    if batch_stats:
        variables["batch_stats"] = batch_stats
    labels = jax.ShapeDtypeStruct(tuple(input_shape)[:1], jnp.int32) if labelled else None

    def forward(variables, inputs, labels):
        extra = {} if labels is None else {"labels": labels}
        return module.apply(variables, inputs, train=False, capture_intermediates=True,
                            mutable=["intermediates"], **extra)

    _, mutated = jax.eval_shape(forward, variables, x, labels)
    return _tree_bytes(mutated["intermediates"])


class MemoryLimit(NamedTuple):
    """The bytes a training may use, and where the number comes from (for messages)."""
    bytes: int
    source: str


def memory_limit() -> Optional[MemoryLimit]:
    """The memory of the default device: an accelerator's ``bytes_limit``; on the CPU the least
    of physical memory, the cgroup's limit and the address space left under ``RLIMIT_AS``.
    None when none can be read. Reads the machine, so it belongs to the shell."""
    device = jax.local_devices()[0]
    try:
        stats = device.memory_stats() or {}
    except Exception:   # a backend without memory statistics  # noqa: BLE001
        stats = {}
    if "bytes_limit" in stats:
        return MemoryLimit(int(stats["bytes_limit"]), f"the memory of {device.platform} device 0")
    limits = [limit for limit in (_physical_memory(), _cgroup_limit(), _address_space_left()) if limit]
    return min(limits) if limits else None


def available_memory_bytes() -> Optional[int]:
    """:func:`memory_limit`'s bytes (None when unknown)."""
    limit = memory_limit()
    return None if limit is None else limit.bytes


def _physical_memory() -> Optional[MemoryLimit]:
    try:
        return MemoryLimit(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "the host's memory")
    except (ValueError, OSError, AttributeError):
        return None


def _read_int(path: str) -> Optional[int]:
    """The integer in file ``path`` (None if missing, unreadable or ``max``)."""
    try:
        with open(path) as f:
            return int(f.read(64).strip())
    except (OSError, ValueError):
        return None


def _cgroup_limit() -> Optional[MemoryLimit]:
    """The cgroup's memory limit: v2 ``memory.max`` of this process's cgroup (or of the mount's
    root, as a container sees its own), else v1 ``memory/memory.limit_in_bytes``."""
    candidates = [os.path.join(CGROUP_ROOT, "memory.max")]
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                if line.startswith("0::/"):
                    candidates.insert(0, os.path.join(CGROUP_ROOT, line.strip()[4:], "memory.max"))
    except OSError:
        pass
    for path in candidates:
        value = _read_int(path)
        if value:
            return MemoryLimit(value, f"the cgroup's limit ({path})")
    path = os.path.join(CGROUP_ROOT, "memory", "memory.limit_in_bytes")
    value = _read_int(path)
    if value and value < 2**62:   # v1 says "no limit" with a huge number
        return MemoryLimit(value, f"the cgroup's limit ({path})")
    return None


def _address_space_left() -> Optional[MemoryLimit]:
    """``RLIMIT_AS`` (``ulimit -v``) less the address space this process already maps."""
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY or soft < 0:
        return None
    used = 0
    try:
        with open("/proc/self/status") as f:
            used = next((int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:")), 0)
    except (OSError, ValueError, IndexError):
        pass
    return MemoryLimit(max(soft - used, 0), "the address space left under RLIMIT_AS (ulimit -v)")


def check_unroll(steps: int, needed_bytes: Optional[int] = None,
                 available_bytes: Optional[int] = None) -> None:
    """Raise :class:`~gan_jax.errors.UserError` for a negative k or an unroll that will not fit.

    An unroll fits when ``needed_bytes`` <= half of ``available_bytes`` (the
    rest is left to the models, the data and XLA's buffers). Either size may
    be None (unknown), and then only the sign of k is checked.
    """
    if steps < 0:
        raise UserError(f"unroll_steps must be 0 (ordinary GAN) or positive, got {steps}")
    if needed_bytes is None or available_bytes is None:
        return
    if needed_bytes > _MEMORY_SHARE * available_bytes:
        per_step = needed_bytes / max(steps, 1)
        max_steps = int(_MEMORY_SHARE * available_bytes // per_step)
        raise UserError(
            f"unroll_steps={steps} needs about {needed_bytes / 2**30:.1f} GiB for the backward pass "
            f"but only {available_bytes / 2**30:.1f} GiB is available; use unroll_steps<={max_steps}, "
            "a smaller batch_size or discriminator, or unroll_stop_gradient=true")


def abstract_state(config: Config) -> GANState:
    """The shapes and dtypes of ``config``'s initial state (``jax.eval_shape``: nothing is allocated;
    the config is checked as :func:`gan_jax.config.build.init_state` checks it)."""
    return jax.eval_shape(lambda: init_state(config))


def _width_keys(config: Config) -> str:
    if config.model == "dcgan":
        return "g_width, d_width, latent_dim"
    return "mlp_hidden, mlp_depth, mlp_d_hidden, latent_dim"


class _Sizes(NamedTuple):
    """Bytes of a config's networks: the whole state, D's parameters, and the activations of D
    on one real batch and of G on one latent batch."""
    state: int
    d_params: int
    d_activations: int
    g_activations: int


def _sizes(config: Config, template: GANState) -> _Sizes:
    """The :class:`_Sizes` of ``config`` from its abstract state ``template`` (nothing runs)."""
    labelled = config.conditional != "none"
    return _Sizes(_tree_bytes(template), _tree_bytes(template.d_params),
                  _d_activation_bytes(template, (config.batch_size,) + tuple(data_shape(config)), labelled),
                  _activation_bytes(template.generator, template.g_params, template.g_batch_stats,
                                    (config.batch_size, config.latent_dim), labelled))


# Keys that change no shape of the state or of the networks' activations: configs that differ
# only in them share one estimate of the networks (tracing them costs about 0.1 s).
_SHAPELESS_KEYS = ("name", "seed", "steps", "log_every", "sample_every", "checkpoint_every", "keep_checkpoints",
                   "eval_every", "eval_samples", "grid_samples", "lr_g", "lr_d", "steps_per_call",
                   "max_image_pixels", "tfds_data_dir", "naive_tol", "naive_max_d_steps")
_DEFAULTS = Config()
_EVALUATION = "evaluation"


@functools.lru_cache(maxsize=64)
def _shape_sizes(shape_config: Config) -> _Sizes:
    return _sizes(shape_config, abstract_state(shape_config))


def _config_sizes(config: Config) -> _Sizes:
    """:func:`_sizes` of ``config``, traced once per distinct shape (see ``_SHAPELESS_KEYS``)."""
    return _shape_sizes(dataclasses.replace(config, **{k: getattr(_DEFAULTS, k) for k in _SHAPELESS_KEYS}))


def training_memory_parts(config: Config, template: Optional[GANState] = None, members: int = 1,
                          devices: int = 1, replicas: int = 1, evaluation: bool = False) -> dict:
    """Estimated bytes of a training of ``members`` runs of ``config``, by part, before compiling:
    ``{part: (bytes, keys that shrink it)}``.

    per member: ``4 |state|`` (the state, its new value, the gradients and a copy kept by the
    divergence check); ``T k |batch|`` (a chunk of real batches); ``2 (k + 1) 2 |activations of D on
    one batch| + 2 |activations of G on one batch|`` (kept for the backward passes of the D steps
    and the G step; ``jax.eval_shape``, nothing runs); the k + 1 (+ unroll_steps) latent
    batches ``(B, latent_dim)`` of a step; an unroll's backward pass
    (:func:`unroll_memory_bytes`). The batch-sized terms are split over ``devices`` (the data
    mesh); the state's terms count ``replicas`` times (devices sharing one memory, each with a
    replica of the state: the CPU's); ``evaluation`` adds the arrays of the evaluation during
    training (3 x eval_samples samples: reference, held-out real and generated, shared by the
    members), which live in host memory. ``template``: the abstract state (default: traced from ``config``).
    """
    sizes = _config_sizes(config) if template is None else _sizes(config, template)
    k = batches_per_step(config)
    sample_bytes = math.prod(data_shape(config)) * 4
    seeds = ", fewer seeds" if members > 1 else ""
    parts = {
        "parameters and optimiser states": (members * replicas * 4 * sizes.state, _width_keys(config) + seeds),
        "real batches": (members * config.steps_per_call * k * config.batch_size * sample_bytes // devices,
                         "steps_per_call, batch_size, d_steps" + seeds),
        "activations": (members * (2 * (k + 1) * 2 * sizes.d_activations + 2 * sizes.g_activations) // devices,
                        "batch_size, " + _width_keys(config) + seeds),
        "latent batches": (members * (k + 1 + config.unroll_steps) * config.batch_size * config.latent_dim * 4
                           // devices, "batch_size, latent_dim" + seeds),
    }
    if config.unroll_steps and not config.unroll_stop_gradient:
        parts["the unroll's backward pass"] = (members * _unroll_bytes(config, sizes) // devices,
                                               "unroll_steps, batch_size, d_width or mlp_d_hidden" + seeds)
    if evaluation and 0 < config.eval_every <= config.steps:   # one evaluator, shared by the members
        parts[_EVALUATION] = (3 * config.eval_samples * sample_bytes, "eval_samples (or eval_every=0)")
    return parts


def _unroll_bytes(config: Config, sizes: _Sizes) -> int:
    """:func:`unroll_memory_bytes` from the sizes of the networks."""
    return config.unroll_steps * _unroll_step_bytes(sizes.d_params, sizes.d_activations)


def sweep_memory_bytes(config: Config, template: Optional[GANState], members: int, devices: int = 1) -> int:
    """Estimated device bytes of ``members`` runs of ``config`` trained together (a sweep; one
    run is ``members=1``), before compiling: the sum of :func:`training_memory_parts`."""
    return sum(b for b, _ in training_memory_parts(config, template, members, devices).values())


def _d_activation_bytes(template: GANState, batch_shape, labelled: bool) -> int:
    try:
        return _activation_bytes(template.discriminator, template.d_params, template.d_batch_stats, batch_shape,
                                 labelled)
    except Exception:   # a discriminator this estimate cannot trace: estimate from the batch alone  # noqa: BLE001
        return 8 * math.prod(batch_shape) * 4


def check_sweep_memory(config: Config, template: Optional[GANState], members: int,
                       available_bytes: Optional[int], devices: int = 1, source: str = "",
                       replicas: int = 1, evaluation: bool = False) -> None:
    """UserError when ``members`` runs of ``config`` (one run: 1) would not fit in half of
    ``available_bytes`` (the rest is left to XLA's buffers); nothing is checked when the memory
    is unknown. The message names the estimate, the limit and the keys that shrink its largest part."""
    if available_bytes is None:
        return
    parts = training_memory_parts(config, template, members, devices, replicas, evaluation)
    needed = sum(b for b, _ in parts.values())
    allowed = _MEMORY_SHARE * available_bytes
    if needed <= allowed:
        return
    largest, (largest_bytes, keys) = max(parts.items(), key=lambda item: item[1][0])
    where = f" ({source})" if source else ""
    what = f"a sweep of {members} seeds" if members > 1 else f"training {config.name}"
    shared = parts.get(_EVALUATION, (0, ""))[0]
    per_member = (needed - shared) / members
    fits = f"use at most {max(1, int((allowed - shared) // per_member))} seeds, or " if members > 1 else ""
    raise UserError(f"{what} needs about {_gib(needed)} (estimated; {largest} {_gib(largest_bytes)}) but only "
                    f"{_gib(available_bytes)} is available{where} and at most half of it is used; "
                    f"{fits}shrink {keys}")


def check_training_memory(config: Config, members: int = 1, available_bytes: Optional[int] = None,
                          devices: int = 1, template: Optional[GANState] = None) -> None:
    """Refuse (UserError) a training of ``members`` runs of ``config`` that cannot fit (or whose
    config is invalid), from shapes alone (:func:`abstract_state`), before anything is allocated
    or compiled: an unroll's backward pass (:func:`check_unroll`) and the whole training
    (:func:`check_sweep_memory`).

    ``available_bytes`` defaults to :func:`memory_limit`; ``devices``: how many devices the
    batch is split over (the data mesh; on the CPU they share one memory, so the state's
    replicas count too); ``template``: the abstract state, when the caller has it."""
    check_config(config)
    limit = memory_limit() if available_bytes is None else MemoryLimit(available_bytes, "")
    if limit is None:
        return
    on_cpu = jax.default_backend() == "cpu"
    if config.unroll_steps and not config.unroll_stop_gradient:
        sizes = _config_sizes(config) if template is None else _sizes(config, template)
        check_unroll(config.unroll_steps, _unroll_bytes(config, sizes), limit.bytes)
    # On the CPU the devices share the host's memory: the batch is not split, the state is replicated.
    check_sweep_memory(config, template, members, limit.bytes, 1 if on_cpu else devices, limit.source,
                       replicas=devices if on_cpu else 1, evaluation=on_cpu)


def _is_out_of_memory(error: BaseException) -> bool:
    text = str(error)
    return "RESOURCE_EXHAUSTED" in text or "out of memory" in text.lower()


def refuse_out_of_memory(train_fn: Callable) -> Callable:
    """``train_fn(config, ...)`` whose running out of memory (XLA's ``RESOURCE_EXHAUSTED`` while
    compiling or running, or a ``MemoryError`` on the host) becomes one-line :class:`~gan_jax.errors.UserError`
    naming the config keys that shrink the training; any other error passes unchanged."""
    @functools.wraps(train_fn)
    def wrapper(config: Config, *args, **kwargs):
        try:
            return train_fn(config, *args, **kwargs)
        except MemoryError:
            detail = "the host's memory"
        except jax.errors.JaxRuntimeError as e:
            if not _is_out_of_memory(e):
                raise
            detail = str(e).strip().splitlines()[0][:200] if str(e).strip() else "RESOURCE_EXHAUSTED"
        raise UserError(f"training {config.name} ran out of memory ({detail}); shrink batch_size, "
                        f"{_width_keys(config)}, steps_per_call, eval_samples or the number of seeds"
                        + (", unroll_steps" if config.unroll_steps else ""))
    return wrapper
