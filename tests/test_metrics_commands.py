"""``gan-jax fid`` on statistics files: the score, and clear errors for bad input."""

import numpy as np

from gan_jax.cli import main
from gan_jax.metrics.frechet import frechet_distance_f64
from gan_jax.metrics.stats import covariance, save_stats, stats_from_features


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
    assert main(["fid", "--real", pa, "--fake", other, "--no-progress"]) == 2
    assert "different feature extractors" in capsys.readouterr().err
    wide = save_stats(stats_from_features(rng.normal(size=(200, 5)), "digits_mlp_v1"), str(tmp_path / "d.npz"))
    assert main(["fid", "--real", pa, "--fake", wide, "--no-progress"]) == 2
    assert "dimensions differ" in capsys.readouterr().err


def test_fid_rejects_images_out_of_range(tmp_path, capsys):
    np.savez(tmp_path / "bad.npz", images=np.full((10, 8, 8, 1), 3.0, np.float32))
    assert main(["fid", "--real", "digits", "--fake", str(tmp_path / "bad.npz"), "--no-progress"]) == 2
    assert "[-1, 1]" in capsys.readouterr().err
