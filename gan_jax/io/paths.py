"""Paths that are local files or Google Cloud Storage URLs (``gs://BUCKET/...``).

Every file a run reads or writes goes through these functions. A local path
takes the same ``os`` calls as before this module existed; a ``gs://`` URL
goes through :mod:`etils.epath` (the path library orbax itself uses), backed
by ``gcsfs`` (fsspec), the one Cloud Storage client of gan_jax: orbax's own
``epath`` files and ours use the same client, and orbax's arrays go through
tensorstore's GCS driver. Any other URL scheme (``s3://``, ``http://``...) is
refused with one line by :func:`check_location`.

Cloud Storage has no rename and no partial writes: an object appears whole
when its upload completes, so :func:`write_bytes` on a URL is one upload (the
store's own atomic write) where a local file is written to a temporary file
and renamed. Directories are prefixes of object names: :func:`makedirs` does
nothing there, and a "directory" exists once an object lies below it.

Nothing here changes global state on import. The first use of a ``gs://``
location (:func:`check_location`, :func:`configure_gcs_clients`) configures
both clients through the environment, never overriding what the user set:

- ``EPATH_USE_TF=false``, so that ``epath`` (and therefore orbax) uses gcsfs
  even when TensorFlow is installed, instead of ``tf.io.gfile``;
- one emulator variable serves both clients: with ``STORAGE_EMULATOR_HOST``
  set (gcsfs reads it) and ``TENSORSTORE_GCS_HTTP_URL`` not, the latter is set
  from the former (tensorstore ignores ``STORAGE_EMULATOR_HOST``);
- no request waits forever: ``GAN_JAX_STORAGE_TIMEOUT`` seconds (default 300,
  at most 86400) bound each request of gcsfs (its ``requests_timeout``, set in
  fsspec's configuration unless ``FSSPEC_GCS_REQUESTS_TIMEOUT`` is set) and of
  tensorstore (``TENSORSTORE_CURL_CONNECT_TIMEOUT_SECONDS`` and
  ``TENSORSTORE_CURL_LOW_SPEED_TIME_SECONDS``: a request that moves less than
  a byte a second for that long ends), and tensorstore's retries of a failing
  request are bounded too (:func:`tensorstore_gcs_retries`, which
  :mod:`gan_jax.runs.checkpoint` gives orbax), where its defaults retry 32
  times over about 15 minutes. A storage operation that gets no answer ends
  in one line naming the location (:func:`storage_failure`).
"""

import contextlib
import errno
import glob as glob_lib
import json
import math
import os
import posixpath
import re
import shutil
import tempfile
from typing import List, Optional

from gan_jax.errors import UserError

__all__ = ["disk_full_message", "check_output_path", "atomic_write_text", "atomic_write_json", "GCS_PREFIX", "is_url", "is_gcs", "check_location", "join", "dirname", "basename", "abspath",
           "exists", "isdir", "isfile", "listdir", "glob", "makedirs", "rmtree", "remove", "move_tree",
           "read_bytes", "read_text", "write_bytes", "write_text", "gcs_filesystem", "split_gcs",
           "atomic_output", "check_free_space", "file_mode", "open_for_reading", "storage_timeout",
           "configure_gcs_clients", "tensorstore_gcs_retries", "storage_failure", "STORAGE_TIMEOUT_ENV"]

#: The prefix of a path in a Google Cloud Storage bucket.
GCS_PREFIX = "gs://"
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_checked_buckets = set()   # (bucket, emulator) pairs already reached: one round trip per process
#: The environment variable that sets the timeout, in seconds, of one call to a bucket.
STORAGE_TIMEOUT_ENV = "GAN_JAX_STORAGE_TIMEOUT"
DEFAULT_STORAGE_TIMEOUT = 300.0
MAX_STORAGE_TIMEOUT = 86400.0


def is_url(path) -> bool:
    """Whether ``path`` has a URL scheme (``scheme://``), supported or not."""
    return bool(_URL.match(str(path)))


def is_gcs(path) -> bool:
    """Whether ``path`` is a Google Cloud Storage URL ``gs://BUCKET/...``."""
    return str(path).startswith(GCS_PREFIX)


def split_gcs(url: str):
    """``(bucket, object name)`` of ``gs://BUCKET/NAME`` (the name may be empty)."""
    rest = url[len(GCS_PREFIX):]
    bucket, _, name = rest.partition("/")
    return bucket, name


def storage_timeout() -> float:
    """Seconds a Cloud Storage request may go unanswered: ``$GAN_JAX_STORAGE_TIMEOUT``
    (a number above 0, at most 86400), default 300. UserError (one line) for another value."""
    raw = os.environ.get(STORAGE_TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_STORAGE_TIMEOUT
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds <= MAX_STORAGE_TIMEOUT:
        raise UserError(f"{STORAGE_TIMEOUT_ENV}={raw} is not a number of seconds above 0 and at most "
                        f"{MAX_STORAGE_TIMEOUT:.0f}; fix it, or unset it for the default "
                        f"{DEFAULT_STORAGE_TIMEOUT:.0f} s")
    return seconds


_DERIVED_URL_MARK = "GAN_JAX_DERIVED_TENSORSTORE_GCS_HTTP_URL"


def configure_gcs_clients() -> None:
    """Point both Cloud Storage clients (gcsfs, tensorstore) at the same server and bound their
    waits (see the module's docstring); what the user set in the environment is kept."""
    os.environ.setdefault("EPATH_USE_TF", "false")   # one client (gcsfs) for epath, orbax and gan_jax
    emulator = os.environ.get("STORAGE_EMULATOR_HOST", "").strip()
    if emulator:   # gcsfs takes HOST:PORT or a URL; tensorstore needs the URL
        derived = emulator if "://" in emulator else f"http://{emulator}"
        # Set by the user: kept. Derived by us (the mark says so, also in a child process): follows
        # STORAGE_EMULATOR_HOST when that changes.
        if os.environ.get("TENSORSTORE_GCS_HTTP_URL") in (None, os.environ.get(_DERIVED_URL_MARK)):
            os.environ["TENSORSTORE_GCS_HTTP_URL"] = os.environ[_DERIVED_URL_MARK] = derived
    seconds = storage_timeout()
    whole = str(max(1, math.ceil(seconds)))
    os.environ.setdefault("TENSORSTORE_CURL_CONNECT_TIMEOUT_SECONDS", whole)
    os.environ.setdefault("TENSORSTORE_CURL_LOW_SPEED_TIME_SECONDS", whole)
    os.environ.setdefault("TENSORSTORE_CURL_LOW_SPEED_LIMIT_BYTES", "1")
    if "FSSPEC_GCS_REQUESTS_TIMEOUT" not in os.environ:
        try:
            import fsspec.config  # cloud storage clients are imported for gs:// paths only
        except ImportError:
            return   # gcs_filesystem() says what to install
        fsspec.config.conf.setdefault("gcs", {})["requests_timeout"] = seconds


def tensorstore_gcs_retries() -> dict:
    """tensorstore's ``Context.gcs_request_retries`` for :func:`storage_timeout` ``N``: 8 retries,
    backing off from ``min(1 s, N/10)`` to at most ``min(32 s, N/2)``, so that a store that never
    answers fails after at most about 9 N + 4 N seconds instead of tensorstore's 32 retries."""
    seconds = storage_timeout()
    return {"max_retries": 8, "initial_delay": f"{min(1.0, seconds / 10):g}s",
            "max_delay": f"{min(32.0, seconds / 2):g}s"}


def _no_answer(error: BaseException) -> bool:
    """Whether ``error`` says a storage request got no answer: a timeout (gcsfs, aiohttp), a
    connection that could not be made after gcsfs's retries, or tensorstore's retries exhausted."""
    if isinstance(error, TimeoutError):
        return True
    if any(c.__name__ == "ClientConnectionError" for c in type(error).__mro__):   # aiohttp's
        return True
    text = str(error)   # tensorstore's (a ValueError): its retries exhausted, or a transfer that failed
    return "retry attempts failed" in text or "CURL error" in text


def storage_failure(error: BaseException, location: str, what: str = "write") -> Optional[UserError]:
    """A one-line UserError when ``error`` (or an error it was raised from) is a storage request
    to ``location`` that got no answer (``_no_answer``); None for any other error."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if _no_answer(error):
            servers = ", ".join(f"{k}={os.environ[k]}" for k in ("STORAGE_EMULATOR_HOST", "TENSORSTORE_GCS_HTTP_URL")
                                if os.environ.get(k))
            return UserError(f"could not {what} {location}: storage did not answer within {storage_timeout():g} s "
                             f"(each request, after retries; {STORAGE_TIMEOUT_ENV} sets it); check the network "
                             f"and the bucket{f' ({servers})' if servers else ''}, then run again "
                             "(a run continues with `gan-jax resume`)")
        error = error.__cause__ or error.__context__
    return None


@contextlib.contextmanager
def _answered(path: str, what: str):
    """Turns a storage request to ``path`` that got no answer into :func:`storage_failure`'s line."""
    try:
        yield
    except UserError:
        raise
    except Exception as e:
        failure = storage_failure(e, path, what)
        if failure is None:
            raise
        raise failure from None


def gcs_filesystem():
    """The gcsfs file system (fsspec's cached instance; ``epath`` has its own, configured alike)."""
    import fsspec  # cloud storage clients are imported for gs:// paths only
    try:
        return fsspec.filesystem("gcs")
    except ImportError:
        raise UserError("gs:// paths need gcsfs; install it with: pip install 'gan-jax[gcs]'") from None


def _epath(path: str):
    from etils import epath  # the cloud path layer, needed for gs:// paths only
    return epath.Path(path)


def _no_credentials_message(url: str, detail: str) -> str:
    return (f"no Google Cloud credentials to reach {url} ({detail}); run `gcloud auth application-default "
            "login`, set GOOGLE_APPLICATION_CREDENTIALS to a service account key file, or run on a Cloud "
            "VM/TPU whose service account may use the bucket")


def check_location(path: str, option: str = "path") -> str:
    """``path`` if gan_jax can use it: a local path, or a ``gs://BUCKET/...`` URL whose
    bucket exists and is reachable with the credentials found. UserError (one line,
    naming the problem and the fix) for another URL scheme, a malformed URL, no
    credentials or a missing bucket. Each bucket is checked once per process."""
    path = str(path)
    match = _URL.match(path)
    if not match:
        return path
    if not is_gcs(path):
        raise UserError(f"{option} {path}: the URL scheme {match.group(1)}:// is not supported; use a local "
                        "path or a Google Cloud Storage URL gs://BUCKET/...")
    bucket, _ = split_gcs(path)
    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]", bucket):
        raise UserError(f"{option} {path}: '{bucket}' is not a valid bucket name; write gs://BUCKET/PATH "
                        "with the bucket's name (lower-case letters, digits, '-', '_', '.')")
    configure_gcs_clients()
    checked = (bucket, os.environ.get("STORAGE_EMULATOR_HOST", ""))
    if checked in _checked_buckets:
        return path
    if not os.environ.get("STORAGE_EMULATOR_HOST"):   # an emulator takes no credentials
        try:
            import google.auth  # optional (the gcs extra)
            import google.auth.exceptions
        except ImportError:
            raise UserError("gs:// paths need gcsfs; install it with: pip install 'gan-jax[gcs]'") from None
        try:
            google.auth.default()
        except google.auth.exceptions.GoogleAuthError as e:
            detail = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
            raise UserError(_no_credentials_message(path, detail)) from None
    fs = gcs_filesystem()
    try:
        fs.call("GET", "b/{}/o", bucket, maxResults=1, json_out=True)
    except FileNotFoundError:
        raise UserError(f"{option} {path}: the bucket gs://{bucket} does not exist; create it "
                        f"(gcloud storage buckets create gs://{bucket}) or fix the URL") from None
    except OSError as e:
        failure = storage_failure(e, path, "reach")
        if failure is not None:
            raise failure from None
        first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        if "Forbidden" in first or "401" in first or "nauthorized" in first:
            raise UserError(f"{option} {path}: the credentials found may not use gs://{bucket} ({first}); "
                            "grant them Storage Object Admin on the bucket or use other credentials") from None
        raise UserError(f"{option} {path}: Cloud Storage could not be reached ({first}); check the "
                        "network and try again") from None
    except Exception as e:  # gcsfs's HttpError (401 and others) and aiohttp's errors
        first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise UserError(f"{option} {path}: Cloud Storage refused the request ({first}); check the "
                        "credentials and the bucket's permissions") from None
    _checked_buckets.add(checked)
    return path


# ---- names ----

def join(path: str, *parts: str) -> str:
    """``os.path.join`` for local paths; ``/``-joined for URLs."""
    return posixpath.join(path, *parts) if is_url(path) else os.path.join(path, *parts)


def dirname(path: str) -> str:
    """The parent of ``path`` (a URL's parent stays a URL; ``gs://b`` is its own parent)."""
    if not is_gcs(path):
        return os.path.dirname(path)
    bucket, name = split_gcs(path.rstrip("/"))
    return GCS_PREFIX + posixpath.join(bucket, posixpath.dirname(name)).rstrip("/")


def basename(path: str) -> str:
    """The last component of ``path`` (trailing separators ignored)."""
    return posixpath.basename(path.rstrip("/")) if is_url(path) else os.path.basename(os.path.normpath(path))


def abspath(path: str) -> str:
    """``os.path.abspath`` for local paths; a URL as it is (without a trailing ``/``)."""
    return path.rstrip("/") if is_url(path) else os.path.abspath(path)


# ---- queries ----

def _fresh(path: str):
    """The gcsfs instance with its listing cache dropped for ``path`` (other clients, tensorstore
    and other hosts, write to the bucket too), and the object path without ``gs://``."""
    fs = gcs_filesystem()
    stripped = path[len(GCS_PREFIX):].rstrip("/")
    fs.invalidate_cache(stripped)
    return fs, stripped


def _kind(path: str) -> Optional[str]:
    """``"file"``, ``"directory"`` or None (nothing there) for a ``gs://`` URL. Unlike fsspec's
    ``isfile``/``isdir``, which answer False to any error, a request that got no answer is
    :func:`storage_failure`'s line, never taken for "nothing there"."""
    with _answered(path, "read"):
        fs, p = _fresh(path)
        try:
            return fs.info(p)["type"]
        except FileNotFoundError:
            return None


def exists(path: str) -> bool:
    """Whether a file or directory exists at ``path`` (a link to nothing counts, as ``lexists``)."""
    if not is_gcs(path):
        return os.path.lexists(path)
    return _kind(path) is not None


def isdir(path: str) -> bool:
    """Whether ``path`` is a directory (in a bucket: some object lies below it)."""
    if not is_gcs(path):
        return os.path.isdir(path)
    return _kind(path) == "directory"


def isfile(path: str) -> bool:
    """Whether ``path`` is a file (in a bucket: an object of that exact name)."""
    if not is_gcs(path):
        return os.path.isfile(path)
    return _kind(path) == "file"


def listdir(path: str) -> List[str]:
    """The names directly inside the directory ``path`` (empty for a prefix with nothing below)."""
    if not is_gcs(path):
        return os.listdir(path)
    with _answered(path, "read"):
        fs, p = _fresh(path)
        try:
            return sorted({posixpath.basename(e.rstrip("/")) for e in fs.ls(p, detail=False)} - {""})
        except FileNotFoundError:
            return []


def glob(pattern: str) -> List[str]:
    """Paths matching the shell pattern (URLs for a ``gs://`` pattern)."""
    if not is_gcs(pattern):
        return glob_lib.glob(pattern)
    with _answered(pattern, "read"):
        fs, p = _fresh(dirname(pattern.split("*")[0] + "x"))
        return [GCS_PREFIX + m for m in fs.glob(pattern[len(GCS_PREFIX):])]


# ---- changes ----

def makedirs(path: str) -> None:
    """Create the directory ``path`` with its parents (nothing to do in a bucket)."""
    if not is_url(path):
        os.makedirs(path, exist_ok=True)


def rmtree(path: str) -> None:
    """Delete the directory ``path`` and everything in it."""
    if not is_gcs(path):
        shutil.rmtree(path)
        return
    with _answered(path, "delete"):
        fs, p = _fresh(path)
        if fs.exists(p):
            fs.rm(p, recursive=True)
        fs.invalidate_cache(p)


def remove(path: str) -> None:
    """Delete the file ``path``."""
    if not is_gcs(path):
        os.unlink(path)
        return
    with _answered(path, "delete"):
        fs, p = _fresh(path)
        fs.rm_file(p)


def move_tree(source: str, target: str) -> None:
    """Move the directory ``source`` to ``target``: ``os.rename`` locally; in a bucket,
    which has no rename, a copy of every object followed by the deletion of the source."""
    if not is_gcs(source):
        os.rename(source, target)
        return
    with _answered(target, "write"):
        fs, src = _fresh(source)
        dst = target[len(GCS_PREFIX):].rstrip("/")
        for name in fs.find(src):
            fs.copy(name, dst + name[len(src):])
        fs.rm(src, recursive=True)
        fs.invalidate_cache(src)
        fs.invalidate_cache(dst)


def read_bytes(path: str) -> bytes:
    """The contents of the file ``path``; FileNotFoundError (IsADirectoryError) as ``open`` raises them."""
    if not is_gcs(path):
        with open(path, "rb") as f:
            return f.read()
    kind = _kind(path)
    if kind == "directory":
        raise IsADirectoryError(errno.EISDIR, "is a directory", path)
    if kind is None:
        raise FileNotFoundError(errno.ENOENT, "no such object", path)
    with _answered(path, "read"):
        fs, p = _fresh(path)
        return fs.cat_file(p)


def read_text(path: str) -> str:
    """The file ``path`` decoded as UTF-8 (UnicodeDecodeError if it is not)."""
    return read_bytes(path).decode("utf-8")


def file_mode() -> int:
    """The mode a new file gets from ``open``: ``0o666 & ~umask`` (read from ``/proc`` where it
    can be, so that the process-wide umask is not touched; else set and restored at once)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_output(path: str, suffix: str = None):
    """The one way gan_jax writes a file: yields a local file name to write instead of ``path``.

    Locally it is a hidden temporary file in ``path``'s directory; when the block ends without
    an error it gets the mode of a new file (``0o666 & ~umask``) and is renamed over ``path``.
    The rename replaces a symbolic link at ``path`` itself and never writes through it, and a
    reader sees the old file or the new one, never half of one. On any exception (an error,
    Ctrl-C, or SIGTERM, which the command line turns into SystemExit) the temporary file is
    removed and ``path`` is untouched. A full disk is a UserError. For a ``gs://`` URL the file
    is a local temporary, uploaded whole (one atomic upload) at the end and removed in any case.
    ``suffix`` (default: ``path``'s extension) ends the temporary name, for writers that
    choose the format from it (``savefig``, ``np.savez``).
    """
    suffix = os.path.splitext(basename(path))[1] if suffix is None else suffix
    if is_gcs(path):
        fd, tmp = tempfile.mkstemp(prefix="gan_jax_upload_", suffix=suffix)
        os.close(fd)
        try:
            yield tmp
            with _answered(path, "write"):
                fs, p = _fresh(path)
                fs.put_file(tmp, p)   # one upload: the object appears whole when it completes
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        return
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp" + suffix, dir=directory)
    except OSError as e:
        if e.errno in _REFUSED_WRITES:
            raise UserError(_write_failure(path, directory, e)) from None
        raise
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError) and e.errno in _REFUSED_WRITES:
            raise UserError(_write_failure(path, directory, e)) from None
        raise


_REFUSED_WRITES = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EISDIR,
                   errno.ENOTDIR)


def _write_failure(path: str, directory: str, error: OSError) -> str:
    """One line for a write that the operating system refused."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"could not write {path}: {disk_full_message(directory)}"
    if error.errno == errno.EROFS:
        return f"could not write {path}: {directory} is on a read-only file system; choose another location"
    if error.errno == errno.EISDIR:
        return f"could not write {path}: a folder of that name is in the way; move it away"
    if error.errno == errno.ENOTDIR:
        return f"could not write {path}: a file stands where a folder of its path belongs; move it away"
    if error.errno in (errno.EACCES, errno.EPERM):
        return f"could not write {path}: no permission to write in {directory}; choose another location"
    return f"could not write {path}: {error.strerror or error}"


def write_bytes(path: str, data: bytes) -> str:
    """Write ``data`` to ``path`` atomically (:func:`atomic_output`), returning ``path``: locally
    a temporary file in the same directory, flushed and renamed over the target; in a bucket one
    upload (an object is replaced whole when its upload completes). A full disk is a UserError."""
    if is_gcs(path):
        with _answered(path, "write"):
            fs, p = _fresh(path)
            fs.pipe_file(p, bytes(data))
        return path
    check_free_space(path, len(data))
    with atomic_output(path, suffix="") as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    return path


def write_text(path: str, text: str) -> str:
    """:func:`write_bytes` of ``text`` encoded as UTF-8."""
    return write_bytes(path, text.encode("utf-8"))


def check_free_space(path: str, needed_bytes: int, margin: float = 1.05) -> None:
    """UserError (one line, with both sizes) if the local disk that will hold ``path`` has less
    than ``margin * needed_bytes`` free; nothing for a ``gs://`` URL (a bucket has no such size)."""
    if is_url(path) or needed_bytes <= 0:
        return
    ancestor = os.path.dirname(os.path.abspath(path))
    while ancestor and not os.path.isdir(ancestor):
        ancestor = os.path.dirname(ancestor)
    try:
        free = shutil.disk_usage(ancestor or ".").free
    except OSError:
        return
    if free < margin * needed_bytes:
        raise UserError(f"{path} would take about {_size(needed_bytes)} and the disk holding {ancestor} has "
                        f"{_size(free)} free; free some space, write elsewhere, or ask for less")


def _size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024


def open_for_reading(path: str):
    """A seekable binary file object to read ``path`` from (for readers that seek and stream:
    zip archives, npz); in a bucket it reads byte ranges on demand."""
    if not is_gcs(path):
        return open(path, "rb")
    with _answered(path, "read"):
        fs, p = _fresh(path)
        return fs.open(p, "rb")


def disk_full_message(path: str, needed_bytes: int = 0) -> str:
    """One line for a full disk under ``path``: what is free and what is needed."""
    if is_url(path):
        return f"the storage holding {path} refused the write (full or over quota); free some space"
    try:
        free = shutil.disk_usage(path).free
    except OSError:
        free = 0
    need = f"; about {needed_bytes / 2**20:.1f} MiB is needed" if needed_bytes else ""
    return f"the disk holding {path} is full ({free / 2**20:.1f} MiB free{need}); free some space"


_PATH_MAX, _NAME_MAX = 4096, 255   # Linux's limits (os.pathconf varies by file system; these are the usual)


def check_output_path(path: str, overwrite: bool = False, option: str = "--out") -> str:
    """``path`` if a file can be written there: its parent is (or can be made) a directory,
    the path itself is not a directory, and it does not exist unless ``overwrite``.
    Checked before any work starts; creates the parent folders. A ``gs://`` URL: its bucket
    must be reachable (:func:`check_location`), nothing may exist under it
    unless ``overwrite``."""
    if is_url(path):
        check_location(path, option)
        if isdir(path):
            raise UserError(f"{option} {path} is a directory; give a file name inside it")
        if exists(path) and not overwrite:
            raise UserError(f"{path} exists; pass --overwrite to replace it or choose another {option}")
        return path
    parent = os.path.dirname(os.path.abspath(path))
    if len(os.fsencode(parent)) >= _PATH_MAX or any(len(os.fsencode(part)) > _NAME_MAX
                                                    for part in os.path.abspath(path).split(os.sep)):
        raise UserError(f"{option}: the path is longer than this system allows ({_PATH_MAX} bytes, "
                        f"{_NAME_MAX} per name); choose a shorter one")
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
    """Write ``text`` to ``path`` through a temporary file and a rename (in a bucket: one
    upload, which replaces the object whole); returns ``path`` (:func:`write_text`)."""
    return write_text(path, text)


def atomic_write_json(path: str, value) -> str:
    """Write ``value`` as indented JSON to ``path`` atomically (:func:`atomic_write_text`); returns ``path``."""
    return atomic_write_text(path, json.dumps(value, indent=2) + "\n")
