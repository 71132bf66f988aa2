"""Writing an ``.npz`` one chunk at a time, so that memory stays bounded.

``np.savez`` needs every array whole in memory; :func:`save_npz_chunks` writes
the first array's ``.npy`` entry from an iterator of chunks (the header first,
with the total length), so ``gan-jax sample -n 10000000`` holds one chunk at
a time. The file is written under a temporary name and renamed when
complete: an interrupted write leaves no half file, and an existing file is
replaced only by a finished one. ``np.load`` reads the result as usual. A
``gs://`` path is written to a local temporary file and uploaded whole when
complete (:func:`gan_jax.io.paths.atomic_output`, which also removes the
temporary file on Ctrl-C or SIGTERM).
"""

import zipfile
from typing import Callable, Iterable, Optional

import numpy as np

from gan_jax.io import paths

__all__ = ["save_npz_chunks", "npz_bytes"]

_ENTRY_OVERHEAD = 1024   # an entry's .npy header and zip records, rounded up


def npz_bytes(rows: int, row_shape, itemsize: int, extra_bytes: int = 0, entries: int = 1) -> int:
    """The size of the file :func:`save_npz_chunks` writes (stored, not compressed) for ``rows``
    rows of ``row_shape`` of ``itemsize`` bytes, ``extra_bytes`` of extra arrays and ``entries``
    arrays in all: to check the free space before drawing anything."""
    row_bytes = int(np.prod(row_shape, dtype=np.int64)) * itemsize
    return rows * row_bytes + extra_bytes + entries * _ENTRY_OVERHEAD


def save_npz_chunks(path: str, name: str, chunks: Iterable[np.ndarray], total: int,
                    extra: Optional[dict] = None, on_chunk: Callable[[int], None] = None) -> str:
    """Write ``{name: concatenate(chunks) (total, ...), **extra}`` to ``path``.

    ``chunks`` are arrays of one dtype and trailing shape whose first
    dimensions add up to ``total``; ``on_chunk(rows)`` is called after each
    (a progress bar). ``extra`` arrays are written whole. Returns ``path``.
    """
    with paths.atomic_output(path, ".npz") as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
            written = 0
            with archive.open(f"{name}.npy", "w", force_zip64=True) as entry:
                for chunk in chunks:
                    chunk = np.ascontiguousarray(chunk)
                    if written == 0:
                        header = {"descr": np.lib.format.dtype_to_descr(chunk.dtype), "fortran_order": False,
                                  "shape": (total,) + chunk.shape[1:]}
                        np.lib.format.write_array_header_2_0(entry, header)
                    entry.write(chunk.tobytes())
                    written += len(chunk)
                    if on_chunk is not None:
                        on_chunk(len(chunk))
            if written != total:
                raise ValueError(f"chunks held {written} rows, not {total}")
            for key, value in (extra or {}).items():
                with archive.open(f"{key}.npy", "w", force_zip64=True) as entry:
                    np.lib.format.write_array(entry, np.asarray(value), allow_pickle=False)
    return path
