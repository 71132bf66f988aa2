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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    d = args.dim
    x, y = rng.normal(size=(2 * d, d)), rng.normal(size=(2 * d, d)) * 0.9 + 0.1
    stats = (x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))
    frechet_distance_f64(*stats)  # compile once
    t_jax, v_jax = best_time(frechet_distance_f64, stats, args.repeats)
    t_scipy, v_scipy = best_time(scipy_reference, stats, args.repeats)
    print(f"dim {d}: gan_jax eigh {t_jax:.3f} s (FD {v_jax:.6f}), scipy sqrtm {t_scipy:.3f} s "
          f"(FD {v_scipy:.6f}); speed-up {t_scipy / t_jax:.1f}x; relative difference "
          f"{abs(v_jax - v_scipy) / abs(v_scipy):.2e}")


if __name__ == "__main__":
    main()
