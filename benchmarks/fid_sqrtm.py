"""Fréchet distance at dimension 2048: gan_jax against scipy.linalg.sqrtm, per dtype, in one run.

Usage: python benchmarks/fid_sqrtm.py [--dim 2048] [--repeats 3] [--json]

For float64 (gan_jax given NumPy float64 statistics, its float64 route) and
float32 (gan_jax given float32 JAX arrays; scipy given float32 NumPy arrays),
the two take turns ``--repeats`` times on the same statistics, each keeping
its best time, after one untimed call each (gan_jax's compilation). BLAS and
LAPACK (OpenBLAS, shared by scipy and jaxlib) are held at 2 threads; XLA's
own thread pool has one thread per core. Accuracy is against the exact value,
sum of the singular values of L1^T L2 for Cholesky factors S = L L^T, in
float64. The load average before and after is printed with the figures,
since other jobs on the machine slow both sides.
"""

import argparse
import json
import os
import time

import jax.numpy as jnp
import numpy as np
import scipy.linalg
from threadpoolctl import threadpool_info, threadpool_limits

from gan_jax.metrics.frechet import frechet_distance
from gan_jax.runs.provenance import entry_point_setup

THREADS = 2


def scipy_reference(mu1, s1, mu2, s2) -> float:
    """pytorch-fid's formula with scipy.linalg.sqrtm of the non-symmetric product."""
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def exact_value(mu1, s1, mu2, s2) -> float:
    """d^2 with Tr (S1 S2)^{1/2} = sum of singular values of L1^T L2 (S1 S2 is
    similar to (L1^T L2)(L1^T L2)^T), float64 NumPy, no square root of round-off."""
    l1, l2 = np.linalg.cholesky(s1), np.linalg.cholesky(s2)
    trace_sqrt = np.linalg.svd(l1.T @ l2, compute_uv=False).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt)


def gaussian_stats(dim: int, seed: int = 0):
    """Means and covariances ``(mu1 (d,), s1 (d, d), mu2, s2)`` of two 2d-sample normal clouds."""
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(2 * dim, dim)), rng.normal(size=(2 * dim, dim)) * 0.9 + 0.1
    return x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False)


def _timed(fn, args):
    start = time.perf_counter()
    value = float(fn(*args))
    return time.perf_counter() - start, value


def time_dtype(stats, dtype: str, repeats: int) -> dict:
    """Best-of-``repeats`` seconds of gan_jax and scipy in turns on ``stats`` cast to ``dtype``.

    Returns ``{"dtype", "jax_s", "scipy_s", "speedup", "fd_jax", "fd_scipy",
    "jax_relative_error", "scipy_relative_error"}`` (errors against :func:`exact_value`).
    """
    exact = exact_value(*stats)
    numpy_args = [np.asarray(a, dtype) for a in stats]
    jax_args = numpy_args if dtype == "float64" else [jnp.asarray(a) for a in numpy_args]
    _timed(frechet_distance, jax_args)  # compile
    _timed(scipy_reference, numpy_args)
    jax_times, scipy_times = [], []
    for _ in range(repeats):
        t, fd_jax = _timed(frechet_distance, jax_args)
        jax_times.append(t)
        t, fd_scipy = _timed(scipy_reference, numpy_args)
        scipy_times.append(t)
    return dict(dtype=dtype, jax_s=min(jax_times), scipy_s=min(scipy_times),
                speedup=min(scipy_times) / min(jax_times), fd_jax=fd_jax, fd_scipy=fd_scipy,
                jax_relative_error=abs(fd_jax - exact) / exact,
                scipy_relative_error=abs(fd_scipy - exact) / exact)


def time_frechet(dim: int = 2048, repeats: int = 3) -> dict:
    """Both dtypes at ``dim`` with BLAS held at 2 threads: ``{"dim", "blas_threads",
    "load_before", "load_after", "float64": time_dtype(...), "float32": ...}``."""
    stats = gaussian_stats(dim)
    load_before = os.getloadavg()
    with threadpool_limits(limits=THREADS):
        threads = sorted({pool["num_threads"] for pool in threadpool_info()})
        by_dtype = {dtype: time_dtype(stats, dtype, repeats) for dtype in ("float64", "float32")}
    return dict(dim=dim, blas_threads=threads, load_before=load_before, load_after=os.getloadavg(),
                **by_dtype)


def describe(r: dict) -> str:
    """One headline per dtype: both times, the speed-up, both relative errors; then the load."""
    lines = [f"{d['dtype']}, dim {r['dim']}: gan_jax {d['jax_s']:.3f} s, scipy sqrtm {d['scipy_s']:.3f} s, "
             f"speed-up {d['speedup']:.1f}x; relative error gan_jax {d['jax_relative_error']:.1e}, "
             f"scipy {d['scipy_relative_error']:.1e}" for d in (r["float64"], r["float32"])]
    load = lambda avg: ", ".join(f"{x:.2f}" for x in avg)  # noqa: E731
    lines.append(f"BLAS threads {r['blas_threads']}; load average (1, 5, 15 min) before "
                 f"{load(r['load_before'])}, after {load(r['load_after'])}")
    return "\n".join(lines)


def main():
    entry_point_setup()  # an entry point: the project's PRNG choice, as gan-jax makes it
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    args = parser.parse_args()
    result = time_frechet(args.dim, args.repeats)
    print(describe(result))
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
