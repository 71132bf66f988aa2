"""Sharded training over 4 forced CPU devices gives the one-device parameters."""

import os
import subprocess
import sys
import textwrap

import jax
import numpy as np

from gan_jax.parallel import make_mesh, replicate, shard_batch

_SCRIPT = textwrap.dedent("""
    import jax, jax.numpy as jnp, numpy as np
    from gan_jax.build import init_state
    from gan_jax.config import get_config
    from gan_jax.parallel import make_mesh, replicate, shard_batch
    from gan_jax.state import train_step
    assert len(jax.devices()) == 4, jax.devices()
    config = get_config("digits_dcgan", ["batch_size=8", "g_width=8", "d_width=8", "latent_dim=8"])
    real = jax.random.uniform(jax.random.PRNGKey(1), (3, 1, 8, 8, 8, 1), minval=-1, maxval=1)

    def run(sharded):
        state = init_state(config)
        mesh = make_mesh()
        if sharded:
            state = replicate(state, mesh)
        for i in range(2):
            batch = shard_batch(real[i], mesh, axis=1) if sharded else real[i]
            state, _ = train_step(state, batch, jax.random.PRNGKey(i))
        if sharded:
            assert len(batch.sharding.device_set) == 4
        return jax.device_get((state.g_params, state.d_params, state.d_batch_stats))

    one, four = run(False), run(True)
    for a, b in zip(jax.tree.leaves(one), jax.tree.leaves(four)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    try:
        shard_batch(np.zeros((6, 2)), make_mesh())
        raise AssertionError("a batch of 6 split over 4 devices")
    except ValueError as e:
        assert "divisible by 4" in str(e)
    print("OK", len(jax.tree.leaves(one)))
""")


def test_four_devices_match_one_device():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4",
               JAX_PLATFORMS="cpu")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", _SCRIPT], env=env, cwd=root,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.startswith("OK")


def test_one_device_mesh_keeps_values():
    mesh = make_mesh(jax.devices()[:1])
    x = np.arange(6.0).reshape(3, 2)
    np.testing.assert_array_equal(shard_batch(x, mesh), x)
    np.testing.assert_array_equal(replicate({"a": x}, mesh)["a"], x)
