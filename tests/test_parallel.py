"""Data parallel: the training loop as 2 processes of 2 forced CPU devices
each, joined by jax.distributed (a 4-device mesh, each process feeding its
half of every batch, replicated state, a checkpoint restored in the middle),
gives the parameters of one device."""

import json
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np

from gan_jax.parallel import make_mesh, replicate, shard_batch

# A tiny digits DCGAN that logs, samples and checkpoints every step or two;
# both scripts below train it, so their parameters can be compared.
_OVERRIDES = ["eval_every=0", "batch_size=8", "g_width=8", "d_width=8", "latent_dim=8", "log_every=1",
              "sample_every=2", "checkpoint_every=2", "grid_samples=4"]

# The training loop on one device for 3 steps; writes the final parameters to argv[2].
# An entry point like `gan-jax`, so it makes the same PRNG choice.
_LOOP_SCRIPT = textwrap.dedent("""
    import sys, jax, numpy as np
    from gan_jax.config import get_config
    from gan_jax.loop import train
    from gan_jax.provenance import entry_point_setup
    entry_point_setup()
    run_dir, out = sys.argv[1], sys.argv[2]
    overrides = OVERRIDES + ["steps=3"]
    state = train(get_config("digits_dcgan", overrides), run_dir, progress=False, echo=lambda *a: None)
    leaves = jax.device_get(jax.tree.leaves((state.g_params, state.d_params, state.d_batch_stats)))
    np.savez(out, *leaves)
    print("OK", len(jax.devices()), int(state.step))
""").replace("OVERRIDES", repr(_OVERRIDES))


_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _start_one_device_loop(tmp_path):
    """Start the one-device loop in a subprocess; returns (process, params file)."""
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=1", JAX_PLATFORMS="cpu")
    out = tmp_path / "params_one_device.npz"
    proc = subprocess.Popen([sys.executable, "-c", _LOOP_SCRIPT, str(tmp_path / "run_one_device"), str(out)],
                            env=env, cwd=_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, out


def _finish_one_device_loop(proc, out) -> list:
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr[-3000:]
    assert stdout.startswith("OK 1 3"), stdout
    with np.load(out) as f:
        return [f[f"arr_{i}"] for i in range(len(f.files))]


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


# One process of a 2-host run: `gan-jax train` for 2 steps, then `gan-jax
# resume` to 3, both through the command line's multi-host options (the
# second call finds the process already joined).
_HOST_SCRIPT = textwrap.dedent("""
    import sys
    from gan_jax.cli import main
    runs, coordinator, pid = sys.argv[1], sys.argv[2], sys.argv[3]
    hosts = ["--no-progress", "--coordinator", coordinator, "--num-processes", "2", "--process-id", pid]
    assert main(["train", "--config", "digits_dcgan", *OVERRIDES, "steps=2", "--runs-dir", runs,
                 "--name", "run", *hosts]) == 0
    assert main(["resume", runs + "/run", "steps=3", *hosts]) == 0
    # A global batch that does not split over the 4 devices is refused on every process.
    assert main(["train", "--config", "digits_dcgan", "batch_size=6", "--runs-dir", runs,
                 "--name", "bad", *hosts]) == 2
    import numpy as np
    from gan_jax.parallel import make_mesh, shard_batch
    try:
        shard_batch(np.zeros((5, 2)), make_mesh())
        raise AssertionError("5 rows split over this process's 2 devices")
    except ValueError as e:
        assert "divisible by 2" in str(e), e
""").replace("OVERRIDES", repr(_OVERRIDES))


def _two_hosts(runs: str) -> str:
    """Train and resume as 2 processes x 2 CPU devices joined by jax.distributed;
    returns what process 0 printed."""
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
    coordinator = f"127.0.0.1:{_free_port()}"
    procs = [subprocess.Popen([sys.executable, "-c", _HOST_SCRIPT, runs, coordinator, str(i)],
                              env=env, cwd=_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for i, (p, (out, err)) in enumerate(zip(procs, outs)):
        assert p.returncode == 0, f"process {i}: {err[-3000:]}"
    # Process 0 alone reports (the output also holds Gloo's connection lines).
    assert outs[0][0].count("run directory:") == 2 and "run directory:" not in outs[1][0], outs
    assert all("batch_size=6 does not split over 4 devices" in err for _, err in outs), outs
    return outs[0][0]


def test_two_hosts_of_two_devices_match_one_device(tmp_path):
    """A multi-host run (2 processes joined by jax.distributed, each feeding its
    half of every global batch) trains, checkpoints, resumes, and ends with the
    parameters of the one-device loop."""
    from gan_jax.checkpoint import restore_run
    reference = _start_one_device_loop(tmp_path)   # runs beside the two hosts
    runs = str(tmp_path / "hosts")
    printed = _two_hosts(runs)
    one = _finish_one_device_loop(*reference)
    assert "(4 device(s), 2 processes)" in printed and "resumed" in printed, printed
    _, state = restore_run(os.path.join(runs, "run"))
    assert int(state.step) == 3
    two_hosts = jax.device_get(jax.tree.leaves((state.g_params, state.d_params, state.d_batch_stats)))
    assert len(one) == len(two_hosts) > 0
    for a, b in zip(one, two_hosts):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    metrics = [json.loads(line) for line in open(os.path.join(runs, "run", "metrics.jsonl"))]
    assert [m["step"] for m in metrics] == [1, 2, 3]   # one writer, no duplicate lines
