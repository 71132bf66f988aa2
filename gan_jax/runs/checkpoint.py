"""Orbax checkpoints of a run: the whole GANState, the config and the data position.

Layout: ``RUN_DIR/config.json`` and ``RUN_DIR/checkpoints/<step>/`` with two
items, ``state`` (every array of the GANState: parameters, batch statistics,
optimiser states, step) and ``meta`` (JSON: step, data position, config and a
SHA-256 checksum of the state's arrays). Orbax writes each checkpoint to a
temporary directory and renames it when it is complete, so a run killed at
any moment (kill -9) restores from its last complete checkpoint.

Guarantees: a state with a non-finite value is never saved
(:class:`NonFiniteState`); a restored state must match its checksum, and a
damaged checkpoint is reported by name and skipped for the next older intact
one; a full disk while saving is one line (the previous checkpoints stay).
``RUN_DIR/checkpoints/best/<step>/`` holds the best checkpoint by evaluation,
outside the rotation and never a fallback for resuming. Randomness needs no
saving: step keys are ``fold_in(PRNGKey(seed), step)``.

``RUN_DIR`` may be a ``gs://`` URL (:mod:`gan_jax.io.paths`): orbax writes there
natively (tensorstore's GCS driver for the arrays, ``etils.epath`` for the
rest), marking a finished checkpoint with ``commit_success.txt`` where a local
one is renamed, and every check above holds the same.
"""

import errno
import hashlib
from typing import Callable, Optional, Tuple

import jax
import numpy as np
import orbax.checkpoint as ocp
from orbax.checkpoint._src.serialization import tensorstore_utils as _orbax_tensorstore

from gan_jax.config.build import init_state
from gan_jax.config.schema import Config, config_from_dict, config_to_dict, read_json_object
from gan_jax.core.state import GANState
from gan_jax.errors import UserError
from gan_jax.io import paths
from gan_jax.io.paths import atomic_write_json, disk_full_message
from gan_jax.runs.layout import is_run_dir

__all__ = ["Checkpointer", "NonFiniteState", "read_run_config", "write_run_config", "restore_run",
           "state_checksum", "nonfinite_leaves", "BEST_DIR"]

CONFIG_FILE = "config.json"
BEST_DIR = "best"


class NonFiniteState(UserError):
    """The state to be saved holds NaN or inf; it was not saved."""


def write_run_config(run_dir: str, config: Config) -> None:
    """Write the config keys to ``RUN_DIR/config.json`` atomically."""
    atomic_write_json(paths.join(run_dir, CONFIG_FILE), config_to_dict(config))


def _config_from_checkpoints(run_dir: str) -> Optional[dict]:
    """The config stored in the newest readable checkpoint metadata of a run, or None."""
    root = paths.join(run_dir, "checkpoints")
    names = paths.listdir(root) if paths.isdir(root) else []
    for name in sorted(names, key=lambda n: -int(n) if n.isdigit() else 1):
        path = paths.join(root, name, "meta", "metadata")
        if not paths.isfile(path):
            continue
        try:
            return read_json_object(path, "checkpoint metadata")["config"]
        except (UserError, KeyError):
            continue
    return None


def read_run_config(run_dir: str, echo: Callable = None) -> Config:
    """The config saved in a run directory.

    A damaged ``config.json`` is rebuilt from the newest checkpoint's own
    copy of the config (and ``echo`` told); UserError if neither can be read
    or ``run_dir`` is not a run.
    """
    path = paths.join(run_dir, CONFIG_FILE)
    if paths.isfile(paths.join(run_dir, "sweep.json")) and not paths.exists(path):
        seeds = sorted(d for d in paths.listdir(run_dir) if d.startswith("seed_"))
        raise UserError(f"{run_dir} is a sweep of {len(seeds)} runs; pass one of its seed directories"
                        f"{f', e.g. {paths.join(run_dir, seeds[0])}' if seeds else ''}")
    if not paths.isdir(run_dir):
        raise UserError(f"{run_dir} is not a gan-jax run directory (it does not exist); pass the "
                        "directory that `gan-jax train` printed")
    if not paths.exists(path) and not paths.isdir(paths.join(run_dir, "checkpoints")):
        raise UserError(f"{run_dir} is not a gan-jax run directory (no {CONFIG_FILE}); "
                        "pass the directory that `gan-jax train` printed")
    try:
        return config_from_dict(read_json_object(path, "run config"), path)
    except UserError as damaged:
        values = _config_from_checkpoints(run_dir)
        if values is None:
            raise
        config = config_from_dict(values, f"the checkpoint metadata of {run_dir}")
        if echo is not None:
            echo(f"{damaged}; using the config stored in the newest checkpoint instead")
        return config


def nonfinite_leaves(state) -> list:
    """Paths of the floating-point leaves of ``state`` that hold NaN or inf."""
    bad = []
    for path, leaf in jax.tree_util.tree_leaves_with_path(state):
        value = np.asarray(jax.device_get(leaf))
        if np.issubdtype(value.dtype, np.inexact) and not np.all(np.isfinite(value)):
            bad.append(jax.tree_util.keystr(path))
    return bad


def state_checksum(state) -> str:
    """SHA-256 over every array of ``state`` (tree path, dtype, shape and bytes), hex."""
    digest = hashlib.sha256()
    for path, leaf in jax.tree_util.tree_leaves_with_path(state):
        value = np.ascontiguousarray(jax.device_get(leaf))
        digest.update(f"{jax.tree_util.keystr(path)}|{value.dtype}|{value.shape}|".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def _is_disk_full(error: BaseException) -> bool:
    while error is not None:
        if getattr(error, "errno", None) == errno.ENOSPC or "No space left on device" in str(error):
            return True
        error = error.__cause__ or error.__context__
    return False


def _bound_array_store_retries() -> None:
    """Orbax opens its arrays with a tensorstore context of its own (no option takes one), where
    tensorstore's GCS driver retries a failing request 32 times over about 15 minutes: give its
    base contexts the bounded retries of :func:`gan_jax.io.paths.tensorstore_gcs_retries`."""
    for name in ("_BASE_TS_CONTEXT", "_DEFAULT_OCDBT_TS_CONTEXT"):
        context = getattr(_orbax_tensorstore, name, None)
        if isinstance(context, dict):
            context["gcs_request_retries"] = paths.tensorstore_gcs_retries()


def _state_bytes(state) -> int:
    return sum(np.asarray(jax.device_get(x)).nbytes for x in jax.tree_util.tree_leaves(state))


class Checkpointer:
    """Saves and restores checkpoints under ``RUN_DIR/checkpoints``, keeping the last ``keep``
    (``best=True``: the one best checkpoint under ``RUN_DIR/checkpoints/best``)."""

    def __init__(self, run_dir: str, keep: int = 3, best: bool = False):
        root = paths.abspath(paths.join(run_dir, "checkpoints"))
        self.directory = paths.join(root, BEST_DIR) if best else root
        if paths.is_gcs(root):
            _bound_array_store_retries()
        options = ocp.CheckpointManagerOptions(max_to_keep=1 if best else keep, create=True,
                                               enable_async_checkpointing=False,
                                               cleanup_tmp_directories=True)
        self.manager = ocp.CheckpointManager(self.directory, options=options)

    def save(self, state: GANState, config: Config, data_position: int, extra: dict = None) -> int:
        """Save ``state`` at its step; NonFiniteState if it holds NaN or inf (nothing written),
        UserError on a full disk (the earlier checkpoints stay)."""
        step = int(jax.device_get(state.step))
        host = jax.device_get(state)   # one transfer serves the NaN check and the checksum
        bad = nonfinite_leaves(host)
        if bad:
            raise NonFiniteState(f"the state holds NaN or inf in {bad[0]}"
                                 f"{f' and {len(bad) - 1} more' if len(bad) > 1 else ''}; it was not saved")
        meta = {"step": step, "data_position": int(data_position), "config": config_to_dict(config),
                "checksum": state_checksum(host), **(extra or {})}
        try:
            self.manager.save(step, args=ocp.args.Composite(
                state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)), force=True)
            self.manager.wait_until_finished()
        except Exception as e:  # orbax and tensorstore wrap OSError in their own types
            unanswered = paths.storage_failure(e, paths.join(self.directory, str(step)), "write")
            if unanswered is not None:
                raise unanswered from None
            if not _is_disk_full(e):
                raise
            self.manager.reload()
            raise UserError(f"checkpoint step {step} was not saved: "
                            f"{disk_full_message(self.directory, 2 * _state_bytes(host))}; the "
                            f"earlier checkpoints stay, and `gan-jax resume` continues once there is room") from None
        return step

    def all_steps(self) -> list:
        return sorted(self.manager.all_steps())

    def latest_step(self) -> Optional[int]:
        return self.manager.latest_step()

    def _restore_step(self, template: GANState, step: int) -> Tuple[GANState, dict]:
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
        restored = self.manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()))
        state, meta = restored["state"], restored["meta"]
        if not isinstance(meta, dict):
            raise ValueError("its metadata is not a JSON object")
        # Checkpoints written before checksums existed carry none and are taken as they are.
        if "checksum" in meta and state_checksum(state) != meta["checksum"]:
            raise ValueError("its arrays do not match the checksum saved with them")
        return state, meta

    def restore(self, template: GANState, step: Optional[int] = None,
                echo: Callable = None) -> Tuple[GANState, dict]:
        """Restore into the structure of ``template`` (a freshly initialised state, or its
        ``jax.eval_shape``: only the structure, shapes and dtypes are used).

        ``step=None``: the newest intact checkpoint; a damaged newer one is
        named through ``echo`` and skipped. UserError when none is intact.
        """
        steps = [step] if step is not None else sorted(self.manager.all_steps(), reverse=True)
        self.damaged = []
        if not steps:
            raise UserError(f"no checkpoint in {self.directory}; train first or check the path")
        problems = []
        for s in steps:
            try:
                state, meta = self._restore_step(template, s)
            except Exception as e:  # any failure to read or verify marks this checkpoint damaged
                unanswered = paths.storage_failure(e, paths.join(self.directory, str(s)), "read")
                if unanswered is not None:
                    raise unanswered from None
                reason = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
                problems.append(f"checkpoint {s} is damaged or does not match the config ({reason})")
                self.damaged.append(s)
                continue
            if problems and echo is not None:
                echo(f"{'; '.join(problems)}; restored checkpoint {s} instead")
            return state, meta
        raise UserError(f"no intact checkpoint in {self.directory}: {'; '.join(problems)}; "
                        "the run cannot continue from it (train it again, or check the model config)")

    def set_aside_damaged(self) -> list:
        """Rename the checkpoints the last :meth:`restore` skipped to ``damaged-<step>`` (outside
        the rotation, kept for inspection), so that the run can save those steps again."""
        moved = []
        for step in getattr(self, "damaged", []):
            target, i = paths.join(self.directory, f"damaged-{step}"), 2
            while paths.exists(target):
                target, i = paths.join(self.directory, f"damaged-{step}-{i}"), i + 1
            paths.move_tree(paths.join(self.directory, str(step)), target)
            moved.append(target)
        self.damaged = []
        self.manager.reload()
        return moved

    def close(self):
        self.manager.close()


def restore_run(run_dir: str, step: Optional[int] = None, best: bool = False,
                echo: Callable = None) -> Tuple[Config, GANState]:
    """The config and restored GANState of a run directory (newest intact checkpoint by
    default; ``best=True``: the best checkpoint kept by evaluation)."""
    paths.check_location(run_dir, "run directory")
    if not is_run_dir(run_dir) and not paths.isdir(paths.join(run_dir, "checkpoints")):
        raise UserError(f"{run_dir} is not a gan-jax run directory (no {CONFIG_FILE}); "
                        "pass the directory that `gan-jax train` printed")
    config = read_run_config(run_dir, echo)
    if best and not paths.isdir(paths.join(run_dir, "checkpoints", BEST_DIR)):
        raise UserError(f"{run_dir} has no best checkpoint; it is kept when the run evaluates "
                        "during training (eval_every > 0); drop --best to use the latest")
    checkpointer = Checkpointer(run_dir, config.keep_checkpoints, best=best)
    try:
        # Only the structure, shapes and dtypes are needed: traced, not run (seconds saved per
        # restore), and placed whole on this process's first device, whatever the writer's topology.
        on_device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
        template = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=on_device),
                                jax.eval_shape(lambda: init_state(config)))
        state, _ = checkpointer.restore(template, step, echo)
    finally:
        checkpointer.close()
    return config, state
