"""The bilinear game f(x, y) = x y (x minimises, y maximises; Nash equilibrium
(0, 0)) under simultaneous, alternating, optimistic, extragradient and consensus
updates, then the same phenomenon in a real 1-D Gaussian GAN trained with
simultaneous versus alternating updates.

    python experiments/bilinear_game.py --out DIR [--gan-steps 2000]
"""


import jax
import numpy as np
import optax
from _common import parse_args, plt, run_main, save_figure, write_results

from gan_jax.core.objective import GANObjective
from gan_jax.core.state import create_state
from gan_jax.errors import from_core
from gan_jax.models.mlp import MLPDiscriminator, MLPGenerator
from gan_jax.theory.games import (
    BILINEAR_METHODS,
    alternating_matrix,
    average_iterates,
    exponential_average_factor,
    simulate_bilinear,
    train_gaussian_gan,
    uniform_average_closed_form,
)

THEORY = {
    "simultaneous": "spirals out: |v| x sqrt(1 + lr^2) per step",
    "alternating": "bounded orbit: x^2 + y^2 - lr x y conserved",
    "optimistic": "converges for small lr (two-root recursion)",
    "extragradient": "converges: |v| x sqrt(1 - lr^2 + lr^4) per step",
    "consensus": "converges: |v| x sqrt((1 - lr gamma)^2 + lr^2) per step",
}
REAL_MEAN, REAL_STD = 2.0, 0.5
# Every method its own colour, line style, width and marker: optimistic and
# extragradient follow nearly the same path, so one is drawn thick and light,
# the other thin and dashed on top of it.
STYLES = {
    "simultaneous": dict(color="C3", ls="-", lw=1.0, marker="o"),
    "alternating": dict(color="C0", ls="-.", lw=1.0, marker="s"),
    "optimistic": dict(color="C1", ls="--", lw=1.2, marker="^"),
    "extragradient": dict(color="C2", ls="-", lw=4.0, alpha=0.45, marker="D"),
    "consensus": dict(color="C4", ls=":", lw=1.6, marker="v"),
}


def main(argv=None):
    def options(p):
        p.add_argument("--lr", type=float, default=0.1)
        p.add_argument("--steps", type=int, default=300)
        p.add_argument("--gan-steps", type=int, default=2000)
        p.add_argument("--gan-lr", type=float, default=0.05, help="SGD learning rate of both GAN players")
        p.add_argument("--average-decay", type=float, default=0.99,
                       help="decay of the exponential average drawn beside the uniform one, in [0, 1)")
    args = parse_args("bilinear_game", __doc__.split("\n")[0], argv, options)
    with from_core():   # a bad --lr or --steps is refused by the game with a ValueError: one line here
        paths = {m: np.asarray(simulate_bilinear(m, 1.0, 1.0, args.lr, args.steps)) for m in BILINEAR_METHODS}
    results = {"lr": args.lr, "steps": args.steps, "start": [1.0, 1.0],
               "final_distance": {m: float(np.linalg.norm(p[-1])) for m, p in paths.items()},
               "theory": THEORY}

    init_key, train_key = jax.random.split(jax.random.PRNGKey(args.seed))
    traces = {}
    for simultaneous in (True, False):
        state = create_state(init_key, MLPGenerator((1,), hidden=16, depth=1), MLPDiscriminator(hidden=16, depth=1),
                             optax.sgd(args.gan_lr), optax.sgd(args.gan_lr), latent_dim=1, data_shape=(1,),
                             objective=GANObjective(simultaneous=simultaneous))
        name = "simultaneous" if simultaneous else "alternating"
        _, trace = train_gaussian_gan(state, train_key, args.gan_steps, 128, REAL_MEAN, REAL_STD)
        traces[name] = {k: np.asarray(v) for k, v in trace.items()}
        tail = traces[name]["g_mean"][-args.gan_steps // 4:]
        results[f"gan_{name}"] = {"final_g_mean": float(tail[-1]), "last_quarter_g_mean_std": float(tail.std()),
                                  "final_d_real": float(traces[name]["d_real"][-1])}
    results["gan_real_mean"] = REAL_MEAN
    results["gan_lr"] = args.gan_lr

    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    for m, p in paths.items():
        every = max(1, args.steps // 10)
        axes[0, 0].plot(p[:, 0], p[:, 1], label=m, markevery=every, ms=5, **STYLES[m])
        axes[0, 1].semilogy(np.linalg.norm(p, axis=1) + 1e-30, label=m, markevery=every, ms=5, **STYLES[m])
    axes[0, 0].plot(0, 0, "k*", ms=12, label="Nash equilibrium")
    axes[0, 0].set(xlabel="x (minimiser)", ylabel="y (maximiser)",
                   title=f"Bilinear game f = xy: trajectories from (1, 1), lr = {args.lr}")
    axes[0, 1].set(xlabel="step", ylabel="distance to (0, 0)", title="Distance to the equilibrium")
    axes[0, 0].legend(fontsize=8)
    axes[0, 1].legend(fontsize=8)
    for name, trace in traces.items():
        axes[1, 0].plot(trace["d_real"], label=f"{name}: mean D(x) on real data", lw=1)
        axes[1, 1].plot(trace["g_mean"], label=f"{name}: mean of G(z)", lw=1)
    axes[1, 1].axhline(REAL_MEAN, color="k", ls=":", label="data mean")
    axes[1, 0].set(xlabel="step", ylabel="mean D(x)", title="1-D Gaussian GAN: discriminator on real data")
    axes[1, 1].set(xlabel="step", ylabel="mean G(z)", title="1-D Gaussian GAN: generator mean")
    axes[1, 0].legend(fontsize=8)
    axes[1, 1].legend(fontsize=8)
    save_figure(fig, args.out, "bilinear_game.png")
    with from_core():
        results["averaging"] = _plot_averaging(args, paths["alternating"])
    write_results(args.out, results)
    for m in BILINEAR_METHODS:
        print(f"{m:14s} final distance {results['final_distance'][m]:.4g}  ({THEORY[m]})")
    avg = results["averaging"]
    print(f"alternating, averaged: uniform {avg['final_distance_uniform']:.4g}, exponential "
          f"{avg['final_distance_exponential']:.4g} (theory: shrink factor {avg['exponential_factor']:.4g}), "
          f"raw {avg['final_distance_raw']:.4g}")
    for name in traces:
        r = results[f"gan_{name}"]
        print(f"GAN {name:12s} final mean G(z) {r['final_g_mean']:.3f} (data {REAL_MEAN}), "
              f"std over last quarter {r['last_quarter_g_mean_std']:.3f}")
    return results


def _plot_averaging(args, path) -> dict:
    """Raw alternating iterates beside their uniform and exponential averages (figure
    ``bilinear_averaging.png``), with the closed forms of gan_jax.theory.games."""
    uniform = average_iterates(path)
    exponential = average_iterates(path, args.average_decay)
    closed = uniform_average_closed_form(alternating_matrix(args.lr), path[0], len(path) - 1)
    rho = exponential_average_factor(args.lr, args.average_decay)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    axes[0].plot(path[:, 0], path[:, 1], color="0.6", lw=0.8, label="alternating iterates")
    axes[0].plot(uniform[:, 0], uniform[:, 1], color="C0", lw=1.5, label="uniform average")
    axes[0].plot(exponential[:, 0], exponential[:, 1], color="C1", lw=1.2, ls="--",
                 label=f"exponential average, decay {args.average_decay}")
    axes[0].plot(0, 0, "k*", ms=12, label="Nash equilibrium")
    axes[0].set(xlabel="x (minimiser)", ylabel="y (maximiser)", title=f"Averaging the iterates, lr = {args.lr}")
    axes[0].legend(fontsize=8)
    t = np.arange(len(path))
    axes[1].loglog(t[1:], np.linalg.norm(path, axis=1)[1:], color="0.6", lw=0.8, label="iterates")
    axes[1].loglog(t[1:], np.linalg.norm(uniform, axis=1)[1:], color="C0", lw=1.5, label="uniform average")
    axes[1].loglog(t[1:], np.linalg.norm(closed, axis=1)[1:], color="k", lw=0.8, ls=":",
                   label="closed form (I - M)^-1 (I - M^(T+1)) v0 / (T + 1)")
    axes[1].loglog(t[1:], np.linalg.norm(exponential, axis=1)[1:], color="C1", lw=1.2, ls="--",
                   label=f"exponential average (orbit x {rho:.3f} in theory)")
    axes[1].set(xlabel="step", ylabel="distance to (0, 0)", title="Uniform average: 1/T; exponential: a smaller orbit")
    axes[1].legend(fontsize=8)
    save_figure(fig, args.out, "bilinear_averaging.png")
    return {"decay": args.average_decay, "exponential_factor": rho,
            "final_distance_raw": float(np.linalg.norm(path[-1])),
            "final_distance_uniform": float(np.linalg.norm(uniform[-1])),
            "final_distance_exponential": float(np.linalg.norm(exponential[-1]))}


if __name__ == "__main__":
    run_main(main)
