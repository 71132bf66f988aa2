"""Shared test settings.

Tests run on the CPU unless JAX_PLATFORMS says otherwise. They check results
against float64 references, so matrix products and convolutions use full
float32 precision: on GPUs JAX's default lets them run in TF32 (about 1e-3
relative error), a speed setting, not part of the mathematics under test.
"""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import jax  # noqa: E402

jax.config.update("jax_default_matmul_precision", "highest")
