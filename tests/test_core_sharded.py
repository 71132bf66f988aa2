"""A step under ``shard_map`` over 2 devices with ``axis_name`` equals the one-device step on
the global batch (gradients, metrics and batch statistics averaged; latents of the global batch).

Run in a subprocess: the 2 CPU devices must be forced before JAX starts.
"""

import json
import os
import subprocess
import sys

import pytest

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

preset, overrides, shape = json.loads(sys.argv[1])
config = get_config(preset, overrides)
state = init_state(config)
images = jax.random.uniform(jax.random.PRNGKey(1), (1, config.batch_size) + tuple(shape), minval=-1, maxval=1)
batch, key = Batch(images), jax.random.PRNGKey(2)
mesh = Mesh(np.array(jax.devices()[:2]), ("data",))
out = {}
for name, step, spec in (("train_step", train_step, P(None, "data")), ("d_step", d_step, P("data")),
                         ("g_step", g_step, P("data"))):
    b = batch if name == "train_step" else Batch(images[0])
    one = jax.jit(step)(state, b, key)
    sharded = jax.jit(jax.shard_map(functools.partial(step, axis_name="data"), mesh=mesh,
                                    in_specs=(P(), Batch(spec, None), P()), out_specs=(P(), P())))
    two = sharded(state, b, key)
    diffs = [float(jnp.max(jnp.abs(jnp.asarray(x, jnp.float32) - jnp.asarray(y, jnp.float32))))
             for x, y in zip(jax.tree.leaves(one), jax.tree.leaves(two))]
    scale = max(float(jnp.max(jnp.abs(jnp.asarray(x, jnp.float32)))) for x in jax.tree.leaves(one[0]))
    out[name] = {"max_diff": max(diffs), "leaves": len(diffs), "scale": scale,
                 "bn": bool(one[0].g_batch_stats or one[0].d_batch_stats)}
print(json.dumps(out))
"""

CASES = {
    "mlp_batch_norm_instance_noise": ("ring8", ["mlp_hidden=16", "latent_dim=4", "batch_size=8", "norm=batch",
                                                "instance_noise=0.1"], [2]),
    "dcgan_batch_norm": ("digits_dcgan", ["g_width=4", "d_width=4", "latent_dim=8", "batch_size=8"], [8, 8, 1]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_step_sharded_over_two_devices_equals_the_one_device_step(case):
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    proc = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(CASES[case])], capture_output=True,
                          text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for name, r in result.items():
        assert r["leaves"] > 10 and r["max_diff"] <= 1e-5, (name, r)
    assert result["train_step"]["bn"]   # the batch statistics were part of the comparison
