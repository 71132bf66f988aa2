"""A small LeNet-style Flax classifier of 28x28 grey digits: the offline feature extractor for MNIST-sized FID.

Trained on mnist5k's 4,000 training digits (:func:`gan_jax.data.mnist5k.load_mnist5k`)
with a fixed seed: minibatch Adam with a cosine-decayed rate, each digit shifted
by up to a pixel (the training, the
cache and the features are :mod:`gan_jax.features.classifier`'s); its accuracy
is measured on the 1,000 held-out digits, which it never sees. Its
penultimate layer (:data:`FEATURE_DIM` features) gives FID and KID for
28x28x1 images, its class probabilities the class histogram and the
Inception-score analogue. Scores made with it are comparable only with each
other (its name, :data:`EXTRACTOR_NAME`, is stored with every statistics file).
"""

from typing import Callable, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.data.mnist5k import load_mnist5k
from gan_jax.features import classifier as shared

__all__ = ["EXTRACTOR_NAME", "FEATURE_DIM", "MnistClassifier", "init_classifier", "train_classifier",
           "classifier_probs", "classifier_features", "accuracy", "load_or_train_classifier", "classify_fn",
           "cached_classify_fn"]

#: The cache's and eval.json's name of this classifier. Bump the version whenever the
#: architecture or the training recipe changes, so a stale cache file is never read as the new one.
EXTRACTOR_NAME = "mnist_lenet_v1"
#: Width of the penultimate layer: the features FID, KID and precision/recall read.
FEATURE_DIM = 64
# 400 steps of 128 digits (12.8 epochs); each image shifted by up to one pixel along each axis.
TRAIN_STEPS, BATCH_SIZE, LEARNING_RATE, MAX_SHIFT, SEED = 400, 128, 3e-3, 1, 0


class MnistClassifier(nn.Module):
    """Conv(16, 5x5) -> max-pool 2 -> Conv(32, 5x5) -> max-pool 2 -> Dense(64) features -> Dense(10)
    logits, ReLU after each hidden layer, on ``(N, 28, 28, 1)``."""
    num_classes: int = 10
    feature_dim: int = FEATURE_DIM

    @nn.compact
    def __call__(self, x, features_only: bool = False):
        for channels in (16, 32):
            x = nn.relu(nn.Conv(channels, (5, 5), padding="SAME")(x))
            x = nn.max_pool(x, (2, 2), strides=(2, 2))
        features = nn.relu(nn.Dense(self.feature_dim)(x.reshape(x.shape[0], -1)))
        if features_only:
            return features
        return nn.Dense(self.num_classes)(features)


def init_classifier(key: jax.Array):
    """Parameters of :class:`MnistClassifier` for 28x28x1 inputs."""
    return MnistClassifier().init(key, jnp.zeros((1, 28, 28, 1)))["params"]


def train_classifier(images, labels, steps: int = TRAIN_STEPS, batch_size: int = BATCH_SIZE,
                     learning_rate: float = LEARNING_RATE, max_shift: int = MAX_SHIFT, seed: int = SEED):
    """Minibatch Adam on cross-entropy with images shifted by up to ``max_shift`` pixels
    (:func:`gan_jax.features.classifier.train_minibatch`); images ``(N, 28, 28, 1)`` in
    [-1, 1] (MNIST's digits lie inside a 4-pixel black border, so a shift wraps no stroke
    around), int labels ``(N,)``."""
    key = jax.random.PRNGKey(seed)
    params = jax.jit(init_classifier)(key)
    return shared.train_minibatch(MnistClassifier(), params, images, labels, steps, learning_rate,
                                  min(batch_size, len(images)), jax.random.fold_in(key, 1), max_shift)


def classifier_probs(params, images: jax.Array) -> jax.Array:
    """Softmax class probabilities ``(N, 10)`` of images ``(N, 28, 28, 1)``."""
    return shared.probs(MnistClassifier(), params, images)


def classifier_features(params, images: jax.Array) -> jax.Array:
    """Penultimate-layer features ``(N, 64)`` of images ``(N, 28, 28, 1)``."""
    return shared.features(MnistClassifier(), params, images)


def accuracy(params, images: jax.Array, labels: jax.Array) -> jax.Array:
    """Fraction of images whose argmax class equals the label."""
    return shared.accuracy(MnistClassifier(), params, images, labels)


def load_or_train_classifier() -> Tuple[dict, float]:
    """The cached classifier's parameters and held-out accuracy, training it on first use (shell)."""
    return shared.load_or_train(EXTRACTOR_NAME, MnistClassifier(), train_classifier,
                                lambda: load_mnist5k("train"), lambda: load_mnist5k("test"))


def classify_fn(params) -> Callable:
    """A jitted ``(B, 28, 28, 1) -> (B,)`` argmax class of the classifier with ``params``."""
    return shared.classify_fn(MnistClassifier(), params)


def cached_classify_fn() -> Tuple[Callable, float]:
    """``(classify_fn, held_out_accuracy)`` of the cached classifier, trained on first use (shell)."""
    params, test_accuracy = load_or_train_classifier()
    return classify_fn(params), test_accuracy
