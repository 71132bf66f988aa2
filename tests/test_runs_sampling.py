"""gan_jax.runs.sampling: labels, chunked generation, sampling a run directory, latent strips.

The run is a copy of the tiny digits DCGAN written by release 0.1.0
(``tests/fixtures/release_0_1/digits_dcgan``, checkpoints at steps 2 and 4,
unconditional); a conditional state is a freshly initialised tiny ring8 MLP.
Expectations come from the documented key scheme (chunk ``i`` drawn with
``fold_in(key, i)`` at the full chunk shape, the last one trimmed) and from
single :func:`gan_jax.core.steps.generate` calls, whose eval-mode rows depend
only on their own latent code and label.
"""

import os
import shutil

import jax
import numpy as np
import pytest

from gan_jax.config.build import init_state
from gan_jax.config.schema import get_config
from gan_jax.core.steps import generate
from gan_jax.errors import UserError
from gan_jax.runs import sampling

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "release_0_1", "digits_dcgan")
DIGITS_SHAPE = (8, 8, 1)
NUM_CLASSES = 3


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A fresh copy of the release-0.1 digits run (the fixture itself is never touched)."""
    return shutil.copytree(FIXTURE, str(tmp_path_factory.mktemp("runs") / "digits_dcgan"))


@pytest.fixture(scope="module")
def digits_state(run_dir):
    state, labels = sampling.restore_for_sampling(run_dir, 5)
    assert labels is None
    return state


@pytest.fixture(scope="module")
def conditional_state():
    """A tiny class-conditional ring8 generator (2-D points, 3 classes), untrained."""
    config = get_config("ring8", ["mlp_hidden=16", "mlp_depth=1", "latent_dim=4", "conditional=concat",
                                  f"num_classes={NUM_CLASSES}"])
    # Compiled as one program: op by op, the initialisation takes seconds.
    return jax.jit(lambda key: init_state(config, key))(jax.random.PRNGKey(7))


def _one_line(excinfo):
    message = str(excinfo.value)
    assert message and "\n" not in message, message
    return message


# parse_labels

@pytest.mark.parametrize("text, n, expected", [
    ("1,3", 5, [1, 3, 1, 3, 1]),
    ("2", 3, [2, 2, 2]),
    (" 2 , 0 ", 4, [2, 0, 2, 0]),
    ("0,1,2,9", 2, [0, 1]),
    ("4,", 3, [4, 4, 4]),
])
def test_parse_labels_cycles_the_given_classes(text, n, expected):
    labels = sampling.parse_labels(text, n, 10)
    assert labels.dtype == np.int32 and labels.shape == (n,)
    np.testing.assert_array_equal(labels, expected)


@pytest.mark.parametrize("text", [None, ""])
def test_parse_labels_without_text_spreads_all_classes_evenly(text):
    labels = sampling.parse_labels(text, 7, 3)
    assert labels.dtype == np.int32
    np.testing.assert_array_equal(labels, [0, 1, 2, 0, 1, 2, 0])
    counts = np.bincount(sampling.parse_labels(text, 300, 10), minlength=10)
    np.testing.assert_array_equal(counts, np.full(10, 30))


@pytest.mark.parametrize("text, fragment", [
    ("10", "10"),
    ("3,-1", "-1"),
    ("0,12,1", "12"),
])
def test_parse_labels_refuses_classes_outside_the_model(text, fragment):
    with pytest.raises(UserError) as excinfo:
        sampling.parse_labels(text, 4, 10)
    message = _one_line(excinfo)
    assert fragment in message and "0..9" in message


@pytest.mark.parametrize("text", ["a,b", "1,x", "1.5", "1;2", "one"])
def test_parse_labels_refuses_garbage(text):
    with pytest.raises(UserError) as excinfo:
        sampling.parse_labels(text, 4, 10)
    assert "integers" in _one_line(excinfo)


@pytest.mark.parametrize("text", [",", " , ,"])
def test_parse_labels_refuses_a_list_of_no_classes(text):
    with pytest.raises(UserError) as excinfo:
        sampling.parse_labels(text, 4, 10)
    _one_line(excinfo)


# generate_batches

@pytest.mark.parametrize("n, chunk, sizes", [
    (10, 4, [4, 4, 2]),
    (8, 4, [4, 4]),
    (4, 1000, [4]),
    (5, 4, [4, 1]),
])
def test_generate_batches_chunks_add_up_to_n(digits_state, n, chunk, sizes):
    chunks = list(sampling.generate_batches(digits_state, jax.random.PRNGKey(0), n, chunk=chunk))
    assert [len(c) for c in chunks] == sizes
    for c in chunks:
        assert isinstance(c, np.ndarray) and c.shape[1:] == DIGITS_SHAPE
        assert np.all(np.isfinite(c)) and np.abs(c).max() <= 1.0


def test_generate_batches_chunk_i_is_generate_with_fold_in_key_i_at_the_full_chunk_shape(digits_state):
    key = jax.random.PRNGKey(11)
    chunks = list(sampling.generate_batches(digits_state, key, 10, chunk=4))
    for i, c in enumerate(chunks):
        full = np.asarray(generate(digits_state, jax.random.fold_in(key, i), 4))
        np.testing.assert_allclose(c, full[:len(c)], rtol=1e-5, atol=1e-6)
    # One chunk when n fits: the whole draw is generate(fold_in(key, 0), n).
    (whole,) = sampling.generate_batches(digits_state, key, 4)
    np.testing.assert_allclose(whole, np.asarray(generate(digits_state, jax.random.fold_in(key, 0), 4)),
                               rtol=1e-5, atol=1e-6)


def test_generate_batches_is_deterministic_per_key(digits_state):
    def draw(seed):
        return np.concatenate(list(sampling.generate_batches(digits_state, jax.random.PRNGKey(seed), 9, chunk=4)))

    a, b, c = draw(1), draw(1), draw(2)
    assert a.shape == (9,) + DIGITS_SHAPE
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    # Distinct chunks use distinct keys: no chunk repeats another.
    assert not np.allclose(a[:4], a[4:8])


def test_generate_batches_with_labels_conditions_each_row_on_its_label(conditional_state):
    key = jax.random.PRNGKey(5)
    n, chunk = 10, 4
    labels = np.array([2, 0, 1, 1, 2, 0, 2, 1, 0, 1], np.int32)
    chunks = list(sampling.generate_batches(conditional_state, key, n, labels, chunk=chunk))
    assert [len(c) for c in chunks] == [4, 4, 2]
    for i, c in enumerate(chunks):
        # The rows kept depend only on their own code and label: pad the labels any way.
        lab = np.zeros(chunk, np.int32)
        lab[:len(c)] = labels[i * chunk:i * chunk + len(c)]
        expected = np.asarray(generate(conditional_state, jax.random.fold_in(key, i), chunk, lab))
        np.testing.assert_allclose(c, expected[:len(c)], rtol=1e-5, atol=1e-6)
    samples = np.concatenate(chunks)
    assert samples.shape == (n, 2) and np.all(np.isfinite(samples))
    other = np.concatenate(list(sampling.generate_batches(conditional_state, key, n, (labels + 1) % NUM_CLASSES,
                                                          chunk=chunk)))
    assert not np.any(np.all(np.isclose(samples, other), axis=1))


# restore_for_sampling, sample_batches, sample_from_run

def test_restore_for_sampling_of_an_unconditional_run(run_dir, digits_state):
    state, labels = sampling.restore_for_sampling(run_dir, 3)
    assert labels is None
    assert int(state.step) == 4 == int(digits_state.step)
    older, _ = sampling.restore_for_sampling(run_dir, 3, step=2)
    assert int(older.step) == 2


@pytest.mark.parametrize("kwargs, fragment", [
    ({"n": 0}, "at least 1"),
    ({"n": -3}, "at least 1"),
    ({"n": 4, "labels_text": "1"}, "unconditional"),
    ({"n": 4, "best": True}, "no best checkpoint"),
])
def test_restore_for_sampling_refuses(run_dir, kwargs, fragment):
    with pytest.raises(UserError) as excinfo:
        sampling.restore_for_sampling(run_dir, **kwargs)
    assert fragment in _one_line(excinfo)


def test_restore_for_sampling_refuses_a_directory_that_is_not_a_run(tmp_path):
    with pytest.raises(UserError) as excinfo:
        sampling.restore_for_sampling(str(tmp_path), 4)
    assert "not a gan-jax run directory" in _one_line(excinfo)


def test_sample_from_run_shapes_range_and_seeds(run_dir, digits_state):
    samples, labels = sampling.sample_from_run(run_dir, 6, seed=3, chunk=4)
    assert labels is None
    assert samples.shape == (6,) + DIGITS_SHAPE
    assert np.all(np.isfinite(samples)) and samples.min() >= -1.0 and samples.max() <= 1.0
    again, _ = sampling.sample_from_run(run_dir, 6, seed=3, chunk=4)
    np.testing.assert_array_equal(samples, again)
    other, _ = sampling.sample_from_run(run_dir, 6, seed=4, chunk=4)
    assert not np.allclose(samples, other)
    # The latest checkpoint's generator under the seed's key.
    expected = np.concatenate(list(sampling.generate_batches(digits_state, jax.random.PRNGKey(3), 6, chunk=4)))
    np.testing.assert_allclose(samples, expected, rtol=1e-5, atol=1e-6)
    # An older checkpoint is another generator.
    older, _ = sampling.sample_from_run(run_dir, 6, seed=3, chunk=4, step=2)
    assert older.shape == samples.shape and not np.allclose(older, samples)


def test_sample_batches_are_the_chunks_of_sample_from_run(run_dir):
    chunks = list(sampling.sample_batches(run_dir, 10, seed=9, chunk=4))
    assert [c.shape for c in chunks] == [(4,) + DIGITS_SHAPE, (4,) + DIGITS_SHAPE, (2,) + DIGITS_SHAPE]
    whole, _ = sampling.sample_from_run(run_dir, 10, seed=9, chunk=4)
    np.testing.assert_array_equal(np.concatenate(chunks), whole)


def test_sampling_writes_nothing_into_the_run(run_dir):
    # After the restores and draws above, the copy holds exactly the fixture's files.
    def files(root):
        return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)
    assert files(run_dir) == files(FIXTURE)


# interpolation_strips

@pytest.mark.parametrize("method", ["slerp", "lerp"])
def test_interpolation_strips_walk_from_g_z0_to_g_z1(digits_state, method):
    key, pairs, steps = jax.random.PRNGKey(21), 2, 3
    strips = sampling.interpolation_strips(digits_state, key, pairs, steps, method)
    assert strips.shape == (pairs * steps,) + DIGITS_SHAPE
    assert np.all(np.isfinite(strips)) and np.abs(strips).max() <= 1.0
    rows = strips.reshape((pairs, steps) + DIGITS_SHAPE)
    # z0_i, z1_i are codes 2i, 2i+1 of one prior draw from ``key``: generate draws the same.
    ends = np.asarray(generate(digits_state, key, 2 * pairs))
    np.testing.assert_allclose(rows[:, 0], ends[0::2], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(rows[:, -1], ends[1::2], rtol=1e-4, atol=1e-5)
    # The middle of a path is neither end.
    assert not np.allclose(rows[:, steps // 2], rows[:, 0]) and not np.allclose(rows[:, steps // 2], rows[:, -1])


def test_interpolation_strips_with_labels_hold_each_rows_class(conditional_state):
    key, steps = jax.random.PRNGKey(3), 2
    labels = np.array([2, 0], np.int32)
    strips = sampling.interpolation_strips(conditional_state, key, 2, steps, "lerp", labels=labels)
    assert strips.shape == (2 * steps, 2)
    rows = strips.reshape(2, steps, 2)
    ends = np.asarray(generate(conditional_state, key, 4, np.array([2, 2, 0, 0], np.int32)))
    np.testing.assert_allclose(rows[:, 0], ends[0::2], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(rows[:, -1], ends[1::2], rtol=1e-4, atol=1e-5)
