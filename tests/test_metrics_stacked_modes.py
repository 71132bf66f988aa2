"""Stacked-digit mode scores: the histogram, KL to uniform in closed form, the sampling floor,
and real stacked digits under the digits classifier."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.data.stacked_digits import real_stacked_digits
from gan_jax.features.digits_classifier import cached_digit_classify_fn
from gan_jax.metrics import stacked_modes as sm


@pytest.mark.parametrize("jit", [False, True])
def test_histogram_counts_each_mode_and_drops_out_of_range(jit):
    fn = jax.jit(sm.mode_histogram, static_argnames="num_modes") if jit else sm.mode_histogram
    modes = jnp.array([0, 3, 3, 9, -1, 10, 3], jnp.int32)
    np.testing.assert_array_equal(fn(modes, num_modes=10), [1, 0, 0, 3, 0, 0, 0, 0, 0, 1])
    assert int(fn(jnp.arange(1000)).sum()) == 1000 and int(fn(jnp.arange(1000)).max()) == 1


@pytest.mark.parametrize("jit", [False, True])
def test_kl_to_uniform_closed_forms(jit):
    kl = jax.jit(sm.kl_to_uniform) if jit else sm.kl_to_uniform
    assert abs(float(kl(jnp.full(1000, 26)))) < 1e-6                      # uniform -> 0
    one_mode = jnp.zeros(1000).at[417].set(26_000)
    np.testing.assert_allclose(float(kl(one_mode)), np.log(1000), rtol=1e-6)   # one mode -> log K
    # m equally filled modes of K: KL = log(K / m).
    np.testing.assert_allclose(float(kl(jnp.zeros(1000).at[:99].set(5))), np.log(1000 / 99), rtol=1e-6)
    # Against the plain formula on a random histogram with empty bins (0 log 0 = 0).
    h = np.random.default_rng(0).integers(0, 5, size=50).astype(np.float64)
    p = h / h.sum()
    np.testing.assert_allclose(float(kl(jnp.asarray(h))), np.sum(p[p > 0] * np.log(p[p > 0] * 50)), rtol=1e-5)
    # Counts and probabilities give the same value.
    np.testing.assert_allclose(float(kl(jnp.asarray(p))), float(kl(jnp.asarray(h))), rtol=1e-6)


def test_kl_of_exact_uniform_samples_is_the_multinomial_floor():
    # 2N KL(p_hat || u) is about chi-squared with K - 1 degrees of freedom: E[KL] = (K-1)/(2N),
    # 0.0192 at the protocol's N = 26,000; the mean of 20 draws has a standard error of 0.0002.
    n, k = sm.STACKED_EVAL_SAMPLES, 1000
    keys = jax.random.split(jax.random.PRNGKey(0), 20)
    kls = jax.vmap(lambda key: sm.kl_to_uniform(sm.mode_histogram(jax.random.randint(key, (n,), 0, k))))(keys)
    np.testing.assert_allclose(float(kls.mean()), sm.expected_kl_floor(n, k), rtol=0.04)
    assert abs(sm.expected_kl_floor(26_000) - 0.0192) < 1e-4


def _encoded(classes: np.ndarray) -> np.ndarray:
    """Stacked images ``(N, 2, 2, 3)`` whose every channel holds its class c as the value c / 10."""
    return np.broadcast_to((classes / 10.0)[:, None, None, :], (len(classes), 2, 2, 3)).astype(np.float32)


def _read_class(images):
    return jnp.round(images[:, 0, 0, 0] * 10).astype(jnp.int32)


def test_scores_read_each_channel_and_do_not_depend_on_the_batch_size():
    rng = np.random.default_rng(1)
    classes = rng.integers(0, 10, size=(301, 3))
    modes = 100 * classes[:, 0] + 10 * classes[:, 1] + classes[:, 2]
    counts = np.bincount(modes, minlength=1000)
    p = counts / counts.sum()
    expected = {"modes": int(np.count_nonzero(counts)), "kl": float(np.sum(p[p > 0] * np.log(p[p > 0] * 1000)))}
    calls = []

    def classify(x):
        calls.append(x.shape)
        return _read_class(x)

    for batch_size in (301, 100, 64):
        calls.clear()
        np.testing.assert_array_equal(sm.stacked_mode_histogram(_encoded(classes), classify, batch_size), counts)
        scores = sm.stacked_mode_scores(_encoded(classes), classify, batch_size)
        assert scores["modes"] == expected["modes"]
        np.testing.assert_allclose(scores["kl"], expected["kl"], rtol=1e-5)
        assert set(calls) == {(3 * batch_size, 2, 2, 1)}   # the last batch is padded: one shape


def test_collapsed_channels_give_the_expected_scores():
    # Channel 0 always 7 and the others uniform over 10 x 10: 100 modes, KL = log(1000 / 100).
    classes = np.array([[7, a, b] for a in range(10) for b in range(10)] * 3)
    scores = sm.stacked_mode_scores(_encoded(classes), _read_class, 64)
    assert scores["modes"] == 100
    np.testing.assert_allclose(scores["kl"], np.log(10), rtol=1e-5)


@pytest.mark.parametrize("images,batch_size,problem", [
    (np.zeros((4, 8, 8, 1)), 10, r"\(N, H, W, 3\)"),
    (np.zeros((0, 8, 8, 3)), 10, r"\(N, H, W, 3\)"),
    (np.zeros((4, 8, 8, 3)), 0, "batch_size"),
])
def test_bad_input_is_a_one_line_value_error(images, batch_size, problem):
    with pytest.raises(ValueError, match=problem) as info:
        sm.stacked_mode_scores(images, _read_class, batch_size)
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match=r"\(K,\)"):
        sm.kl_to_uniform(jnp.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"\(n,\)"):
        sm.mode_histogram(jnp.zeros((2, 3), jnp.int32))


@pytest.fixture(scope="module")
def classifier_cache(tmp_path_factory):
    """A fresh ``$GAN_JAX_CACHE`` holding the digits classifier, copied from the usual cache
    (trained there on first use, once for the whole suite, as in test_cli_evaluate)."""
    import shutil

    from gan_jax.features import digits_classifier as classifier
    classifier.load_or_train_classifier()
    directory = tmp_path_factory.mktemp("cache")
    shutil.copy(os.path.join(classifier.cache_dir(), f"{classifier.EXTRACTOR_NAME}.msgpack"), directory)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GAN_JAX_CACHE", str(directory))
        yield directory


def _expected_distinct_modes(n: int, k: int = 1000) -> float:
    """E #{modes hit} of n uniform draws over k modes: k (1 - (1 - 1/k)^n)."""
    return k * (1.0 - (1.0 - 1.0 / k) ** n)


def test_real_stacked_digits_reach_all_modes_at_the_sampling_floor(classifier_cache):
    # The protocol's 26,000 real stacked digits through the digits classifier: every mode appears
    # (each has 26 expected samples, so a missing one has probability 1000 e^-26) and the KL sits at
    # the floor 0.0192 plus the true modes' own KL, 3 x KL(class frequencies || uniform over 10)
    # = 0.0003, plus classifier errors.
    classify, test_accuracy = cached_digit_classify_fn()
    assert test_accuracy > 0.95
    images, modes = real_stacked_digits(sm.STACKED_EVAL_SAMPLES, seed=0)
    assert images.shape == (sm.STACKED_EVAL_SAMPLES, 8, 8, 3)
    scores = sm.stacked_mode_scores(images, classify)
    true_kl = float(sm.kl_to_uniform(sm.mode_histogram(jnp.asarray(modes))))
    assert scores["modes"] == 1000
    assert abs(true_kl - sm.expected_kl_floor(sm.STACKED_EVAL_SAMPLES)) < 0.004
    assert abs(scores["kl"] - true_kl) < 0.003


def _untrained_stacked_run(run_dir) -> str:
    """A run directory holding one checkpoint of an untrained small stacked-digits DCGAN."""
    from gan_jax.config.build import init_state
    from gan_jax.config.schema import get_config
    from gan_jax.runs.checkpoint import Checkpointer, write_run_config
    config = get_config("stacked_digits_dcgan", ["g_width=8", "d_width=8", "latent_dim=8"])
    os.makedirs(run_dir)
    write_run_config(str(run_dir), config)
    checkpointer = Checkpointer(str(run_dir))
    checkpointer.save(init_state(config), config, 0)
    checkpointer.close()
    return str(run_dir)


def test_eval_of_a_stacked_digits_run_reports_modes_and_kl_beside_real_data(classifier_cache, tmp_path):
    from gan_jax.cli import main
    run_dir = _untrained_stacked_run(tmp_path / "stacked")
    assert main(["eval", run_dir, "-n", "500", "--no-progress"]) == 0
    result = json.load(open(os.path.join(run_dir, "eval.json")))
    assert result["n_generated"] == result["n_real"] == 500
    assert set(result["scores"]) == set(result["real"]) == {"modes", "kl"}
    # 500 real samples hit k (1 - (1 - 1/k)^500) = 394 modes on average (standard deviation about 11).
    assert abs(result["real"]["modes"] - _expected_distinct_modes(500)) < 40
    # An untrained generator: fewer modes, further from uniform than real data.
    assert result["scores"]["modes"] < result["real"]["modes"]
    assert result["scores"]["kl"] > result["real"]["kl"]
    assert result["kl_floor"] == pytest.approx(999 / 1000)
    assert os.path.isfile(result["figure"])


def test_training_evaluator_of_stacked_digits_logs_modes_and_kl(classifier_cache, tmp_path):
    from gan_jax.evaluation.training_evaluator import make_training_evaluator
    from gan_jax.runs.checkpoint import restore_run
    config, state = restore_run(_untrained_stacked_run(tmp_path / "stacked"))
    evaluator, notice = make_training_evaluator(config, 500, jax.random.PRNGKey(0))
    assert notice == "" and evaluator.extractor == "stacked_modes"
    assert evaluator.reference.shape == (500, 8, 8, 3)
    assert evaluator.score(evaluator.reference) == evaluator.baseline
    assert abs(evaluator.baseline["modes"] - _expected_distinct_modes(500)) < 40
    scores = evaluator.evaluate(state)
    assert set(scores) == {"modes", "kl"}
    assert evaluator.evaluate(state) == scores    # one fixed latent batch: the same state scores the same
    assert scores["kl"] > evaluator.baseline["kl"]
