"""Importing gan_jax changes no JAX configuration; the entry points' PRNG
choice, the provenance record and the PRNG of a resumed run."""

import json
import os
import re
import subprocess
import sys

import jax
import numpy as np
import pytest

from gan_jax.runs import provenance

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Sets jax_threefry_partitionable to argv[1], imports gan_jax and the modules
# entry points use, and prints every JAX option whose value the imports changed.
_IMPORT_SCRIPT = """
import sys, jax
jax.config.update("jax_threefry_partitionable", sys.argv[1] == "True")
before = dict(jax.config.values)
import gan_jax, gan_jax.cli, gan_jax.theory.games, gan_jax.metrics, gan_jax.runs.provenance, gan_jax.theory.densities
print(sorted(k for k, v in jax.config.values.items() if before.get(k) != v))
"""


def test_importing_gan_jax_changes_no_jax_configuration():
    """In fresh processes (both values of the PRNG option, run side by side)."""
    env = {k: v for k, v in os.environ.items() if k != provenance.PRNG_ENVIRONMENT_VARIABLE}
    procs = [subprocess.Popen([sys.executable, "-c", _IMPORT_SCRIPT, value], env=env, cwd=_ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for value in ("True", "False")]
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr[-2000:]
        assert stdout.strip().splitlines()[-1] == "[]"


def test_entry_point_setup_applies_the_project_prng_unless_the_user_chose(monkeypatch):
    before = jax.config.jax_threefry_partitionable
    try:
        jax.config.update("jax_threefry_partitionable", True)
        monkeypatch.setenv(provenance.PRNG_ENVIRONMENT_VARIABLE, "1")
        assert provenance.entry_point_setup() == {}
        assert jax.config.jax_threefry_partitionable is True
        monkeypatch.delenv(provenance.PRNG_ENVIRONMENT_VARIABLE)
        assert provenance.entry_point_setup() == {"jax_threefry_partitionable": False}
        assert jax.config.jax_threefry_partitionable is False
    finally:
        jax.config.update("jax_threefry_partitionable", before)


def test_collect_provenance_keys_and_types():
    record = provenance.collect_provenance()
    assert set(record) == {"git_commit", "versions", "backend", "device_kind", "device_count",
                           "xla_flags", "prng"}
    assert record["git_commit"] == "unknown" or re.fullmatch(r"[0-9a-f]{40}(\+dirty)?", record["git_commit"])
    assert set(record["versions"]) == {"jax", "jaxlib", "flax", "optax", "orbax-checkpoint"}
    assert record["versions"]["jax"] == jax.__version__
    assert record["backend"] == jax.default_backend() and isinstance(record["device_kind"], str)
    assert record["device_count"] == jax.device_count()
    assert record["xla_flags"] == os.environ.get("XLA_FLAGS", "")
    assert record["prng"] == {"jax_threefry_partitionable": bool(jax.config.jax_threefry_partitionable),
                              "jax_default_prng_impl": str(jax.config.jax_default_prng_impl)}
    assert json.loads(json.dumps(record)) == record


def _git(folder, *args):
    return subprocess.run(["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                          capture_output=True, text=True, check=True).stdout.strip()


def test_git_commit_names_the_checked_out_commit_and_dirty_trees(tmp_path):
    source = tmp_path / "pkg"
    source.mkdir()
    (source / "mod.py").write_text("x = 1\n")
    assert provenance.git_commit(str(source)) == "unknown"  # not under git (tmp_path is outside any repo)
    _git(tmp_path, "init", "-q")
    assert provenance.git_commit(str(source)) == "unknown"  # under git, but not tracked
    _git(tmp_path, "add", "pkg/mod.py")
    _git(tmp_path, "commit", "-q", "-m", "one")
    head = _git(tmp_path, "rev-parse", "HEAD")
    assert provenance.git_commit(str(source)) == head
    (source / "mod.py").write_text("x = 2\n")
    assert provenance.git_commit(str(source)) == head + "+dirty"


def _draw(key):
    return np.asarray(jax.random.normal(key, (6,)))


@pytest.mark.parametrize("trained_with", [True, False])
def test_a_resumed_run_draws_with_the_prng_it_was_trained_with(trained_with):
    key = jax.random.PRNGKey(3)
    with jax.threefry_partitionable(trained_with):
        record = provenance.collect_provenance()
        trained = _draw(key)
    with jax.threefry_partitionable(not trained_with):
        assert not np.array_equal(_draw(key), trained)  # the setting matters for these numbers
        with provenance.run_prng(record) as applied:
            assert applied["jax_threefry_partitionable"] is trained_with
            np.testing.assert_array_equal(_draw(key), trained)
        assert jax.config.jax_threefry_partitionable is (not trained_with)  # restored on exit


def test_apply_run_prng_sets_the_record_for_the_process_and_old_records_get_the_project_prng():
    before = provenance.prng_settings()
    try:
        applied = provenance.apply_run_prng({"prng": {"jax_threefry_partitionable": True,
                                                      "jax_default_prng_impl": "threefry2x32"}})
        assert applied == provenance.prng_settings() == {"jax_threefry_partitionable": True,
                                                         "jax_default_prng_impl": "threefry2x32"}
        assert provenance.apply_run_prng({"git_commit": "unknown"}) == provenance.PROJECT_PRNG
        assert provenance.prng_settings() == provenance.PROJECT_PRNG
    finally:
        provenance.apply_run_prng({"prng": before})
