"""Time per generator step of the unrolled GAN for k = 0, 1, 5, 10, 20.

Each k gets its own compiled ``g_step`` (the unroll length is static); the
time is the median of ``--reps`` timed calls after one warm-up call, with
``block_until_ready``. A least-squares line t(k) = a + b k is fitted to show
that the cost is linear in k; the cheap stop-gradient variant is timed too.

    python benchmarks/unroll_cost.py --config ring8 --reps 30

Writes ``unroll_cost.json`` and ``unroll_cost.png`` under ``--out``.
"""

import argparse
import dataclasses
import json
import os
import time

import jax
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from gan_jax.config.build import data_shape, init_state  # noqa: E402
from gan_jax.config.schema import get_config  # noqa: E402
from gan_jax.core.state import Batch  # noqa: E402
from gan_jax.core.steps import g_step  # noqa: E402
from gan_jax.runs.provenance import entry_point_setup  # noqa: E402


def time_g_step(state, real, reps):
    """Median seconds of one jitted generator step (compile excluded)."""
    key, step = jax.random.PRNGKey(0), jax.jit(g_step)
    jax.block_until_ready(step(state, Batch(real), key))
    times = []
    for i in range(reps):
        t0 = time.perf_counter()
        jax.block_until_ready(step(state, Batch(real), jax.random.fold_in(key, i)))
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main():
    entry_point_setup()  # an entry point: the project's PRNG choice, as gan-jax makes it
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="ring8")
    parser.add_argument("--ks", type=int, nargs="+", default=[0, 1, 5, 10, 20])
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    config = get_config(args.config)
    base = init_state(config)
    real = jax.random.normal(jax.random.PRNGKey(1), (config.batch_size,) + data_shape(config))
    rows = []
    for stop in (False, True):
        for k in args.ks:
            if stop and k == 0:
                continue
            state = base.replace(objective=dataclasses.replace(
                base.objective, unroll_steps=k, unroll_stop_gradient=stop))
            seconds = time_g_step(state, real, args.reps)
            rows.append({"k": k, "stop_gradient": stop, "ms_per_g_step": 1e3 * seconds})
            print(f"k={k:3d} stop_gradient={stop!s:5}  {1e3 * seconds:8.3f} ms / generator step", flush=True)
    full = [r for r in rows if not r["stop_gradient"]]
    ks = np.array([r["k"] for r in full], float)
    ms = np.array([r["ms_per_g_step"] for r in full])
    slope, intercept = np.polyfit(ks, ms, 1)
    r2 = 1 - np.sum((ms - (intercept + slope * ks)) ** 2) / np.sum((ms - ms.mean()) ** 2)
    fit = {"intercept_ms": float(intercept), "ms_per_unrolled_step": float(slope), "r_squared": float(r2)}
    print(f"fit: t(k) = {intercept:.3f} ms + {slope:.3f} ms * k   (R^2 = {r2:.4f})")
    result = {"config": args.config, "device": str(jax.devices()[0]), "reps": args.reps,
              "batch_size": config.batch_size, "rows": rows, "linear_fit": fit}
    with open(os.path.join(args.out, "unroll_cost.json"), "w") as f:
        json.dump(result, f, indent=2)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for stop, label in ((False, "through the unroll"), (True, "stop-gradient")):
        pts = [(r["k"], r["ms_per_g_step"]) for r in rows if r["stop_gradient"] == stop]
        ax.plot(*zip(*pts), "o-", label=label)
    ax.plot(ks, intercept + slope * ks, "k--", lw=0.8, label=f"fit {slope:.2f} ms/step")
    ax.set_xlabel("unrolled discriminator steps k")
    ax.set_ylabel("ms per generator step")
    ax.set_title(f"Unrolled GAN cost ({args.config}, {jax.devices()[0].platform})")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "unroll_cost.png"), dpi=100)


if __name__ == "__main__":
    main()
