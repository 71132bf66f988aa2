"""The multi-host test's pieces: a tiny digits DCGAN trained by the loop on one device in a
subprocess (the reference) and by 2 processes x 2 CPU devices joined by jax.distributed
(``HOST_SCRIPT``, used by tests/test_gcs.py with a gs:// runs directory)."""

import os
import socket
import subprocess
import sys
import textwrap

import numpy as np

# A tiny digits DCGAN that logs, samples and checkpoints every step or two;
# both scripts below train it, so their parameters can be compared.
OVERRIDES = ["eval_every=0", "batch_size=8", "g_width=8", "d_width=8", "latent_dim=8", "log_every=1",
              "sample_every=2", "checkpoint_every=2", "grid_samples=4"]

# The training loop on one device for 3 steps; writes the final parameters to argv[2].
# An entry point like `gan-jax`, so it makes the same PRNG choice.
LOOP_SCRIPT = textwrap.dedent("""
    import sys, jax, numpy as np
    from gan_jax.config.schema import get_config
    from gan_jax.train.loop import train
    from gan_jax.runs.provenance import entry_point_setup
    entry_point_setup()
    run_dir, out = sys.argv[1], sys.argv[2]
    overrides = OVERRIDES + ["steps=3"]
    state = train(get_config("digits_dcgan", overrides), run_dir, progress=False, echo=lambda *a: None)
    leaves = jax.device_get(jax.tree.leaves((state.g_params, state.d_params, state.d_batch_stats)))
    np.savez(out, *leaves)
    print("OK", len(jax.devices()), int(state.step))
""").replace("OVERRIDES", repr(OVERRIDES))


_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def start_one_device_loop(tmp_path):
    """Start the one-device loop in a subprocess; returns (process, params file)."""
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=1", JAX_PLATFORMS="cpu")
    out = tmp_path / "params_one_device.npz"
    proc = subprocess.Popen([sys.executable, "-c", LOOP_SCRIPT, str(tmp_path / "run_one_device"), str(out)],
                            env=env, cwd=_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, out


def finish_one_device_loop(proc, out) -> list:
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr[-3000:]
    assert stdout.startswith("OK 1 3"), stdout
    with np.load(out) as f:
        return [f[f"arr_{i}"] for i in range(len(f.files))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# One process of a 2-host run: `gan-jax train` for 2 steps, then `gan-jax
# resume` to 3, both through the command line's multi-host options (the
# second call finds the process already joined).
HOST_SCRIPT = textwrap.dedent("""
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
    from gan_jax.train.parallel import make_mesh, shard_batch
    try:
        shard_batch(np.zeros((5, 2)), make_mesh())
        raise AssertionError("5 rows split over this process's 2 devices")
    except ValueError as e:
        assert "divisible by 2" in str(e), e
""").replace("OVERRIDES", repr(OVERRIDES))
