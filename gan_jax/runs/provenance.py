"""Where a result came from, and the PRNG choice that gan_jax's entry points make.

Importing gan_jax changes no JAX configuration. The entry points (the
``gan-jax`` command, the experiment scripts, the test suite) call
:func:`entry_point_setup`, which turns off JAX's partitionable threefry PRNG
(JAX's default since 0.5): with it, LLVM spends 20+ s compiling a single
``jax.random.normal`` of some small shapes on XLA:CPU (measured with jax
0.10.2: 22 s against 0.6 s for shape (4, 4, 8, 9)); the classic threefry
gives equally good numbers and compiles fast everywhere. The environment
variable ``JAX_THREEFRY_PARTITIONABLE`` stays the user's override.

Library users who hit the slow compile: put one line at the start of the
program, ``jax.config.update("jax_threefry_partitionable", False)`` (or
export ``JAX_THREEFRY_PARTITIONABLE=0``). It changes the random numbers a
key gives, so choose it before drawing any.

:func:`collect_provenance` records the source commit, the package versions,
the backend and the PRNG implementation beside every result; a resumed run
continues under the PRNG it was trained with through :func:`run_prng`
(scoped) or :func:`apply_run_prng` (an entry point's global action).
"""

import contextlib
import importlib.metadata
import os
import subprocess

import jax

__all__ = ["PRNG_ENVIRONMENT_VARIABLE", "PROJECT_PRNG", "entry_point_setup", "prng_settings",
           "git_commit", "collect_provenance", "recorded_prng", "run_prng", "apply_run_prng"]

#: Set by the user, this environment variable overrides the project's PRNG choice.
PRNG_ENVIRONMENT_VARIABLE = "JAX_THREEFRY_PARTITIONABLE"
#: The project's PRNG settings: the classic (non-partitionable) threefry.
PROJECT_PRNG = {"jax_threefry_partitionable": False, "jax_default_prng_impl": "threefry2x32"}
_VERSIONED_PACKAGES = ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint")


def entry_point_setup() -> dict:
    """Apply the project's PRNG choice (classic threefry) for the whole process,
    unless the user set ``JAX_THREEFRY_PARTITIONABLE``; return ``{option: value}``
    of what was set (``{}`` when the user's variable decides).

    Call once at the start of an entry point, before any key is drawn.
    It also makes ``etils.epath`` (and so orbax) reach ``gs://`` through gcsfs,
    the client gan_jax uses, rather than ``tf.io.gfile`` where TensorFlow is
    installed: ``EPATH_USE_TF=false`` unless the user set it (epath reads it once,
    at its first path, so it is set here, before any).
    """
    os.environ.setdefault("EPATH_USE_TF", "false")
    if PRNG_ENVIRONMENT_VARIABLE in os.environ:
        return {}
    jax.config.update("jax_threefry_partitionable", PROJECT_PRNG["jax_threefry_partitionable"])
    return {"jax_threefry_partitionable": PROJECT_PRNG["jax_threefry_partitionable"]}


def prng_settings() -> dict:
    """JAX's PRNG implementation now: ``{"jax_threefry_partitionable": bool,
    "jax_default_prng_impl": str}``."""
    return {"jax_threefry_partitionable": bool(jax.config.jax_threefry_partitionable),
            "jax_default_prng_impl": str(jax.config.jax_default_prng_impl)}


def git_commit(path: str = os.path.dirname(os.path.abspath(__file__))) -> str:
    """The commit checked out where ``path`` (by default gan_jax's own source) is
    a tracked file or folder of a git work tree, with ``+dirty`` appended when
    any tracked file of that work tree differs from it; ``"unknown"`` otherwise (an installed
    copy, no git)."""
    def git(*args):
        return subprocess.run(["git", "-C", folder, *args], capture_output=True, text=True, timeout=30)

    folder = path if os.path.isdir(path) else os.path.dirname(path)
    try:
        tracked = git("ls-files", "--error-unmatch", os.path.abspath(path))
        head = git("rev-parse", "HEAD")
        status = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if tracked.returncode or head.returncode or status.returncode:
        return "unknown"
    return head.stdout.strip() + ("+dirty" if status.stdout.strip() else "")


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def collect_provenance() -> dict:
    """A JSON-able record of where a result is computed: ``{"git_commit": str,
    "versions": {package: version}, "backend": str, "device_kind": str,
    "device_count": int, "xla_flags": str, "prng": prng_settings()}``.

    Initialises JAX's backend if nothing has yet.
    """
    return {
        "git_commit": git_commit(),
        "versions": {package: _version(package) for package in _VERSIONED_PACKAGES},
        "backend": jax.default_backend(),
        "device_kind": jax.devices()[0].device_kind,
        "device_count": jax.device_count(),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "prng": prng_settings(),
    }


def recorded_prng(provenance: dict) -> dict:
    """The PRNG settings a run was made with, from its :func:`collect_provenance`
    record. A record without them (made before gan_jax recorded provenance)
    gives :data:`PROJECT_PRNG`, which gan_jax then applied on import."""
    return {**PROJECT_PRNG, **provenance.get("prng", {})}


@contextlib.contextmanager
def run_prng(provenance: dict):
    """Within this context JAX uses the PRNG implementation recorded in
    ``provenance``, so a resumed run draws the same numbers as the run it
    continues; the setting before it is restored on exit (JAX keys its
    compilation caches on it, so code compiled outside is not reused inside).
    """
    prng = recorded_prng(provenance)
    with jax.threefry_partitionable(prng["jax_threefry_partitionable"]), \
            jax.default_prng_impl(prng["jax_default_prng_impl"]):
        yield prng


def apply_run_prng(provenance: dict) -> dict:
    """Set the PRNG implementation recorded in ``provenance`` for the whole
    process (an entry point's action, like :func:`entry_point_setup`; prefer
    :func:`run_prng` inside a library). The record wins over
    ``JAX_THREEFRY_PARTITIONABLE``: continuing a run exactly needs its own
    PRNG. Returns the settings applied."""
    prng = recorded_prng(provenance)
    for option, value in prng.items():
        jax.config.update(option, value)
    return prng
