"""A small Flax classifier of the 8x8 digits: the offline feature extractor for digits FID.

Inception needs weights that cannot be downloaded here, so digits scores use
the penultimate layer (64 features) and the class probabilities of this
MLP (an MLP rather than a CNN: 64 pixels need no convolution, and it
trains in seconds on a CPU), trained on ``load_digits("train")`` with a fixed seed and full-batch
Adam. Scores made with it are comparable only with each other (its name,
:data:`EXTRACTOR_NAME`, is stored with every statistics file).
"""

import os
from typing import Callable, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import serialization

from gan_jax.data.digits import load_digits
from gan_jax.io import paths

__all__ = [
    "EXTRACTOR_NAME", "DigitsClassifier", "init_classifier", "train_classifier", "accuracy",
    "classifier_features", "classifier_probs", "cache_dir", "load_or_train_classifier", "digit_classify_fn",
    "cached_digit_classify_fn",
]

#: Bump the version whenever the architecture or the training recipe changes,
#: so a stale cache file is never read as the new classifier.
EXTRACTOR_NAME = "digits_mlp_v1"
TRAIN_STEPS, LEARNING_RATE, SEED = 300, 3e-3, 0


class DigitsClassifier(nn.Module):
    """Flatten -> Dense(256) -> Dense(64) features -> Dense(10) logits, on ``(N, 8, 8, 1)``."""
    num_classes: int = 10
    feature_dim: int = 64

    @nn.compact
    def __call__(self, x, features_only: bool = False):
        x = nn.relu(nn.Dense(256)(x.reshape(x.shape[0], -1)))
        features = nn.relu(nn.Dense(self.feature_dim)(x))
        if features_only:
            return features
        return nn.Dense(self.num_classes)(features)


def init_classifier(key: jax.Array):
    """Parameters of :class:`DigitsClassifier` for 8x8x1 inputs."""
    return DigitsClassifier().init(key, jnp.zeros((1, 8, 8, 1)))["params"]


def _loss(params, images, labels):
    logits = DigitsClassifier().apply({"params": params}, images)
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def train_classifier(images: jax.Array, labels: jax.Array, steps: int = TRAIN_STEPS,
                     learning_rate: float = LEARNING_RATE, seed: int = SEED):
    """Full-batch Adam on cross-entropy; images ``(N, 8, 8, 1)`` in [-1, 1], int labels ``(N,)``."""
    optimizer = optax.adam(learning_rate)
    params = init_classifier(jax.random.PRNGKey(seed))

    def step(carry, _):
        params, opt_state = carry
        grads = jax.grad(_loss)(params, images, labels)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), None

    (params, _), _ = jax.lax.scan(step, (params, optimizer.init(params)), None, length=steps)
    return params


def classifier_probs(params, images: jax.Array) -> jax.Array:
    """Softmax class probabilities ``(N, 10)`` of images ``(N, 8, 8, 1)``."""
    return jax.nn.softmax(DigitsClassifier().apply({"params": params}, images))


def classifier_features(params, images: jax.Array) -> jax.Array:
    """Penultimate-layer features ``(N, 64)`` of images ``(N, 8, 8, 1)``."""
    return DigitsClassifier().apply({"params": params}, images, features_only=True)


def accuracy(params, images: jax.Array, labels: jax.Array) -> jax.Array:
    """Fraction of images whose argmax class equals the label."""
    return jnp.mean(jnp.argmax(classifier_probs(params, images), axis=1) == labels)


def cache_dir() -> str:
    """``$GAN_JAX_CACHE`` if set, else ``~/.cache/gan_jax``."""
    return os.environ.get("GAN_JAX_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "gan_jax")


def load_or_train_classifier() -> Tuple[dict, float]:
    """The cached classifier's parameters and test accuracy, training it on first use (shell)."""
    path = os.path.join(cache_dir(), f"{EXTRACTOR_NAME}.msgpack")
    if os.path.isfile(path):
        # msgpack_restore needs no template, so no parameters are initialised (and compiled) to read it.
        with open(path, "rb") as f:
            restored = serialization.msgpack_restore(f.read())
        params = jax.tree.map(jnp.asarray, restored["params"])
        return params, float(restored["test_accuracy"])
    train_x, train_y = load_digits("train")
    test_x, test_y = load_digits("test")
    # LLVM's optimisation level 1 halves the compile time of the training (mostly its
    # initialisation's random numbers) and leaves the trained parameters bit for bit
    # those of the default level 2 (checked on this project's CPU); it runs as fast.
    level1 = {"xla_backend_optimization_level": 1}
    params = jax.jit(train_classifier, compiler_options=level1)(jnp.asarray(train_x), jnp.asarray(train_y))
    test_accuracy = float(jax.jit(accuracy, compiler_options=level1)(params, jnp.asarray(test_x),
                                                                      jnp.asarray(test_y)))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # A temporary file of its own, so that processes training at once (test workers) never
    # write into each other's file; the last complete one is renamed into place.
    paths.write_bytes(path, serialization.to_bytes({"params": params, "test_accuracy": test_accuracy}))
    return params, test_accuracy


def digit_classify_fn(params) -> Callable:
    """A jitted ``(B, 8, 8, 1) -> (B,)`` argmax class of the digits classifier with ``params``."""
    @jax.jit
    def classify(images):
        return jnp.argmax(DigitsClassifier().apply({"params": params}, images), axis=-1).astype(jnp.int32)
    return classify


def cached_digit_classify_fn() -> Tuple[Callable, float]:
    """``(classify_fn, test_accuracy)`` of the cached digits classifier, trained on first use (shell)."""
    params, test_accuracy = load_or_train_classifier()
    return digit_classify_fn(params), test_accuracy
