"""Shared test settings.

Tests run on the CPU unless JAX_PLATFORMS says otherwise. They check results
against float64 references, so matrix products and convolutions use full
float32 precision: on GPUs JAX's default lets them run in TF32 (about 1e-3
relative error), a speed setting, not part of the mathematics under test.
The suite is an entry point: it makes the project's PRNG choice
(:func:`gan_jax.runs.provenance.entry_point_setup`), as ``gan-jax`` does.
"""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# gcsfs's experimental file system asks a bucket's layout over gRPC first, which the storage
# emulator of tests/test_gcs.py does not serve (60 s per attempt); the core file system does not.
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

import jax  # noqa: E402

from gan_jax.runs.provenance import entry_point_setup  # noqa: E402

entry_point_setup()
jax.config.update("jax_default_matmul_precision", "highest")
