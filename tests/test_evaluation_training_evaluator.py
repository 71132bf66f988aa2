"""The evaluator used during training: built once, scores a state, beside a real-data baseline."""

import os

import jax
import numpy as np
import pytest

from gan_jax.config.build import init_state
from gan_jax.config.schema import get_config
from gan_jax.evaluation.training_evaluator import make_training_evaluator


@pytest.fixture()
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_JAX_CACHE", str(tmp_path / "cache"))


def test_ring_baseline_of_exact_mixture_samples_has_every_mode_at_the_chi_square_quality():
    """Exact samples: all 8 modes; high quality (|x - mu| < 3 sigma in 2-D) with probability
    P(chi^2_2 < 9) = 1 - exp(-9/2) = 0.98889 (std over 2,500 samples: 0.0021)."""
    config = get_config("ring8", ["mlp_hidden=16", "latent_dim=4"])
    evaluator, notice = make_training_evaluator(config, 2500, jax.random.PRNGKey(0))
    assert notice == "" and evaluator.baseline["modes"] == 8
    assert evaluator.baseline["high_quality"] == pytest.approx(1 - np.exp(-4.5), abs=0.01)
    assert evaluator.score(evaluator.reference) == evaluator.baseline
    scores = evaluator.evaluate(init_state(config))
    assert set(scores) == {"modes", "high_quality"} and 0 <= scores["modes"] <= 8


def test_digits_evaluator_scores_an_untrained_generator_far_above_real_data():
    config = get_config("digits_dcgan", ["g_width=8", "d_width=8"])
    evaluator, notice = make_training_evaluator(config, 300, jax.random.PRNGKey(0))
    assert notice == "" and evaluator.extractor == "digits_mlp_v1"
    assert evaluator.baseline["samples"] == 300
    assert evaluator.score(evaluator.reference)["fid"] == pytest.approx(0.0, abs=1e-6)  # FID(P, P) = 0
    state = init_state(config)
    scores = evaluator.evaluate(state)
    assert set(scores) == {"fid", "kid", "raw_fid", "raw_kid"}   # the preset keeps a generator average
    assert scores["fid"] > 10 * evaluator.baseline["fid"] > 0
    assert scores["kid"] > evaluator.baseline["kid"]
    assert evaluator.evaluate(state) == scores  # one fixed latent batch: the same state scores the same


def test_rgb_data_without_converted_inception_weights_gives_a_notice(tmp_path, empty_cache):
    from PIL import Image
    for i in range(4):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / f"{i}.png")
    config = get_config("digits_dcgan", [f"data=folder:{tmp_path}", "image_size=32", "channels=3"])
    evaluator, notice = make_training_evaluator(config, 100, jax.random.PRNGKey(0))
    assert evaluator is None and "convert-inception" in notice
    assert os.environ["GAN_JAX_CACHE"] in notice
    evaluator, notice = make_training_evaluator(get_config("gaussian1d"), 100, jax.random.PRNGKey(0))
    assert evaluator is None and "gaussian1d" in notice
