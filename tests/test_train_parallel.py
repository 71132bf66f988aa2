"""Data parallel over a mesh (gan_jax.train.parallel). The 2-process x 2-device training run,
compared with one device, is in tests/test_gcs.py (it writes to a gs:// bucket)."""

import jax
import numpy as np

from gan_jax.train.parallel import make_mesh, replicate, shard_batch


def test_one_device_mesh_keeps_values():
    mesh = make_mesh(jax.devices()[:1])
    x = np.arange(6.0).reshape(3, 2)
    np.testing.assert_array_equal(shard_batch(x, mesh), x)
    np.testing.assert_array_equal(replicate({"a": x}, mesh)["a"], x)
