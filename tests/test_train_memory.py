"""gan_jax.train.memory: every training is estimated from shapes before anything is allocated,
against the least of the machine's limits (pretended small here: nothing large is allocated),
and refused in one line; what still runs out of memory in XLA is one line too.

A guard replaces the training's initialisation in the command-line tests: a training that
got past its check would reach it and fail the test instead of allocating terabytes."""

import os
import resource

import jax
import pytest
from cli_checks import assert_one_line_error, run_cli
from tiny_config import TINY_DIGITS, TINY_TOY

from gan_jax.config.schema import get_config
from gan_jax.train import driver, loop, memory


class Reached(Exception):
    """Raised by the guard: the training got past its memory check."""


def _guard(*args, **kwargs):
    raise Reached()


def _vm_size() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))


@pytest.fixture
def limits(monkeypatch, tmp_path):
    """No cgroup limit and no RLIMIT_AS unless a test sets one (``limits.cgroup(n)``, ``limits.rlimit_as(n)``)."""
    root = tmp_path / "cgroup"
    root.mkdir()
    monkeypatch.setattr(memory, "CGROUP_ROOT", str(root))
    monkeypatch.setattr(memory.resource, "getrlimit", lambda which: (resource.RLIM_INFINITY,) * 2)

    class Limits:
        @staticmethod
        def cgroup(n, v1=False):
            path = root / "memory" / "memory.limit_in_bytes" if v1 else root / "memory.max"
            path.parent.mkdir(exist_ok=True)
            path.write_text(f"{n}\n")

        @staticmethod
        def rlimit_as(left):
            """RLIMIT_AS set to leave ``left`` bytes beyond what the process maps now."""
            monkeypatch.setattr(memory.resource, "getrlimit", lambda which: (_vm_size() + left, resource.RLIM_INFINITY))
    return Limits


def test_the_limit_is_the_least_of_host_memory_cgroup_and_rlimit_as(limits):
    host = memory.memory_limit()
    assert host == (os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "the host's memory")
    limits.cgroup("max")
    assert memory.memory_limit() == host
    limits.cgroup(2 ** 30)
    assert memory.memory_limit().bytes == 2 ** 30 and "memory.max" in memory.memory_limit().source
    os.remove(os.path.join(memory.CGROUP_ROOT, "memory.max"))
    limits.cgroup(3 * 2 ** 29, v1=True)
    assert memory.memory_limit().bytes == 3 * 2 ** 29 and "limit_in_bytes" in memory.memory_limit().source
    limits.rlimit_as(2 ** 28)
    limit = memory.memory_limit()
    assert "RLIMIT_AS" in limit.source and abs(limit.bytes - 2 ** 28) < 2 ** 26, limit


@pytest.mark.parametrize("override,fragment", [
    ("g_width=1000000000", "must be <= 65536"),        # was OOM-killed: no estimate for a single run
    ("latent_dim=1000000000", "must be <= 1000000"),   # was a RESOURCE_EXHAUSTED traceback
    ("g_width=65536", "GiB is available"),           # within the bounds: about 6 TiB by its estimate
])
def test_an_absurd_single_run_is_one_line_before_anything_is_allocated(override, fragment, monkeypatch,
                                                                       tmp_path, capsys, limits):
    monkeypatch.setattr(loop, "init_state", _guard)
    code, _, err = run_cli(capsys, "train", *TINY_DIGITS, "steps=2", override, "--runs-dir", str(tmp_path / "runs"),
                           "--no-progress")
    assert_one_line_error(code, err, override.split("=")[0], fragment)
    assert not os.path.exists(tmp_path / "runs")


def test_a_single_run_that_does_not_fit_under_rlimit_as_is_refused(monkeypatch, tmp_path, capsys, limits):
    limits.rlimit_as(2 ** 26)   # 64 MiB left; mlp_hidden=4096 needs about 1.6 GiB
    monkeypatch.setattr(loop, "init_state", _guard)
    code, _, err = run_cli(capsys, "train", "--config", "gaussian1d", *TINY_TOY, "steps=2", "mlp_hidden=4096",
                           "--runs-dir", str(tmp_path / "runs"), "--no-progress")
    assert_one_line_error(code, err, "training gaussian1d needs about", "GiB", "RLIMIT_AS",
                          "parameters and optimiser states", "mlp_hidden")
    assert not os.path.exists(tmp_path / "runs")


def test_a_sweep_that_does_not_fit_under_the_cgroup_limit_is_refused(monkeypatch, tmp_path, capsys, limits):
    config = get_config("gaussian1d", TINY_TOY + ["steps=2"])
    per_member = memory.sweep_memory_bytes(config, memory.abstract_state(config), 1)
    limits.cgroup(200 * per_member)   # half of it holds 100 members
    monkeypatch.setattr(loop, "init_state", _guard)
    code, _, err = run_cli(capsys, "train", "--config", "gaussian1d", *TINY_TOY, "steps=2", "--seeds", "0-4095",
                           "--runs-dir", str(tmp_path / "runs"), "--no-progress")
    assert_one_line_error(code, err, "a sweep of 4096 seeds", "memory.max", "use at most 100 seeds")
    assert not os.path.exists(tmp_path / "runs")


def test_a_conditional_unrolled_run_is_estimated(monkeypatch, limits):
    """The estimate traces a class-conditional D with labels (it crashed without them)."""
    monkeypatch.setattr(driver, "init_members", _guard)
    with pytest.raises(Reached):
        driver.train_members(get_config("digits_cgan", TINY_DIGITS + ["unroll_steps=2", "steps=1"]), [0])


def test_batch_terms_split_over_devices_and_the_state_counts_per_replica():
    config = get_config("gaussian1d", TINY_TOY)
    template = memory.abstract_state(config)
    one = memory.training_memory_parts(config, template)
    split = memory.training_memory_parts(config, template, devices=4, replicas=2)
    assert split["activations"][0] == one["activations"][0] // 4
    assert split["parameters and optimiser states"][0] == 2 * one["parameters and optimiser states"][0]


@pytest.mark.parametrize("error", [
    jax.errors.JaxRuntimeError("RESOURCE_EXHAUSTED: Out of memory allocating 4398046511104 bytes."),
    MemoryError(),
])
def test_running_out_of_memory_in_training_is_one_line(error, monkeypatch, tmp_path, capsys):
    def exhausted(*args, **kwargs):
        raise error
    monkeypatch.setattr(loop, "init_state", exhausted)
    code, _, err = run_cli(capsys, "train", "--config", "gaussian1d", *TINY_TOY, "steps=2",
                           "--runs-dir", str(tmp_path), "--no-progress")
    assert_one_line_error(code, err, "ran out of memory", "batch_size", "mlp_hidden", "latent_dim")


def test_other_runtime_errors_keep_their_traceback(monkeypatch, tmp_path):
    def broken(*args, **kwargs):
        raise jax.errors.JaxRuntimeError("INTERNAL: something else")
    monkeypatch.setattr(loop, "init_state", broken)
    with pytest.raises(jax.errors.JaxRuntimeError, match="INTERNAL"):
        loop.train(get_config("gaussian1d", TINY_TOY + ["steps=2"]), str(tmp_path / "run"), progress=False)
