"""Shared test settings.

Tests run on the CPU unless JAX_PLATFORMS says otherwise. They check results
against float64 references, so matrix products and convolutions use full
float32 precision: on GPUs JAX's default lets them run in TF32 (about 1e-3
relative error), a speed setting, not part of the mathematics under test.
The suite is an entry point: it makes the project's PRNG choice
(:func:`gan_jax.runs.provenance.entry_point_setup`), as ``gan-jax`` does.
Compiled programs are shared by the whole run through JAX's persistent
compilation cache (below; ``GAN_JAX_TEST_COMPILATION_CACHE=0`` turns it off).
"""

import os

import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# gcsfs's experimental file system asks a bucket's layout over gRPC first, which the storage
# emulator of tests/test_gcs.py does not serve (60 s per attempt); the core file system does not.
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

import jax  # noqa: E402
import pytest  # noqa: E402

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


# --- One compilation cache for the whole run -------------------------------------------------
# Many tests, both xdist workers and the command-line subprocesses compile the same small XLA
# programs (a tiny config's steps, the PRNG, a sampler). JAX's persistent compilation cache
# keeps each compiled program in a folder shared by the run, keyed by the program, the devices,
# the XLA flags and the versions, so an equal program is loaded instead of compiled again: the
# numbers are those of the same compiled code. The folder is new for every run (in the run's
# pytest temporary folder), so nothing carries over between runs.
#
# JAX writes an entry in place; a process reading it meanwhile would read half of it (and
# print a warning). So only the test processes write, each entry to a temporary name renamed
# into place; subprocesses (command lines started by tests, kill -9 tests) only read.
# Tests that count compilations still fail on a recompile: JAX reports a backend compilation
# (/jax/core/compile/backend_compile_duration) for a program loaded from the cache too, and a
# jitted function's own cache (``_cache_size``) is not this one.
COMPILATION_CACHE_VARIABLE = "GAN_JAX_TEST_COMPILATION_CACHE"   # "0" turns the shared cache off


def _write_cache_entries_atomically() -> bool:
    """Make JAX's file cache write each entry under a temporary name, then rename it into place;
    False (no cache) where this JAX's file cache is not the one this knows."""
    try:
        from jax._src import lru_cache
    except ImportError:
        return False
    cache_class = getattr(lru_cache, "LRUCache", None)
    if cache_class is None or not hasattr(cache_class, "put") or not hasattr(lru_cache, "_CACHE_SUFFIX"):
        return False

    def put(self, key: str, value: bytes) -> None:
        final = self.path / f"{key}{lru_cache._CACHE_SUFFIX}"
        if final.exists():
            return
        temporary = self.path / f".{key}.{os.getpid()}.partial"
        temporary.write_bytes(value)
        os.replace(temporary, final)

    cache_class.put = put
    return True


@pytest.hookimpl(trylast=True)   # after pytest's own set-up made the temporary folders
def pytest_configure(config):
    if os.environ.get(COMPILATION_CACHE_VARIABLE) == "0" or not _write_cache_entries_atomically():
        return
    factory = getattr(config, "_tmp_path_factory", None)
    if factory is None:
        return
    base = factory.getbasetemp()
    # xdist workers have basetemp <run>/popen-gwN: share <run>.
    folder = (base.parent if hasattr(config, "workerinput") else base) / "jax_compilation_cache"
    folder.mkdir(exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    os.environ["JAX_COMPILATION_CACHE_DIR"] = str(folder)
    # Subprocesses read the cache and never write it (an entry they would write needs longer to compile).
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "1000000"

