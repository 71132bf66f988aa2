"""KL and JS divergence of p = N(0, 1) and q = N(1, 1), the optimal
discriminator D* and the identity L(D*, G) = -2 log 2 + 2 JS (Goodfellow et
al. 2014, Theorem 1), on a grid.

    python experiments/js_divergence.py --out DIR
"""


import jax.numpy as jnp
import numpy as np
from _common import parse_args, plt, run_main, save_figure, write_results

from gan_jax.theory.densities import (
    gaussian_pdf,
    js_divergence,
    kl_divergence,
    optimal_discriminator,
    value_function,
)


def main(argv=None):
    args = parse_args("js_divergence", __doc__.split("\n")[0], argv, lambda p: p.add_argument(
        "--grid", type=int, default=20001, help="grid points on [-12, 13]"))
    x = jnp.linspace(-12.0, 13.0, args.grid)
    p, q = gaussian_pdf(x, 0.0, 1.0), gaussian_pdf(x, 1.0, 1.0)
    d_star = optimal_discriminator(p, q)
    js = float(js_divergence(p, q, x))
    value = float(value_function(p, q, d_star, x))
    results = {
        "kl_pq": float(kl_divergence(p, q, x)),
        "kl_qp": float(kl_divergence(q, p, x)),
        "js_nats": js,
        "js_bits": float(js_divergence(p, q, x, base=2)),
        "value_at_optimal_d": value,
        "minus_2log2_plus_2js": -2 * np.log(2) + 2 * js,
        "identity_gap": abs(value - (-2 * np.log(2) + 2 * js)),
    }

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(x, p, label="p = N(0, 1)")
    ax.plot(x, q, label="q = N(1, 1)")
    ax.plot(x, 0.5 * (p + q), "--", label="m = (p + q) / 2")
    ax.plot(x, d_star, "k", label="D*(x) = p / (p + q)")
    ax.set_xlim(-4, 5)
    ax.set_xlabel("x")
    ax.set_ylabel("density / probability")
    ax.set_title(f"p, q, their mixture m and the optimal D*  (JS = {js:.4f} nats)")
    ax.legend()
    save_figure(fig, args.out, "js_divergence.png")
    write_results(args.out, results)
    print(f"KL(p||q) = {results['kl_pq']:.6f}, KL(q||p) = {results['kl_qp']:.6f} (closed form 0.5)")
    print(f"JS = {js:.6f} nats = {results['js_bits']:.6f} bits")
    print(f"L(D*, G) = {value:.8f}; -2 log 2 + 2 JS = {results['minus_2log2_plus_2js']:.8f}; "
          f"gap {results['identity_gap']:.2e}")
    return results


if __name__ == "__main__":
    run_main(main)
