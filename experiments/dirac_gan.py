"""The Dirac-GAN (Mescheder, Geiger & Nowozin 2018) under every training method:
the update's vector field and a trajectory from one common start per method,
the distance to the equilibrium on a log scale, an animated GIF of the
trajectories, and the xy game beside the unregularised Dirac-GAN.

    python experiments/dirac_gan.py --out DIR [--lr 0.5] [--steps 600] [--methods gan r1 ...]

Writes dirac_gan.png, dirac_gan_distance.png, dirac_gan_averaging.png (the
iterates beside their uniform and exponential averages), dirac_gan.gif and
results.json (per method: final_distance, converges, spectral_radius,
eigenvalues, the averages' final distances, ...); prints our verdicts beside
the paper's.
"""

import numpy as np
from _common import parse_args, plt, run_main, save_figure, write_results
from matplotlib.animation import PillowWriter

from gan_jax.errors import from_core
from gan_jax.theory.dirac import (
    DIRAC_METHODS,
    FIELD_SLOPE,
    analyse_method,
    check_run_settings,
    dirac_method,
    update_displacements,
)
from gan_jax.theory.games import average_iterates, simulate_bilinear

# One visible style per method in the shared plots: colour, line style, marker.
_COLOURS = plt.get_cmap("tab10").colors
_LINESTYLES = ("-", "--", "-.", ":")
_MARKERS = ("o", "s", "^", "v", "D", "P", "X", "*", "<", ">", "h", "p")


def _style(i):
    return dict(color=_COLOURS[i % 10], ls=_LINESTYLES[i % 4], marker=_MARKERS[i % len(_MARKERS)])


def _panel_extent(path, start_extent, cap=5.0):
    """Half-width of a panel: the start's box, widened to the trajectory (at most ``cap``)."""
    reach = float(np.max(np.abs(path[np.all(np.isfinite(path), axis=1)])))
    return max(start_extent, min(1.1 * reach, cap))


def _field_panel(ax, name, result, lr, start_extent):
    extent = _panel_extent(result["trajectory"], start_extent)
    grid = np.linspace(-extent, extent, 15)
    theta, psi = np.meshgrid(grid, grid)
    field = update_displacements(dirac_method(name), lr, np.stack([theta.ravel(), psi.ravel()], 1))
    ax.quiver(theta, psi, field[:, 0].reshape(theta.shape), field[:, 1].reshape(theta.shape),
              color="0.6", angles="xy", width=0.004)
    path = result["trajectory"]
    ax.plot(path[:, 0], path[:, 1], color="C3", lw=1)
    ax.plot(*path[0], "ko", ms=4)
    ax.plot(0, 0, "k*", ms=9)
    ax.set(xlim=(-extent, extent), ylim=(-extent, extent), xlabel="theta (generator)",
           ylabel="psi (discriminator)")
    verdict = (result["trajectory_verdict"] if name == "wgan_gp"
               else f"{result['local_verdict']}, rho {result['spectral_radius']:.4f}")
    ax.set_title(f"{DIRAC_METHODS[name].label}\n{verdict}", fontsize=8)


def _bridge_panel(ax, results, lr, start, steps=150):
    """The xy game at lr = h a and the Dirac-GAN at step h share the update
    eigenvalues: their first ``steps`` updates from the same start."""
    a = FIELD_SLOPE["bce"]
    # Dirac (theta, psi) = xy's (x, -y): theta' = theta + h a psi is x' = x - lr y.
    for i, (rule, dirac_name) in enumerate([("simultaneous", "gan_simultaneous"), ("alternating", "gan")]):
        xy = np.asarray(simulate_bilinear(rule, start[0], -start[1], lr * a, steps))
        ax.plot(xy[:, 0], -xy[:, 1], color=f"C{i}", lw=1.5, alpha=0.5, label=f"xy game, {rule}, lr = h a = {lr * a:g}")
        if dirac_name in results:
            path = results[dirac_name]["trajectory"][: steps + 1]
            ax.plot(path[:, 0], path[:, 1], color=f"C{i}", ls="--", lw=1, label=f"Dirac-GAN, {rule}, h = {lr:g}")
    ax.plot(0, 0, "k*", ms=9)
    ax.set(xlabel="theta = x", ylabel="psi = -y")
    ax.set_title(f"xy game (solid) vs Dirac-GAN (dashed), {steps} updates:\nsame update eigenvalues, "
                 f"1 +- {lr * a:g}i (simultaneous), modulus 1 (alternating)", fontsize=8)
    ax.legend(fontsize=6)


def _animate(results, names, out, frames, extent):
    fig, axes = plt.subplots(int(np.ceil(len(names) / 4)), min(4, len(names)), figsize=(12, 3 * np.ceil(len(names) / 4)),
                             squeeze=False)
    steps = len(next(iter(results.values()))["trajectory"]) - 1
    shown = np.unique(np.linspace(0, steps, frames).astype(int))
    lines, heads = [], []
    for ax, name in zip(axes.flat, names):
        ax.plot(0, 0, "k*", ms=8)
        reach = _panel_extent(results[name]["trajectory"], extent)
        ax.set(xlim=(-reach, reach), ylim=(-reach, reach))
        ax.set_title(DIRAC_METHODS[name].label, fontsize=8)
        lines.append(ax.plot([], [], color="C3", lw=1)[0])
        heads.append(ax.plot([], [], "o", color="C0", ms=5)[0])
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    title = fig.suptitle("")
    writer = PillowWriter(fps=15)
    path = f"{out}/dirac_gan.gif"
    with writer.saving(fig, path, dpi=60):
        for t in shown:
            for line, head, name in zip(lines, heads, names):
                trajectory = results[name]["trajectory"][: t + 1]
                line.set_data(trajectory[:, 0], trajectory[:, 1])
                head.set_data([trajectory[-1, 0]], [trajectory[-1, 1]])
            title.set_text(f"Dirac-GAN trajectories (theta, psi), update {t}")
            writer.grab_frame()
    plt.close(fig)
    return path


def _plot_averages(results, names, decay, out) -> dict:
    """Each method's distance to the equilibrium for its iterates and for their uniform and
    exponential averages (figure ``dirac_gan_averaging.png``); returns the final distances."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    summary = {}
    for i, name in enumerate(names):
        path = results[name]["trajectory"]
        finite = path[np.all(np.isfinite(path), axis=1)]
        uniform, exponential = average_iterates(finite), average_iterates(finite, decay)
        summary[name] = {"final_distance_uniform_average": float(np.linalg.norm(uniform[-1])),
                         "final_distance_exponential_average": float(np.linalg.norm(exponential[-1])),
                         "average_decay": decay}
        style = _style(i)
        t = np.arange(1, len(finite))
        axes[1].loglog(t, np.maximum(np.linalg.norm(uniform, axis=1)[1:], 1e-300), color=style["color"],
                       ls=style["ls"], lw=1.2, label=DIRAC_METHODS[name].label)
        if name == "gan":
            axes[0].plot(finite[:, 0], finite[:, 1], color="0.6", lw=0.8, label="iterates")
            axes[0].plot(uniform[:, 0], uniform[:, 1], color="C0", lw=1.5, label="uniform average")
            axes[0].plot(exponential[:, 0], exponential[:, 1], color="C1", lw=1.2, ls="--",
                         label=f"exponential average, decay {decay}")
    axes[0].plot(0, 0, "k*", ms=10)
    axes[0].set(xlabel="theta (generator)", ylabel="psi (discriminator)",
                title="Unregularised GAN (alternating): averaging the iterates")
    axes[0].legend(fontsize=8)
    axes[1].set(xlabel="training update", ylabel="distance of the uniform average to (0, 0)",
                title="Uniform average of each method's iterates")
    axes[1].legend(fontsize=6, ncol=2)
    save_figure(fig, out, "dirac_gan_averaging.png")
    return summary


def main(argv=None):
    def options(p):
        p.add_argument("--lr", type=float, default=0.5, help="gradient-descent step h of both players")
        p.add_argument("--steps", type=int, default=600)
        p.add_argument("--start", type=float, nargs=2, default=(0.5, 0.5), metavar=("THETA", "PSI"))
        p.add_argument("--methods", nargs="+", default=list(DIRAC_METHODS))
        p.add_argument("--gif-frames", type=int, default=120)
        p.add_argument("--average-decay", type=float, default=0.99,
                       help="decay of the exponential average of the iterates, in [0, 1)")
    args = parse_args("dirac_gan", __doc__.split("\n")[0], argv, options)
    with from_core():   # the lab refuses bad settings with a ValueError: one line here
        for name in args.methods:
            dirac_method(name)
        check_run_settings(args.lr, args.steps)

    results = {name: analyse_method(name, args.lr, args.start, args.steps, args.seed) for name in args.methods}
    extent = 1.5 * max(1.0, max(abs(v) for v in args.start))

    columns = 4
    rows = int(np.ceil((len(args.methods) + 1) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3.8 * rows), squeeze=False)
    for ax, name in zip(axes.flat, args.methods):
        _field_panel(ax, name, results[name], args.lr, extent)
    _bridge_panel(axes.flat[len(args.methods)], results, args.lr, args.start)
    for ax in list(axes.flat)[len(args.methods) + 1:]:
        ax.axis("off")
    save_figure(fig, args.out, "dirac_gan.png")

    fig, ax = plt.subplots(figsize=(9, 5.5))
    for i, name in enumerate(args.methods):
        d = results[name]["distances"]
        ax.semilogy(np.arange(len(d)), np.maximum(d, 1e-300), lw=1.2, markevery=max(1, len(d) // 12), ms=4,
                    label=DIRAC_METHODS[name].label, **_style(i))
    ax.set(xlabel="training update", ylabel="distance to the equilibrium (0, 0)",
           title=f"Dirac-GAN, gradient descent h = {args.lr:g}, start {tuple(args.start)}")
    ax.legend(fontsize=7, ncol=2)
    save_figure(fig, args.out, "dirac_gan_distance.png")
    gif = _animate(results, args.methods, args.out, args.gif_frames, extent)
    with from_core():
        averages = _plot_averages(results, args.methods, args.average_decay, args.out)

    summary = {}
    for name, r in results.items():
        summary[name] = {
            "final_distance": r["final_distance"], "converges": r["converges"],
            "spectral_radius": r["spectral_radius"],
            "eigenvalues": [[float(e.real), float(e.imag)] for e in r["eigenvalues"]],
            "local_verdict": r["local_verdict"], "trajectory_verdict": r["trajectory_verdict"],
            "paper": DIRAC_METHODS[name].paper or "not covered", "label": DIRAC_METHODS[name].label,
            "lr": args.lr, "steps": args.steps, "start": list(args.start), **averages[name]}
    write_results(args.out, summary)

    print(f"{'method':16s} {'rho':>10s} {'Jacobian':>9s} {'trajectory':>10s} {'final dist':>10s}  "
          f"{'ours':17s} paper")
    for name, r in results.items():
        radius = "artefact" if name == "wgan_gp" else f"{r['spectral_radius']:.6f}"
        local = "-" if name == "wgan_gp" else r["local_verdict"]
        print(f"{name:16s} {radius:>10s} {local:>9s} {r['trajectory_verdict']:>10s} {r['final_distance']:10.3g}  "
              f"{'converges' if r['converges'] else 'does not converge':17s} {DIRAC_METHODS[name].paper or 'not covered'}")
    print(f"wrote {args.out}/dirac_gan.png, dirac_gan_distance.png, {gif.split('/')[-1]}, results.json")
    return summary


if __name__ == "__main__":
    run_main(main)
