"""Small Flax image classifiers as offline feature extractors: training, the cache, features, probabilities.

A classifier is a Flax module ``model(images (N, H, W, C)) -> logits (N, K)``
that with ``features_only=True`` returns its penultimate layer ``(N, d)``:
those features give FID and KID, the softmax of the logits the class
histogram and the Inception-score analogue. Each concrete classifier
(:mod:`~gan_jax.features.digits_classifier`, :mod:`~gan_jax.features.mnist_classifier`)
fixes its module, data and training recipe, and is trained once per machine
on first use and cached under ``$GAN_JAX_CACHE`` as ``NAME.msgpack`` with its
held-out accuracy, ``NAME`` naming the architecture and recipe.
"""

import functools
import os
from typing import Callable, Optional, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import serialization

from gan_jax.io import paths

__all__ = ["LLVM_LEVEL1", "cache_dir", "cache_path", "cross_entropy", "train_full_batch", "train_minibatch",
           "probs", "features", "accuracy", "classify_fn", "write_cached", "read_cached", "load_or_train"]

#: LLVM's optimisation level 1 halves the compile time of the digits classifier's training (mostly
#: its initialisation's random numbers) and leaves its trained parameters bit for bit those of the
#: default level 2 (checked on this project's CPU); it runs as fast.
LLVM_LEVEL1 = {"xla_backend_optimization_level": 1}


def cache_dir() -> str:
    """``$GAN_JAX_CACHE`` if set, else ``~/.cache/gan_jax``."""
    return os.environ.get("GAN_JAX_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "gan_jax")


def cache_path(name: str) -> str:
    """Where the classifier ``name`` is cached: ``cache_dir()/NAME.msgpack``."""
    return os.path.join(cache_dir(), f"{name}.msgpack")


def cross_entropy(model: nn.Module, params, images: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy ``-mean_i log softmax(model(x_i))[y_i]`` of int labels ``(N,)``."""
    logits = model.apply({"params": params}, images)
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def _adam_step(model, optimizer, carry, images, labels):
    """One Adam update of ``carry = (params, opt_state)`` on the cross-entropy of one batch."""
    params, opt_state = carry
    grads = jax.grad(functools.partial(cross_entropy, model))(params, images, labels)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state


def train_full_batch(model: nn.Module, params, images: jax.Array, labels: jax.Array, steps: int,
                     learning_rate: float):
    """``steps`` full-batch Adam updates from ``params`` on the cross-entropy of all of
    ``images (N, ...)``, ``labels (N,)`` (one ``lax.scan``; jit it)."""
    optimizer = optax.adam(learning_rate)

    def step(carry, _):
        return _adam_step(model, optimizer, carry, images, labels), None

    (params, _), _ = jax.lax.scan(step, (params, optimizer.init(params)), None, length=steps)
    return params


def train_minibatch(model: nn.Module, params, images: np.ndarray, labels: np.ndarray, steps: int,
                    learning_rate: float, batch_size: int, key: jax.Array, max_shift: int = 0):
    """``steps`` Adam updates from ``params`` on minibatches, the rate decayed to 0 by a cosine.

    Step ``t`` reads block ``t mod E`` (``E = N // batch_size``) of the permutation
    of the ``N`` rows drawn with ``fold_in(key, t // E)``, a new order every epoch;
    with ``max_shift > 0`` each image of it is shifted (wrapped around) by whole pixels
    drawn uniformly from ``[-max_shift, max_shift]`` along each axis, with
    ``fold_in(fold_in(key, t), 1)``. The step is jitted and called from Python: XLA:CPU
    runs convolutions slower inside a ``scan``.
    """
    n = len(images)
    if not 0 < batch_size <= n:
        raise ValueError(f"batch_size {batch_size} must be in 1..{n}, the number of images")
    per_epoch = n // batch_size
    optimizer = optax.adam(optax.cosine_decay_schedule(learning_rate, steps))

    @jax.jit
    def step(carry, images, labels, t):
        epoch, block = jnp.divmod(t, per_epoch)
        order = jax.random.permutation(jax.random.fold_in(key, epoch), n)
        rows = jax.lax.dynamic_slice_in_dim(order, block * batch_size, batch_size)
        x = images[rows]
        if max_shift:
            shifts = jax.random.randint(jax.random.fold_in(jax.random.fold_in(key, t), 1), (batch_size, 2),
                                        -max_shift, max_shift + 1)
            x = jax.vmap(lambda image, s: jnp.roll(image, (s[0], s[1]), axis=(0, 1)))(x, shifts)
        return _adam_step(model, optimizer, carry, x, labels[rows])

    images, labels = jnp.asarray(images), jnp.asarray(labels)
    carry = (params, optimizer.init(params))
    for t in range(steps):
        carry = step(carry, images, labels, jnp.int32(t))
    return carry[0]


def probs(model: nn.Module, params, images: jax.Array) -> jax.Array:
    """Softmax class probabilities ``(N, K)`` of ``images``."""
    return jax.nn.softmax(model.apply({"params": params}, images))


def features(model: nn.Module, params, images: jax.Array) -> jax.Array:
    """Penultimate-layer features ``(N, d)`` of ``images``."""
    return model.apply({"params": params}, images, features_only=True)


def accuracy(model: nn.Module, params, images: jax.Array, labels: jax.Array) -> jax.Array:
    """Fraction of images whose argmax class equals the label."""
    return jnp.mean(jnp.argmax(probs(model, params, images), axis=1) == labels)


def classify_fn(model: nn.Module, params) -> Callable:
    """A jitted ``images (B, ...) -> (B,)`` int32 argmax class of ``model`` with ``params``."""
    @jax.jit
    def classify(images):
        return jnp.argmax(model.apply({"params": params}, images), axis=-1).astype(jnp.int32)
    return classify


def write_cached(name: str, params, test_accuracy: float) -> str:
    """Write ``params`` and ``test_accuracy`` to :func:`cache_path` of ``name``; returns the path.

    A temporary file of its own, so that processes training at once (test workers)
    never write into each other's file; the last complete one is renamed into place."""
    path = cache_path(name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    paths.write_bytes(path, serialization.to_bytes({"params": params, "test_accuracy": test_accuracy}))
    return path


def read_cached(name: str) -> Optional[Tuple[dict, float]]:
    """``(params, test_accuracy)`` of the cached classifier ``name``, or None when there is no file."""
    path = cache_path(name)
    if not os.path.isfile(path):
        return None
    # msgpack_restore needs no template, so no parameters are initialised (and compiled) to read it.
    with open(path, "rb") as f:
        restored = serialization.msgpack_restore(f.read())
    return jax.tree.map(jnp.asarray, restored["params"]), float(restored["test_accuracy"])


def load_or_train(name: str, model: nn.Module, train: Callable, train_data: Callable,
                  test_data: Callable) -> Tuple[dict, float]:
    """The cached classifier ``name``'s parameters and held-out accuracy; on first use
    ``train(images, labels) -> params`` on ``train_data()``, its accuracy measured on
    ``test_data()`` (each ``() -> (images, labels)``), and both cached (shell)."""
    cached = read_cached(name)
    if cached is not None:
        return cached
    train_x, train_y = train_data()
    test_x, test_y = test_data()
    params = train(jnp.asarray(train_x), jnp.asarray(train_y))
    test_accuracy = float(jax.jit(functools.partial(accuracy, model), compiler_options=LLVM_LEVEL1)(
        params, jnp.asarray(test_x), jnp.asarray(test_y)))
    write_cached(name, params, test_accuracy)
    return params, test_accuracy
