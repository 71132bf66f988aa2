"""gan_jax: generative adversarial networks in JAX and Flax.

The pure core (losses, models, the train state and its steps, theory, games,
metrics) can be imported into any JAX program; the shell (data, loop,
checkpoints, figures, command line) is built on it.

Importing gan_jax changes no global state, JAX's configuration included.
gan_jax's own entry points turn off the partitionable threefry PRNG
(:mod:`gan_jax.runs.provenance`), whose compilation of some small
``jax.random.normal`` shapes takes 20+ s on XLA:CPU. If that slow compile
hits your program, add one line at its start, before drawing any key:
``jax.config.update("jax_threefry_partitionable", False)`` (or export
``JAX_THREEFRY_PARTITIONABLE=0``).
"""

from gan_jax import models

from gan_jax.core import losses
from gan_jax.core.state import (
    GANObjective, GANState, create_state, d_step, g_step, generate, naive_train_step,
    sample_latent, train_step)

__all__ = [
    "losses", "models", "GANObjective", "GANState", "create_state", "d_step", "g_step",
    "train_step", "naive_train_step", "generate", "sample_latent",
]
__version__ = "0.1.0"
