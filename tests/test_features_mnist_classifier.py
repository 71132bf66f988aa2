"""The MNIST classifier (trained briefly on a slice, by the shared fixture), the rule of which
extractor each sample shape gets, its override (``--features``) and the mismatch error."""

import numpy as np
import pytest
from cli_checks import assert_one_line_error, run_cli

from gan_jax.data.mnist5k import load_mnist5k
from gan_jax.evaluation import features as evaluation
from gan_jax.features import classifier, digits_classifier, mnist_classifier


def test_a_briefly_trained_classifier_learns_the_held_out_digits(mnist_classifier_cache, monkeypatch):
    monkeypatch.setenv("GAN_JAX_CACHE", str(mnist_classifier_cache))
    params, accuracy = mnist_classifier.load_or_train_classifier()   # read from the cache, not trained
    images, labels = load_mnist5k("test")
    logits = np.asarray(mnist_classifier.MnistClassifier().apply({"params": params}, images))
    # The stored accuracy is the held-out digits', recomputed here by argmax of the logits.
    np.testing.assert_allclose(accuracy, np.mean(np.argmax(logits, 1) == labels), rtol=1e-6)
    assert accuracy > 0.75   # 60 steps on 1,000 digits; the real recipe reaches 97 %
    probs = np.asarray(mnist_classifier.classifier_probs(params, images[:8]))
    shifted = np.exp(logits[:8] - logits[:8].max(1, keepdims=True))
    np.testing.assert_allclose(probs, shifted / shifted.sum(1, keepdims=True), rtol=1e-5, atol=1e-7)
    features = np.asarray(mnist_classifier.classifier_features(params, images[:8]))
    assert features.shape == (8, mnist_classifier.FEATURE_DIM) and features.min() >= 0   # after a ReLU
    # The logits are the last Dense layer applied to those features.
    last = params["Dense_1"]
    np.testing.assert_allclose(features @ np.asarray(last["kernel"]) + np.asarray(last["bias"]), logits[:8],
                               rtol=1e-4, atol=1e-4)
    assert (mnist_classifier_cache / f"{mnist_classifier.EXTRACTOR_NAME}.msgpack").is_file()
    assert classifier.cache_path(mnist_classifier.EXTRACTOR_NAME).startswith(str(mnist_classifier_cache))


def test_minibatch_training_refuses_a_batch_larger_than_the_data():
    with pytest.raises(ValueError, match="batch_size 9"):
        classifier.train_minibatch(mnist_classifier.MnistClassifier(), {}, np.zeros((4, 28, 28, 1)),
                                   np.zeros(4, np.int32), 1, 1e-3, 9, None)


@pytest.mark.parametrize("shape,kind", [
    ((2,), "points"), ((1,), "points"),
    ((8, 8, 1), "classifier"), ((28, 28, 1), "classifier"),
    ((28, 28, 3), "inception"), ((32, 32, 1), "inception"), ((8, 8, 3), "inception"), ((64, 64, 3), "inception"),
])
def test_the_rule_of_which_extractor_each_shape_gets(shape, kind):
    assert evaluation.default_extractor_kind(shape) == kind


def test_auto_and_classifier_pick_the_classifier_of_the_shape(mnist_classifier_cache, monkeypatch):
    monkeypatch.setenv("GAN_JAX_CACHE", str(mnist_classifier_cache))
    for kind in ("auto", "classifier"):
        extractor = evaluation.get_extractor(kind, (28, 28, 1))
        assert (extractor.name, extractor.dim) == (mnist_classifier.EXTRACTOR_NAME, 64)
    images, _ = load_mnist5k("test")
    params, _ = mnist_classifier.load_or_train_classifier()
    np.testing.assert_allclose(extractor.features(images[:3]),
                               mnist_classifier.classifier_features(params, images[:3]), rtol=1e-5, atol=1e-6)
    assert evaluation.CLASSIFIERS[(8, 8, 1)] is digits_classifier


def test_the_override_and_a_mismatch(tmp_path, capsys, mnist_classifier_cache, monkeypatch):
    monkeypatch.setenv("GAN_JAX_CACHE", str(mnist_classifier_cache))
    images, _ = load_mnist5k("test")
    samples = tmp_path / "samples.npz"
    np.savez(samples, images=images[:40])
    code, out, err = run_cli(capsys, "fid", "--real", "mnist5k", "--fake", str(samples), "--no-progress")
    assert code == 0, err
    assert f"FID ({mnist_classifier.EXTRACTOR_NAME}, 1000 real vs 40 fake)" in out and "baseline" in out
    # --features inception overrides the rule: without converted weights that is its own clear error.
    code, _, err = run_cli(capsys, "fid", "--real", "mnist5k", "--fake", str(samples), "--features", "inception")
    assert_one_line_error(code, err, "convert-inception")
    small = tmp_path / "small.npz"
    np.savez(small, images=np.zeros((4, 16, 16, 1), np.uint8))
    code, _, err = run_cli(capsys, "fid", "--real", str(small), "--fake", str(small), "--features", "classifier")
    assert_one_line_error(code, err, "8x8x1", "28x28x1", "(16, 16, 1)", "--features inception")
