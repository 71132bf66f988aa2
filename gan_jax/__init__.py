"""gan_jax: generative adversarial networks in JAX and Flax.

The package is cut into layers, each importing only those below it (checked
by import-linter, see ``pyproject.toml``):

- ``cli``, ``study``: the command line and the user-study web app;
- ``train``: the one training driver (many seeds in one compiled program),
  its hooks (logs, samples, evaluation, checkpoints) and data parallelism;
- ``evaluation``: FID sources, the evaluation of a run, evaluation during training;
- ``runs``: the run-directory layout, lock, checkpoints, logs, provenance, sampling;
- ``features``: the Inception port and its converter, the digits and MNIST classifiers;
- ``data``: the data sources and the user's files;
- ``config``: run configurations as data, presets, and assembling a run;
- ``io``: local and ``gs://`` paths, atomic writes, figures;
- ``theory``: densities and divergences, the bilinear game, the Dirac-GAN;
- ``core``, ``models``, ``metrics``: the pure core (objective, state, steps,
  losses, unrolling, latent operations), the Flax models, the metric formulas.

The names users import most are re-exported here, loaded on first use, so
``import gan_jax`` is cheap and changes nothing global, JAX's configuration
included. gan_jax's own entry points turn off the partitionable threefry PRNG
(:func:`gan_jax.runs.provenance.entry_point_setup`), whose compilation of some
small ``jax.random.normal`` shapes takes 20+ s on XLA:CPU. If that slow
compile hits your program, add one line at its start, before drawing any key:
``jax.config.update("jax_threefry_partitionable", False)`` (or export
``JAX_THREEFRY_PARTITIONABLE=0``).
"""

import importlib

__version__ = "0.2.0"

# name -> module that defines it
_EXPORTS = {
    "Batch": "gan_jax.core.state",
    "GANState": "gan_jax.core.state",
    "create_state": "gan_jax.core.state",
    "sample_latent": "gan_jax.core.state",
    "GANObjective": "gan_jax.core.objective",
    "d_step": "gan_jax.core.steps",
    "g_step": "gan_jax.core.steps",
    "train_step": "gan_jax.core.steps",
    "naive_train_step": "gan_jax.core.steps",
    "generate": "gan_jax.core.steps",
    "jit_d_step": "gan_jax.core.steps",
    "jit_g_step": "gan_jax.core.steps",
    "jit_train_step": "gan_jax.core.steps",
    "jit_naive_train_step": "gan_jax.core.steps",
    "losses": "gan_jax.core.losses",
    "models": "gan_jax.models",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    """Import the module behind a re-exported name on first use (PEP 562)."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'gan_jax' has no attribute {name!r}")
    module = importlib.import_module(_EXPORTS[name])
    value = module if _EXPORTS[name].endswith(f".{name}") else getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + list(_EXPORTS))
