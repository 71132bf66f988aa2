"""The saturation problem: with p_r = N(4, 1) and p_g = N(-4, 1) barely
overlapping, a trained D makes the saturating generator cost 1/2 log(1 - D)
flat on most generated samples, while -1/2 log D (non-saturating) keeps a
useful gradient. The maximum-likelihood cost -1/2 exp(logit) = -1/2 D / (1 - D)
is flat there too: its gradient is 1/2 D/(1-D) logit', about the saturating
one's where D ~ 0 (Goodfellow 2016, NIPS tutorial section 3.2.3, figure 16).

    python experiments/saturation.py --out DIR [--steps 1500]
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
    generator_gradients,
)

REAL_MEAN, FAKE_MEAN = 4.0, -4.0
SMALL = 1e-3


def main(argv=None):
    def options(p):
        p.add_argument("--steps", type=int, default=1500)
        p.add_argument("--samples", type=int, default=2000)
    args = parse_args("saturation", __doc__.split("\n")[0], argv, options)
    init_key, fit_key, sample_key = jax.random.split(jax.random.PRNGKey(args.seed), 3)
    state = create_state(init_key, ShiftGenerator(shift=FAKE_MEAN), MLPDiscriminator(hidden=32, depth=2),
                         optax.sgd(0.0), optax.adam(3e-3), latent_dim=1, data_shape=(1,))
    state, _ = fit_discriminator(state, fit_key, args.steps, 256, REAL_MEAN, 1.0)

    def logit_fn(xs):
        return apply_discriminator(state, state.d_params, state.d_batch_stats, xs, train=False)[0]

    fakes = FAKE_MEAN + jax.random.normal(sample_key, (args.samples,))
    grads = generator_gradients(logit_fn, fakes)
    results = {f"fraction_below_1e-3_{name}": float(jnp.mean(jnp.abs(g) < SMALL)) for name, g in grads.items()}
    results["median_abs_gradient"] = {name: float(jnp.median(jnp.abs(g))) for name, g in grads.items()}
    results["steps"] = args.steps

    x = jnp.linspace(-8.0, 8.0, 801)
    curve = generator_gradients(logit_fn, x)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    top.plot(x, gaussian_pdf(x, REAL_MEAN), label="p_r = N(4, 1)")
    top.plot(x, gaussian_pdf(x, FAKE_MEAN), label="p_g = N(-4, 1)")
    top.plot(x, jax.nn.sigmoid(logit_fn(x[:, None])), "k", label="trained D(x)")
    top.set_ylabel("density / D(x)")
    top.set_title("Saturation: densities, trained D and generator-cost gradients")
    top.legend(fontsize=8)
    for name, g in curve.items():
        bottom.plot(x, np.abs(np.asarray(g)) + 1e-12, label=name)
    bottom.axhline(SMALL, color="grey", ls=":", label="1e-3")
    bottom.set_yscale("log")
    bottom.set_xlabel("generated sample x")
    bottom.set_ylabel("|dJ(G)/dx|")
    bottom.legend(fontsize=8)
    save_figure(fig, args.out, "saturation.png")
    write_results(args.out, results)
    for name in grads:
        print(f"{name:20s} fraction of samples with |grad| < 1e-3: {results[f'fraction_below_1e-3_{name}']:.3f}")
    return results


if __name__ == "__main__":
    run_main(main)
