"""gan_jax.evaluation.fid_sources: what a SRC names, its sample shape, matching two sides, batches.

Every file is built here (``.npz`` arrays and statistics, a folder of PNGs);
the run directory is a copy of ``tests/fixtures/release_0_1/digits_dcgan``
(only its ``config.json`` is read). No feature network runs: scores are
checked only where no extractor is needed (two statistics files) or the
extractor is the points themselves, against the closed form of the Fréchet
distance between Gaussians.
"""

import os
import shutil

import numpy as np
import pytest
import scipy.linalg
from PIL import Image

from gan_jax.config.schema import Config
from gan_jax.errors import UserError
from gan_jax.evaluation import fid_sources
from gan_jax.evaluation.stats_files import save_stats
from gan_jax.metrics.stats import FeatureStats

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "release_0_1", "digits_dcgan")


def _one_line(excinfo) -> str:
    message = str(excinfo.value)
    assert message and "\n" not in message, message
    return message


def _raises(fragments, fn, *args, **kwargs) -> str:
    with pytest.raises(UserError) as excinfo:
        fn(*args, **kwargs)
    message = _one_line(excinfo)
    for fragment in fragments:
        assert fragment in message, message
    return message


def _npz(path, **arrays) -> str:
    np.savez(path, **arrays)
    return str(path)


def _stats(path, mean, variances, n=20, extractor="points") -> str:
    """A statistics file of a Gaussian with diagonal covariance ``variances``."""
    mean = np.asarray(mean, np.float64)
    return save_stats(FeatureStats(n, mean, np.diag(np.asarray(variances, np.float64)) * (n - 1), extractor),
                      str(path))


def _png_folder(folder, count=3, size=(10, 12), mode="RGB") -> str:
    os.makedirs(folder)
    rng = np.random.default_rng(0)
    for i in range(count):
        shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(os.path.join(folder, f"{i}.png"))
    return str(folder)


@pytest.fixture
def run_dir(tmp_path):
    return shutil.copytree(FIXTURE, str(tmp_path / "digits_dcgan"))


# resolve_source: each kind of SRC

@pytest.mark.parametrize("spec, shape", [
    ("digits", (8, 8, 1)), ("ring8", (2,)), ("grid25", (2,)), ("gaussian1d", (1,)),
])
def test_named_data_sets_have_fixed_shapes(spec, shape):
    source = fid_sources.resolve_source(spec)
    assert source.kind == "data" and source.spec == spec and source.shape == shape
    assert source.config.data == spec and source.run_dir is None and source.stats is None
    if len(shape) == 3:
        assert (source.config.image_size, source.config.channels) == (8, 1)


def test_the_config_passes_through_to_a_data_side():
    config = Config(tfds_data_dir="/somewhere", max_image_pixels=1234)
    source = fid_sources.resolve_source("digits", config=config)
    assert source.config.tfds_data_dir == "/somewhere" and source.config.max_image_pixels == 1234


@pytest.mark.parametrize("prefix", ["npz:", ""])
@pytest.mark.parametrize("key, array, shape", [
    ("images", np.zeros((5, 16, 16, 3), np.uint8), (16, 16, 3)),
    ("x", np.zeros((4, 8, 8), np.uint8), (8, 8, 1)),
    ("samples", np.zeros((6, 4, 4, 1), np.float32), (4, 4, 1)),
    ("x", np.zeros((7, 2), np.float32), (2,)),
    ("images", np.zeros((3, 5), np.float32), (5,)),
])
def test_an_npz_of_images_or_points(tmp_path, prefix, key, array, shape):
    path = _npz(tmp_path / "data.npz", **{key: array})
    source = fid_sources.resolve_source(prefix + path)
    assert source.kind == "data" and source.spec == prefix + path and source.shape == shape
    assert source.config.data == "npz:" + path
    if len(shape) == 3:
        assert (source.config.image_size, source.config.channels) == (shape[0], shape[2])


def test_an_npz_of_statistics(tmp_path):
    path = _stats(tmp_path / "stats.npz", [1.0, -2.0, 0.5], [1.0, 2.0, 3.0], n=11, extractor="points")
    for spec in (path, "npz:" + path):
        source = fid_sources.resolve_source(spec)
        assert source.kind == "stats" and source.shape is None and source.config is None
        assert source.stats.n == 11 and source.stats.extractor == "points"
        np.testing.assert_allclose(source.stats.mean, [1.0, -2.0, 0.5])
        np.testing.assert_allclose(source.stats.m2, np.diag([1.0, 2.0, 3.0]) * 10)


@pytest.mark.parametrize("prefix", ["folder:", ""])
def test_an_image_folder_has_its_first_images_shape_unless_sized(tmp_path, prefix):
    folder = _png_folder(tmp_path / "pngs")   # 10 wide, 12 high, RGB: a 10x10 centre square
    source = fid_sources.resolve_source(prefix + folder)
    assert source.kind == "data" and source.shape == (10, 10, 3) and source.config.data == "folder:" + folder
    assert (source.config.image_size, source.config.channels) == (10, 3)
    grey = fid_sources.resolve_source(prefix + _png_folder(tmp_path / "grey", mode="L"))
    assert grey.shape == (10, 10, 1)
    sized = fid_sources.resolve_source(prefix + folder, image_size=16, channels=3)
    assert sized.shape == (16, 16, 3) and (sized.config.image_size, sized.config.channels) == (16, 3)
    assert sized.config.data == "folder:" + folder


def test_a_tfds_name_is_sized_only_when_told():
    source = fid_sources.resolve_source("tfds:mnist")
    assert source.kind == "data" and source.shape is None and source.config.data == "tfds:mnist"
    sized = fid_sources.resolve_source("tfds:mnist", 32, 1)
    assert sized.shape == (32, 32, 1) and (sized.config.image_size, sized.config.channels) == (32, 1)


def test_a_run_directory(run_dir):
    source = fid_sources.resolve_source(run_dir)
    assert source.kind == "run" and source.run_dir == run_dir and source.shape == (8, 8, 1)
    assert source.config.latent_dim == 8 and source.config.data == "digits"
    # Sizes are for folders and tfds sets; a run's shape is its own.
    assert fid_sources.resolve_source(run_dir, 32, 3).shape == (8, 8, 1)


# resolve_source: bad specs

def test_image_size_and_channels_go_together():
    _raises(["--image-size", "--channels"], fid_sources.resolve_source, "digits", image_size=8)
    _raises(["--image-size", "--channels"], fid_sources.resolve_source, "digits", channels=1)


@pytest.mark.parametrize("spec", ["nonsense", "mnist", "digits.png"])
def test_an_unknown_spec_lists_the_forms(spec):
    message = _raises([repr(spec)], fid_sources.resolve_source, spec)
    assert "npz:PATH" in message and "folder:PATH" in message and "run directory" in message


@pytest.mark.parametrize("prefix", ["npz:", ""])
def test_a_missing_npz(tmp_path, prefix):
    path = str(tmp_path / "missing.npz")
    _raises([path, "does not exist"], fid_sources.resolve_source, prefix + path)


def test_an_empty_npz(tmp_path):
    path = _npz(tmp_path / "empty.npz")
    _raises([path, "images"], fid_sources.resolve_source, path)


def test_an_npz_without_an_image_key_names_its_arrays(tmp_path):
    path = _npz(tmp_path / "wrong.npz", pictures=np.zeros((3, 8, 8, 1), np.uint8), y=np.zeros(3, np.int64))
    _raises([path, "pictures", "'images'"], fid_sources.resolve_source, "npz:" + path)


@pytest.mark.parametrize("shape", [(6,), (2, 3, 4, 5, 1)])
def test_an_npz_of_the_wrong_rank(tmp_path, shape):
    path = _npz(tmp_path / "rank.npz", images=np.zeros(shape, np.float32))
    _raises([path, str(shape), "(N, H, W[, C])"], fid_sources.resolve_source, path)


def test_a_file_that_is_not_an_npz(tmp_path):
    path = tmp_path / "text.npz"
    path.write_text("not a zip archive")
    _raises([str(path), "cannot read"], fid_sources.resolve_source, str(path))


def test_an_incomplete_statistics_file(tmp_path):
    path = _npz(tmp_path / "half.npz", mu=np.zeros(3), sigma=np.eye(3))
    _raises([str(path), "extractor", "'n'"], fid_sources.resolve_source, path)


@pytest.mark.parametrize("prefix", ["folder:"])
def test_a_missing_folder(tmp_path, prefix):
    folder = str(tmp_path / "nowhere")
    _raises([folder, "does not exist"], fid_sources.resolve_source, prefix + folder)


@pytest.mark.parametrize("prefix", ["folder:", ""])
def test_a_folder_without_images(tmp_path, prefix):
    folder = tmp_path / "texts"
    folder.mkdir()
    (folder / "notes.txt").write_text("no images here")
    _raises([str(folder), "no images"], fid_sources.resolve_source, prefix + str(folder))


# match_sources

def _resolve(*specs, **kwargs):
    return [fid_sources.resolve_source(s, **kwargs) for s in specs]


def test_sides_of_one_shape_pass_unchanged(run_dir, tmp_path):
    stats = _stats(tmp_path / "s.npz", [0.0, 0.0], [1.0, 1.0])
    for pair in (_resolve("digits", run_dir), _resolve("ring8", "grid25"), _resolve(stats, "digits"),
                 _resolve("ring8", stats), _resolve(stats, stats)):
        assert fid_sources.match_sources(*pair) == tuple(pair)


@pytest.mark.parametrize("other", [
    "ring8",
    "npz-rgb",      # 8x8 images with 3 channels against digits' 1
    "npz-16",       # 16x16 grey
    "gaussian1d",
])
def test_sides_of_different_shapes_are_refused(tmp_path, run_dir, other):
    if other == "npz-rgb":
        other = _npz(tmp_path / "rgb.npz", images=np.zeros((4, 8, 8, 3), np.uint8))
    elif other == "npz-16":
        other = _npz(tmp_path / "big.npz", images=np.zeros((4, 16, 16, 1), np.uint8))
    for real_spec in ("digits", run_dir):
        real, fake = _resolve(real_spec, other)
        for a, b in ((real, fake), (fake, real)):
            _raises([a.spec, b.spec, str(a.shape), str(b.shape)], fid_sources.match_sources, a, b)


def test_a_folder_of_the_other_sides_shape_passes_and_another_is_refused_with_the_flags_to_resize(
        tmp_path, run_dir):
    same = _png_folder(tmp_path / "eights", size=(8, 8), mode="L")
    rgb = _png_folder(tmp_path / "rgb32", size=(32, 32))
    for other in ("digits", run_dir):
        for folder in (same, rgb):
            for real, fake in (_resolve(folder, other), _resolve(other, folder)):
                if folder == same:
                    assert fid_sources.match_sources(real, fake) == (real, fake)
                else:   # never silently 8x8 grey: one line with the flags that ask for it
                    _raises([rgb, "(32, 32, 3)", "(8, 8, 1)", "--image-size 8 --channels 1"],
                            fid_sources.match_sources, real, fake)
        real, fake = _resolve(rgb, other, image_size=8, channels=1)
        assert fid_sources.match_sources(real, fake) == (real, fake)
        assert real.shape == (8, 8, 1) and (real.config.image_size, real.config.channels) == (8, 1)


def test_an_unsized_tfds_side_takes_an_npz_sides_shape(tmp_path):
    path = _npz(tmp_path / "rgb.npz", images=np.zeros((4, 32, 32, 3), np.uint8))
    real, fake = fid_sources.match_sources(*_resolve("tfds:cifar10", path))
    assert real.shape == (32, 32, 3) and (real.config.image_size, real.config.channels) == (32, 3)
    assert real.config.data == "tfds:cifar10" and fake.shape == (32, 32, 3)


def test_a_folder_sized_to_match_passes_and_one_sized_otherwise_is_refused(tmp_path):
    folder = _png_folder(tmp_path / "pngs")
    rgb = _npz(tmp_path / "rgb.npz", images=np.zeros((4, 16, 16, 3), np.uint8))
    real, fake = _resolve(folder, rgb, image_size=16, channels=3)
    assert fid_sources.match_sources(real, fake) == (real, fake)
    real, fake = _resolve(folder, "digits", image_size=16, channels=3)
    _raises([folder, "digits", "(16, 16, 3)", "(8, 8, 1)", "--image-size"], fid_sources.match_sources, real, fake)


def test_two_unsized_sides_ask_for_a_size(tmp_path):
    _raises(["tfds:mnist", "--image-size", "--channels"], fid_sources.match_sources,
            *_resolve("tfds:mnist", "tfds:cifar10"))
    stats = _stats(tmp_path / "s.npz", [0.0], [1.0])
    _raises(["tfds:mnist", "--image-size"], fid_sources.match_sources, *_resolve(stats, "tfds:mnist"))
    folder = _png_folder(tmp_path / "pngs")   # a folder's size is its images'
    real, fake = fid_sources.match_sources(*_resolve(folder, "tfds:mnist"))
    assert real.shape == fake.shape == (10, 10, 3)


# source_batches

def test_npz_points_come_in_order_in_batches(tmp_path):
    points = np.arange(14, dtype=np.float64).reshape(7, 2)
    source = fid_sources.resolve_source(_npz(tmp_path / "p.npz", x=points))
    batches = list(fid_sources.source_batches(source, n=1000, batch_size=3))
    assert [b.shape for b in batches] == [(3, 2), (3, 2), (1, 2)]
    assert all(b.dtype == np.float32 for b in batches)
    np.testing.assert_array_equal(np.concatenate(batches), points)


@pytest.mark.parametrize("points", [np.arange(6, dtype=np.int64).reshape(3, 2),
                                    np.array([[0.0, 1.0], [np.nan, 2.0]])])
def test_npz_points_must_be_finite_floats(tmp_path, points):
    path = _npz(tmp_path / "p.npz", x=points)
    source = fid_sources.resolve_source(path)
    _raises([path, "finite floats"], lambda: list(fid_sources.source_batches(source, n=10)))


def test_npz_images_come_whole_in_minus_one_one(tmp_path):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (5, 4, 4, 3), dtype=np.uint8)
    source = fid_sources.resolve_source(_npz(tmp_path / "i.npz", images=images))
    batches = list(fid_sources.source_batches(source, n=1000, batch_size=2))
    assert [len(b) for b in batches] == [2, 2, 1]
    out = np.concatenate(batches)
    assert out.shape == (5, 4, 4, 3)
    np.testing.assert_allclose(out, images / 127.5 - 1.0, atol=1e-6)
    # data_samples caps a finite set, drawn without replacement.
    few = np.concatenate(list(fid_sources.source_batches(source, n=1000, data_samples=3, batch_size=2)))
    assert few.shape == (3, 4, 4, 3)
    scaled = images / 127.5 - 1.0
    matches = [int(np.flatnonzero(np.all(np.isclose(scaled, row, atol=1e-6), axis=(1, 2, 3)))[0]) for row in few]
    assert len(set(matches)) == 3


def test_toy_sides_give_n_samples(tmp_path):
    source = fid_sources.resolve_source("ring8")
    out = np.concatenate(list(fid_sources.source_batches(source, n=50, batch_size=20)))
    assert out.shape == (50, 2) and np.all(np.isfinite(out))
    # Eight Gaussians of std 0.01 on the unit circle (gan_jax.data.toys): every point lies near it.
    assert np.all(np.abs(np.linalg.norm(out, axis=1) - 1.0) < 0.1)


# Scores that need no feature network

def _frechet(mu1, s1, mu2, s2) -> float:
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * covmean))


def test_fid_of_two_statistics_files_is_the_closed_form(tmp_path):
    real = _stats(tmp_path / "a.npz", [0.0, 1.0, -1.0], [1.0, 4.0, 9.0], n=30)
    fake = _stats(tmp_path / "b.npz", [2.0, 1.0, 0.0], [4.0, 1.0, 9.0], n=40)
    result = fid_sources.fid_of_sources(real, fake, progress=False)
    # Diagonal covariances: |mu1 - mu2|^2 + sum (sqrt(a) - sqrt(b))^2.
    expected = (4 + 0 + 1) + ((1 - 2) ** 2 + (2 - 1) ** 2 + 0)
    assert result.fid == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert (result.n_real, result.n_fake, result.extractor) == (30, 40, "points")
    assert result.baseline is None and result.baseline_n == 0


def test_fid_of_shifted_points_is_the_squared_shift(tmp_path):
    rng = np.random.default_rng(0)
    points = rng.normal(size=(400, 2)) @ np.array([[1.0, 0.3], [0.0, 0.5]])
    shift = np.array([3.0, -4.0])
    real = _npz(tmp_path / "real.npz", x=points.astype(np.float32))
    fake = _npz(tmp_path / "fake.npz", x=(points + shift).astype(np.float32))
    result = fid_sources.fid_of_sources("npz:" + real, fake, progress=False)
    assert result.extractor == "points" and (result.n_real, result.n_fake) == (400, 400)
    assert result.fid == pytest.approx(25.0, rel=1e-5)
    # The baseline: the real side's rows at even positions against those at odd ones.
    x = points.astype(np.float32).astype(np.float64)
    a, b = x[0::2], x[1::2]
    expected = _frechet(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
    assert result.baseline_n == 200 and result.baseline == pytest.approx(expected, rel=1e-6, abs=1e-9)
    assert result.notes == []


def test_fid_refuses_mismatched_sides_before_scoring(tmp_path):
    rgb = _npz(tmp_path / "rgb.npz", images=np.zeros((4, 8, 8, 3), np.uint8))
    _raises(["digits", rgb], fid_sources.fid_of_sources, "digits", rgb, progress=False)
    _raises(["ring8", "gaussian1d"], fid_sources.fid_of_sources, "ring8", "gaussian1d", progress=False)


def test_fid_refuses_statistics_of_another_extractor_or_dimension(tmp_path):
    points = _stats(tmp_path / "points.npz", [0.0, 0.0], [1.0, 1.0], extractor="points")
    inception = _stats(tmp_path / "inception.npz", [0.0, 0.0], [1.0, 1.0], extractor="inception_fid_2015_12_05")
    wide = _stats(tmp_path / "wide.npz", [0.0, 0.0, 0.0], [1.0, 1.0, 1.0], extractor="points")
    _raises(["different feature extractors"], fid_sources.fid_of_sources, points, inception, progress=False)
    _raises(["dimensions differ"], fid_sources.fid_of_sources, points, wide, progress=False)
    data = _npz(tmp_path / "data.npz", x=np.random.default_rng(0).normal(size=(10, 2)).astype(np.float32))
    _raises(["dimensions differ"], fid_sources.fid_of_sources, wide, data, progress=False)
