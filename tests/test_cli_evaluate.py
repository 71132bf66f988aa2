"""``gan-jax fid`` and ``gan-jax eval`` end to end, in-process, on tiny runs and on every kind of source.

Tiny runs (digits, ring8, a tensorflow-datasets set built here from local
arrays) are trained once for the module; an RGB image folder is scored
against the same images stored in an ``.npz``. The FID Inception has random
(well-scaled) weights made in Flax and saved where ``convert-inception``
writes by default, in a temporary ``$GAN_JAX_CACHE``: ``fid`` and ``eval``
must find them there without a flag.
"""

import json
import os
import shutil

import numpy as np
import pytest

from gan_jax.cli import main
from gan_jax.evaluation.stats_files import save_stats
from gan_jax.features import inception_convert
from gan_jax.metrics.density_coverage import expected_coverage_same_law
from gan_jax.metrics.frechet import frechet_distance_f64
from gan_jax.metrics.stats import covariance, stats_from_features

RELEASE_FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "release_0_1")
TINY_DCGAN = ["steps=2", "g_width=8", "d_width=8", "log_every=1", "sample_every=2", "checkpoint_every=2",
              "grid_samples=4"]


def random_inception_variables(seed: int = 0) -> dict:
    """FID Inception variables with He-normal kernels and batch-norm statistics near 1 (features of order 1)."""
    from flax import traverse_util
    rng = np.random.default_rng(seed)
    flat = {}
    for key, shape in inception_convert._template().items():
        leaf = key[-1]
        if leaf == "kernel":
            flat[key] = rng.normal(0.0, np.sqrt(2.0 / np.prod(shape[:-1])), shape).astype(np.float32)
        elif leaf in ("scale", "var"):
            flat[key] = rng.uniform(0.5, 1.5, shape).astype(np.float32)
        else:
            flat[key] = rng.normal(0.0, 0.1, shape).astype(np.float32)
    return traverse_util.unflatten_dict(flat)


@pytest.fixture(scope="module")
def cache(tmp_path_factory, mnist_classifier_cache):
    """A fresh ``$GAN_JAX_CACHE`` holding random Inception weights at the default path, the
    digits classifier copied from the usual cache (trained there once for the whole suite) and
    the briefly trained MNIST classifier of the shared fixture."""
    from gan_jax.features import digits_classifier as classifier
    from gan_jax.features import mnist_classifier
    classifier.load_or_train_classifier()
    trained = os.path.join(classifier.cache_dir(), f"{classifier.EXTRACTOR_NAME}.msgpack")
    directory = tmp_path_factory.mktemp("cache")
    shutil.copy(trained, directory)
    shutil.copy(mnist_classifier_cache / f"{mnist_classifier.EXTRACTOR_NAME}.msgpack", directory)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GAN_JAX_CACHE", str(directory))
        inception_convert.save_inception_variables(random_inception_variables(),
                                                   inception_convert.default_weights_path())
        yield directory


@pytest.fixture(scope="module")
def runs(tmp_path_factory, cache):
    """``{name: run_dir}`` of tiny trained runs (digits, ring8, tfds: 28x28 grey), and ``folder``/``npz``:
    8 RGB images as PNG files and as one ``.npz``."""
    root = tmp_path_factory.mktemp("runs")
    tfds_dir = tmp_path_factory.mktemp("tfds")
    build_tiny_mnist(tfds_dir)
    data_dir = tmp_path_factory.mktemp("data")
    write_rgb_folder(data_dir / "rgb", data_dir / "rgb.npz")
    specs = {
        "tfds": ("digits_dcgan", ["data=tfds:gan_jax_mnistlike", f"tfds_data_dir={tfds_dir}", "image_size=28",
                                  "channels=1", "batch_size=8"] + TINY_DCGAN),
    }
    out = {"folder": str(data_dir / "rgb"), "npz": str(data_dir / "rgb.npz")}
    # The digits and ring8 runs are the release fixture's tiny trained runs (4 steps each), copied.
    for name, source in (("digits", "digits_dcgan"), ("ring8", os.path.join("ring8_sweep", "seed_0"))):
        out[name] = shutil.copytree(os.path.join(RELEASE_FIXTURE, source), str(root / name))
    for name, (config, overrides) in specs.items():
        assert main(["train", "--config", config, *overrides, "--runs-dir", str(root), "--name", name,
                     "--no-progress"]) == 0
        out[name] = str(root / name)
    return out


def build_tiny_mnist(data_dir) -> None:
    """An MNIST-shaped tensorflow-datasets set (8 images, 28x28x1 uint8, 10 classes), built from arrays."""
    tf = pytest.importorskip("tensorflow")
    tfds = pytest.importorskip("tensorflow_datasets")
    images = np.random.default_rng(0).integers(0, 256, (8, 28, 28, 1)).astype(np.uint8)
    ds = tf.data.Dataset.from_tensor_slices({"image": images, "label": np.arange(8) % 10})
    tfds.dataset_builders.TfDataBuilder(
        name="gan_jax_mnistlike", version="1.0.0", data_dir=str(data_dir), split_datasets={"train": ds},
        features=tfds.features.FeaturesDict({"image": tfds.features.Image(shape=(28, 28, 1)),
                                             "label": tfds.features.ClassLabel(num_classes=10)}),
    ).download_and_prepare()


def write_rgb_folder(folder, npz) -> None:
    """8 random 8x8 RGB images, as PNG files in ``folder`` and as ``images`` in ``npz``."""
    from PIL import Image
    folder.mkdir()
    images = np.random.default_rng(1).integers(0, 256, (8, 8, 8, 3)).astype(np.uint8)
    for i, image in enumerate(images):
        Image.fromarray(image).save(folder / f"{i}.png")
    np.savez(npz, images=images)


def fid_line(out: str) -> float:
    line = next(line for line in out.splitlines() if line.startswith("FID"))
    return float(line.rsplit(":", 1)[1])


def one_line_error(capsys, argv, message: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_fid_of_two_stats_files_and_mismatch_errors(tmp_path, capsys):
    rng = np.random.default_rng(0)
    a = stats_from_features(rng.normal(size=(200, 4)), "digits_mlp_v1")
    b = stats_from_features(rng.normal(size=(200, 4)) + 1.0, "digits_mlp_v1")
    pa, pb = save_stats(a, str(tmp_path / "a.npz")), save_stats(b, str(tmp_path / "b.npz"))
    assert main(["fid", "--real", pa, "--fake", pb, "--no-progress"]) == 0
    expected = frechet_distance_f64(a.mean, covariance(a), b.mean, covariance(b))
    assert f"{expected:.4f}" in capsys.readouterr().out
    other = save_stats(stats_from_features(rng.normal(size=(200, 4)), "inception_fid_2015_12_05"),
                       str(tmp_path / "c.npz"))
    one_line_error(capsys, ["fid", "--real", pa, "--fake", other], "different feature extractors")
    wide = save_stats(stats_from_features(rng.normal(size=(200, 5)), "digits_mlp_v1"), str(tmp_path / "d.npz"))
    one_line_error(capsys, ["fid", "--real", pa, "--fake", wide], "dimensions differ")
    nan = tmp_path / "nan.npz"
    np.savez(nan, mu=np.full(4, np.nan), sigma=np.eye(4), n=np.int64(200), extractor=np.array("digits_mlp_v1"))
    one_line_error(capsys, ["fid", "--real", pa, "--fake", str(nan)], "NaN or inf in mu or sigma")
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(open(pa, "rb").read()[:100])
    one_line_error(capsys, ["fid", "--real", pa, "--fake", str(truncated)], "truncated.npz")


def test_fid_rejects_images_out_of_range(tmp_path, capsys):
    np.savez(tmp_path / "bad.npz", images=np.full((10, 8, 8, 1), 3.0, np.float32))
    one_line_error(capsys, ["fid", "--real", "digits", "--fake", str(tmp_path / "bad.npz"), "--no-progress"],
                   "[-1, 1]")


def test_fid_of_a_source_against_itself_is_zero(cache, capsys):
    """FID(P, P) = 0: the same seeded stream on both sides gives identical features."""
    for src in ("digits", "ring8"):
        assert main(["fid", "--real", src, "--fake", src, "-n", "300", "--no-progress"]) == 0
        assert fid_line(capsys.readouterr().out) == pytest.approx(0.0, abs=1e-6)


def assert_density_coverage(result: dict, half: int) -> None:
    """Density and coverage (k = 5) in eval.json: the real halves near their exact means for a random
    split of distinct points (density 1, coverage 1 - prod_{t<5} (h-1-t)/(2h-1-t), about 0.969; the
    binomial SE of coverage is 0.006 at h = 898 and the band 0.03 about four measured SEs, see
    test_metrics_density_coverage), the barely trained generator's samples far below them."""
    halves, scores = result["real_vs_real"], result["scores"]
    assert halves["coverage"] == pytest.approx(expected_coverage_same_law(half, half), abs=0.03)
    assert halves["density"] == pytest.approx(1.0, abs=0.15)
    assert scores["coverage"] < 0.5 * halves["coverage"] and scores["density"] < 0.5 * halves["density"]


def test_digits_run_eval(runs, capsys):
    assert main(["eval", runs["digits"], "-n", "100", "--no-progress"]) == 0
    result = json.load(open(f"{runs['digits']}/eval.json"))
    assert result["features"] == "digits_mlp_v1" and result["n_generated"] == 100 and result["n_real"] == 1797
    for side in ("scores", "real_vs_real"):
        assert set(result[side]) == {"fid", "kid", "kid_std", "precision", "recall", "density", "coverage"}
    # Two steps of training: far from the data, far above the real halves' score.
    assert result["scores"]["fid"] > 10 * result["real_vs_real"]["fid"] > 0
    assert_density_coverage(result, half=1797 // 2)
    assert sum(result["class_stats"]["histogram"]) == pytest.approx(1.0, abs=1e-5)


def test_ring8_run_eval_reports_mode_coverage(runs):
    assert main(["eval", runs["ring8"], "-n", "200", "--no-progress"]) == 0
    result = json.load(open(f"{runs['ring8']}/eval.json"))
    coverage = result["mode_coverage"]
    assert len(coverage["counts"]) == 8 and 0 <= coverage["modes_captured"] <= 8
    assert sum(coverage["counts"]) == pytest.approx(200 * coverage["high_quality_fraction"], abs=0.5)
    for side in ("scores", "real_vs_real"):
        assert set(result[side]) == {"frechet_distance", "precision", "recall", "density", "coverage"}
    assert_density_coverage(result, half=1000)


def test_tfds_28x28_grey_run_gets_the_mnist_classifier_and_the_cached_inception_on_request(runs):
    assert main(["eval", runs["tfds"], "-n", "8", "--features", "inception", "--no-progress"]) == 0
    result = json.load(open(f"{runs['tfds']}/eval.json"))
    assert result["features"] == "inception_fid_2015_12_05" and result["n_real"] == 8
    assert np.isfinite(result["scores"]["fid"]) and result["scores"]["fid"] > 0
    # 8 real images: density and coverage of the 8 samples, none for halves of 4 (k = 5 needs 6).
    assert isinstance(result["scores"]["density"], float)
    assert result["real_vs_real"]["density"] is None and result["real_vs_real"]["coverage"] is None
    assert "class_stats" not in result
    assert main(["eval", runs["tfds"], "-n", "8", "--overwrite", "--no-progress"]) == 0   # the rule: 28x28x1
    result = json.load(open(f"{runs['tfds']}/eval.json"))
    assert result["features"] == "mnist_lenet_v1" and np.isfinite(result["scores"]["fid"])
    assert sum(result["class_stats"]["histogram"]) == pytest.approx(1.0)


def test_rgb_folder_scored_with_the_cached_inception_against_the_same_images_is_zero(runs, capsys):
    """FID(P, P) = 0 across two routes: the PNG files and the .npz hold the same 8x8 RGB pixels."""
    assert main(["fid", "--real", f"folder:{runs['folder']}", "--fake", runs["npz"], "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "FID (inception_fid_2015_12_05, 8 real vs 8 fake)" in out
    assert fid_line(out) == pytest.approx(0.0, abs=1e-3)
    assert "real-vs-real baseline (two halves of 4)" in out


def test_a_folder_is_resized_only_when_asked_and_mismatches_are_one_line(runs, capsys):
    # 8x8 RGB images against the digits run's 8x8 grey ones: never silently made grey.
    one_line_error(capsys, ["fid", "--real", f"folder:{runs['folder']}", "--fake", runs["digits"], "-n", "50"],
                   "--image-size 8 --channels 1")
    # Asked for, the folder is read at 8x8x1 and scored with the digits classifier.
    assert main(["fid", "--real", runs["folder"], "--fake", runs["digits"], "-n", "50", "--image-size", "8",
                 "--channels", "1", "--no-progress"]) == 0
    assert "FID (digits_mlp_v1, 8 real vs 50 fake)" in capsys.readouterr().out
    one_line_error(capsys, ["fid", "--real", "digits", "--fake", runs["npz"]], "shape (8, 8, 1)")
    one_line_error(capsys, ["fid", "--real", "ring8", "--fake", runs["digits"]], "compare sources of one shape")
    one_line_error(capsys, ["fid", "--real", f"folder:{runs['folder']}", "--fake", runs["npz"],
                            "--image-size", "28", "--channels", "3"], "(28, 28, 3)")
    one_line_error(capsys, ["fid", "--real", "tfds:gan_jax_mnistlike", "--fake", "tfds:gan_jax_mnistlike"],
                   "--image-size and --channels")


def test_garbage_inception_weights_are_one_line(runs, tmp_path, capsys):
    garbage = tmp_path / "garbage.msgpack"
    garbage.write_bytes(bytes(range(256)) * 4)
    one_line_error(capsys, ["fid", "--real", runs["folder"], "--fake", runs["npz"], "--inception-weights",
                            str(garbage)], "is not a converted FID Inception")
