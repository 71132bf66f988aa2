"""Run directories on disk or in a bucket: what marks one, how it is claimed, written and locked.

A run directory is marked by its ``config.json`` (a sweep by ``sweep.json``);
``--overwrite`` deletes nothing else. Small files are written atomically
(a temporary file in the same directory, flushed, then renamed over the
target), so a process killed mid-write leaves the old file or the new one,
never half of either. One process at a time writes a run: it holds an
exclusive ``flock`` on ``RUN_DIR/.lock``, which the kernel releases when the
process ends however it ends (kill -9 included), so a lock is never stale.

A run directory may also be a Cloud Storage URL (``gs://BUCKET/runs/NAME``,
through :mod:`gan_jax.io.paths`): small files are then single uploads (atomic in
the store), and the lock is the object ``RUN_DIR/.lock``, created only if
absent (the precondition ``ifGenerationMatch=0``), holding its holder and a
heartbeat the holder renews every ``ttl / 4`` seconds; a lock whose heartbeat
is older than ``ttl`` (its holder died without releasing it), or whose holder
was a process of this machine that no longer exists, is stale and taken over
(:class:`GcsRunLock`).
"""

import contextlib
import errno
import fcntl
import json
import os
import shutil
import socket
import threading
import time
import uuid
from typing import Tuple

from gan_jax.config.schema import (
    Config,
    check_run_name,
    config_from_dict,
    config_to_dict,
    parse_seeds,
    read_json_object,
)
from gan_jax.errors import UserError
from gan_jax.io import paths
from gan_jax.io.paths import atomic_write_json

__all__ = ["RUN_MARKERS", "PROVENANCE_FILE", "SWEEP_FILE", "DIVERGED_FILE", "is_run_dir", "seed_dir", "is_sweep_dir",
           "read_sweep", "write_sweep", "RunLock", "GcsRunLock", "claim_run_dir"]

#: The files that mark a directory as a run (``config.json``) or a sweep (``sweep.json``).
RUN_MARKERS = ("config.json", "sweep.json")
#: A run's or a sweep's provenance record.
PROVENANCE_FILE = "provenance.json"
#: A sweep's record: the seeds, the shared config, the seeds that diverged.
SWEEP_FILE = "sweep.json"
#: Written into a sweep member's directory when its loss or state became NaN or inf.
DIVERGED_FILE = "diverged.json"
LOCK_FILE = ".lock"


def is_run_dir(path: str) -> bool:
    """Whether ``path`` (local or ``gs://``) is a directory marked as a gan-jax run or sweep."""
    return paths.isdir(path) and any(paths.isfile(paths.join(path, m)) for m in RUN_MARKERS)


def seed_dir(sweep_dir: str, seed: int) -> str:
    """The run directory of one member of a sweep: ``SWEEP_DIR/seed_<seed>``."""
    return os.path.join(sweep_dir, f"seed_{seed}")


def is_sweep_dir(path: str) -> bool:
    """Whether ``path`` holds a sweep (its ``sweep.json``)."""
    return paths.isfile(os.path.join(path, SWEEP_FILE))


def _sweep_seeds(value) -> Tuple[int, ...]:
    """The ``seeds`` of a sweep record: a JSON list of distinct integers in 0..2**31-1 (a string
    or a float is refused, never read digit by digit or rounded)."""
    if not isinstance(value, list) or not all(isinstance(s, int) and not isinstance(s, bool) for s in value):
        raise ValueError(f"'seeds' must be a list of integers, got {json.dumps(value)[:80]}")
    try:
        return parse_seeds(",".join(str(s) for s in value))
    except UserError as e:
        raise ValueError(f"'seeds' {json.dumps(value)[:80]}: {e}") from None


def _sweep_diverged(value, seeds) -> dict:
    """The ``diverged`` record of a sweep: a JSON object ``{"<seed>": <step>}`` over its seeds."""
    if not isinstance(value, dict):
        raise ValueError(f"'diverged' must be an object {{\"<seed>\": <step>}}, got {json.dumps(value)[:80]}")
    diverged = {}
    for seed, step in value.items():
        if not (seed.isdigit() and int(seed) in seeds) or not isinstance(step, int) or isinstance(step, bool) \
                or step < 0:
            raise ValueError(f"'diverged' entry {json.dumps({seed: step})[:80]} is not one of its seeds "
                             "with a step number")
        diverged[int(seed)] = step
    return diverged


def read_sweep(sweep_dir: str) -> Tuple[Config, Tuple[int, ...], dict]:
    """``(config, seeds, diverged {seed: step})`` of a sweep directory; a one-line UserError
    naming the file if it is missing or any part of it is malformed."""
    path = os.path.join(sweep_dir, SWEEP_FILE)
    record = read_json_object(path, "sweep record")
    try:
        if "seeds" not in record or "config" not in record:
            raise ValueError(f"it has no '{'seeds' if 'seeds' not in record else 'config'}'")
        seeds = _sweep_seeds(record["seeds"])
        if not isinstance(record["config"], dict):
            raise ValueError("'config' must be an object of config keys")
        diverged = _sweep_diverged(record.get("diverged", {}), seeds)
    except ValueError as e:
        raise UserError(f"{path} is not a valid sweep record ({e}); fix or restore the file (each seed's "
                        "run in seed_<s>/ is intact and keeps its own config.json)") from None
    config = config_from_dict(record["config"], path)
    return config, seeds, diverged


def write_sweep(sweep_dir: str, config: Config, seeds, diverged: dict, provenance: dict) -> None:
    """``SWEEP_DIR/sweep.json``: the seeds, the shared config, the diverged seeds and the provenance."""
    atomic_write_json(os.path.join(sweep_dir, SWEEP_FILE),
                      {"seeds": list(seeds), "config": config_to_dict(config),
                       "diverged": {str(s): d for s, d in sorted(diverged.items())},
                       "runs": {str(s): f"seed_{s}" for s in seeds}, "provenance": provenance})


class RunLock:
    """An exclusive lock on a run directory for as long as this object is held.

    ``acquire`` refuses at once (UserError naming the holder) when another
    process holds it. The lock is ``flock`` on ``RUN_DIR/.lock``: released by
    the kernel when the holder exits or is killed. On a network file system
    without ``flock`` the lock is advisory only; the README says so. For a
    ``gs://`` run directory ``RunLock(run_dir)`` is a :class:`GcsRunLock`.
    """

    def __new__(cls, run_dir: str, *args, **kwargs):
        if cls is RunLock and paths.is_gcs(run_dir):
            return super().__new__(GcsRunLock)
        return super().__new__(cls)

    def __init__(self, run_dir: str):
        self.path = os.path.join(run_dir, LOCK_FILE)
        self.fd = None

    def acquire(self) -> "RunLock":
        try:   # O_NOFOLLOW: a link planted at .lock is refused, never written through
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666)
        except OSError as e:
            if e.errno != errno.ELOOP:
                raise
            raise UserError(f"{self.path} is a symbolic link; gan-jax never writes through one: remove "
                            "the link and try again") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = os.read(fd, 200).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            if e.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise UserError(f"{os.path.dirname(self.path)} is being written by {holder}; wait for it "
                                "to finish or stop it, then try again") from None
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"process {os.getpid()} on {socket.gethostname()} since "
                     f"{time.strftime('%Y-%m-%d %H:%M:%S')}".encode())
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)   # closing the descriptor drops the flock
            self.fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def _holder_description() -> str:
    return f"process {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}"


class GcsRunLock(RunLock):
    """The lock of a ``gs://`` run directory: the object ``RUN_DIR/.lock``.

    Cloud Storage has no ``flock``. ``acquire`` reads the lock object: a live
    one (heartbeat younger than ``ttl``) refuses at once, naming its holder; a
    stale one (older heartbeat, or a holder process of this machine that is
    gone, e.g. killed) is deleted on the precondition that it is still the
    same generation. The new lock is created with ``ifGenerationMatch=0``
    (only if absent: of two hosts racing, one gets it) and read back to
    check it holds this holder's token (a guard for stores that ignore the
    precondition). A daemon thread renews the heartbeat every ``ttl / 4``
    seconds, each upload conditional on the generation it last wrote;
    ``release`` stops it and deletes the lock object if it is still ours.
    """

    TTL = 120.0

    def __init__(self, run_dir: str, ttl: float = None):
        self.path = paths.join(run_dir, LOCK_FILE)
        self.ttl = float(ttl if ttl is not None else self.TTL)
        self.bucket, self.name = paths.split_gcs(self.path)
        self.fd = None
        self.generation = None
        self.lost = None
        self._stop = threading.Event()
        self._thread = None
        self.record = None

    def _fs(self):
        return paths.gcs_filesystem()

    def _read(self):
        """``(record, generation)`` of the lock object, or ``(None, None)`` when there is none."""
        fs = self._fs()
        try:
            meta = fs.call("GET", "b/{}/o/{}", self.bucket, self.name, json_out=True)
            _, body = fs.call("GET", "b/{}/o/{}", self.bucket, self.name, alt="media")
        except FileNotFoundError:
            return None, None
        try:
            record = json.loads(body.decode("utf-8"))
            if not isinstance(record, dict):
                raise ValueError
        except ValueError:
            record = {"holder": "an unreadable lock", "heartbeat": 0.0}
        return record, meta.get("generation")

    def _upload(self, record: dict, if_generation: str) -> str:
        """Upload the lock ``record`` on the precondition ``ifGenerationMatch``; its new generation.
        FileExistsError when the precondition fails (HTTP 412)."""
        fs = self._fs()
        result = fs.call("POST", fs._location + "/upload/storage/v1/b/{}/o", self.bucket, uploadType="media",
                         name=self.name, ifGenerationMatch=str(if_generation), data=json.dumps(record).encode(),
                         headers={"Content-Type": "application/octet-stream"}, json_out=True)
        fs.invalidate_cache(f"{self.bucket}/{self.name}")
        return result.get("generation")

    def _stale(self, record: dict) -> bool:
        if time.time() - float(record.get("heartbeat", 0.0)) > float(record.get("ttl", self.ttl)):
            return True
        if record.get("host") == socket.gethostname() and isinstance(record.get("pid"), int):
            try:
                os.kill(record["pid"], 0)
            except ProcessLookupError:
                return True   # its process is gone (killed): the lock was never released
            except OSError:
                return False
        return False

    def _refuse(self, record: dict):
        holder = record.get("holder", "another process")
        age = time.time() - float(record.get("heartbeat", 0.0))
        return UserError(f"{paths.dirname(self.path)} is being written by {holder} (its lock was renewed "
                         f"{max(age, 0):.0f} s ago; a lock not renewed for {record.get('ttl', self.ttl):.0f} s "
                         "is stale); wait for it to finish or stop it, then try again")

    def acquire(self) -> "GcsRunLock":
        """Take the lock; storage that does not answer is one line naming the lock object."""
        try:
            return self._acquire()
        except Exception as e:  # gcsfs's and aiohttp's errors
            unanswered = paths.storage_failure(e, self.path, "write")
            if unanswered is not None:
                raise unanswered from None
            raise

    def _acquire(self) -> "GcsRunLock":
        record, generation = self._read()
        if record is not None:
            if not self._stale(record):
                raise self._refuse(record)
            try:   # delete the stale lock only if nobody renewed or replaced it meanwhile
                self._fs().call("DELETE", "b/{}/o/{}", self.bucket, self.name, ifGenerationMatch=generation)
            except (FileNotFoundError, FileExistsError):
                pass
        token = uuid.uuid4().hex
        self.record = {"holder": _holder_description(), "host": socket.gethostname(), "pid": os.getpid(),
                       "token": token, "heartbeat": time.time(), "ttl": self.ttl}
        try:
            self.generation = self._upload(self.record, 0)
        except FileExistsError:
            record, _ = self._read()
            raise self._refuse(record or {}) from None
        record, generation = self._read()
        if record is None or record.get("token") != token:
            raise self._refuse(record or {})
        self.generation = generation
        self.fd = self.path   # held
        self._stop.clear()
        self._thread = threading.Thread(target=self._heartbeat, name="gan_jax-gcs-lock", daemon=True)
        self._thread.start()
        return self

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.ttl / 4):
            try:
                self.record["heartbeat"] = time.time()
                self.generation = self._upload(self.record, self.generation)
            except FileExistsError:
                self.lost = f"the lock {self.path} was taken over by another process"
                return
            except Exception as e:  # a network error: try again at the next beat
                self.lost = f"the lock {self.path} could not be renewed ({type(e).__name__})"

    def release(self) -> None:
        if self.fd is None:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        try:
            self._fs().call("DELETE", "b/{}/o/{}", self.bucket, self.name, ifGenerationMatch=self.generation)
        except (FileNotFoundError, FileExistsError):
            pass   # already gone (the run was deleted) or no longer ours
        except Exception as e:  # storage that does not answer: the lock goes stale and is taken over
            if paths.storage_failure(e, self.path, "delete") is None:
                raise
        self.fd = None


def _claim_gcs_run_dir(run_dir: str, mode: str) -> RunLock:
    """:func:`claim_run_dir` for a ``gs://`` run directory: the lock object is what is created
    atomically (a bucket has no directories), so of two hosts claiming one name one wins."""
    paths.check_location(run_dir, "run directory")
    check_run_name(paths.basename(run_dir))
    exists = paths.isdir(run_dir)
    if mode == "overwrite" and exists:
        if not is_run_dir(run_dir):
            raise UserError(f"{run_dir} exists but is not a gan-jax run (no config.json); --overwrite "
                            "deletes only runs: move it away or choose another --name")
        with RunLock(run_dir):
            paths.rmtree(run_dir)
        exists = False
    if exists and mode != "resume":
        raise UserError(f"run directory {run_dir} exists; pass --resume to continue it, "
                        "--overwrite to replace it, or another --name")
    return RunLock(run_dir).acquire()


def _refuse_symlinked_run_dir(run_dir: str, mode: str) -> None:
    """UserError when ``run_dir`` itself is a symbolic link: nothing is written or deleted
    through it (``--overwrite`` would otherwise delete, and a run write, in the link's target)."""
    if not os.path.islink(run_dir):
        return
    target = os.path.realpath(run_dir)
    if mode == "overwrite":
        raise UserError(f"{run_dir} is a symbolic link (to {target}); --overwrite never deletes through a "
                        "link: remove the link itself (rm, no -r) or choose another --name")
    if mode == "resume" and os.path.isdir(target):
        raise UserError(f"{run_dir} is a symbolic link (to {target}); gan-jax never writes a run through a "
                        f"link: pass the run directory itself, {target}")


def _refused_claim(run_dir: str, error: OSError) -> UserError:
    """One line for an operating-system refusal to create or lock ``run_dir``."""
    parent = os.path.dirname(os.path.abspath(run_dir))
    reason = {errno.EROFS: "is on a read-only file system", errno.EACCES: "may not be written by this user",
              errno.EPERM: "may not be written by this user", errno.ENOSPC: "is on a full disk",
              errno.EDQUOT: "is over its disk quota"}.get(error.errno, f"cannot be written ({error.strerror or error})")
    return UserError(f"cannot claim the run directory {run_dir}: {parent} {reason}; pass another --runs-dir")


def claim_run_dir(run_dir: str, mode: str) -> RunLock:
    """Make ``run_dir`` this process's run directory and return its held lock.

    ``mode``: ``"new"`` creates it and refuses if it exists (creation is
    atomic, so two processes cannot both get it); ``"overwrite"`` first deletes
    an existing directory, only if it is a gan-jax run that nobody is writing;
    ``"resume"`` takes an existing run (or creates it when absent). ``run_dir`` may be a
    ``gs://`` URL (:class:`GcsRunLock`). A ``run_dir`` that is a symbolic link is refused
    (nothing is written or deleted through it); a read-only or unwritable parent is one line.
    """
    if paths.is_url(run_dir):
        return _claim_gcs_run_dir(run_dir, mode)
    check_run_name(os.path.basename(os.path.normpath(run_dir)))
    _refuse_symlinked_run_dir(run_dir, mode)
    parent = os.path.dirname(os.path.abspath(run_dir))
    if os.path.exists(parent) and not os.path.isdir(parent):
        raise UserError(f"{parent} is a file, not a directory; pass another --runs-dir")
    try:
        return _claim_local_run_dir(run_dir, mode, parent)
    except OSError as e:
        if isinstance(e, (FileExistsError, FileNotFoundError)) or e.errno not in _REFUSED_CLAIMS:
            raise
        raise _refused_claim(run_dir, e) from None


_REFUSED_CLAIMS = (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT)


def _claim_local_run_dir(run_dir: str, mode: str, parent: str) -> RunLock:
    """:func:`claim_run_dir` for a local ``run_dir`` (not a link) once its name is checked."""
    os.makedirs(parent, exist_ok=True)
    if mode == "overwrite" and os.path.lexists(run_dir):
        if not is_run_dir(run_dir):
            raise UserError(f"{run_dir} exists but is not a gan-jax run (no config.json); --overwrite "
                            "deletes only runs: move it away or choose another --name")
        with RunLock(run_dir):
            shutil.rmtree(run_dir)
    if mode == "resume" and os.path.isdir(run_dir):
        return RunLock(run_dir).acquire()
    try:
        os.mkdir(run_dir)
    except FileExistsError:
        raise UserError(f"run directory {run_dir} exists; pass --resume to continue it, "
                        "--overwrite to replace it, or another --name") from None
    try:
        return RunLock(run_dir).acquire()
    except BaseException:
        with contextlib.suppress(OSError):   # the directory just made, if still empty: no trace left
            os.rmdir(run_dir)
        raise
