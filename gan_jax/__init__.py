"""gan_jax: generative adversarial networks in JAX and Flax.

The pure core (losses, models, the train state and its steps, theory, games,
metrics) can be imported into any JAX program; the shell (data, loop,
checkpoints, figures, command line) is built on it.
"""

from gan_jax import losses, models
from gan_jax.state import (GANObjective, GANState, create_state, d_step, g_step,
                           generate, naive_train_step, sample_latent, train_step)

__all__ = [
    "losses", "models", "GANObjective", "GANState", "create_state", "d_step", "g_step",
    "train_step", "naive_train_step", "generate", "sample_latent",
]
__version__ = "0.1.0"
