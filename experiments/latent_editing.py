"""InterFaceGAN-style attribute editing of a trained digits GAN.

For each attribute (ink, thickness, slant, size): fit the hyperplane normal n
on N sampled codes, edit z + alpha n, and measure how monotonically the
attribute follows alpha (Spearman) and how often the digits classifier keeps
the class. Then the disentanglement check (cosines between normals beside the
empirical attribute correlations, the hyperplane model's prediction being
N^T N) and conditional manipulation: editing attribute 1 along n1 and along
n1 with n2 projected out, measuring the change of attribute 2.

    python experiments/latent_editing.py --run RUN_DIR [--samples 2000]

Writes one figure per attribute (rows: samples, columns: alpha) and results.json.
"""

import os
import sys

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from experiments._common import parse_args, run_main, write_results  # noqa: E402
from gan_jax.errors import UserError  # noqa: E402

ALPHAS = np.linspace(-3.0, 3.0, 7)


def _add(parser):
    parser.add_argument("--run", required=True, help="run directory of a digits GAN (conditional or not)")
    parser.add_argument("--samples", type=int, default=2000, help="codes used to fit each hyperplane")
    parser.add_argument("--edit", type=int, default=32, help="codes edited per attribute")
    parser.add_argument("--rows", type=int, default=6, help="edited samples shown per figure")


def main(argv=None):
    from gan_jax.core import latent
    from gan_jax.core.state import apply_generator, sample_latent
    from gan_jax.features.digits_classifier import (
        classifier_probs,
        load_or_train_classifier,
    )
    from gan_jax.io.figures import save_image_grid
    from gan_jax.runs.checkpoint import restore_run

    args = parse_args("latent_editing", __doc__.splitlines()[0], argv, _add)
    config, state = restore_run(args.run)
    if (config.image_size, config.channels) != (8, 1):
        raise UserError(f"{args.run} is not an 8x8x1 digits run; the attributes and classifier need digits")
    params, _ = load_or_train_classifier()
    conditional = config.conditional != "none"

    def generate(z, labels):
        return apply_generator(state, state.g_params, z, labels if conditional else None, train=False)[0]

    def classes(images):
        return jnp.argmax(classifier_probs(params, images), axis=1)

    key_fit, key_edit = jax.random.split(jax.random.PRNGKey(args.seed))
    z = sample_latent(key_fit, args.samples, state.latent_dim, state.latent_dist)
    labels = jnp.arange(args.samples) % config.num_classes
    images = generate(z, labels)
    names = sorted(latent.ATTRIBUTES)
    scores = jnp.stack([latent.attribute_fn(a)(images) for a in names], axis=1)
    normals = jnp.stack([latent.fit_hyperplane(z, scores[:, i])[0] for i in range(len(names))])

    z_edit = sample_latent(key_edit, args.edit, state.latent_dim, state.latent_dist)
    lab_edit = jnp.arange(args.edit) % config.num_classes
    lab_rep = jnp.repeat(lab_edit, len(ALPHAS))
    reference = classes(generate(z_edit, lab_edit))

    def edited(direction):
        zs = latent.edit(z_edit, direction, jnp.asarray(ALPHAS)).reshape(-1, state.latent_dim)
        return generate(zs, lab_rep)

    per_attribute = {}
    for i, name in enumerate(names):
        imgs = edited(normals[i])
        s = latent.attribute_fn(name)(imgs).reshape(args.edit, len(ALPHAS))
        kept = latent.class_kept(classes(imgs).reshape(args.edit, len(ALPHAS)), reference)
        per_attribute[name] = {"spearman_mean": float(latent.monotonicity(s, jnp.asarray(ALPHAS))),
                               "class_kept": float(kept),
                               "mean_attribute_per_alpha": np.asarray(s.mean(axis=0)).tolist()}
        rows = np.asarray(imgs).reshape(args.edit, len(ALPHAS), *imgs.shape[1:])[:args.rows]
        save_image_grid(rows.reshape(-1, *imgs.shape[1:]), os.path.join(args.out, f"edit_{name}.png"),
                        ncols=len(ALPHAS))

    cosines = latent.cosine_matrix(normals)
    # Conditional manipulation: for each attribute 1, the attribute 2 whose
    # normal is closest; the change of s2 over the alpha range, before and after.
    conditional_edits = {}
    for i, name in enumerate(names):
        j = int(np.argsort(-np.abs(np.asarray(cosines[i])))[1])
        s2_range = {}
        for label, direction in (("along_n1", normals[i]), ("projected", latent.project_out(normals[i], normals[j]))):
            s2 = latent.attribute_fn(names[j])(edited(direction)).reshape(args.edit, len(ALPHAS))
            s2_range[label] = float(jnp.mean(s2[:, -1] - s2[:, 0]))
        conditional_edits[f"{name}|{names[j]}"] = {"cosine": float(cosines[i, j]),
                                                   "change_of_attribute2": s2_range}

    results = {
        "run": args.run, "attributes": names, "alphas": ALPHAS.tolist(), "samples": args.samples,
        "edits": per_attribute,
        "cosine_matrix": np.asarray(cosines).tolist(),
        "predicted_correlation": np.asarray(latent.predicted_covariance(normals, jnp.ones(len(names)))).tolist(),
        "empirical_correlation": np.asarray(latent.correlation_matrix(scores)).tolist(),
        "conditional_manipulation": conditional_edits,
    }
    print(f"wrote {write_results(args.out, results)}")
    for name, r in per_attribute.items():
        print(f"{name:10s} spearman {r['spearman_mean']:+.3f}  class kept {r['class_kept']:.3f}")
    for pair, r in conditional_edits.items():
        print(f"{pair:18s} cos {r['cosine']:+.3f}  change of attr2: along n1 "
              f"{r['change_of_attribute2']['along_n1']:+.4f}, projected {r['change_of_attribute2']['projected']:+.4f}")
    return results


if __name__ == "__main__":
    run_main(main)
