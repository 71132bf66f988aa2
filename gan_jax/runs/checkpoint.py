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

import contextlib
import dataclasses
import errno
import hashlib
import json
import os
import re
import shutil
import signal
import threading
from typing import Callable, List, Optional, Tuple

import jax
import numpy as np
import orbax.checkpoint as ocp
from orbax.checkpoint._src.serialization import tensorstore_utils as _orbax_tensorstore

from gan_jax.config.build import init_state
from gan_jax.config.schema import RESUMABLE_KEYS, Config, config_from_dict, config_to_dict, read_json_object
from gan_jax.core.state import GANState, init_generator_average
from gan_jax.errors import UserError
from gan_jax.io import paths
from gan_jax.io.paths import atomic_write_json, disk_full_message
from gan_jax.runs.layout import is_run_dir
from gan_jax.runs.runlog import LibraryLog, library_logs

__all__ = ["Checkpointer", "NonFiniteState", "read_run_config", "write_run_config", "restore_run",
           "state_checksum", "nonfinite_leaves", "BEST_DIR", "resume_changes", "has_checkpoint"]

CONFIG_FILE = "config.json"
#: The folder under ``checkpoints/`` holding the best checkpoint by the evaluation during training.
BEST_DIR = "best"


class NonFiniteState(UserError):
    """The state to be saved holds NaN or inf; it was not saved."""


def write_run_config(run_dir: str, config: Config) -> None:
    """Write the config keys to ``RUN_DIR/config.json`` atomically."""
    atomic_write_json(paths.join(run_dir, CONFIG_FILE), config_to_dict(config))


def _config_from_checkpoints(run_dir: str) -> Optional[Tuple[int, dict]]:
    """``(step, config values)`` stored in the newest readable checkpoint metadata of a run
    (``checkpoints/<step>/meta``; set-aside and temporary folders are not checkpoints), or None."""
    root = paths.join(run_dir, "checkpoints")
    names = paths.listdir(root) if paths.isdir(root) else []
    for step in sorted((int(n) for n in names if n.isdigit()), reverse=True):
        path = paths.join(root, str(step), "meta", "metadata")
        if not paths.isfile(path):
            continue
        try:
            values = read_json_object(path, "checkpoint metadata")["config"]
        except (UserError, KeyError):
            continue
        if isinstance(values, dict):
            return step, values
    return None


def _check_folder(folder: str) -> None:
    """UserError when a file stands where the run's folder of checkpoints belongs."""
    if paths.exists(folder) and not paths.isdir(folder):
        raise UserError(f"{folder} is a file, not the run's folder of checkpoints; move it away (or "
                        "put the checkpoints folder back), then try again")


def has_checkpoint(run_dir: str) -> bool:
    """Whether ``RUN_DIR/checkpoints`` holds a finished checkpoint: a folder named by its step
    (orbax renames it so when complete; in a bucket, where nothing is renamed, it holds
    ``commit_success.txt``). Temporary and set-aside folders do not count. UserError when
    ``checkpoints`` is a file."""
    root = paths.join(run_dir, "checkpoints")
    _check_folder(root)
    if not paths.isdir(root):
        return False
    return any(name.isdigit() and (not paths.is_gcs(root) or paths.isfile(paths.join(root, name, "commit_success.txt")))
               for name in paths.listdir(root))


def resume_changes(run_dir: str, config: Config, config_file: str) -> List[str]:
    """Check ``config`` (what ``run_dir`` is about to be resumed with) against the config stored
    in its newest readable checkpoint: only ``RESUMABLE_KEYS`` may differ. Returns one line
    per changed key (``resume: steps 100 -> 200``); a one-line UserError naming every other
    changed key, both values and the fix (set back in ``config_file``). Nothing to compare (no
    readable checkpoint metadata, or a config this version cannot read): no lines."""
    stored = _config_from_checkpoints(run_dir)
    if stored is None:
        return []
    step, values = stored
    try:
        trained = config_to_dict(config_from_dict(values, f"the metadata of checkpoint {step}"))
    except UserError:
        return []   # written by another version: the restore still checks every array's shape
    wanted = config_to_dict(config)
    fixed = [k for k in wanted if k not in RESUMABLE_KEYS and wanted[k] != trained[k]]
    if fixed:
        shown = ", ".join(f"{k}={_value(wanted[k])} (trained with {_value(trained[k])})" for k in fixed[:4])
        more = f" and {len(fixed) - 4} more" if len(fixed) > 4 else ""
        raise UserError(f"{run_dir} cannot be resumed with {shown}{more}: checkpoint {step} was trained with "
                        f"the values in parentheses and a resumed run may change only {', '.join(RESUMABLE_KEYS)}; "
                        f"set {'it' if len(fixed) == 1 else 'them'} back in {config_file}, or train a new run "
                        "under another --name")
    return [f"resume: {k} {_value(trained[k])} -> {_value(wanted[k])}"
            for k in RESUMABLE_KEYS if wanted[k] != trained[k]]


def _value(value) -> str:
    """A config value as it is written on the command line (``true``, ``0.5``, ``bce``)."""
    return json.dumps(value) if isinstance(value, bool) else str(value)


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
        stored = _config_from_checkpoints(run_dir)
        if stored is None:
            raise
        config = config_from_dict(stored[1], f"the checkpoint metadata of {run_dir}")
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


_REFUSED_SAVES = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)
_MESSAGES = {errno.ENOSPC: "No space left on device", errno.EDQUOT: "Disk quota exceeded",
             errno.EROFS: "Read-only file system", errno.EACCES: "Permission denied"}


def _refused_errno(error: BaseException) -> Optional[int]:
    """The errno of a write the operating system refused (a full disk, a read-only file system,
    no permission) somewhere in ``error``'s chain, also where orbax or tensorstore wrapped it
    into their own types and text (``[os_error_code='28']``); None for anything else."""
    while error is not None:
        code = getattr(error, "errno", None)
        if code in _REFUSED_SAVES:
            return code
        text = str(error)
        match = re.search(r"os_error_code='?(\d+)|\[Errno (\d+)\]", text)
        if match and int(match.group(1) or match.group(2)) in _REFUSED_SAVES:
            return int(match.group(1) or match.group(2))
        for code, message in _MESSAGES.items():
            if message in text:
                return code
        error = error.__cause__ or error.__context__
    return None


@contextlib.contextmanager
def _stops_deferred():
    """While a checkpoint is written, SIGTERM and Ctrl-C (where Python handles them, in the main
    thread) wait for the write to end, then take effect: a stop never interrupts orbax halfway.
    A second signal during the write takes effect at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous, pending = {}, []

    def defer(signum, frame):
        if pending:
            previous[signum](signum, frame)
        pending.append((signum, frame))

    for sig in (signal.SIGTERM, signal.SIGINT):
        handler = signal.getsignal(sig)
        if callable(handler):
            previous[sig] = handler
            signal.signal(sig, defer)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if pending:
            signum, frame = pending[0]
            previous[signum](signum, frame)


def _join_orbax_threads(before: set, timeout: float = 120.0) -> None:
    """Wait for the threads orbax started during a failed save (they go on writing and logging
    after the error reached us) so that nothing writes into the checkpoint folder afterwards."""
    for thread in set(threading.enumerate()) - before:
        if type(thread).__module__.startswith("orbax") and thread is not threading.current_thread():
            with contextlib.suppress(Exception):   # orbax's threads re-raise their own error on join
                thread.join(timeout)


def _refusal(directory: str, code: int) -> str:
    """Why the operating system refused to write in ``directory`` and what to do, in words."""
    if code == errno.EROFS:
        return f"{directory} is on a read-only file system; make it writable or copy the run elsewhere"
    if code in (errno.EACCES, errno.EPERM):
        return f"this user may not write in {directory}; fix its permissions"
    return disk_full_message(directory)


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
        for folder in (root, self.directory):
            _check_folder(folder)
        options = ocp.CheckpointManagerOptions(max_to_keep=1 if best else keep, create=True,
                                               enable_async_checkpointing=False,
                                               cleanup_tmp_directories=True)
        try:
            self.manager = ocp.CheckpointManager(self.directory, options=options)
        except OSError as e:
            if _refused_errno(e) is None:
                raise
            raise UserError(f"cannot open {self.directory}: {_refusal(self.directory, _refused_errno(e))}") from None

    def save(self, state: GANState, config: Config, data_position: int, extra: dict = None) -> int:
        """Save ``state`` at its step; NonFiniteState if it holds NaN or inf (nothing written),
        UserError on a full disk or a read-only or unwritable one (the earlier checkpoints stay).

        SIGTERM and Ctrl-C wait for the write to end (a second one does not). A save that fails
        in any way, stopped included, leaves no temporary folder behind."""
        step = int(jax.device_get(state.step))
        host = jax.device_get(state)   # one transfer serves the NaN check and the checksum
        bad = nonfinite_leaves(host)
        if bad:
            raise NonFiniteState(f"the state holds NaN or inf in {bad[0]}"
                                 f"{f' and {len(bad) - 1} more' if len(bad) > 1 else ''}; it was not saved")
        meta = {"step": step, "data_position": int(data_position), "config": config_to_dict(config),
                "checksum": state_checksum(host), "g_average": state.g_average is not None, **(extra or {})}
        before = set(threading.enumerate())
        try:
            with _stops_deferred():
                self.manager.save(step, args=ocp.args.Composite(
                    state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)), force=True)
                self.manager.wait_until_finished()
        except BaseException as e:  # orbax and tensorstore wrap OSError in their own types
            self._clean_failed_save(step, before)
            unanswered = paths.storage_failure(e, paths.join(self.directory, str(step)), "write") \
                if isinstance(e, Exception) else None
            if unanswered is not None:
                raise unanswered from None
            code = _refused_errno(e) if isinstance(e, Exception) else None
            if code is None:
                raise
            if code in (errno.ENOSPC, errno.EDQUOT):
                reason = disk_full_message(self.directory, 2 * _state_bytes(host) + (1 << 20))   # + orbax's files
                then = "once there is room"
            else:
                reason, then = _refusal(self.directory, code), "once it can write there"
            raise UserError(f"checkpoint step {step} was not saved: {reason}; the earlier checkpoints stay, "
                            f"and `gan-jax resume` continues {then}") from None
        return step

    def _clean_failed_save(self, step: int, before: set) -> None:
        """After a failed save: wait for orbax's own threads, remove its temporary folders of
        ``step`` and reload the list of checkpoints (the earlier ones are untouched)."""
        _join_orbax_threads(before)
        if not paths.is_url(self.directory):
            for tmp in paths.glob(paths.join(self.directory, f"{step}.orbax-checkpoint-tmp*")):
                if os.path.isdir(tmp) and not os.path.islink(tmp):
                    shutil.rmtree(tmp, ignore_errors=True)
        with contextlib.suppress(Exception):
            self.manager.reload()

    def all_steps(self) -> list:
        return sorted(self.manager.all_steps())

    def latest_step(self) -> Optional[int]:
        return self.manager.latest_step()

    def _restore_step(self, template: GANState, step: int) -> Tuple[GANState, dict]:
        meta = self.manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
        if not isinstance(meta, dict):
            raise ValueError("its metadata is not a JSON object")
        # The generator average may have been switched on or off since this checkpoint (or it
        # predates averaging): read what was saved, then start or drop the average.
        saved_average, wanted_average = bool(meta.get("g_average", False)), template.g_average is not None
        stored = template
        if saved_average and not wanted_average:
            stored = template.replace(g_average={"params": template.g_params, "batch_stats": template.g_batch_stats})
        elif wanted_average and not saved_average:
            stored = template.replace(g_average=None)
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, stored)
        if "g_average" not in meta:
            # Written before averaging existed: its tree has no g_average field at all.
            fields = {f.name: getattr(abstract, f.name) for f in dataclasses.fields(abstract)
                      if f.metadata.get("pytree_node", True) and f.name != "g_average"}
            restored = self.manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(fields)))
            state = stored.replace(**restored["state"])
        else:
            state = self.manager.restore(step, args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract)))["state"]
        # Checkpoints written before checksums existed carry none and are taken as they are.
        if "checksum" in meta and state_checksum(state) != meta["checksum"]:
            raise ValueError("its arrays do not match the checksum saved with them")
        if saved_average != wanted_average:
            state = init_generator_average(state.replace(g_average=None), template.g_average_decay)
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
    with library_logs(LibraryLog(None)):   # a failure is the one line below, orbax's logs are dropped
        return config, _restore_quietly(run_dir, config, step, best, echo)


def _restore_quietly(run_dir: str, config: Config, step: Optional[int], best: bool, echo: Callable) -> GANState:
    """The restore of :func:`restore_run`, inside its silenced logs."""
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
    return state
