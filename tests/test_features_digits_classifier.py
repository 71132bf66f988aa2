"""The digits classifier (trained for real, briefly) and the class statistics' closed forms."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.data.sources import load_digits
from gan_jax.features import digits_classifier as classifier
from gan_jax.metrics.class_stats import class_statistics


@pytest.mark.parametrize("fn", [class_statistics, jax.jit(class_statistics)])
def test_class_statistics_closed_forms(fn):
    c = 10
    one_hot_balanced = jnp.eye(c)[jnp.arange(100) % c]
    s = fn(one_hot_balanced)
    np.testing.assert_allclose(s["histogram"], np.full(c, 0.1), atol=1e-7)
    np.testing.assert_allclose(float(s["kl_to_uniform"]), 0.0, atol=1e-6)
    np.testing.assert_allclose(float(s["inception_score"]), c, rtol=1e-5)  # confident and diverse
    np.testing.assert_allclose(float(s["confidence"]), 1.0)
    collapsed = fn(jnp.tile(jnp.eye(c)[3], (50, 1)))
    np.testing.assert_allclose(float(collapsed["kl_to_uniform"]), np.log(c), rtol=1e-6)
    np.testing.assert_allclose(float(collapsed["inception_score"]), 1.0, rtol=1e-6)
    uniform = fn(jnp.full((20, c), 1.0 / c))
    np.testing.assert_allclose(float(uniform["confidence"]), 0.1, rtol=1e-6)
    np.testing.assert_allclose(float(uniform["inception_score"]), 1.0, rtol=1e-6)


def test_classifier_learns_digits_and_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_JAX_CACHE", str(tmp_path))
    params, test_accuracy = classifier.load_or_train_classifier()
    tx, ty = load_digits("test")
    # The reported accuracy is the held-out split's, recomputed here independently.
    predicted = np.argmax(np.asarray(classifier.classifier_probs(params, jnp.asarray(tx))), axis=1)
    np.testing.assert_allclose(test_accuracy, np.mean(predicted == ty), rtol=1e-6)
    assert test_accuracy > 0.95
    assert classifier.classifier_features(params, jnp.asarray(tx[:4])).shape == (4, 64)
    probs = classifier.classifier_probs(params, jnp.asarray(tx[:4]))
    np.testing.assert_allclose(np.asarray(probs).sum(1), 1.0, rtol=1e-5)
    # The cache: the second call reads the file the first wrote.
    assert (tmp_path / f"{classifier.EXTRACTOR_NAME}.msgpack").is_file()
    params2, accuracy2 = classifier.load_or_train_classifier()
    assert accuracy2 == test_accuracy
    jax.tree_util.tree_map(np.testing.assert_array_equal, params, params2)
