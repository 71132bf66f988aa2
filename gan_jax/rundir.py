"""Run directories on disk: what marks one, how it is claimed, written and locked.

A run directory is marked by its ``config.json`` (a sweep by ``sweep.json``);
``--overwrite`` deletes nothing else. Small files are written atomically
(a temporary file in the same directory, flushed, then renamed over the
target), so a process killed mid-write leaves the old file or the new one,
never half of either. One process at a time writes a run: it holds an
exclusive ``flock`` on ``RUN_DIR/.lock``, which the kernel releases when the
process ends however it ends (kill -9 included), so a lock is never stale.
"""

import contextlib
import errno
import json
import os
import shutil
import socket
import tempfile
import time

from gan_jax.config import check_run_name
from gan_jax.errors import UserError

__all__ = ["RUN_MARKERS", "is_run_dir", "atomic_write_text", "atomic_write_json", "RunLock",
           "claim_run_dir", "disk_full_message", "check_output_path"]

RUN_MARKERS = ("config.json", "sweep.json")
LOCK_FILE = ".lock"


def is_run_dir(path: str) -> bool:
    """Whether ``path`` is a directory marked as a gan-jax run or sweep."""
    return os.path.isdir(path) and any(os.path.isfile(os.path.join(path, m)) for m in RUN_MARKERS)


def disk_full_message(path: str, needed_bytes: int = 0) -> str:
    """One line for a full disk under ``path``: what is free and what is needed."""
    try:
        free = shutil.disk_usage(path).free
    except OSError:
        free = 0
    need = f"; about {needed_bytes / 2**20:.1f} MiB is needed" if needed_bytes else ""
    return f"the disk holding {path} is full ({free / 2**20:.1f} MiB free{need}); free some space"


def check_output_path(path: str, overwrite: bool = False, option: str = "--out") -> str:
    """``path`` if a file can be written there: its parent is (or can be made) a directory,
    the path itself is not a directory, and it does not exist unless ``overwrite``.
    Checked before any work starts; creates the parent folders."""
    parent = os.path.dirname(os.path.abspath(path))
    ancestor = parent
    while not os.path.exists(ancestor):
        ancestor = os.path.dirname(ancestor)
    if not os.path.isdir(ancestor):
        raise UserError(f"{option} {path}: {ancestor} is a file, not a directory; choose another path")
    if os.path.isdir(path):
        raise UserError(f"{option} {path} is a directory; give a file name inside it")
    if os.path.lexists(path) and not overwrite:
        raise UserError(f"{path} exists; pass --overwrite to replace it or choose another {option}")
    os.makedirs(parent, exist_ok=True)
    return path


def atomic_write_text(path: str, text: str) -> str:
    """Write ``text`` to ``path`` through a temporary file and a rename; returns ``path``."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if e.errno == errno.ENOSPC:
            raise UserError(f"could not write {path}: {disk_full_message(directory)}") from None
        raise
    return path


def atomic_write_json(path: str, value) -> str:
    return atomic_write_text(path, json.dumps(value, indent=2) + "\n")


class RunLock:
    """An exclusive lock on a run directory for as long as this object is held.

    ``acquire`` refuses at once (UserError naming the holder) when another
    process holds it. The lock is ``flock`` on ``RUN_DIR/.lock``: released by
    the kernel when the holder exits or is killed. On a network file system
    without ``flock`` the lock is advisory only; the README says so.
    """

    def __init__(self, run_dir: str):
        self.path = os.path.join(run_dir, LOCK_FILE)
        self.fd = None

    def acquire(self) -> "RunLock":
        import fcntl
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
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


def claim_run_dir(run_dir: str, mode: str) -> RunLock:
    """Make ``run_dir`` this process's run directory and return its held lock.

    ``mode``: ``"new"`` creates it and refuses if it exists (creation is
    atomic, so two processes cannot both get it); ``"overwrite"`` first deletes
    an existing directory, only if it is a gan-jax run that nobody is writing;
    ``"resume"`` takes an existing run (or creates it when absent).
    """
    check_run_name(os.path.basename(os.path.normpath(run_dir)))
    parent = os.path.dirname(os.path.abspath(run_dir))
    if os.path.exists(parent) and not os.path.isdir(parent):
        raise UserError(f"{parent} is a file, not a directory; pass another --runs-dir")
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
    return RunLock(run_dir).acquire()
