"""Shared pieces of the property tests (``tests/test_properties.py``): damage a run
directory, snapshot a tree to tell whether anything in it changed, run ``gan-jax``
in-process within a time and memory bound, and judge the outcome.

The bound turns a command that would wait forever or exhaust memory into a test
failure instead of a stuck or killed test process: ``SIGALRM`` raises
:class:`Hung` in the main thread after ``seconds``, and the address-space limit
(``RLIMIT_AS``) makes an allocation of more than ``extra_memory`` bytes beyond what
the process already maps fail (a ``MemoryError`` or an XLA allocation error).
"""

import contextlib
import hashlib
import logging
import os
import random
import resource
import shutil
import signal
import stat
import sys
import warnings

from gan_jax.cli import main

__all__ = ["DAMAGES", "Hung", "bounded", "run_bounded", "tree_paths", "snapshot", "changed_paths", "damage",
           "check_outcome"]

# What a run's file (or folder) may become: cut to half, emptied, overwritten with random
# bytes, replaced by a folder, replaced by a symlink to a file outside the run.
DAMAGES = ("truncate", "empty", "random_bytes", "directory", "symlink")


class Hung(BaseException):
    """A command that gave no answer within its time bound (a BaseException, so that no
    ``except Exception`` in the library swallows it)."""


def _mapped_bytes() -> int:
    """The address space this process maps now (``VmSize``)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


@contextlib.contextmanager
def bounded(seconds: float, extra_memory: int = 4 << 30):
    """Within the block, raise :class:`Hung` after ``seconds`` and refuse to map more than
    ``extra_memory`` bytes beyond the present address space; both undone on exit."""
    def on_alarm(signum, frame):
        raise Hung(f"no answer within {seconds} s")

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = _mapped_bytes() + extra_memory
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    previous = signal.signal(signal.SIGALRM, on_alarm)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        signal.signal(signal.SIGALRM, previous)


class _ToStderr(logging.Handler):
    """Log records of level WARNING and above written to the present ``sys.stderr``, with
    their traceback, as a command's own process shows them (absl's handler), while pytest
    would otherwise keep them in its log capture."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.setFormatter(logging.Formatter("%(levelname)s:%(name)s:%(message)s"))

    def emit(self, record):
        sys.stderr.write(self.format(record) + "\n")


@contextlib.contextmanager
def _as_in_its_own_process():
    """Warnings and log records reach stderr, as they do when ``gan-jax`` runs on its own."""
    handler = _ToStderr()
    logging.getLogger().addHandler(handler)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = lambda message, category, filename, lineno, file=None, line=None: sys.stderr.write(
            warnings.formatwarning(message, category, filename, lineno, line))
        try:
            yield
        finally:
            logging.getLogger().removeHandler(handler)


def run_bounded(capsys, argv, seconds: float = 20):
    """``(exit status, stdout, stderr)`` of ``gan-jax ARGV`` run in this process within
    :func:`bounded`, its warnings and log records on stderr; argparse's ``SystemExit``
    becomes its status. Any other exception (a traceback the user would see) propagates;
    :class:`Hung` as an AssertionError, which hypothesis shrinks and reports (it lets a
    BaseException through unreported)."""
    try:
        with _as_in_its_own_process(), bounded(seconds):
            code = main(list(argv))
    except SystemExit as e:
        code = e.code
    except Hung as e:
        capsys.readouterr()
        raise AssertionError(f"{e}: gan-jax {list(argv)!r}") from None
    out, err = capsys.readouterr()
    return code, out, err


def tree_paths(root: str) -> list:
    """Every file, folder and link under ``root`` (not ``root`` itself), relative, sorted;
    links are listed, never followed."""
    found = []
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            found.append(os.path.relpath(os.path.join(folder, name), root))
    return sorted(found)


def _entry(path: str):
    """What ``path`` is, without following a link or opening a FIFO: ``("dir",)``,
    ``("link", target)``, ``("file", sha256, mode)`` or ``("other", mode)``."""
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        return ("link", os.readlink(path))
    if stat.S_ISDIR(st.st_mode):
        return ("dir", stat.S_IMODE(st.st_mode))
    if stat.S_ISREG(st.st_mode):
        with open(path, "rb") as f:
            return ("file", hashlib.sha256(f.read()).hexdigest(), stat.S_IMODE(st.st_mode))
    return ("other", st.st_mode)


def snapshot(root: str) -> dict:
    """``{relative path: entry}`` of everything under ``root`` (see :func:`_entry`)."""
    return {rel: _entry(os.path.join(root, rel)) for rel in tree_paths(root)} if os.path.isdir(root) else {}


def changed_paths(before: dict, after: dict) -> list:
    """The relative paths added, removed or changed between two snapshots."""
    return sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))


def _random_bytes(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(max(size, 1))


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.remove(path)


def damage(path: str, kind: str, victim_dir: str, seed: int) -> None:
    """Damage the file or folder ``path`` in one of the :data:`DAMAGES` ways. A folder is
    "truncated" by removing every other entry, "emptied" of all, replaced by a file of
    random bytes, or by a folder holding only junk. ``symlink`` moves a file into
    ``victim_dir`` and leaves a link to it in its place (a victim a command must never
    write through); a folder becomes a link to a file of random bytes there."""
    is_dir = os.path.isdir(path) and not os.path.islink(path)
    if kind == "symlink":
        target = os.path.join(victim_dir, f"victim_{len(os.listdir(victim_dir))}_{os.path.basename(path)}")
        if is_dir:   # a link to a folder may be the user's own layout (another disk): a file instead
            shutil.rmtree(path)
            with open(target, "wb") as f:
                f.write(_random_bytes(seed, 64))
        else:
            shutil.move(path, target)
        os.symlink(target, path)
    elif kind == "truncate" and is_dir:
        for name in sorted(os.listdir(path))[::2]:
            _remove(os.path.join(path, name))
    elif kind == "truncate":
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) // 2)
    elif kind == "empty" and is_dir:
        shutil.rmtree(path)
        os.mkdir(path)
    elif kind == "empty":
        open(path, "wb").close()
    elif kind == "random_bytes":
        size = 64 if is_dir else os.path.getsize(path)
        _remove(path)
        with open(path, "wb") as f:
            f.write(_random_bytes(seed, size))
    elif kind == "directory":
        _remove(path)
        os.mkdir(path)
        if is_dir:
            with open(os.path.join(path, "junk"), "wb") as f:
                f.write(_random_bytes(seed, 64))
    else:
        raise ValueError(f"unknown damage {kind!r}")


def check_outcome(argv, code, out: str, err: str) -> None:
    """What must hold after any ``gan-jax ARGV``: exit status 0 or 2, no traceback, and on
    status 2 exactly one line on stderr, ``gan-jax COMMAND...: error: ...``."""
    shown = f"argv={list(argv)!r}\nstdout={out[-2000:]!r}\nstderr={err[-2000:]!r}"
    assert "Traceback" not in out and "Traceback" not in err, f"a traceback\n{shown}"
    assert code in (0, 2), f"exit status {code!r}, not 0 or 2\n{shown}"
    if code == 2:
        assert err.endswith("\n") and err.count("\n") == 1, f"not exactly one line on stderr\n{shown}"
        assert err.startswith(f"gan-jax {argv[0]}") and ": error: " in err, f"not a gan-jax error line\n{shown}"
