"""The training loop sharded over 4 forced CPU devices gives the one-device
parameters (``train_step`` on sharded batches, replicated state, a checkpoint
restored in the middle)."""

import json
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

from gan_jax.parallel import make_mesh, replicate, shard_batch

# The training loop for 3 steps with logging, samples and checkpoints; on 4
# devices it stops after 2 steps and resumes from the checkpoint, so the
# restored state is replicated too. Writes the final parameters to argv[2].
_LOOP_SCRIPT = textwrap.dedent("""
    import sys, jax, numpy as np
    from gan_jax.config import get_config
    from gan_jax.errors import UserError
    from gan_jax.loop import train
    from gan_jax.parallel import make_mesh, shard_batch
    run_dir, out = sys.argv[1], sys.argv[2]
    n = len(jax.devices())
    overrides = ["batch_size=8", "g_width=8", "d_width=8", "latent_dim=8", "log_every=1",
                 "sample_every=2", "checkpoint_every=2", "grid_samples=4"]
    config = lambda steps: get_config("digits_dcgan", overrides + [f"steps={steps}"])
    quiet = lambda *a: None
    if n == 4:
        train(config(2), run_dir, progress=False, echo=quiet)
        state = train(config(3), run_dir, resume=True, progress=False, echo=quiet)
        assert len(jax.tree.leaves(state.g_params)[0].sharding.device_set) == 4
        try:
            train(get_config("digits_dcgan", overrides + ["batch_size=6"]), run_dir + "_6")
            raise AssertionError("a batch of 6 ran on 4 devices")
        except UserError as e:
            assert "multiple of 4" in str(e), e
        try:
            shard_batch(np.zeros((6, 2)), make_mesh())
            raise AssertionError("a batch of 6 split over 4 devices")
        except ValueError as e:
            assert "divisible by 4" in str(e), e
    else:
        state = train(config(3), run_dir, progress=False, echo=quiet)
    leaves = jax.device_get(jax.tree.leaves((state.g_params, state.d_params, state.d_batch_stats)))
    np.savez(out, *leaves)
    print("OK", n, int(state.step))
""")


def _run_loop(tmp_path, devices: int) -> list:
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
               JAX_PLATFORMS="cpu")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = tmp_path / f"params_{devices}.npz"
    proc = subprocess.run([sys.executable, "-c", _LOOP_SCRIPT, str(tmp_path / f"run_{devices}"), str(out)],
                          env=env, cwd=root, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith(f"OK {devices} 3"), proc.stdout
    with np.load(out) as f:
        return [f[f"arr_{i}"] for i in range(len(f.files))]


@pytest.fixture(scope="module")
def one_device_params(tmp_path_factory):
    """The final parameters of the loop on one device (shared by the tests below)."""
    return _run_loop(tmp_path_factory.mktemp("one_device"), 1)


def test_training_loop_on_four_devices_matches_one_device(tmp_path, one_device_params):
    one, four = one_device_params, _run_loop(tmp_path, 4)
    assert len(one) == len(four) > 0
    for a, b in zip(one, four):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_one_device_mesh_keeps_values():
    mesh = make_mesh(jax.devices()[:1])
    x = np.arange(6.0).reshape(3, 2)
    np.testing.assert_array_equal(shard_batch(x, mesh), x)
    np.testing.assert_array_equal(replicate({"a": x}, mesh)["a"], x)


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli_on_two_hosts(args) -> list:
    """Run ``gan-jax ARGS`` as 2 processes x 2 CPU devices joined by jax.distributed;
    returns what process 0 printed."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
    coordinator = f"127.0.0.1:{_free_port()}"
    procs = [subprocess.Popen([sys.executable, "-m", "gan_jax.cli", *args, "--no-progress",
                               "--coordinator", coordinator, "--num-processes", "2", "--process-id", str(i)],
                              env=env, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for i, (p, (out, err)) in enumerate(zip(procs, outs)):
        assert p.returncode == 0, f"process {i}: {err[-3000:]}"
    # Process 0 alone reports (the output also holds Gloo's connection lines).
    assert "run directory:" in outs[0][0] and "run directory:" not in outs[1][0], outs
    return outs[0][0]


def test_two_hosts_of_two_devices_match_one_device(tmp_path, one_device_params):
    """A multi-host run (2 processes joined by jax.distributed, each feeding its
    half of every global batch) trains, checkpoints, resumes, and ends with the
    parameters of the one-device loop."""
    from gan_jax.checkpoint import restore_run
    one = one_device_params
    overrides = ["batch_size=8", "g_width=8", "d_width=8", "latent_dim=8", "log_every=1",
                 "sample_every=2", "checkpoint_every=2", "grid_samples=4"]
    runs = str(tmp_path / "hosts")
    printed = _cli_on_two_hosts(["train", "--config", "digits_dcgan", *overrides, "steps=2",
                                 "--runs-dir", runs, "--name", "run"])
    assert "(4 device(s), 2 processes)" in printed, printed
    _cli_on_two_hosts(["resume", os.path.join(runs, "run"), "steps=3"])
    _, state = restore_run(os.path.join(runs, "run"))
    assert int(state.step) == 3
    two_hosts = jax.device_get(jax.tree.leaves((state.g_params, state.d_params, state.d_batch_stats)))
    assert len(one) == len(two_hosts) > 0
    for a, b in zip(one, two_hosts):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    metrics = [json.loads(line) for line in open(os.path.join(runs, "run", "metrics.jsonl"))]
    assert [m["step"] for m in metrics] == [1, 2, 3]   # one writer, no duplicate lines
