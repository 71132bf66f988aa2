"""The gan-jax command: end to end on a toy run, and every bad input gives
one line on stderr and exit status 2, with nothing overwritten."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from gan_jax.cli import main

FAST = ["steps=4", "log_every=2", "sample_every=4", "checkpoint_every=4"]


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_train_sample_resume_end_to_end(tmp_path, capsys):
    runs = str(tmp_path)
    code, out, _ = _run(capsys, "train", "--config", "gaussian1d", "--runs-dir", runs, "--no-progress", *FAST)
    assert code == 0 and "run directory" in out
    run_dir = os.path.join(runs, "gaussian1d")
    for name in ("config.json", "metrics.jsonl", "curves.png", "samples/final.png", "samples/step_0000004.png"):
        assert os.path.isfile(os.path.join(run_dir, name)), name
    assert os.listdir(os.path.join(run_dir, "tensorboard"))
    rows = [json.loads(line) for line in open(os.path.join(run_dir, "metrics.jsonl"))]
    assert [r["step"] for r in rows] == [2, 4] and {"d_loss", "g_loss", "d_real", "d_fake"} <= set(rows[0])

    # A second train of the same config never touches the first run.
    code, out, _ = _run(capsys, "train", "--config", "gaussian1d", "--runs-dir", runs, "--no-progress", *FAST)
    assert code == 0 and os.path.isdir(os.path.join(runs, "gaussian1d-2"))

    out_npz = str(tmp_path / "s.npz")
    code, out, _ = _run(capsys, "sample", "--checkpoint", run_dir, "-n", "1500", "--out", out_npz)
    assert code == 0
    samples = np.load(out_npz)["samples"]
    assert samples.shape == (1500, 1) and np.all(np.isfinite(samples))
    assert len(np.unique(samples)) == 1500  # chunks draw different z

    code, _, _ = _run(capsys, "resume", run_dir, "steps=6", "--no-progress")
    assert code == 0
    rows = [json.loads(line) for line in open(os.path.join(run_dir, "metrics.jsonl"))]
    assert rows[-1]["step"] == 6


@pytest.mark.parametrize("argv,message", [
    (["train", "--config", "no_such_config"], "unknown config 'no_such_config'; named configs: "),
    (["train", "--config", "gaussian1d", "no_such_key=1"], "unknown config key 'no_such_key'"),
    (["train", "--config", "gaussian1d", "steps=many"], "wants an integer"),
    (["train", "--config", "gaussian1d", "steps"], "is not key=value"),
    (["train", "--config", "digits_dcgan", "image_size=12"], "DCGAN supports image_size"),
    (["train", "--config", "gaussian1d", "d_loss=foo"], "config key 'd_loss' in overrides got 'foo': expected one of bce"),
    (["train", "--config", "gaussian1d", "r1_weight=-1"], "config key 'r1_weight' in overrides got -1.0: must be >= 0.0"),
    (["train", "--config", "missing.json"], "config file missing.json does not exist"),
    (["resume", "/nonexistent/run"], "not a gan-jax run directory"),
    (["train", "--config", "gaussian1d", "--num-processes", "2"], "go together: pass all three"),
    (["train", "--config", "gaussian1d", "--coordinator", "127.0.0.1:1", "--num-processes", "2",
      "--process-id", "2"], "--process-id must be in 0..1, got 2"),
    (["sample", "--checkpoint", "/nonexistent/run", "--out", "x.png"], "not a gan-jax run directory"),
    (["sample", "--checkpoint", "/nonexistent/run", "--out", "x.jpg"], "must end in .png or .npz"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys, tmp_path):
    code, _, err = _run(capsys, *argv, *(["--runs-dir", str(tmp_path)] if argv[0] == "train" else []))
    assert code == 2
    assert message in err, err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_bad_data_files_are_clear_errors(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    np.savez(bad, images=np.full((70, 8, 8, 1), np.nan, np.float32))
    code, _, err = _run(capsys, "train", "--config", "digits_dcgan", f"data=npz:{bad}", "--runs-dir",
                        str(tmp_path), *FAST)
    assert code == 2 and "NaN" in err and err.count("\n") == 1
    code, _, err = _run(capsys, "train", "--config", "digits_dcgan", f"data=folder:{tmp_path}/none",
                        "--runs-dir", str(tmp_path), *FAST)
    assert code == 2 and "does not exist" in err


def test_existing_run_and_output_are_never_overwritten_unless_asked(tmp_path, capsys):
    runs = str(tmp_path)
    args = ["train", "--config", "gaussian1d", "--runs-dir", runs, "--name", "mine", "--no-progress", *FAST]
    assert _run(capsys, *args)[0] == 0
    marker = tmp_path / "mine" / "my_notes.txt"
    marker.write_text("keep me")
    code, _, err = _run(capsys, *args)
    assert code == 2 and "exists; pass --resume" in err and marker.read_text() == "keep me"

    out = tmp_path / "grid.png"
    out.write_bytes(b"user file")
    code, _, err = _run(capsys, "sample", "--checkpoint", str(tmp_path / "mine"), "--out", str(out))
    assert code == 2 and "exists; pass --overwrite" in err and out.read_bytes() == b"user file"

    # a resumed run may extend steps but not change the model
    code, _, err = _run(capsys, "resume", str(tmp_path / "mine"), "mlp_hidden=8")
    assert code == 2 and "cannot change mlp_hidden" in err

    code, _, err = _run(capsys, "sample", "--checkpoint", str(tmp_path / "mine"), "--out",
                        str(tmp_path / "x.npz"), "--labels", "3")
    assert code == 2 and "unconditional" in err


def test_console_script_exit_status_and_no_traceback():
    proc = subprocess.run([sys.executable, "-m", "gan_jax.cli", "train", "--config", "nope"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("gan-jax train: error: unknown config 'nope'")
    assert "Traceback" not in proc.stderr
