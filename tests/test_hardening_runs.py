"""Hardening of run directories through the command line: a damaged, edited or hostile run
directory, a full disk or a stop (SIGTERM) while training give one line (exit status 2, or 143
for SIGTERM), lose nothing, leave no temporary file, and the run resumes afterwards.

One tiny run is trained once for the module (:func:`trained`); each test damages a copy of it.
The sweep cases use a copy of the release-0.1 sweep fixture (tests/fixtures/release_0_1).
"""

import errno
import glob
import json
import logging
import os
import shutil
import signal
import stat
import time

import pytest
from cli_checks import assert_one_line_error, run_cli
from tiny_config import TINY_TOY

from gan_jax.cli import main
from gan_jax.runs.layout import RunLock

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "release_0_1")
TRAINED_STEPS = 2


def _train_args(runs, name, *overrides):
    return ["train", "--config", "gaussian1d", *TINY_TOY, *overrides, "--runs-dir", str(runs),
            "--name", name, "--no-progress"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny gaussian1d run of 2 steps, a checkpoint and a log row per step (never damaged itself)."""
    runs = tmp_path_factory.mktemp("trained")
    assert main(_train_args(runs, "r", f"steps={TRAINED_STEPS}", "checkpoint_every=1", "log_every=1")) == 0
    return str(runs / "r")


def _copy(trained, tmp_path, name="r") -> str:
    return shutil.copytree(trained, str(tmp_path / "runs" / name), symlinks=True)


def _steps_logged(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return [json.loads(line)["step"] for line in f]


def _leftovers(run_dir):
    """Temporary files and folders (ours: ``.NAME.*.tmp``; orbax's: ``*.orbax-checkpoint-tmp*``)."""
    return (glob.glob(os.path.join(run_dir, "**", "*orbax-checkpoint-tmp*"), recursive=True)
            + glob.glob(os.path.join(run_dir, "**", ".*.tmp*"), recursive=True))


def _edit_config(run_dir, **changes):
    path = os.path.join(run_dir, "config.json")
    with open(path) as f:
        values = json.load(f)
    values.update(changes)
    with open(path, "w") as f:
        json.dump(values, f)


# ---- resume compares the config with the checkpoint's ----

@pytest.mark.parametrize("key, value", [("mlp_hidden", 32), ("lr_g", 0.5)])
def test_an_edited_config_is_one_line_naming_the_key_both_values_and_the_fix(trained, tmp_path, capsys,
                                                                             key, value):
    """mlp_hidden changes every shape (once: hundreds of lines of orbax tracebacks); lr_g changes
    nothing visible (once: resumed silently at the new rate). Both: one line, nothing written."""
    run_dir = _copy(trained, tmp_path)
    _edit_config(run_dir, **{key: value})
    before = sorted(os.listdir(os.path.join(run_dir, "checkpoints")))
    code, _, err = run_cli(capsys, "resume", run_dir, "steps=3", "--no-progress")
    assert_one_line_error(code, err, f"{key}={value}", "trained with", "config.json")
    assert sorted(os.listdir(os.path.join(run_dir, "checkpoints"))) == before
    assert _steps_logged(run_dir) == [1, 2]


def test_a_deleted_config_and_a_garbled_log_resume_naming_each_change(trained, tmp_path, capsys):
    """config.json is rebuilt from the checkpoint's copy (as the message says), a metrics.jsonl of
    random bytes is one warning line (never a UnicodeDecodeError), and each changed resumable
    key is named."""
    run_dir = _copy(trained, tmp_path)
    os.remove(os.path.join(run_dir, "config.json"))
    with open(os.path.join(run_dir, "metrics.jsonl"), "wb") as f:
        f.write(os.urandom(4000))
    code, out, err = run_cli(capsys, "resume", run_dir, f"steps={TRAINED_STEPS + 1}", "log_every=3",
                             "--no-progress")
    assert code == 0, err
    assert f"resume: steps {TRAINED_STEPS} -> {TRAINED_STEPS + 1}" in out and "resume: log_every 1 -> 3" in out
    assert sum("unreadable" in line for line in (out + err).splitlines()) <= 1
    with open(os.path.join(run_dir, "config.json")) as f:
        rebuilt = json.load(f)
    assert rebuilt["steps"] == TRAINED_STEPS + 1 and rebuilt["mlp_hidden"] == 16
    assert _steps_logged(run_dir) == [TRAINED_STEPS + 1]
    assert _leftovers(run_dir) == []


def test_a_file_in_place_of_the_checkpoints_folder_is_one_line(trained, tmp_path, capsys):
    run_dir = _copy(trained, tmp_path)
    shutil.rmtree(os.path.join(run_dir, "checkpoints"))
    with open(os.path.join(run_dir, "checkpoints"), "w") as f:
        f.write("not a folder")
    code, _, err = run_cli(capsys, "resume", run_dir, "steps=3", "--no-progress")
    assert_one_line_error(code, err, "checkpoints is a file")
    with open(os.path.join(run_dir, "checkpoints")) as f:
        assert f.read() == "not a folder"


@pytest.mark.parametrize("name,make", [("config.json", "folder"), ("curves.png", "folder"),
                                       ("tensorboard", "file")])
def test_a_folder_or_file_in_place_of_a_run_file_is_one_line_and_kept(trained, tmp_path, capsys, name, make):
    run_dir = _copy(trained, tmp_path)
    target = os.path.join(run_dir, name)
    if os.path.isdir(target):
        shutil.rmtree(target)
    elif os.path.exists(target):
        os.remove(target)
    if make == "folder":
        os.makedirs(os.path.join(target, "inside"))
    else:
        with open(target, "w") as f:
            f.write("in the way")
    code, _, err = run_cli(capsys, "resume", run_dir, "steps=3", "--no-progress")
    assert code in (0, 2), err
    if code == 2:
        assert_one_line_error(code, err, name)
    assert os.path.isdir(os.path.join(target, "inside")) if make == "folder" else open(target).read() == "in the way"


# ---- sweeps: a suggestion that loses nothing ----

def _sweep_copy(tmp_path) -> str:
    return shutil.copytree(os.path.join(FIXTURE, "ring8_sweep"), str(tmp_path / "sweep"))


def test_a_sweep_seed_without_checkpoints_suggests_nothing_that_deletes_the_others(tmp_path, capsys):
    sweep = _sweep_copy(tmp_path)
    shutil.rmtree(os.path.join(sweep, "seed_1", "checkpoints"))
    code, _, err = run_cli(capsys, "resume", sweep, "steps=6", "--no-progress")
    assert_one_line_error(code, err, "seed 1", "intact", "mv ")
    assert "--overwrite" not in err
    assert os.listdir(os.path.join(sweep, "seed_0", "checkpoints"))


def test_a_sweep_record_with_a_malformed_diverged_entry_is_one_line(tmp_path, capsys):
    sweep = _sweep_copy(tmp_path)
    path = os.path.join(sweep, "sweep.json")
    with open(path) as f:
        record = json.load(f)
    record["diverged"] = [1]
    with open(path, "w") as f:
        json.dump(record, f)
    code, _, err = run_cli(capsys, "resume", sweep, "steps=6", "--no-progress")
    assert_one_line_error(code, err, path, "diverged")


# ---- symbolic links and read-only places ----

def test_overwrite_of_a_run_dir_that_is_a_symlink_is_one_line_and_keeps_the_target(trained, tmp_path, capsys):
    target = _copy(trained, tmp_path, "real")
    os.symlink(target, tmp_path / "runs" / "link")
    before = sorted(os.listdir(target))
    code, _, err = run_cli(capsys, *_train_args(tmp_path / "runs", "link", "steps=1"), "--overwrite")
    assert_one_line_error(code, err, "symbolic link", "--overwrite")
    assert sorted(os.listdir(target)) == before and _steps_logged(target) == [1, 2]


def test_a_read_only_runs_dir_is_one_line(tmp_path, capsys, monkeypatch):
    """EROFS where the run directory is made (simulated: the tests may run as root)."""
    real_mkdir = os.mkdir

    def read_only(path, *args, **kwargs):
        if str(path).startswith(str(tmp_path / "ro")):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_mkdir(path, *args, **kwargs)

    (tmp_path / "ro").mkdir()
    monkeypatch.setattr(os, "mkdir", read_only)
    code, _, err = run_cli(capsys, *_train_args(tmp_path / "ro", "r", "steps=1"))
    assert_one_line_error(code, err, "read-only", "--runs-dir")
    assert os.listdir(tmp_path / "ro") == []


# ---- a full disk while checkpointing ----

def test_a_full_disk_mid_checkpoint_is_exactly_one_line_and_leaves_no_orbax_folder(tmp_path, capsys, caplog,
                                                                                   monkeypatch):
    """The checkpoint's JSON item fails with ENOSPC inside orbax (its array item goes on in
    orbax's threads and logs through absl): the one line is the whole output, orbax's
    temporary folder is removed, its logs and tracebacks are in RUN_DIR/train.log, and every
    file of the run has the mode 0666 & ~umask."""
    from orbax.checkpoint._src.handlers import json_checkpoint_handler as json_handler
    real_save, calls = json_handler.JsonCheckpointHandler._save_fn, []

    async def full_disk_at_the_second(self, item, directory):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return await real_save(self, item, directory)

    monkeypatch.setattr(json_handler.JsonCheckpointHandler, "_save_fn", full_disk_at_the_second)
    old_mask = os.umask(0o027)
    try:
        with caplog.at_level(logging.WARNING):
            code, out, err = run_cli(capsys, *_train_args(tmp_path, "r", "steps=3", "checkpoint_every=1",
                                                          "log_every=1"))
    finally:
        os.umask(old_mask)
    run_dir = str(tmp_path / "r")
    assert_one_line_error(code, err, "checkpoint step 2 was not saved", "is full", "gan-jax resume")
    assert not [r for r in caplog.records if r.name.split(".")[0] in ("absl", "orbax", "asyncio")]
    assert _leftovers(run_dir) == []
    assert sorted(os.listdir(os.path.join(run_dir, "checkpoints"))) == ["1"]
    with open(os.path.join(run_dir, "train.log")) as f:
        assert "No space left on device" in f.read()
    for name in ("config.json", "provenance.json", "metrics.jsonl", "train.log", ".lock"):
        assert stat.S_IMODE(os.stat(os.path.join(run_dir, name)).st_mode) == 0o640, name
    monkeypatch.setattr(json_handler.JsonCheckpointHandler, "_save_fn", real_save)
    assert run_cli(capsys, "resume", run_dir, "--no-progress")[0] == 0
    assert _steps_logged(run_dir) == [1, 2, 3]


# ---- SIGTERM while a checkpoint is written ----

def test_sigterm_mid_checkpoint_releases_the_lock_leaves_no_temporary_and_resumes(tmp_path, capsys, monkeypatch):
    """SIGTERM (sent to this process: ``main`` turns it into Terminated, as for a real command)
    arrives inside the 2nd checkpoint write, after orbax made its temporary folder and before
    the rename. The write is finished, then the command stops (143, one line), the lock is free,
    nothing temporary is left, and the run resumes."""
    import orbax.checkpoint._src.path.atomicity as atomicity
    original, calls = atomicity.AtomicRenameTemporaryPath.finalize, []

    async def finalize(self, *args, **kwargs):
        if self._final_path.name.isdigit():
            calls.append(1)
            if len(calls) == 2:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.2)   # the handler runs now (it used to abandon the write here)
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(atomicity.AtomicRenameTemporaryPath, "finalize", finalize)
    code, _, err = run_cli(capsys, *_train_args(tmp_path / "runs", "r", "steps=1000", "checkpoint_every=1",
                                                "log_every=1"))
    monkeypatch.setattr(atomicity.AtomicRenameTemporaryPath, "finalize", original)
    run_dir = str(tmp_path / "runs" / "r")
    assert code == 143 and err.strip().splitlines() == ["gan-jax train: stopped by SIGTERM"], err
    assert _leftovers(run_dir) == []
    RunLock(run_dir).acquire().release()   # the lock was released
    assert sorted(os.listdir(os.path.join(run_dir, "checkpoints"))) == ["1", "2"]
    code, _, err = run_cli(capsys, "resume", run_dir, "steps=3", "--no-progress")
    assert code == 0, err
    assert _steps_logged(run_dir) == [1, 2, 3]
