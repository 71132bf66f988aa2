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

import errno
import json
import os
import shutil
import sys
import tempfile
import time

from tensorboardX import SummaryWriter

from gan_jax.errors import UserError
from gan_jax.io import paths
from gan_jax.io.paths import atomic_write_text, disk_full_message

__all__ = ["RunLogger", "drop_rows_after", "METRICS_FILE", "TENSORBOARD_DIR"]

METRICS_FILE = "metrics.jsonl"
TENSORBOARD_DIR = "tensorboard"


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
                self._text = [paths.read_text(self.path)]
            self.file = True
            self._local_tensorboard = tempfile.mkdtemp(prefix="gan_jax_tensorboard_")
            self.writer = SummaryWriter(self._local_tensorboard)
        else:
            self.file = open(self.path, "a" if append else "w")
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


def drop_rows_after(path: str, step: int) -> None:
    """Keep the rows of ``metrics.jsonl`` (local or ``gs://``) up to ``step`` (a resumed run
    logs the later ones again); rows cut short by a kill are dropped too."""
    if not paths.isfile(path):
        return
    lines = paths.read_text(path).splitlines(keepends=True)
    kept = []
    for line in lines:
        try:
            if json.loads(line)["step"] <= step:
                kept.append(line)
        except (ValueError, KeyError, TypeError):
            continue  # a row cut short by a kill
    if len(kept) != len(lines):
        atomic_write_text(path, "".join(kept))
