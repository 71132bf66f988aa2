"""Hardening of the commands that write files from a trained run (sample, eval, interpolate) and read
files a user names (mode-coverage): an output is replaced only whole, never through a symbolic link,
never half-written on a full disk, never left behind as a temporary after SIGTERM; every count and
seed is bounded; every bad input is one line with exit status 2.

The run is a copy of the release fixture (tests/fixtures/release_0_1/digits_dcgan, a tiny 8x8 digits
DCGAN): nothing is trained here. A full disk is simulated by making the writer raise ENOSPC part way.
"""

import errno
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections import namedtuple

import numpy as np
import pytest
from cli_checks import assert_one_line_error, run_cli
from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE = os.path.join(REPO, "tests", "fixtures", "release_0_1", "digits_dcgan")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A copy of the release fixture's digits run (only read by these tests)."""
    return shutil.copytree(FIXTURE, str(tmp_path_factory.mktemp("runs") / "digits_dcgan"))


def _leftovers(directory) -> list:
    """Hidden temporary files of atomic_output left in ``directory``."""
    return glob.glob(os.path.join(str(directory), ".*.tmp*"))


def _full_disk_after(monkeypatch, cls, method: str, good_bytes: int = 10):
    """Make ``cls.method(self, file, ...)``-style writers write ``good_bytes`` and then fail with
    ENOSPC, as a file system that fills up part way through the write."""
    def write_then_fail(self, *args, **kwargs):
        target = args[0] if args else None
        if isinstance(target, (str, os.PathLike)):
            with open(target, "wb") as f:
                f.write(b"\0" * good_bytes)
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(cls, method, write_then_fail)


def _free_space(monkeypatch, free: int) -> None:
    """Make every disk report ``free`` bytes free (``shutil.disk_usage``, which check_free_space asks)."""
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**12, 10**12 - free, free))


# ---- item 1: --overwrite replaces a link, never writes through it; a full disk keeps the old file ----

def test_sample_overwrite_replaces_a_symlink_and_never_writes_through_it(run_dir, tmp_path, capsys):
    (tmp_path / "outside").mkdir()
    (tmp_path / "out").mkdir()
    victim = tmp_path / "outside" / "victim.txt"
    victim.write_text("precious")
    link = tmp_path / "out" / "link.png"
    os.symlink("../outside/victim.txt", link)
    code, _, err = run_cli(capsys, "sample", "--checkpoint", run_dir, "-n", "4", "--out", str(link),
                           "--overwrite", "--no-progress")
    assert code == 0, err
    assert victim.read_text() == "precious"
    assert not os.path.islink(link) and Image.open(link).size[0] > 0
    assert _leftovers(tmp_path / "out") == []


@pytest.mark.parametrize("suffix", [".png", ".npz"])
def test_sample_on_a_full_disk_is_one_line_and_keeps_the_old_file(run_dir, tmp_path, capsys, monkeypatch, suffix):
    out = tmp_path / f"old{suffix}"
    out.write_bytes(b"the old output")
    if suffix == ".png":
        _full_disk_after(monkeypatch, Image.Image, "save")
    else:   # the stream of the samples' .npy entry fails after its first chunk
        real_write = zipfile._ZipWriteFile.write
        calls = []

        def write_then_fail(self, data):
            calls.append(len(data))
            if len(calls) > 2:
                raise OSError(errno.ENOSPC, "No space left on device")
            return real_write(self, data)
        monkeypatch.setattr(zipfile._ZipWriteFile, "write", write_then_fail)
    n = "16" if suffix == ".png" else "2500"   # an .npz of 3 chunks of 1,000
    code, _, err = run_cli(capsys, "sample", "--checkpoint", run_dir, "-n", n, "--out", str(out),
                           "--overwrite", "--no-progress")
    assert_one_line_error(code, err, f"could not write {out}", "is full", "free some space")
    assert out.read_bytes() == b"the old output"
    assert _leftovers(tmp_path) == []


# ---- item 2: free space first, a bounded -n, and SIGTERM leaves no temporary file ----

def test_sample_compares_the_output_size_with_the_free_space_before_drawing(run_dir, tmp_path, capsys,
                                                                            monkeypatch):
    _free_space(monkeypatch, 100_000)
    for out, n in ((tmp_path / "s.npz", "1000"), (tmp_path / "s.png", "4096")):   # 256 kB; a 2 MB grid
        code, _, err = run_cli(capsys, "sample", "--checkpoint", run_dir, "-n", n, "--out", str(out), "--no-progress")
        assert_one_line_error(code, err, str(out), "would take about", "free")
        assert not out.exists() and _leftovers(tmp_path) == []


def test_sample_stopped_by_sigterm_exits_143_and_leaves_no_temporary_file(run_dir, tmp_path):
    out = tmp_path / "huge.npz"
    env = dict(os.environ, PYTHONPATH=REPO, JAX_PLATFORMS="cpu")
    process = subprocess.Popen([sys.executable, "-m", "gan_jax.cli", "sample", "--checkpoint", run_dir,
                                "-n", "1000000", "--out", str(out), "--no-progress"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60   # the start takes a few seconds; a loaded machine more
        while not _leftovers(tmp_path) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _leftovers(tmp_path), "no temporary file appeared"
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 143, err
    assert "stopped by SIGTERM" in err and "Traceback" not in err, err
    assert _leftovers(tmp_path) == [] and not out.exists()


# ---- items 2, 10, 11 and the other commands: every count and seed has a documented bound ----

BAD_OPTIONS = [
    (["sample", "--checkpoint", "R", "--out", "s.npz", "-n", "1000000000"], "-n", "1..100000000"),
    (["sample", "--checkpoint", "R", "--out", "s.npz", "-n", "0"], "-n", "1..100000000"),
    (["sample", "--checkpoint", "R", "--out", "s.npz", "--seed", "99999999999999999999999"], "--seed",
     "0..4294967295"),
    (["sample", "--checkpoint", "R", "--out", "s.npz", "--seed", "-1"], "--seed", "0..4294967295"),
    (["sample", "--checkpoint", "R", "--out", "s.npz", "--seed", "4294967296"], "--seed", "0..4294967295"),
    (["sample", "--checkpoint", "R", "--out", "s.npz", "-n", "1e9"], "-n", "not an integer"),
    (["interpolate", "R", "--pairs", "100000"], "--pairs", "1..64"),
    (["interpolate", "R", "--steps", "1"], "--steps", "2..64"),
    (["interpolate", "R", "--seed", "99999999999999999999999"], "--seed", "0..4294967295"),
    (["interpolate", "R", "--method", "../../x"], "--method", "choose from"),
    (["eval", "R", "-n", "100000000"], "-n", "2..100000"),
    (["eval", "R", "--seed", "-5"], "--seed", "0..4294967295"),
    (["fid", "--real", "digits", "--fake", "R", "-n", "1"], "-n", "2..10000000"),
    (["fid", "--real", "digits", "--fake", "R", "--data-samples", "10000000000"], "--data-samples", "2.."),
    (["fid", "--real", "digits", "--fake", "R", "--image-size", "0", "--channels", "1"], "--image-size", "1..4096"),
    (["fid", "--real", "digits", "--fake", "R", "--image-size", "8", "--channels", "2"], "--channels", "choose"),
    (["fid", "--real", "digits", "--fake", "R", "--max-image-pixels", "0"], "--max-image-pixels", "1.."),
]


@pytest.mark.parametrize("argv, option, bound", BAD_OPTIONS)
def test_every_count_and_seed_out_of_its_bounds_is_one_line(capsys, argv, option, bound):
    with pytest.raises(SystemExit) as stopped:   # a usage error: argparse exits with status 2
        run_cli(capsys, *argv)
    assert_one_line_error(stopped.value.code, capsys.readouterr().err, f"argument {option}", bound)


@pytest.mark.parametrize("command, bounds", [
    ("sample", ["1..100,000,000", "at most 4,096", "0..4294967295"]),
    ("interpolate", ["1..64", "2..64", "0..4294967295"]),
    ("eval", ["2..100,000", "0..4294967295"]),
    ("fid", ["2..10,000,000", "2..1,000,000,000", "1..4096", "1..2147483647"]),
    ("mode-coverage", ["at most 10,000,000"]),
])
def test_the_bounds_are_written_in_the_help(capsys, command, bounds):
    with pytest.raises(SystemExit):
        run_cli(capsys, command, "--help")
    text = " ".join(capsys.readouterr().out.split())
    for bound in bounds:
        assert bound in text, (bound, text)


def test_interpolate_checks_its_output_and_the_free_space_and_never_writes_through_a_link(run_dir, tmp_path,
                                                                                        capsys, monkeypatch):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    link = tmp_path / "strips.png"
    os.symlink(victim, link)
    argv = ["interpolate", run_dir, "--pairs", "2", "--steps", "3", "--out", str(link)]
    code, _, err = run_cli(capsys, *argv)
    assert_one_line_error(code, err, "exists", "--overwrite")
    with monkeypatch.context() as patch:
        _free_space(patch, 1000)
        code, _, err = run_cli(capsys, *argv, "--overwrite")
        assert_one_line_error(code, err, "would take about")
    code, _, err = run_cli(capsys, *argv, "--overwrite")
    assert code == 0, err
    assert victim.read_text() == "precious" and not os.path.islink(link)
    assert Image.open(link).size[0] > 0 and _leftovers(tmp_path) == []


# ---- items 7 and 9: eval on a file says what it expects; eval.json is replaced only with --overwrite ----

def test_eval_of_a_file_says_it_expects_a_run_directory(tmp_path, capsys):
    path = tmp_path / "good.npz"
    np.savez(path, samples=np.zeros((10, 8, 8, 1), np.float32))
    code, _, err = run_cli(capsys, "eval", str(path))
    assert_one_line_error(code, err, "expects a run directory", f"gan-jax fid --real DATA --fake {path}")
    assert "does not exist" not in err


@pytest.mark.parametrize("existing", ["eval.json", "eval.png"])
def test_eval_replaces_its_outputs_only_with_overwrite(run_dir, tmp_path, capsys, monkeypatch, existing):
    run = shutil.copytree(run_dir, str(tmp_path / "run"))
    (tmp_path / "run" / existing).write_text("an earlier evaluation")
    code, _, err = run_cli(capsys, "eval", run, "-n", "10", "--no-progress")
    assert_one_line_error(code, err, existing, "exists", "--overwrite")
    assert (tmp_path / "run" / existing).read_text() == "an earlier evaluation"
    assert not ({"eval.json", "eval.png"} - {existing}) & set(os.listdir(run))

    from gan_jax.evaluation import evaluate_run

    def scores(run_dir, figure, *args, **kwargs):   # the metrics themselves are test_cli_evaluate's
        Image.new("L", (4, 4)).save(figure)
        return {"run_dir": run_dir, "scores": {"fid": 1.5}}
    monkeypatch.setattr(evaluate_run, "evaluate_run", scores)
    code, _, err = run_cli(capsys, "eval", run, "-n", "10", "--no-progress", "--overwrite")
    assert code == 0, err
    with open(os.path.join(run, "eval.json")) as f:
        assert json.load(f)["scores"] == {"fid": 1.5}


# ---- item 8: mode-coverage of a file that is not an .npz ----

@pytest.mark.parametrize("content", [os.urandom(2000), b"\x93NUMPY garbage", b""])
def test_mode_coverage_of_random_bytes_says_the_file_is_not_a_readable_npz(tmp_path, capsys, content):
    path = tmp_path / "random.npz"
    path.write_bytes(content)
    code, _, err = run_cli(capsys, "mode-coverage", str(path), "--data", "ring8")
    assert_one_line_error(code, err, str(path), "not an .npz")
    assert "pickle" not in err
