"""A step under ``shard_map`` over 2 devices with ``axis_name`` equals the one-device step on
the global batch (gradients, metrics and batch statistics averaged; latents of the global batch).

Run in a subprocess: the 2 CPU devices must be forced before JAX starts.
"""

import json
import os
import subprocess
import sys


SCRIPT = r"""
import functools, json, os, sys
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
os.environ["JAX_PLATFORMS"] = "cpu"
import jax, jax.numpy as jnp, numpy as np
from jax.sharding import Mesh, PartitionSpec as P
from gan_jax.runs.provenance import entry_point_setup
entry_point_setup()
jax.config.update("jax_default_matmul_precision", "highest")
from gan_jax.config.build import init_state
from gan_jax.config.schema import get_config
from gan_jax.core.state import Batch
from gan_jax.core.steps import d_step, g_step, train_step

mesh = Mesh(np.array(jax.devices()[:2]), ("data",))
out = {}
for case, (preset, overrides, shape, names) in json.loads(sys.argv[1]).items():
    config = get_config(preset, overrides)
    state = init_state(config)
    images = jax.random.uniform(jax.random.PRNGKey(1), (1, config.batch_size) + tuple(shape), minval=-1, maxval=1)
    key = jax.random.PRNGKey(2)
    for name in names:
        step = {"train_step": train_step, "d_step": d_step, "g_step": g_step}[name]
        batch, spec = (Batch(images), P(None, "data")) if name == "train_step" else (Batch(images[0]), P("data"))
        one = jax.jit(step)(state, batch, key)
        sharded = jax.jit(jax.shard_map(functools.partial(step, axis_name="data"), mesh=mesh,
                                        in_specs=(P(), Batch(spec, None), P()), out_specs=(P(), P())))
        two = sharded(state, batch, key)
        diffs = [float(jnp.max(jnp.abs(jnp.asarray(x, jnp.float32) - jnp.asarray(y, jnp.float32))))
                 for x, y in zip(jax.tree.leaves(one), jax.tree.leaves(two))]
        out[f"{case}/{name}"] = {"max_diff": max(diffs), "leaves": len(diffs), "bn": bool(one[0].g_batch_stats)}
print(json.dumps(out))
"""

# Every step on an MLP with batch norm in G and instance noise (drawn for the global batch);
# train_step (k D steps and the G step) on a DCGAN with batch norm in both players.
CASES = {
    "mlp": ("ring8", ["mlp_hidden=16", "latent_dim=4", "batch_size=8", "norm=batch", "instance_noise=0.1"], [2],
            ["train_step", "d_step", "g_step"]),
    "dcgan": ("digits_dcgan", ["g_width=4", "d_width=4", "latent_dim=8", "batch_size=8"], [8, 8, 1], ["train_step"]),
}


def test_steps_sharded_over_two_devices_equal_the_one_device_step():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    proc = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(CASES)], capture_output=True,
                          text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(result) == 4
    for name, r in result.items():
        assert r["leaves"] > 10 and r["max_diff"] <= 1e-5, (name, r)
        assert r["bn"], name   # G's batch statistics were part of the comparison
