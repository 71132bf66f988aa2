"""Reading the files a user points at, checked: ``.npz`` arrays and image folders (shell).

Every failure is one :class:`~gan_jax.errors.UserError` naming the file and
the fix, never a traceback:

- ``.npz``: the zip directory and each array's ``.npy`` header are read
  first (shape, dtype; a pickled object array is refused, nothing is
  unpickled), then the rows in chunks, so a truncated or damaged file is
  reported by name and a large one is never read whole when only some rows
  are wanted.
- Images: PIL reads a file's header lazily; its dimensions are checked
  against ``max_pixels`` (config ``max_image_pixels``) before anything is
  decoded, and so are the aspect ratio (at most :data:`MAX_ASPECT_RATIO`) and
  the pixel count of the image once its shorter side is resized, before it
  is resized: a small file of 1 x 3,000,000 pixels cannot make the resize
  allocate gigabytes.
- Only regular files are read: a FIFO, socket or device that has an image's
  name (``zz.png``) is skipped by the walk and never opened, so it cannot
  block a read forever (a file is opened without blocking and checked again
  before it is read).
- Folders are walked without following symbolic links to directories (so a
  link loop cannot make the walk endless) and decoded one file at a time into
  a preallocated ``uint8`` array or into batches.
"""

import contextlib
import os
import stat
import warnings
import zipfile
import zlib
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, UnidentifiedImageError

from gan_jax.config.schema import Config
from gan_jax.errors import UserError
from gan_jax.io import paths

__all__ = [
    "IMAGE_EXTENSIONS", "NPZ_IMAGE_KEYS", "NPZ_LABEL_KEYS", "DEFAULT_MAX_IMAGE_PIXELS",
    "to_unit_range", "check_labels", "npz_headers", "npz_rows", "read_npz_array",
    "list_image_files", "is_regular_file", "image_file_shape", "read_image", "image_batches",
    "MAX_ASPECT_RATIO",
]

#: The file name endings read as images in a folder source (compared in lower case).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
#: The keys an ``.npz`` source's images are looked up under, in this order.
NPZ_IMAGE_KEYS = ("images", "x", "samples")
#: The keys an ``.npz`` source's labels are looked up under, in this order.
NPZ_LABEL_KEYS = ("labels", "y")
#: 50 megapixels (an 8000 x 6000 photograph passes); PIL itself warns at 89
#: and refuses at 179 megapixels (its decompression-bomb guard).
DEFAULT_MAX_IMAGE_PIXELS = Config.max_image_pixels
#: The longer side of an image may be at most this many times its shorter side.
MAX_ASPECT_RATIO = 100
_CHUNK_BYTES = 1 << 24
_NPZ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError)


def to_unit_range(images: np.ndarray, where: str) -> np.ndarray:
    """uint8 [0, 255] or float [-1, 1] images to float32 [-1, 1], checked."""
    if images.dtype == np.uint8:
        return images.astype(np.float32) / 127.5 - 1.0
    if not np.issubdtype(images.dtype, np.floating):
        raise UserError(f"images in {where} have dtype {images.dtype}; use uint8 in [0, 255] "
                        "or float in [-1, 1]")
    if not np.all(np.isfinite(images)):
        raise UserError(f"images in {where} contain NaN or inf; clean the data first")
    lo, hi = float(images.min()), float(images.max())
    if lo < -1.0 - 1e-6 or hi > 1.0 + 1e-6:
        raise UserError(f"float images in {where} range over [{lo:.3g}, {hi:.3g}]; "
                        "scale them to [-1, 1] (or store uint8 in [0, 255])")
    return images.astype(np.float32)


def check_labels(labels: np.ndarray, num_images: int, num_classes: int, where: str) -> np.ndarray:
    """Class labels as int32 ``(N,)``: integers, one per image, in [0, num_classes).

    ``num_classes`` 0 means no upper bound is known (an unconditional run):
    then only integrality and non-negativity are checked. Float labels are
    refused even when they hold whole numbers: the data set is wrong.
    """
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer) or labels.dtype == np.bool_:
        raise UserError(f"labels in {where} have shape {labels.shape} and dtype {labels.dtype}; "
                        "store one integer class per image, shape (N,)")
    if len(labels) != num_images:
        raise UserError(f"{where} has {num_images} images but {len(labels)} labels; store one label per image")
    if len(labels) and labels.min() < 0:
        raise UserError(f"labels in {where} include {int(labels.min())}; classes are 0, 1, 2, ...")
    if num_classes and len(labels) and labels.max() >= num_classes:
        raise UserError(f"labels in {where} go up to {int(labels.max())} but the config has "
                        f"num_classes={num_classes}; set num_classes={int(labels.max()) + 1}")
    return labels.astype(np.int32)


def _npy_header(member, path: str, key: str):
    """Shape, dtype and Fortran order of the ``.npy`` stream ``member``."""
    fmt = np.lib.format
    version = fmt.read_magic(member)
    if version == (1, 0):
        shape, fortran, dtype = fmt.read_array_header_1_0(member)
    else:
        shape, fortran, dtype = fmt.read_array_header_2_0(member)
    if dtype.hasobject:
        raise UserError(f"array {key!r} in {path} holds Python objects (a pickle), which are never "
                        "loaded; save plain numeric arrays (np.savez(path, images=uint8_array))")
    return shape, dtype, fortran


def _open_npz(path: str) -> zipfile.ZipFile:
    paths.check_location(path, "npz file")
    if not paths.isfile(path):
        raise UserError(f"npz file {path} does not exist")
    try:
        return zipfile.ZipFile(paths.open_for_reading(path) if paths.is_url(path) else path)
    except _NPZ_ERRORS as e:
        raise UserError(f"cannot read {path} as .npz ({type(e).__name__}: {e}); the file is damaged "
                        "or not an .npz, write it again with numpy.savez") from None


def npz_headers(path: str) -> Dict[str, Tuple[tuple, np.dtype]]:
    """``{key: (shape, dtype)}`` of every array in an ``.npz``, from the headers alone."""
    with _open_npz(path) as archive:
        headers = {}
        for name in archive.namelist():
            if not name.endswith(".npy"):
                continue
            key = name[:-4]
            try:
                with archive.open(name) as member:
                    shape, dtype, _ = _npy_header(member, path, key)
            except UserError:
                raise
            except _NPZ_ERRORS as e:
                raise UserError(f"cannot read array {key!r} of {path} ({type(e).__name__}: {e}); "
                                "the file is damaged, write it again") from None
            headers[key] = (tuple(shape), dtype)
    return headers


def npz_rows(path: str, key: str, rows: Optional[Sequence[int]] = None,
             chunk_rows: Optional[int] = None) -> Iterator[np.ndarray]:
    """The rows of array ``key`` of an ``.npz`` in order, read in chunks.

    ``rows``: sorted indices to keep (default all); ``chunk_rows``: rows per
    read (default: about 16 MiB). Only one chunk is in memory at a time.
    """
    archive = _open_npz(path)
    try:
        member = archive.open(key + ".npy")
        shape, dtype, fortran = _npy_header(member, path, key)
        if not shape:
            raise UserError(f"array {key!r} in {path} is a scalar; store one row per sample")
        n, row_shape = shape[0], shape[1:]
        if fortran and len(shape) > 1:
            # Column-major rows are not contiguous; such files are read whole.
            yield np.lib.format.read_array(archive.open(key + ".npy"), allow_pickle=False)[
                slice(None) if rows is None else np.asarray(rows, np.int64)]
            return
        row_bytes = int(np.prod(row_shape, dtype=np.int64)) * dtype.itemsize
        chunk_rows = chunk_rows or max(1, _CHUNK_BYTES // max(row_bytes, 1))
        keep = None if rows is None else np.asarray(rows, np.int64)
        for start in range(0, n, chunk_rows):
            count = min(chunk_rows, n - start)
            buffer = member.read(count * row_bytes)
            if len(buffer) != count * row_bytes:
                raise UserError(f"array {key!r} in {path} ends after {start + len(buffer) // max(row_bytes, 1)} "
                                f"of {n} rows; the file is truncated, write it again")
            block = np.frombuffer(buffer, dtype).reshape((count,) + tuple(row_shape))
            if keep is not None:
                block = block[keep[(keep >= start) & (keep < start + count)] - start]
            if len(block):
                yield block
    except UserError:
        raise
    except _NPZ_ERRORS as e:
        raise UserError(f"cannot read array {key!r} of {path} ({type(e).__name__}: {e}); the file is "
                        "damaged, write it again") from None
    finally:
        archive.close()


def read_npz_array(path: str, key: str) -> np.ndarray:
    """The whole array ``key`` of an ``.npz`` (checked like :func:`npz_rows`)."""
    shape, dtype = npz_headers(path)[key]
    parts = list(npz_rows(path, key))
    return np.concatenate(parts) if parts else np.zeros(shape, dtype)


def is_regular_file(path: str) -> bool:
    """Whether ``path`` is a regular file (a symbolic link to one counts); False for a
    FIFO, socket, device, directory or a link to nothing. Never opens ``path``."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


#: The most files and folders an image folder's walk visits before it is refused.
MAX_FOLDER_ENTRIES = 1_000_000


def list_image_files(folder: str) -> List[str]:
    """Every image file under ``folder`` (by extension), sorted.

    Only regular files are listed: a FIFO, socket or device named like an
    image (``zz.png``) is skipped, never opened (reading a FIFO would wait
    forever). Symbolic links to directories are not followed (``os.walk``
    with ``followlinks=False``), so a link loop cannot make the walk endless;
    links to regular files are read like files. The walk stops with a UserError
    after ``MAX_FOLDER_ENTRIES`` entries (a folder such as ``/`` is not a
    data set, and walking it would take unbounded time).
    """
    if not os.path.isdir(folder):
        raise UserError(f"image folder {folder} does not exist")
    files, seen = [], 0
    for root, dirs, names in os.walk(folder, followlinks=False):
        seen += len(dirs) + len(names)
        if seen > MAX_FOLDER_ENTRIES:
            raise UserError(f"image folder {folder} holds more than {MAX_FOLDER_ENTRIES:,} files and folders; "
                            "point at the folder that holds the images")
        dirs.sort()
        files.extend(path for path in (os.path.join(root, name) for name in sorted(names)
                                       if name.lower().endswith(IMAGE_EXTENSIONS))
                     if is_regular_file(path))
    if not files:
        raise UserError(f"image folder {folder} has no images ({', '.join(IMAGE_EXTENSIONS)})")
    return files


def _open_regular(path: str):
    """``path`` opened for binary reading without blocking, UserError unless it is a regular
    file (checked on the open descriptor: a FIFO put there after the walk is not read)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise UserError(f"cannot read image {path} ({e.strerror or e}); remove or replace it") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UserError(f"image {path} is not a regular file (a FIFO, socket or device); remove it")
    return os.fdopen(fd, "rb")


def _check_dimensions(path: str, w: int, h: int, image_size: int, max_pixels: int) -> None:
    """UserError (one line naming ``path``) if a ``w`` x ``h`` image has more than ``max_pixels``
    pixels, an aspect ratio over :data:`MAX_ASPECT_RATIO`, or more than ``max_pixels`` once its
    shorter side is resized to ``image_size``; nothing is decoded or resized before this."""
    fix = "remove it, or raise max_image_pixels if it is genuine"
    if w * h > max_pixels:
        raise UserError(f"image {path} is {w}x{h} = {w * h} pixels, over max_image_pixels={max_pixels}; {fix}")
    if min(w, h) < 1 or max(w, h) > MAX_ASPECT_RATIO * min(w, h):
        raise UserError(f"image {path} is {w}x{h} pixels, an aspect ratio over {MAX_ASPECT_RATIO}:1; "
                        "crop it or remove it")
    resized_w, resized_h = _resized_size(w, h, image_size)
    if resized_w * resized_h > max_pixels:
        raise UserError(f"image {path} is {w}x{h} pixels and would be {resized_w}x{resized_h} = "
                        f"{resized_w * resized_h} pixels once resized to image_size={image_size}, over "
                        f"max_image_pixels={max_pixels}; crop it or remove it")


@contextlib.contextmanager
def _open_image(path: str):
    """The image file ``path`` opened by PIL (which reads the header and decodes lazily), a
    regular file only; any failure to read or decode it in the block is one line naming it."""
    try:
        with warnings.catch_warnings():
            # Our own bounds replace PIL's warning below its hard limit.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with _open_regular(path) as f, Image.open(f) as image:
                yield image
    except UserError:
        raise
    except Image.DecompressionBombError as e:
        raise UserError(f"image {path} is too large for PIL to decode ({e}); remove it") from None
    except (OSError, ValueError, UnidentifiedImageError) as e:
        raise UserError(f"cannot read image {path} ({e}); remove or replace it") from None


def image_file_shape(path: str, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> Tuple[int, int, int]:
    """``(S, S, C)`` that the image file ``path`` holds, read from its header: ``S`` its shorter
    side (the centre square), ``C`` 1 for a grey image and 3 for a colour one."""
    with _open_image(path) as image:
        (w, h), mode = image.size, image.mode
    _check_dimensions(path, w, h, min(w, h), max_pixels)
    grey = mode in ("1", "L", "LA", "I", "F") or mode.startswith("I;")
    return min(w, h), min(w, h), 1 if grey else 3


def _resized_size(w: int, h: int, size: int) -> Tuple[int, int]:
    """The size of a ``w`` x ``h`` image whose shorter side is resized to ``size``."""
    scale = size / min(w, h)
    return max(size, round(w * scale)), max(size, round(h * scale))


def _resize_center_crop(image, size: int):
    """Resize the shorter side to ``size`` (bilinear), then crop the centre square."""
    image = image.resize(_resized_size(*image.size, size), Image.BILINEAR)
    w, h = image.size
    left, top = (w - size) // 2, (h - size) // 2
    return image.crop((left, top, left + size, top + size))


def read_image(path: str, image_size: int, channels: int,
               max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> np.ndarray:
    """One image file as uint8 ``(image_size, image_size, channels)``: the shorter
    side resized to ``image_size`` (bilinear), the centre square cropped.

    Only a regular file is opened (without blocking). The dimensions are checked
    from the header (PIL opens lazily) before the pixels are decoded: at most
    ``max_pixels`` pixels, an aspect ratio of at most :data:`MAX_ASPECT_RATIO`,
    and at most ``max_pixels`` once resized (``_check_dimensions``).
    """
    with _open_image(path) as image:
        _check_dimensions(path, *image.size, image_size, max_pixels)
        decoded = _resize_center_crop(image.convert("L" if channels == 1 else "RGB"), image_size)
    return np.asarray(decoded, np.uint8).reshape(image_size, image_size, channels)


def image_batches(files: Sequence[str], image_size: int, channels: int, batch_size: int,
                  max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> Iterator[np.ndarray]:
    """uint8 batches ``(<= batch_size, S, S, C)`` of the decoded ``files``, in order;
    at most one batch of decoded images is in memory at a time."""
    for start in range(0, len(files), batch_size):
        yield np.stack([read_image(f, image_size, channels, max_pixels)
                        for f in files[start:start + batch_size]])
