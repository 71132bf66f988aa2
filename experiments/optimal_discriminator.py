"""Learn the optimal discriminator: a small Flax D trained with the library's
d_step on samples of p_r = N(0, 1) against a fixed generator p_g = N(1, 1),
compared with the analytic D*(x) = p_r / (p_r + p_g).

    python experiments/optimal_discriminator.py --out DIR [--steps 3000]
"""


import jax
import jax.numpy as jnp
import numpy as np
import optax
from _common import parse_args, plt, run_main, save_figure, write_results

from gan_jax.core.state import apply_discriminator, create_state
from gan_jax.models.mlp import MLPDiscriminator
from gan_jax.theory.densities import (
    ShiftGenerator,
    fit_discriminator,
    gaussian_pdf,
    js_divergence,
    optimal_discriminator,
    value_function,
)


def main(argv=None):
    def options(p):
        p.add_argument("--steps", type=int, default=3000)
        p.add_argument("--batch-size", type=int, default=512)
    args = parse_args("optimal_discriminator", __doc__.split("\n")[0], argv, options)
    key = jax.random.PRNGKey(args.seed)
    init_key, fit_key = jax.random.split(key)
    state = create_state(init_key, ShiftGenerator(shift=1.0), MLPDiscriminator(hidden=32, depth=2),
                         optax.sgd(0.0), optax.adam(3e-3), latent_dim=1, data_shape=(1,))
    state, d_losses = fit_discriminator(state, fit_key, args.steps, args.batch_size, 0.0, 1.0)

    x = jnp.linspace(-12.0, 13.0, 20001)
    p, q = gaussian_pdf(x, 0.0, 1.0), gaussian_pdf(x, 1.0, 1.0)
    d_star = optimal_discriminator(p, q)
    logits, _ = apply_discriminator(state, state.d_params, state.d_batch_stats, x[:, None], train=False)
    d_learned = jax.nn.sigmoid(logits)
    window = (x >= -3.0) & (x <= 4.0)
    js = float(js_divergence(p, q, x))
    # D is only trained where samples fall; the value integral weights it by p and q.
    learned_value = float(value_function(p, q, jnp.clip(d_learned, 1e-7, 1 - 1e-7), x))
    results = {
        "steps": args.steps, "batch_size": args.batch_size,
        "max_abs_gap_on_-3_4": float(jnp.max(jnp.abs(d_learned - d_star)[window])),
        "mean_abs_gap_on_-3_4": float(jnp.mean(jnp.abs(d_learned - d_star)[window])),
        "learned_value": learned_value,
        "minus_2log2_plus_2js": -2 * np.log(2) + 2 * js,
        "final_d_loss": float(d_losses[-1]),
    }

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(x, d_star, "k", label="analytic D*(x) = p_r / (p_r + p_g)")
    ax.plot(x, d_learned, "r--", label=f"learned D(x) after {args.steps} d_step updates")
    ax.plot(x, p, alpha=0.4, label="p_r = N(0, 1)")
    ax.plot(x, q, alpha=0.4, label="p_g = N(1, 1)")
    ax.axvspan(-3, 4, color="grey", alpha=0.08)
    ax.set_xlim(-4, 5)
    ax.set_xlabel("x")
    ax.set_ylabel("D(x)")
    ax.set_title("Learned discriminator against the optimal D*")
    ax.legend(fontsize=8)
    save_figure(fig, args.out, "optimal_discriminator.png")
    write_results(args.out, results)
    print(f"max |D - D*| on [-3, 4] = {results['max_abs_gap_on_-3_4']:.4f} "
          f"(mean {results['mean_abs_gap_on_-3_4']:.4f})")
    print(f"L(D_learned, G) = {learned_value:.5f}; -2 log 2 + 2 JS = {results['minus_2log2_plus_2js']:.5f}")
    return results


if __name__ == "__main__":
    run_main(main)
