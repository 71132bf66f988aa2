"""A run's scalar logs: ``metrics.jsonl`` and TensorBoard, in a local run directory or a bucket.

Locally ``metrics.jsonl`` is appended and flushed row by row and tensorboardX
writes ``RUN_DIR/tensorboard/`` itself. A Cloud Storage object cannot be
appended to, so for a ``gs://`` run directory :class:`RunLogger` keeps the
file's text in memory and uploads it whole (each upload replaces the object
atomically) at most every ``flush_seconds``, on :meth:`RunLogger.flush` (the
loop calls it before every checkpoint, so the rows up to a checkpoint are in
the bucket before the checkpoint is) and at :meth:`RunLogger.close`.
TensorBoard's event files are written to a local temporary directory and
uploaded to ``RUN_DIR/tensorboard/`` at the same moments; if the last upload
fails, the local copy is kept and its path printed, never silently lost.
"""

import contextlib
import errno
import gc
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
import traceback

from tensorboardX import SummaryWriter

from gan_jax.errors import UserError
from gan_jax.io import paths
from gan_jax.io.paths import atomic_output, disk_full_message

__all__ = ["RunLogger", "drop_rows_after", "METRICS_FILE", "TENSORBOARD_DIR", "MAX_ROW_BYTES", "LIBRARY_LOG_FILE",
           "LIBRARY_LOGGERS", "LibraryLog", "library_logs"]

#: A run's scalar log, one JSON row per logged step.
METRICS_FILE = "metrics.jsonl"
#: A run's TensorBoard event files.
TENSORBOARD_DIR = "tensorboard"
#: The file in a run directory that receives the libraries' log messages.
LIBRARY_LOG_FILE = "train.log"
#: The Python loggers of the libraries under a run (orbax logs through absl, its event loops through
#: asyncio): their messages and tracebacks go to RUN_DIR/train.log, never to the terminal, where a
#: failure is one line.
LIBRARY_LOGGERS = ("absl", "orbax", "tensorstore", "asyncio")


class LibraryLog(logging.Handler):
    """A logging handler appending each record (tracebacks included) to the file ``path``, opened
    per record without following a symbolic link; ``path=None`` (not yet known, another process
    of a multi-host run, a bucket) drops the records. Any failure to write is ignored: a log
    never stops a run nor prints anything."""

    def __init__(self, path: str = None):
        super().__init__()
        self.path = path
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def write(self, text: str) -> None:
        """Append ``text`` to the file (nothing when there is none or it cannot be written)."""
        if self.path is None:
            return
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o666)
            try:
                os.write(fd, text.encode("utf-8", "replace"))
            finally:
                os.close(fd)
        except OSError:
            pass

    def emit(self, record) -> None:
        try:
            self.write(self.format(record) + "\n")
        except Exception:  # a record that cannot be formatted is dropped, never printed
            pass

    def handleError(self, record) -> None:
        pass


@contextlib.contextmanager
def library_logs(handler: LibraryLog):
    """Within this block the :data:`LIBRARY_LOGGERS`, the exceptions of background threads and
    the exceptions Python cannot raise (``Exception ignored in ...``, e.g. orbax's coroutines
    after a failed save) go to ``handler`` instead of the terminal; everything is restored after."""
    saved = []
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, list(logger.handlers), logger.propagate))
        logger.handlers, logger.propagate = [handler], False
    hooks = sys.unraisablehook, threading.excepthook

    def unraisable(info):
        handler.write(f"{info.err_msg or 'Exception ignored in'}: {info.object!r}\n"
                      + "".join(traceback.format_exception(info.exc_type, info.exc_value, info.exc_traceback)))

    def thread_exception(args):
        handler.write(f"exception in thread {args.thread.name if args.thread else '?'}:\n"
                      + "".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback)))

    sys.unraisablehook, threading.excepthook = unraisable, thread_exception
    try:
        yield handler
    finally:
        gc.collect()   # what a failed save left (futures, coroutines) reports itself here, not later
        sys.unraisablehook, threading.excepthook = hooks
        for logger, handlers, propagate in saved:
            logger.handlers, logger.propagate = handlers, propagate


def _abandon_event_files(writer) -> None:
    """After a failed close (a full disk), mark tensorboardX's event files closed, so that
    its exit handler does not try the same flush again and print a traceback at exit."""
    for file_writer in list(getattr(writer, "all_writers", {}).values()):
        event_writer = getattr(file_writer, "event_writer", None)
        if event_writer is None:
            continue
        try:
            if getattr(event_writer, "_worker", None) is not None:
                event_writer._worker.stop()
        except OSError:
            pass
        event_writer._closed = True


def _replace_link(path: str, append: bool) -> None:
    """Replace the symbolic link at ``path`` by a regular file (a copy of what it points to when
    ``append``, else nothing): the log is then written there, never through the link."""
    if append and os.path.isfile(path):
        with open(path, "rb") as source, atomic_output(path, suffix="") as tmp:
            with open(tmp, "wb") as copy:
                shutil.copyfileobj(source, copy)
    else:
        os.unlink(path)


def _open_log(path: str, append: bool):
    """``metrics.jsonl`` opened for appending (``append``) or afresh, never through a symbolic
    link (a link is replaced by a regular file first, ``O_NOFOLLOW`` guards the open); any
    refusal of the operating system is one line."""
    try:
        if os.path.islink(path):
            _replace_link(path, append)
        flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | (os.O_APPEND if append else os.O_TRUNC)
        return os.fdopen(os.open(path, flags, 0o666), "a" if append else "w", encoding="utf-8")
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise UserError(f"could not open the run's log: {disk_full_message(path)}") from None
        raise UserError(f"could not open the run's log {path} ({e.strerror or e}); move it away or make it "
                        "writable, then resume") from None


class RunLogger:
    """metrics.jsonl plus TensorBoard scalars; writes nothing when ``write`` is false
    (the processes other than 0 of a multi-host run). A full disk is one UserError.
    ``append``: keep the rows already in ``metrics.jsonl`` (a resumed run)."""

    def __init__(self, run_dir: str, append: bool, write: bool = True, flush_seconds: float = 10.0):
        self.path = paths.join(run_dir, METRICS_FILE)
        self.remote = paths.is_gcs(run_dir)
        self.tensorboard = paths.join(run_dir, TENSORBOARD_DIR)
        self.file = self.writer = None
        self.flush_seconds, self._last_upload, self._text, self._dirty = flush_seconds, time.time(), [], False
        self._local_tensorboard = None
        if not write:
            return
        if self.remote:
            if append and paths.isfile(self.path):
                self._text = [paths.read_bytes(self.path).decode("utf-8", "replace")]
            self.file = True
            self._local_tensorboard = tempfile.mkdtemp(prefix="gan_jax_tensorboard_")
            self.writer = SummaryWriter(self._local_tensorboard)
        else:
            if os.path.lexists(self.tensorboard) and not os.path.isdir(self.tensorboard):
                raise UserError(f"{self.tensorboard} is a file, not the run's TensorBoard folder; move it away "
                                "and run again")
            self.file = _open_log(self.path, append)
            self.writer = SummaryWriter(self.tensorboard)

    def log(self, step: int, scalars: dict):
        """One row ``{"step": step, **scalars}`` and one TensorBoard scalar per key."""
        if self.file is None:
            return
        row = json.dumps({"step": step, **scalars}) + "\n"
        if self.remote:
            self._text.append(row)
            self._dirty = True
        else:
            try:
                self.file.write(row)
                self.file.flush()
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                raise UserError(f"could not log step {step}: {disk_full_message(self.path)}") from None
        for key, value in scalars.items():
            self.writer.add_scalar(key, value, step)
        if self.remote and time.time() - self._last_upload >= self.flush_seconds:
            self.flush()

    def flush(self) -> None:
        """Make every row logged so far durable: flushed locally, uploaded to a bucket."""
        if self.file is None:
            return
        if not self.remote:
            self.file.flush()
            return
        if self._dirty:
            paths.write_text(self.path, "".join(self._text))
            self._dirty = False
        self._upload_tensorboard()
        self._last_upload = time.time()

    def _upload_tensorboard(self) -> None:
        self.writer.flush()
        for name in sorted(os.listdir(self._local_tensorboard)):
            local = os.path.join(self._local_tensorboard, name)
            if os.path.isfile(local):
                with open(local, "rb") as f:
                    paths.write_bytes(paths.join(self.tensorboard, name), f.read())

    def close(self):
        """Close both writers; a full disk at this point must not hide the error that ended the run.
        In a bucket: the last upload; if it fails the local TensorBoard copy is kept and named."""
        if self.file is None:
            return
        if self.remote:
            try:
                self.writer.close()
            except OSError:
                _abandon_event_files(self.writer)
            try:
                self._dirty = True
                self.flush()
            except Exception as e:  # the run's own error, if any, must stay the one reported
                kept = os.path.join(tempfile.gettempdir(), f"gan_jax_logs_{os.getpid()}_{int(time.time())}")
                os.makedirs(kept, exist_ok=True)
                with open(os.path.join(kept, METRICS_FILE), "w", encoding="utf-8") as f:
                    f.write("".join(self._text))
                shutil.copytree(self._local_tensorboard, os.path.join(kept, TENSORBOARD_DIR), dirs_exist_ok=True)
                print(f"warning: the logs could not be uploaded to {self.path} ({type(e).__name__}: "
                      f"{str(e).strip().splitlines()[0][:160] if str(e).strip() else ''}); they are kept in "
                      f"{kept}: copy them with `gcloud storage cp -r {kept}/* {paths.dirname(self.path)}/`",
                      file=sys.stderr)
            shutil.rmtree(self._local_tensorboard, ignore_errors=True)
            self.file = None
            return
        try:
            self.file.close()
        except OSError:
            pass
        try:
            self.writer.close()
        except OSError:
            _abandon_event_files(self.writer)
        self.file = None


MAX_ROW_BYTES = 1 << 20   #: a longer "row" is garbage (a log row is well under 1 KiB)


def _byte_lines(f):
    """The lines of the binary file ``f``, each at most :data:`MAX_ROW_BYTES` (a longer run of
    bytes without a newline is yielded as ``None`` and skipped whole, never held in memory)."""
    while True:
        line = f.readline(MAX_ROW_BYTES + 1)
        if not line:
            return
        if len(line) > MAX_ROW_BYTES and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):
                line = f.readline(MAX_ROW_BYTES)
            yield None
            continue
        yield line


def _kept_row(line, step: int):
    """``(row, garbled)``: the row (newline-terminated bytes) if it is a complete row of a step up
    to ``step``, else None; ``garbled`` when the line is not a row at all (undecodable, not JSON,
    no integer step), as opposed to a row of a later step that the resumed run logs again."""
    if line is None:
        return None, True
    if not line.strip():
        return None, False
    try:
        row = json.loads(line.decode("utf-8"))
        logged = row["step"]
        if isinstance(logged, bool) or not isinstance(logged, int):
            raise TypeError
    except (ValueError, KeyError, TypeError):   # UnicodeDecodeError is a ValueError
        return None, True
    if logged > step:
        return None, False
    return (line if line.endswith(b"\n") else line + b"\n"), False


def drop_rows_after(path: str, step: int) -> int:
    """Keep the rows of ``metrics.jsonl`` (local or ``gs://``) up to ``step`` (a resumed run
    logs the later ones again); rows cut short by a kill, undecodable bytes and lines that are
    not rows are dropped too, and a kept last row gets its missing newline (so that the next
    row is not glued to it). A log never stops a run: returns the number of garbled lines
    dropped (for one warning). A link at ``path`` is replaced by a regular file, never written
    through. Streams the file: its size does not matter."""
    if not paths.isfile(path):
        return 0
    if paths.is_gcs(path):
        import io
        return _filter_rows(io.BytesIO(paths.read_bytes(path)), step, path)
    with open(path, "rb") as f:
        return _filter_rows(f, step, path)


def _filter_rows(f, step: int, path: str) -> int:
    """:func:`drop_rows_after` on the open binary file ``f`` of ``path``."""
    garbled = changed = 0
    for line in _byte_lines(f):
        row, bad = _kept_row(line, step)
        garbled += bad
        changed += line is None or row != line
    if not changed:
        return 0
    f.seek(0)
    if paths.is_gcs(path):
        paths.write_bytes(path, b"".join(r for r, _ in (_kept_row(x, step) for x in _byte_lines(f)) if r))
        return garbled
    with atomic_output(path, suffix="") as tmp:
        with open(tmp, "wb") as out:
            for line in _byte_lines(f):
                row, _ = _kept_row(line, step)
                if row:
                    out.write(row)
    return garbled
