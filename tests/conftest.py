"""Shared test settings.

Tests run on the CPU unless JAX_PLATFORMS says otherwise. They check results
against float64 references, so matrix products and convolutions use full
float32 precision: on GPUs JAX's default lets them run in TF32 (about 1e-3
relative error), a speed setting, not part of the mathematics under test.
The suite is an entry point: it makes the project's PRNG choice
(:func:`gan_jax.runs.provenance.entry_point_setup`), as ``gan-jax`` does.
"""

import os

import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# gcsfs's experimental file system asks a bucket's layout over gRPC first, which the storage
# emulator of tests/test_gcs.py does not serve (60 s per attempt); the core file system does not.
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

import jax  # noqa: E402

from gan_jax.runs.provenance import entry_point_setup  # noqa: E402

entry_point_setup()
jax.config.update("jax_default_matmul_precision", "highest")


@pytest.fixture(scope="session")
def mnist_classifier_cache(tmp_path_factory):
    """A ``$GAN_JAX_CACHE`` folder holding the MNIST classifier trained briefly (60 steps on 1,000
    of mnist5k's training digits, about 87 % held-out accuracy) under its real name: tests that
    score 28x28 images point ``$GAN_JAX_CACHE`` here (or copy the file) instead of training the
    real one, which takes a minute. Its held-out accuracy is the measured one."""
    from gan_jax.data.mnist5k import load_mnist5k
    from gan_jax.features import classifier, mnist_classifier
    directory = tmp_path_factory.mktemp("mnist_classifier_cache")
    images, labels = load_mnist5k("train")
    params = mnist_classifier.train_classifier(images[:1000], labels[:1000], steps=60, batch_size=64)
    held_out, held_out_labels = load_mnist5k("test")
    accuracy = float(jax.jit(mnist_classifier.accuracy)(params, held_out, held_out_labels))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GAN_JAX_CACHE", str(directory))
        classifier.write_cached(mnist_classifier.EXTRACTOR_NAME, params, accuracy)
    return directory


@pytest.fixture(scope="session")
def mnist5k_run(tmp_path_factory, mnist_classifier_cache):
    """``(run_dir, printed text)`` of a tiny ``mnist5k_dcgan`` run (2 steps, 4 channels a layer),
    evaluated at its last step on 20 samples with the classifier of :func:`mnist_classifier_cache`."""
    import contextlib
    import io

    from gan_jax.cli import main
    root = tmp_path_factory.mktemp("mnist5k_run")
    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(printed):
        patch.setenv("GAN_JAX_CACHE", str(mnist_classifier_cache))
        assert main(["train", "--config", "mnist5k_dcgan", "steps=2", "g_width=4", "d_width=4", "latent_dim=8",
                     "batch_size=32", "log_every=1", "sample_every=1000000", "checkpoint_every=2", "grid_samples=4",
                     "eval_every=2", "eval_samples=20", "--runs-dir", str(root), "--name", "r",
                     "--no-progress"]) == 0
    return str(root / "r"), printed.getvalue()
