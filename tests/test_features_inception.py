"""The FID Inception port: converter layout (always) and exactness against pytorch-fid (with torch).

The exactness test needs PyTorch, torchvision and pytorch-fid (optional; e.g.
``pip install torch torchvision pytorch-fid``) and is skipped without them.
It builds pytorch-fid's network with random weights, converts them, and
compares the 2048-d features of the same images. Run it by hand with
``pytest tests/test_features_inception.py -k pytorch_fid``.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from gan_jax.errors import UserError
from gan_jax.features import inception_convert
from gan_jax.features.inception import _avg_pool_tf, resize_for_inception


def test_tf_average_pool_ignores_padding():
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    got = np.asarray(_avg_pool_tf(jnp.asarray(x)))[0, :, :, 0]
    xs = x[0, :, :, 0]
    expected = np.array([[xs[max(i - 1, 0):i + 2, max(j - 1, 0):j + 2].mean() for j in range(4)] for i in range(4)])
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_resize_is_half_pixel_bilinear_and_greyscale_becomes_rgb():
    # Upsampling 2 -> 4 with half-pixel centres: output pixel centres at
    # (i + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25 in input coordinates, clamped at the edges.
    x = jnp.asarray([[0.0, 1.0], [0.0, 1.0]]).reshape(1, 2, 2, 1)
    y = np.asarray(resize_for_inception(x, (4, 4)))
    assert y.shape == (1, 4, 4, 3)
    np.testing.assert_allclose(y[0, 0, :, 0], [0.0, 0.25, 0.75, 1.0], atol=1e-6)
    np.testing.assert_array_equal(y[..., 0], y[..., 2])


def torch_layout_state_dict(rng):
    """A state dict with torchvision names and PyTorch layouts for every Flax variable."""
    state = {}
    for key, shape in inception_convert._template().items():
        collection, *path, leaf = key
        name = ".".join(path)
        if leaf == "kernel":
            kh, kw, i, o = shape
            state[f"{name}.weight"] = rng.normal(size=(o, i, kh, kw)).astype(np.float32)
        else:
            torch_leaf = {"scale": "weight", "bias": "bias", "mean": "running_mean", "var": "running_var"}[leaf]
            state[f"{name}.{torch_leaf}"] = rng.normal(size=shape).astype(np.float32)
    return state


def test_convert_state_dict_maps_names_and_layouts():
    rng = np.random.default_rng(0)
    state = torch_layout_state_dict(rng)
    state["fc.weight"] = np.zeros((1008, 2048), np.float32)
    state["Conv2d_1a_3x3.bn.num_batches_tracked"] = np.zeros((), np.int64)
    flat = traverse_util.flatten_dict(inception_convert.convert_state_dict(state))
    np.testing.assert_array_equal(flat[("params", "Mixed_6b", "branch7x7_2", "conv", "kernel")],
                                  state["Mixed_6b.branch7x7_2.conv.weight"].transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(flat[("batch_stats", "Mixed_7c", "branch_pool", "bn", "var")],
                                  state["Mixed_7c.branch_pool.bn.running_var"])
    del state["Mixed_5b.branch1x1.conv.weight"]
    with pytest.raises(UserError, match="lacks 1"):
        inception_convert.convert_state_dict(state)


def test_missing_weights_file_says_where_to_get_it(tmp_path):
    with pytest.raises(UserError, match="pt_inception-2015-12-05-6726825d.pth"):
        inception_convert.convert_inception(str(tmp_path / "nope.pth"), str(tmp_path / "out.msgpack"))
    with pytest.raises(UserError, match="convert-inception"):
        inception_convert.load_inception_variables(str(tmp_path / "nope.msgpack"))
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not the published file")
    with pytest.raises(UserError, match="sha256"):
        inception_convert.convert_inception(str(bad), str(tmp_path / "out.msgpack"))


def test_weights_that_are_not_a_converted_inception_are_one_line(tmp_path):
    garbage = tmp_path / "garbage.msgpack"
    garbage.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(UserError, match="is not a converted FID Inception"):
        inception_convert.load_inception_variables(str(garbage))
    other = inception_convert.save_inception_variables({"params": {"w": np.zeros(3, np.float32)}},
                                                       str(tmp_path / "other.msgpack"))
    with pytest.raises(UserError, match="missing or misshapen"):
        inception_convert.load_inception_variables(other)


def randomised_pytorch_fid(torch, monkeypatch):
    """pytorch-fid's InceptionV3 (2048-d block) with random but well-scaled weights and BN statistics."""
    pytorch_fid_inception = pytest.importorskip("pytorch_fid.inception")
    gen = torch.Generator().manual_seed(0)
    captured = {}

    def fake_load(*args, **kwargs):
        return captured["state"]

    # fid_inception_v3() builds the network and then loads the published
    # weights by URL; hand it a randomised copy of its own state dict instead.
    net = pytorch_fid_inception._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    for name, cls, args in (("Mixed_5b", "FIDInceptionA", (192, 32)), ("Mixed_5c", "FIDInceptionA", (256, 64)),
                            ("Mixed_5d", "FIDInceptionA", (288, 64)), ("Mixed_6b", "FIDInceptionC", (768, 128)),
                            ("Mixed_6c", "FIDInceptionC", (768, 160)), ("Mixed_6d", "FIDInceptionC", (768, 160)),
                            ("Mixed_6e", "FIDInceptionC", (768, 192)), ("Mixed_7b", "FIDInceptionE_1", (1280,)),
                            ("Mixed_7c", "FIDInceptionE_2", (2048,))):
        setattr(net, name, getattr(pytorch_fid_inception, cls)(*args))
    state = {}
    for k, v in net.state_dict().items():
        if k.endswith("conv.weight"):
            fan_in = v.shape[1] * v.shape[2] * v.shape[3]
            v = torch.randn(v.shape, generator=gen) * (2.0 / fan_in) ** 0.5
        elif k.endswith("bn.weight") or k.endswith("running_var"):
            v = 0.5 + torch.rand(v.shape, generator=gen)
        elif k.endswith("bn.bias") or k.endswith("running_mean"):
            v = 0.1 * torch.randn(v.shape, generator=gen)
        state[k] = v
    captured["state"] = state
    monkeypatch.setattr(pytorch_fid_inception, "load_state_dict_from_url", fake_load)
    model = pytorch_fid_inception.InceptionV3([3]).eval()
    return model, state


def test_port_matches_pytorch_fid_features(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    pytest.importorskip("torchvision")
    model, state = randomised_pytorch_fid(torch, monkeypatch)
    path = tmp_path / "random.pth"
    torch.save(state, path)
    out = inception_convert.convert_inception(str(path), str(tmp_path / "random.msgpack"), verify=False)
    variables = inception_convert.load_inception_variables(out)

    from gan_jax.features.inception import inception_features
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, size=(3, 32, 32, 3)).astype(np.float32)  # upsampled to 299 by both
    with torch.no_grad():
        # pytorch-fid takes NCHW images in [0, 1].
        ref = model(torch.from_numpy((images.transpose(0, 3, 1, 2) + 1) / 2))[0][:, :, 0, 0].numpy()
    got = np.asarray(jax.jit(inception_features)(variables, jnp.asarray(images)))
    max_abs = float(np.max(np.abs(got - ref)))
    print(f"max abs feature difference {max_abs:.3g}, feature scale (max abs) {np.max(np.abs(ref)):.3g}")
    assert got.shape == ref.shape == (3, 2048)
    np.testing.assert_allclose(got, ref, atol=1e-4, rtol=0)
