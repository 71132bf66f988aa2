"""Convert pytorch-fid's Inception weights (a PyTorch state dict) into Flax variables (shell).

The published file is ``pt_inception-2015-12-05-6726825d.pth`` from
https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth
(the TensorFlow FID graph ported by pytorch-fid). As torch.hub does, the
file is accepted only when its sha256 starts with the 8 hex digits in its
name, and it is read with ``torch.load(weights_only=True)``, which executes
no pickled code; PyTorch is needed for this one step only.
"""

import hashlib
import os

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization, traverse_util

from gan_jax.errors import UserError
from gan_jax.features.digits_classifier import cache_dir
from gan_jax.features.inception import INPUT_SIZE, FIDInceptionV3
from gan_jax.io import paths

__all__ = ["WEIGHTS_URL", "WEIGHTS_SHA256_PREFIX", "default_weights_path", "sha256_of",
           "convert_state_dict", "convert_inception", "save_inception_variables", "load_inception_variables"]

#: Where pytorch-fid publishes the FID Inception weights (PyTorch format) that ``gan-jax convert-inception`` reads.
WEIGHTS_URL = ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
               "pt_inception-2015-12-05-6726825d.pth")
#: The first hex digits of that file's SHA-256, part of its published name.
WEIGHTS_SHA256_PREFIX = "6726825d"
_BN_NAMES = {"weight": ("params", "scale"), "bias": ("params", "bias"),
             "running_mean": ("batch_stats", "mean"), "running_var": ("batch_stats", "var")}


def default_weights_path() -> str:
    """Where ``gan-jax fid``/``eval`` look for converted weights: ``<cache>/inception_fid.msgpack``."""
    return os.path.join(cache_dir(), "inception_fid.msgpack")


def sha256_of(path: str) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _template():
    """Shapes of the Flax variables, without computing them."""
    shapes = jax.eval_shape(FIDInceptionV3().init, jax.random.PRNGKey(0),
                            jnp.zeros((1, INPUT_SIZE, INPUT_SIZE, 3)))
    return traverse_util.flatten_dict(jax.tree_util.tree_map(lambda s: s.shape, shapes,
                                                             is_leaf=lambda s: hasattr(s, "shape")))


def convert_state_dict(state_dict) -> dict:
    """PyTorch names/layouts -> Flax ``{"params", "batch_stats"}`` (numpy float32).

    ``A.B.conv.weight`` (O, I, kh, kw) -> params/A/B/conv/kernel (kh, kw, I, O);
    ``A.B.bn.{weight, bias, running_mean, running_var}`` -> params scale, bias,
    batch_stats mean, var. ``num_batches_tracked`` and the classifier ``fc``
    are not used by the pool features and are skipped.
    """
    flat = {}
    for name, value in state_dict.items():
        parts = name.split(".")
        if parts[0] == "fc" or parts[-1] == "num_batches_tracked":
            continue
        array = np.asarray(value, np.float32)
        if parts[-2] == "conv" and parts[-1] == "weight":
            flat[("params", *parts[:-1], "kernel")] = array.transpose(2, 3, 1, 0)
        elif parts[-2] == "bn" and parts[-1] in _BN_NAMES:
            collection, leaf = _BN_NAMES[parts[-1]]
            flat[(collection, *parts[:-1], leaf)] = array
        else:
            raise UserError(f"unexpected entry {name!r} in the state dict; this is not pytorch-fid's "
                            "FID Inception (expected torchvision Inception v3 names)")
    template = _template()
    missing = sorted("/".join(k) for k in template if k not in flat)
    if missing:
        raise UserError(f"the state dict lacks {len(missing)} FID Inception tensors (e.g. {missing[0]}); "
                        f"use {WEIGHTS_URL}")
    for key, shape in template.items():
        if flat[key].shape != tuple(shape):
            raise UserError(f"{'/'.join(key)} has shape {flat[key].shape}, the FID Inception needs {tuple(shape)}")
    return traverse_util.unflatten_dict({k: flat[k] for k in template})


def convert_inception(weights_path: str, out_path: str, verify: bool = True) -> str:
    """Read a pytorch-fid ``.pth``, check its sha256 prefix, write Flax msgpack to ``out_path``."""
    if not os.path.isfile(weights_path):
        raise UserError(f"{weights_path} does not exist; download pytorch-fid's weights from {WEIGHTS_URL} "
                        "and pass that file")
    if verify:
        digest = sha256_of(weights_path)
        if not digest.startswith(WEIGHTS_SHA256_PREFIX):
            raise UserError(f"{weights_path} has sha256 {digest}, not the published file "
                            f"({WEIGHTS_SHA256_PREFIX}...); download {WEIGHTS_URL}, or pass --no-verify "
                            "for other weights (their features are not FID's)")
    try:
        import torch  # optional (the bench extra): only reading a .pth needs PyTorch
    except ImportError:
        raise UserError("reading a .pth needs PyTorch: pip install torch (CPU is enough), "
                        "then run convert-inception again") from None
    try:
        state_dict = torch.load(weights_path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a bad or unsafe file
        raise UserError(f"cannot read {weights_path} as a PyTorch state dict ({type(e).__name__}: "
                        f"{str(e).splitlines()[0]})") from None
    variables = convert_state_dict({k: v.numpy() for k, v in state_dict.items()})
    return save_inception_variables(variables, out_path)


def save_inception_variables(variables: dict, path: str) -> str:
    """Write Flax Inception variables as msgpack to ``path`` (through a temporary file and a rename)."""
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    return paths.write_bytes(path, serialization.msgpack_serialize(variables))


def load_inception_variables(path: str) -> dict:
    """Read converted weights, checking every tensor's name and shape."""
    if not os.path.isfile(path):
        raise UserError(f"no converted Inception weights at {path}; download {WEIGHTS_URL} and run "
                        f"gan-jax convert-inception pt_inception-2015-12-05-6726825d.pth {path}")
    with open(path, "rb") as f:
        payload = f.read()
    try:
        variables = serialization.msgpack_restore(payload)
    except Exception as e:  # msgpack raises many unrelated types for bytes that are not its format
        raise UserError(f"{path} is not a converted FID Inception ({type(e).__name__} while decoding); "
                        "convert again with gan-jax convert-inception") from None
    if not isinstance(variables, dict):
        raise UserError(f"{path} is not a converted FID Inception (it decodes to {type(variables).__name__}); "
                        "convert again with gan-jax convert-inception")
    flat = traverse_util.flatten_dict(variables)
    for key, shape in _template().items():
        if key not in flat or tuple(np.shape(flat[key])) != tuple(shape):
            raise UserError(f"{path} is not a converted FID Inception ({'/'.join(key)} missing or misshapen); "
                            "convert again with gan-jax convert-inception")
    return variables
