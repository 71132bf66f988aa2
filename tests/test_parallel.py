"""The training loop sharded over 4 forced CPU devices gives the one-device
parameters (``train_step`` on sharded batches, replicated state, a checkpoint
restored in the middle)."""

import os
import subprocess
import sys
import textwrap

import jax
import numpy as np

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


def test_training_loop_on_four_devices_matches_one_device(tmp_path):
    one, four = _run_loop(tmp_path, 1), _run_loop(tmp_path, 4)
    assert len(one) == len(four) > 0
    for a, b in zip(one, four):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_one_device_mesh_keeps_values():
    mesh = make_mesh(jax.devices()[:1])
    x = np.arange(6.0).reshape(3, 2)
    np.testing.assert_array_equal(shard_batch(x, mesh), x)
    np.testing.assert_array_equal(replicate({"a": x}, mesh)["a"], x)
