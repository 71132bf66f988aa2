"""The naive algorithm (train D to convergence before each G step) against
k = 1 and k = 2 D steps per G step, on the 1-D Gaussian GAN N(2, 0.5^2), same
seed and same wall-time budget each; distance to the target is the 1-D
Wasserstein distance between 2,000 generated and 2,000 real samples.

Every path is timed the same way: each step is dispatched and then waited for
(``jax.block_until_ready`` on the new state) before the clock is read again,
so no path gains by queueing work on the device while another waits.

    python experiments/naive_vs_k_steps.py --out DIR [--seconds 4]
"""

import functools
import time

import jax
import numpy as np
import optax
from _common import parse_args, plt, run_main, save_figure, write_results
from scipy.stats import wasserstein_distance
from tqdm import tqdm

from gan_jax.core.state import Batch, create_state
from gan_jax.core.steps import generate, naive_train_step, train_step
from gan_jax.models.mlp import MLPDiscriminator, MLPGenerator

REAL_MEAN, REAL_STD, BATCH = 2.0, 0.5, 128


def _w1(state, real_eval):
    fake = np.asarray(generate(state, jax.random.PRNGKey(123), real_eval.shape[0]))[:, 0]
    return float(wasserstein_distance(fake, real_eval))


def run(method, seed, seconds, eval_every):
    """Train with ``method`` ("naive", "k1", "k2") for ``seconds`` of wall time after compiling."""
    init_key, data_key = jax.random.split(jax.random.PRNGKey(seed))
    state = create_state(init_key, MLPGenerator((1,), hidden=32, depth=2), MLPDiscriminator(hidden=32, depth=2),
                         optax.adam(1e-3, b1=0.5), optax.adam(1e-3, b1=0.5), latent_dim=4, data_shape=(1,))
    real_eval = REAL_MEAN + REAL_STD * np.random.default_rng(seed + 1).standard_normal(2000)
    k = {"naive": 1, "k1": 1, "k2": 2}[method]

    naive_step = jax.jit(functools.partial(naive_train_step, tol=1e-3, max_d_steps=200))
    k_step = jax.jit(train_step)

    def step(s, i):
        key = jax.random.fold_in(data_key, i)
        real = REAL_MEAN + REAL_STD * jax.random.normal(jax.random.fold_in(key, 7), (k, BATCH, 1))
        if method == "naive":
            s, metrics = naive_step(s, Batch(real[0]), key)
            return jax.block_until_ready(s), metrics["d_steps_taken"]
        s, _ = k_step(s, Batch(real), key)
        return jax.block_until_ready(s), k

    step(state, 0)  # compile outside the time budget
    log = {"seconds": [0.0], "g_steps": [0], "d_steps": [0], "w1": [_w1(state, real_eval)]}
    start, i, d_total, eval_time = time.perf_counter(), 0, 0, 0.0
    with tqdm(desc=method, unit="G step", leave=False) as bar:
        while time.perf_counter() - start - eval_time < seconds:
            state, taken = step(state, i)
            i, d_total = i + 1, d_total + int(taken)  # already computed: reading it does not wait
            bar.update()
            if i % eval_every == 0:
                t0 = time.perf_counter()
                w1 = _w1(state, real_eval)
                eval_time += time.perf_counter() - t0
                log["seconds"].append(time.perf_counter() - start - eval_time)
                log["g_steps"].append(i)
                log["d_steps"].append(d_total)
                log["w1"].append(w1)
    return log


def main(argv=None):
    def options(p):
        p.add_argument("--seconds", type=float, default=4.0, help="wall-time budget per method")
        p.add_argument("--eval-every", type=int, default=50)
    args = parse_args("naive_vs_k_steps", __doc__.split("\n")[0], argv, options)
    logs = {m: run(m, args.seed, args.seconds, args.eval_every) for m in ("naive", "k1", "k2")}
    results = {"seconds_budget": args.seconds, "target": f"N({REAL_MEAN}, {REAL_STD}^2)"}
    for m, log in logs.items():
        results[m] = {"g_steps": log["g_steps"][-1], "d_steps": log["d_steps"][-1],
                      "d_steps_per_g_step": log["d_steps"][-1] / max(log["g_steps"][-1], 1),
                      "final_w1": log["w1"][-1], "best_w1": min(log["w1"])}

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for m, log in logs.items():
        left.plot(log["seconds"], log["w1"], label=m)
        right.plot(log["g_steps"], log["w1"], label=m)
    left.set(xlabel="wall time (s, compile and evaluation excluded)", ylabel="W1(generated, real)",
             title="Naive algorithm vs k D steps: distance to target over time")
    right.set(xlabel="generator steps", ylabel="W1(generated, real)", title="... and over generator steps")
    for ax in (left, right):
        ax.set_yscale("log")
        ax.legend()
    save_figure(fig, args.out, "naive_vs_k_steps.png")
    write_results(args.out, results)
    for m in logs:
        r = results[m]
        print(f"{m:6s} G steps {r['g_steps']:6d}  D steps {r['d_steps']:7d} "
              f"({r['d_steps_per_g_step']:.1f}/G step)  final W1 {r['final_w1']:.4f}  best {r['best_w1']:.4f}")
    return results


if __name__ == "__main__":
    run_main(main)
