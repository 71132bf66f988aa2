"""gan_jax: generative adversarial networks in JAX and Flax.

The pure core (losses, models, the train state and its steps, theory, games,
metrics) can be imported into any JAX program; the shell (data, loop,
checkpoints, figures, command line) is built on it.
"""

import os

import jax

# The partitionable threefry PRNG (JAX's default since 0.5) makes LLVM spend
# 20+ s compiling a single jax.random.normal of some small shapes on XLA:CPU
# (measured with jax 0.10.2: 22 s against 0.6 s for shape (4, 4, 8, 9)). The
# classic threefry gives equally good numbers and compiles fast everywhere.
# Set JAX_THREEFRY_PARTITIONABLE yourself to choose otherwise.
if "JAX_THREEFRY_PARTITIONABLE" not in os.environ:
    jax.config.update("jax_threefry_partitionable", False)

from gan_jax import losses, models  # noqa: E402
from gan_jax.state import (  # noqa: E402
    GANObjective, GANState, create_state, d_step, g_step, generate, naive_train_step,
    sample_latent, train_step)

__all__ = [
    "losses", "models", "GANObjective", "GANState", "create_state", "d_step", "g_step",
    "train_step", "naive_train_step", "generate", "sample_latent",
]
__version__ = "0.1.0"
