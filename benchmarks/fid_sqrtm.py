"""Fréchet distance at dimension 2048: gan_jax's eigh route vs scipy.linalg.sqrtm, in one run.

Usage: python benchmarks/fid_sqrtm.py [--dim 2048] [--repeats 3]
Prints both times (best of --repeats, after one warm-up/compile call), the
ratio, and both values.
"""

import argparse
import time

import numpy as np
import scipy.linalg

from gan_jax.metrics.frechet import frechet_distance_f64


def scipy_reference(mu1, s1, mu2, s2) -> float:
    """pytorch-fid's formula with scipy.linalg.sqrtm of the non-symmetric product."""
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def best_time(fn, args, repeats):
    times, value = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn(*args)
        times.append(time.perf_counter() - start)
    return min(times), value


def gaussian_stats(dim: int, seed: int = 0):
    """Means and covariances ``(mu1 (d,), s1 (d, d), mu2, s2)`` of two 2d-sample normal clouds."""
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(2 * dim, dim)), rng.normal(size=(2 * dim, dim)) * 0.9 + 0.1
    return x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False)


def time_frechet(dim: int = 2048, repeats: int = 3) -> dict:
    """Best-of-``repeats`` seconds of both routes on the same statistics, after one compile call.

    Returns ``{"dim", "jax_s", "scipy_s", "speedup", "fd_jax", "fd_scipy", "relative_difference"}``.
    """
    stats = gaussian_stats(dim)
    frechet_distance_f64(*stats)  # compile once
    t_jax, v_jax = best_time(frechet_distance_f64, stats, repeats)
    t_scipy, v_scipy = best_time(scipy_reference, stats, repeats)
    return dict(dim=dim, jax_s=t_jax, scipy_s=t_scipy, speedup=t_scipy / t_jax, fd_jax=v_jax,
                fd_scipy=v_scipy, relative_difference=abs(v_jax - v_scipy) / abs(v_scipy))


def describe(r: dict) -> str:
    """One line: both times, the speed-up and both values."""
    return (f"dim {r['dim']}: gan_jax eigh {r['jax_s']:.3f} s (FD {r['fd_jax']:.6f}), scipy sqrtm "
            f"{r['scipy_s']:.3f} s (FD {r['fd_scipy']:.6f}); speed-up {r['speedup']:.1f}x; "
            f"relative difference {r['relative_difference']:.2e}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(describe(time_frechet(args.dim, args.repeats)))


if __name__ == "__main__":
    main()
