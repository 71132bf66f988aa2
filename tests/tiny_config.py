"""The one tiny training setting the tests share (``key=value`` overrides).

``TINY_TOY`` trains the 1-D Gaussian GAN (MLP, compiles in seconds);
``TINY_DIGITS`` the 8x8 DCGAN with 4 channels per layer. Each test appends
only what it is about (steps, checkpoint and log intervals).
"""

TINY_TOY = ["mlp_hidden=16", "latent_dim=4", "batch_size=32", "sample_every=1000000", "grid_samples=4"]
TINY_DIGITS = ["g_width=4", "d_width=4", "latent_dim=8", "batch_size=32", "sample_every=1000000",
               "grid_samples=4"]
