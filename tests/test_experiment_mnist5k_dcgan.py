"""The mnist5k_dcgan preset evaluated during training with the MNIST classifier, and
experiments/mnist5k_dcgan.py on the tiny run of the shared fixture (2 steps), its numbers
recomputed here from the samples and the classifier."""

import json
import math

import numpy as np
import pytest
from cli_checks import load_experiment

from gan_jax.data.mnist5k import load_mnist5k
from gan_jax.features import mnist_classifier
from gan_jax.runs.sampling import sample_from_run


def test_the_preset_is_evaluated_with_the_mnist_classifier_beside_the_held_out_floor(mnist5k_run):
    run_dir, printed = mnist5k_run
    rows = [json.loads(line) for line in open(f"{run_dir}/metrics.jsonl")]
    scores = [row for row in rows if "fid" in row]
    assert [row["step"] for row in scores] == [2]
    assert math.isfinite(scores[0]["fid"]) and math.isfinite(scores[0]["kid"])
    assert f"final quality ({mnist_classifier.EXTRACTOR_NAME}, 20 samples): fid" in printed
    assert "real-vs-real baseline: fid" in printed


def _inception_score(probs):
    """exp mean_x KL(p(y|x) || p(y)), in float64."""
    probs = np.asarray(probs, np.float64)
    marginal = probs.mean(0)
    return float(np.exp(np.mean(np.sum(probs * (np.log(probs) - np.log(marginal)), 1))))


def test_the_script_scores_samples_beside_the_held_out_digits(mnist5k_run, mnist_classifier_cache, tmp_path,
                                                               monkeypatch):
    monkeypatch.setenv("GAN_JAX_CACHE", str(mnist_classifier_cache))
    run_dir, _ = mnist5k_run
    out = tmp_path / "out"
    results = load_experiment("mnist5k_dcgan").main(["--run", run_dir, "--samples", "500", "--out", str(out)])
    assert json.loads((out / "results.json").read_text())["samples"] == 500
    assert (out / "mnist5k_dcgan.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    params, accuracy = mnist_classifier.load_or_train_classifier()
    assert results["classifier_held_out_accuracy"] == accuracy
    # The class fractions and the scores, recomputed from the same samples (seed 0) and digits.
    fake, _ = sample_from_run(run_dir, 500, 0)
    real, real_labels = load_mnist5k("test")
    fake_probs = np.asarray(mnist_classifier.classifier_probs(params, fake))
    real_probs = np.asarray(mnist_classifier.classifier_probs(params, real))
    np.testing.assert_allclose(results["class_fractions"], np.bincount(fake_probs.argmax(1), minlength=10) / 500)
    np.testing.assert_allclose(results["class_fractions_real"], np.bincount(real_probs.argmax(1), minlength=10) / 1000)
    np.testing.assert_allclose(results["classifier_score"], _inception_score(fake_probs), rtol=1e-4)
    np.testing.assert_allclose(results["classifier_score_real"], _inception_score(real_probs), rtol=1e-4)
    fractions = np.array(results["class_fractions"])
    assert results["goal_every_class_7_to_13_percent"] == bool(np.all((fractions >= 0.07) & (fractions <= 0.13)))
    # A 2-step generator is far from the digits: above the floor, in FID and KID alike.
    for metric in ("fid", "kid"):
        assert results[metric]["generated_500"] > results[metric]["floor_500"], results[metric]
        assert results[metric]["generated_all"] == pytest.approx(results[metric]["generated_500"])  # 500 = all


def test_the_script_refuses_too_few_samples(mnist5k_run, tmp_path):
    from gan_jax.errors import UserError
    with pytest.raises(UserError, match="at least 500"):
        load_experiment("mnist5k_dcgan").main(["--run", mnist5k_run[0], "--samples", "10", "--out", str(tmp_path)])
