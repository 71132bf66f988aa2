"""FID statistics files: ``.npz`` with ``mu``, ``sigma``, ``n`` and ``extractor`` (local or ``gs://``).

The statistics themselves (streaming mean and covariance) are :mod:`gan_jax.metrics.stats`.
"""

import zipfile
import zlib

import numpy as np

from gan_jax.errors import UserError
from gan_jax.io import paths
from gan_jax.metrics.stats import FeatureStats, covariance

__all__ = ["save_stats", "load_stats"]


def save_stats(stats: FeatureStats, path: str) -> str:
    """Write ``mu``, ``sigma``, ``n`` and ``extractor`` to ``path`` (.npz, local or ``gs://``)."""
    directory = paths.dirname(path)
    if directory:
        paths.makedirs(directory)
    with paths.atomic_output(path, ".npz") as local:
        np.savez(local, mu=stats.mean, sigma=covariance(stats), n=np.int64(stats.n),
                 extractor=np.array(stats.extractor))
    return path


def load_stats(path: str) -> FeatureStats:
    """Read a file written by :func:`save_stats` (M2 is rebuilt as sigma (n - 1)), checked:
    a damaged, pickled or incomplete file, or NaN or inf in ``mu``/``sigma``, is a UserError."""
    paths.check_location(path, "statistics file")
    if not paths.isfile(path):
        raise UserError(f"statistics file {path} does not exist")
    try:
        with np.load(paths.open_for_reading(path) if paths.is_url(path) else path, allow_pickle=False) as f:
            missing = {"mu", "sigma", "n", "extractor"} - set(f.files)
            if missing:
                raise UserError(f"{path} lacks {sorted(missing)}; expected a file written by "
                                "gan_jax.evaluation.stats_files.save_stats (mu, sigma, n, extractor)")
            mu, sigma, n, extractor = f["mu"], f["sigma"], f["n"], f["extractor"]
    except UserError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as e:
        raise UserError(f"cannot read {path} as statistics ({type(e).__name__}: {e}); recompute it "
                        "with gan-jax fid --save-stats") from None
    if n.shape != () or not np.issubdtype(n.dtype, np.integer) or int(n) < 2 or extractor.dtype.kind != "U":
        raise UserError(f"{path} has n={n!r} and extractor={extractor!r}; expected an integer n >= 2 and "
                        "a name (recompute it with gan-jax fid --save-stats)")
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise UserError(f"{path} has mu {mu.shape} and sigma {sigma.shape}; they must be (d,) and (d, d)")
    if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(sigma))):
        raise UserError(f"{path} has NaN or inf in mu or sigma; recompute it with gan-jax fid --save-stats")
    n = int(n)
    return FeatureStats(n, mu.astype(np.float64), sigma.astype(np.float64) * (n - 1), str(extractor))
