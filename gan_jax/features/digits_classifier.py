"""A small Flax classifier of the 8x8 digits: the offline feature extractor for digits FID.

Inception needs weights that cannot be downloaded here, so digits scores use
the penultimate layer (64 features) and the class probabilities of this
MLP (an MLP rather than a CNN: 64 pixels need no convolution, and it
trains in seconds on a CPU), trained on ``load_digits("train")`` with a fixed seed and full-batch
Adam (the training, the cache and the features are :mod:`gan_jax.features.classifier`'s).
Scores made with it are comparable only with each other (its name,
:data:`EXTRACTOR_NAME`, is stored with every statistics file).
"""

from typing import Callable, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.data.digits import load_digits
from gan_jax.features import classifier as shared
from gan_jax.features.classifier import cache_dir  # noqa: F401 (re-exported)

__all__ = [
    "EXTRACTOR_NAME", "DigitsClassifier", "init_classifier", "train_classifier", "accuracy",
    "classifier_features", "classifier_probs", "cache_dir", "load_or_train_classifier", "digit_classify_fn",
    "cached_digit_classify_fn", "FEATURE_DIM",
]

#: Bump the version whenever the architecture or the training recipe changes,
#: so a stale cache file is never read as the new classifier.
EXTRACTOR_NAME = "digits_mlp_v1"
TRAIN_STEPS, LEARNING_RATE, SEED = 300, 3e-3, 0
#: Width of the penultimate layer: the features FID, KID and precision/recall read.
FEATURE_DIM = 64


class DigitsClassifier(nn.Module):
    """Flatten -> Dense(256) -> Dense(64) features -> Dense(10) logits, on ``(N, 8, 8, 1)``."""
    num_classes: int = 10
    feature_dim: int = FEATURE_DIM

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


def train_classifier(images: jax.Array, labels: jax.Array, steps: int = TRAIN_STEPS,
                     learning_rate: float = LEARNING_RATE, seed: int = SEED):
    """Full-batch Adam on cross-entropy; images ``(N, 8, 8, 1)`` in [-1, 1], int labels ``(N,)``."""
    return shared.train_full_batch(DigitsClassifier(), init_classifier(jax.random.PRNGKey(seed)), images, labels,
                                   steps, learning_rate)


def classifier_probs(params, images: jax.Array) -> jax.Array:
    """Softmax class probabilities ``(N, 10)`` of images ``(N, 8, 8, 1)``."""
    return shared.probs(DigitsClassifier(), params, images)


def classifier_features(params, images: jax.Array) -> jax.Array:
    """Penultimate-layer features ``(N, 64)`` of images ``(N, 8, 8, 1)``."""
    return shared.features(DigitsClassifier(), params, images)


def accuracy(params, images: jax.Array, labels: jax.Array) -> jax.Array:
    """Fraction of images whose argmax class equals the label."""
    return shared.accuracy(DigitsClassifier(), params, images, labels)


def load_or_train_classifier() -> Tuple[dict, float]:
    """The cached classifier's parameters and test accuracy, training it on first use (shell)."""
    return shared.load_or_train(EXTRACTOR_NAME, DigitsClassifier(),
                                jax.jit(train_classifier, compiler_options=shared.LLVM_LEVEL1),
                                lambda: load_digits("train"), lambda: load_digits("test"))


def digit_classify_fn(params) -> Callable:
    """A jitted ``(B, 8, 8, 1) -> (B,)`` argmax class of the digits classifier with ``params``."""
    return shared.classify_fn(DigitsClassifier(), params)


def cached_digit_classify_fn() -> Tuple[Callable, float]:
    """``(classify_fn, test_accuracy)`` of the cached digits classifier, trained on first use (shell)."""
    params, test_accuracy = load_or_train_classifier()
    return digit_classify_fn(params), test_accuracy
