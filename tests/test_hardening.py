"""Hardening: nothing a user made is lost, a run survives kills, corruption and a
full disk, and every bad input is one line with exit status 2.

Data-loss cases first (names, --overwrite, locks, non-finite state), then the
faults (kill -9 inside a checkpoint write, damaged checkpoints, ENOSPC), then the
walk over every config key and a property-based fuzz of the inputs.
"""

import errno
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time

import jax
import numpy as np
import pytest
from cli_checks import assert_one_line_error as _assert_one_line_error
from cli_checks import run_cli as _run
from cli_checks import same_state as _same_state
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tiny_config import TINY_TOY

import gan_jax.runs.checkpoint as checkpoint_lib
from gan_jax.config.build import check_config
from gan_jax.config.schema import get_config, key_rules
from gan_jax.errors import UserError
from gan_jax.runs.checkpoint import Checkpointer, NonFiniteState, restore_run
from gan_jax.train.loop import train


def _train_args(runs, name, *overrides):
    return ["train", "--config", "gaussian1d", *TINY_TOY, *overrides, "--runs-dir", str(runs),
            "--name", name, "--no-progress"]


def _steps_logged(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return [json.loads(line)["step"] for line in f]


# ---- data loss: names, --overwrite, failed starts, locks ----

@pytest.mark.parametrize("name", ["..", ".", "a/b", "../../escaped_run", ".hidden", ""])
def test_a_run_name_is_one_plain_folder_name(tmp_path, capsys, name):
    runs = tmp_path / "sandbox" / "runs"
    (runs / "other_run").mkdir(parents=True)
    (tmp_path / "sandbox" / "unrelated.txt").write_text("keep me")
    code, _, err = _run(capsys, *_train_args(runs, name, "steps=1"), "--overwrite")
    _assert_one_line_error(code, err, "must be one plain folder name")
    assert (tmp_path / "sandbox" / "unrelated.txt").read_text() == "keep me"
    assert sorted(os.listdir(runs)) == ["other_run"]
    code, _, err = _run(capsys, "train", "--config", "gaussian1d", f"name={name}", "--runs-dir", str(runs))
    _assert_one_line_error(code, err, "'name'")


def test_overwrite_replaces_only_a_run_and_a_failed_start_leaves_nothing(tmp_path, capsys):
    runs = tmp_path / "runs"
    (runs / "notes").mkdir(parents=True)
    (runs / "notes" / "thesis.txt").write_text("precious")
    code, _, err = _run(capsys, *_train_args(runs, "notes", "steps=1"), "--overwrite")
    _assert_one_line_error(code, err, "is not a gan-jax run")
    assert (runs / "notes" / "thesis.txt").read_text() == "precious"

    assert _run(capsys, *_train_args(runs, "mine", "steps=2", "log_every=1"))[0] == 0
    assert _run(capsys, *_train_args(runs, "mine", "steps=3", "log_every=1"), "--overwrite")[0] == 0
    assert _steps_logged(runs / "mine") == [1, 2, 3]

    # A start that fails validation (a data file that is not there) creates no folder,
    # so the same --name works once the mistake is fixed.
    code, _, err = _run(capsys, *_train_args(runs, "fresh", "steps=1", f"data=npz:{tmp_path}/none.npz"))
    assert code == 2 and not (runs / "fresh").exists()


def test_a_second_writer_is_refused_and_a_killed_holder_leaves_no_stale_lock(tmp_path, capsys):
    runs = tmp_path / "runs"
    assert _run(capsys, *_train_args(runs, "r", "steps=2", "checkpoint_every=2"))[0] == 0
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from gan_jax.runs.layout import RunLock; "
         "RunLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(120)", str(runs / "r")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        code, _, err = _run(capsys, "resume", str(runs / "r"), "steps=4", "--no-progress")
        _assert_one_line_error(code, err, "is being written by process")
        code, _, err = _run(capsys, *_train_args(runs, "r", "steps=4", "checkpoint_every=2"), "--resume")
        _assert_one_line_error(code, err, "is being written by process")
    finally:
        holder.kill()
        holder.wait()
    assert _run(capsys, "resume", str(runs / "r"), "steps=4", "--no-progress")[0] == 0
    assert _steps_logged(runs / "r")[-1] == 4


def test_resume_refuses_what_would_silently_do_nothing_or_restart(tmp_path, capsys):
    runs = tmp_path / "runs"
    assert _run(capsys, *_train_args(runs, "r", "steps=2", "checkpoint_every=1", "log_every=1"))[0] == 0
    code, _, err = _run(capsys, "resume", str(runs / "r"), "steps=2")
    _assert_one_line_error(code, err, "already at step 2", "steps=N with N > 2")
    code, _, err = _run(capsys, *_train_args(runs, "r", "steps=5", "mlp_hidden=8"), "--resume")
    _assert_one_line_error(code, err, "cannot change mlp_hidden")
    shutil.rmtree(runs / "r" / "checkpoints")
    code, _, err = _run(capsys, "resume", str(runs / "r"), "steps=5")
    _assert_one_line_error(code, err, "has no checkpoint left")
    assert _steps_logged(runs / "r") == [1, 2]


def test_sample_checks_its_output_before_drawing_anything(tmp_path, capsys):
    runs = tmp_path / "runs"
    assert _run(capsys, *_train_args(runs, "r", "steps=1"))[0] == 0
    (tmp_path / "afile").write_text("mine")
    (tmp_path / "adir.npz").mkdir()
    sample = ["sample", "--checkpoint", str(runs / "r"), "--out"]
    for out, fragment in ((tmp_path / "afile" / "x.npz", "is a file, not a directory"),
                          (tmp_path / "adir.npz", "is a directory"),
                          (tmp_path / "afile", "must end in .png or .npz")):
        code, _, err = _run(capsys, *sample, str(out))
        _assert_one_line_error(code, err, fragment)
    code, _, err = _run(capsys, *sample, str(tmp_path / "big.png"), "-n", "5000")
    _assert_one_line_error(code, err, "at most 4096")
    assert (tmp_path / "afile").read_text() == "mine" and not os.listdir(tmp_path / "adir.npz")
    code, _, _ = _run(capsys, *sample, str(tmp_path / "new" / "s.npz"), "-n", "2500", "--no-progress")
    assert code == 0
    with np.load(tmp_path / "new" / "s.npz") as f:
        assert f["samples"].shape == (2500, 1) and len(np.unique(f["samples"])) == 2500


# ---- non-finite state ----

def test_a_diverging_run_stops_cleanly_and_never_saves_nan(tmp_path, capsys):
    runs = tmp_path / "runs"
    args = _train_args(runs, "blowup", "steps=40", "lr_g=100", "lr_d=100", "d_loss=least_squares",
                       "g_loss=least_squares", "checkpoint_every=1", "log_every=1000")
    code, _, err = _run(capsys, *args)
    _assert_one_line_error(code, err, "NaN or inf", "the last good checkpoint (step ")
    kept = int(err.split("the last good checkpoint (step ")[1].split(")")[0])
    config, state = restore_run(str(runs / "blowup"))
    assert int(state.step) == kept
    assert not checkpoint_lib.nonfinite_leaves(state)
    for step in Checkpointer(str(runs / "blowup")).all_steps():
        _, s = restore_run(str(runs / "blowup"), step=step)
        assert not checkpoint_lib.nonfinite_leaves(s), step
    # Resumable: it continues from that checkpoint (and, same rates, diverges at the same step again).
    code, out, err2 = _run(capsys, "resume", str(runs / "blowup"), "--no-progress")
    assert code == 2 and f"resumed {runs / 'blowup'} at step {kept}" in out
    assert err2.split(": error: ")[1] == err.split(": error: ")[1]

    bad = state.replace(g_params=jax.tree.map(lambda x: x.at[(0,) * x.ndim].set(np.nan), state.g_params))
    checkpointer = Checkpointer(str(runs / "blowup"), 3)
    before = checkpointer.all_steps()
    with pytest.raises(NonFiniteState, match="holds NaN or inf in .g_params"):
        checkpointer.save(bad.replace(step=bad.step + 1000), config, 0)
    assert checkpointer.all_steps() == before
    checkpointer.close()


# ---- damaged checkpoints and config ----

def _flip_bytes(path, count, seed):
    data = bytearray(open(path, "rb").read())
    rng = np.random.default_rng(seed)
    for i in rng.choice(len(data), size=min(count, len(data)), replace=False):
        data[i] ^= 0xFF
    open(path, "wb").write(bytes(data))


def test_damaged_checkpoints_are_named_and_skipped_never_restarted(tmp_path, capsys):
    runs = tmp_path / "runs"
    assert _run(capsys, *_train_args(runs, "r", "steps=4", "checkpoint_every=1", "log_every=1"))[0] == 0
    run_dir, ckpts = str(runs / "r"), runs / "r" / "checkpoints"
    assert Checkpointer(run_dir).all_steps() == [2, 3, 4]
    state_files = [os.path.join(d, f) for d, _, fs in os.walk(ckpts / "4" / "state") for f in fs]
    _flip_bytes(max(state_files, key=os.path.getsize), 200, seed=0)
    notes = []
    _, state = restore_run(run_dir, echo=notes.append)
    assert int(state.step) == 3 and "checkpoint 4 is damaged" in notes[0]

    (ckpts / "3" / "meta" / "metadata").write_bytes(b"\x00garbage")
    (runs / "r" / "config.json").write_text("")           # as a kill mid-write once left it
    code, out, _ = _run(capsys, "resume", run_dir, "steps=5", "--no-progress")
    assert code == 0
    assert "run config" in out and "using the config stored in the newest checkpoint" in out
    assert "checkpoint 4 is damaged" in out and "checkpoint 3 is damaged" in out
    assert "resumed" in out and "at step 2" in out
    assert sorted(os.listdir(ckpts)) == ["3", "4", "5", "damaged-3", "damaged-4"]
    assert _steps_logged(run_dir) == [1, 2, 3, 4, 5]      # rows past the restored step were replaced
    assert json.load(open(runs / "r" / "config.json"))["steps"] == 5

    code, _, _ = _run(capsys, "sample", "--checkpoint", run_dir, "-n", "8", "--out", str(tmp_path / "s.npz"))
    assert code == 0


# ---- a full disk ----

def _mount_tmpfs(path, size):
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    os.makedirs(path, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


def _fill(directory):
    """Fill the file system holding ``directory`` (a real ENOSPC for the next writer)."""
    try:
        with open(os.path.join(directory, "filler"), "wb") as f:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
    except OSError as e:
        assert e.errno == errno.ENOSPC
    return os.path.join(directory, "filler")


def test_a_full_disk_while_checkpointing_is_one_line_and_resumable(tmp_path, capsys, monkeypatch):
    disk = tmp_path / "disk"
    mounted = _mount_tmpfs(disk, "64m")
    disk.mkdir(exist_ok=True)
    real_save = Checkpointer.save
    calls = []

    def save_on_a_full_disk(self, state, *args, **kwargs):
        calls.append(int(state.step))
        if len(calls) == 3:
            if mounted:
                _fill(str(disk))
            else:  # no tmpfs here: the same error, raised where the file system would
                monkeypatch.setattr(self.manager, "save", lambda *a, **k: (_ for _ in ()).throw(
                    OSError(errno.ENOSPC, "No space left on device")))
        return real_save(self, state, *args, **kwargs)

    try:
        monkeypatch.setattr(Checkpointer, "save", save_on_a_full_disk)
        code, _, err = _run(capsys, *_train_args(disk, "r", "steps=4", "checkpoint_every=1", "log_every=4"))
        _assert_one_line_error(code, err, "checkpoint step 3 was not saved", "is full", "MiB is needed")
        monkeypatch.setattr(Checkpointer, "save", real_save)
        if mounted and (disk / "filler").exists():
            os.remove(disk / "filler")
        _, state = restore_run(str(disk / "r"))
        assert int(state.step) == 2
        assert _run(capsys, "resume", str(disk / "r"), "--no-progress")[0] == 0
        _, resumed = restore_run(str(disk / "r"))
        whole = train(get_config("gaussian1d", TINY_TOY + ["steps=4", "checkpoint_every=1", "log_every=4"]),
                      str(tmp_path / "whole"), progress=False, echo=lambda *a: None)
        assert int(resumed.step) == 4 and _same_state(resumed, whole)
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(disk)], capture_output=True)


# ---- kill -9 inside a checkpoint write ----

_DRIVER = textwrap.dedent("""
    # Runs gan-jax; with PAUSE_AT_SAVE=n it stops inside the n-th checkpoint write, after
    # orbax has written the temporary directory and before the rename that commits it.
    import os, sys, time
    import orbax.checkpoint._src.path.atomicity as atomicity
    pause_at, flag = int(os.environ.get("PAUSE_AT_SAVE", "0")), os.environ.get("PAUSE_FLAG", "")
    original, calls = atomicity.AtomicRenameTemporaryPath.finalize, []
    async def finalize(self):
        if not self._final_path.name.isdigit():   # an item inside a step, not the step itself
            return await original(self)
        calls.append(1)
        if len(calls) == pause_at:
            open(flag, "w").close()
            time.sleep(600)
        return await original(self)
    atomicity.AtomicRenameTemporaryPath.finalize = finalize
    from gan_jax.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def test_kill_9_inside_a_checkpoint_write_resumes_bit_identical(tmp_path, capsys):
    """SIGKILL while orbax writes the second checkpoint (paused after its temporary folder exists
    and before its rename), then resume to the end. A kill between steps: tests/test_gcs.py."""
    runs, steps = tmp_path / "runs", 12
    overrides = [f"steps={steps}", "checkpoint_every=2", "log_every=1"]
    driver = tmp_path / "driver.py"
    driver.write_text(_DRIVER)
    run_dir = runs / "r"
    flag = tmp_path / "paused"
    env = dict(os.environ, PAUSE_AT_SAVE="2", PAUSE_FLAG=str(flag))
    proc = subprocess.Popen([sys.executable, str(driver), *_train_args(runs, "r", *overrides)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 50
    while time.time() < deadline and proc.poll() is None and not flag.exists():
        time.sleep(0.02)
    assert proc.poll() is None, proc.stderr.read()
    assert any(".orbax-checkpoint-tmp" in n for n in os.listdir(run_dir / "checkpoints"))
    proc.kill()
    proc.wait()
    assert checkpoint_lib.Checkpointer(str(run_dir)).latest_step() is not None
    code, _, err = _run(capsys, "resume", str(run_dir), "--no-progress")   # the last resume runs to the end
    assert code == 0, err
    _, resumed = restore_run(str(run_dir))
    whole = train(get_config("gaussian1d", TINY_TOY + overrides), str(tmp_path / "whole"),
                  progress=False, echo=lambda *a: None)
    assert int(resumed.step) == steps and _same_state(resumed, whole)
    assert _steps_logged(run_dir) == list(range(1, steps + 1)), "each step logged exactly once"


# ---- every config key, and fuzzed inputs ----

def _invalid_text(name, typ, rule):
    """A ``key=value`` text that the key's type or rule refuses."""
    if name == "name":
        return "../escaped"
    if name == "data":
        return "no_such_data"
    if "choices" in rule:
        return "no_such_choice" if typ is str else "7"
    for op, delta in (("ge", -1), ("gt", 0), ("le", 1), ("lt", 0)):
        if op in rule:
            return str(rule[op] + delta)
    return {bool: "maybe", int: "1.5", float: "one", str: None}[typ]


_WRONG_JSON_TYPE = {bool: 1, int: True, float: "0.001", str: 5}


@pytest.mark.parametrize("name", sorted(key_rules()))
def test_every_config_key_refuses_a_bad_value_in_one_line(name, tmp_path, capsys):
    typ, rule = key_rules()[name]
    text = _invalid_text(name, typ, rule)
    if text is not None:
        code, _, err = _run(capsys, "train", "--config", "gaussian1d", f"{name}={text}", "--runs-dir", str(tmp_path))
        _assert_one_line_error(code, err, f"'{name}'")
    path = tmp_path / "c.json"
    path.write_text(json.dumps({name: _WRONG_JSON_TYPE[typ]}))
    code, _, err = _run(capsys, "train", "--config", str(path), "--runs-dir", str(tmp_path))
    _assert_one_line_error(code, err, f"'{name}'", str(path))
    assert os.listdir(tmp_path) == ["c.json"]


@pytest.mark.parametrize("content", [b"\x89PNG\x00\xff binary", b'{"steps": 2.5}', b'{"steps": null}',
                                     b'{"steps": [1]}', b'{"data": 5}', b"[1, 2]", b'{"lr_g": "0.001"}',
                                     b'{"batch_size": true}'])
def test_malformed_json_configs_are_one_line(content, tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    code, _, err = _run(capsys, "train", "--config", str(path), "--runs-dir", str(tmp_path))
    _assert_one_line_error(code, err, str(path))


_KEYS = sorted(key_rules())
_json_values = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                         st.text(max_size=8), st.lists(st.integers(), max_size=2))


def _valid_or_user_error(thunk):
    try:
        thunk()
    except UserError as e:
        assert "\n" not in str(e), str(e)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pairs=st.lists(st.tuples(st.sampled_from(_KEYS + ["bogus"]), st.text(max_size=10)), max_size=4))
def test_fuzzed_overrides_are_valid_or_one_line(pairs):
    _valid_or_user_error(lambda: check_config(get_config("gaussian1d", [f"{k}={v}" for k, v in pairs])))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.dictionaries(st.sampled_from(_KEYS), _json_values, max_size=4))
def test_fuzzed_json_configs_are_valid_or_one_line(values, tmp_path):
    path = tmp_path / "fuzz.json"
    path.write_text(json.dumps(values))
    _valid_or_user_error(lambda: check_config(get_config(str(path))))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=st.lists(st.integers(0, 9), min_size=0, max_size=5),
       dtype=st.sampled_from(["uint8", "float32", "float64", "int64", "bool", "complex64"]),
       fill=st.sampled_from([0.0, -1.0, 1.0, 255.0, 300.0, np.nan, np.inf]),
       key=st.sampled_from(["images", "x", "pictures"]),
       labels=st.one_of(st.none(), st.lists(st.one_of(st.floats(-3, 12), st.just(float("nan"))), max_size=10)))
def test_fuzzed_npz_files_are_valid_or_one_line(shape, dtype, fill, key, labels, tmp_path):
    from gan_jax.data.sources import load_array
    path = tmp_path / "fuzz.npz"
    arrays = {key: np.full(shape, fill).astype(dtype)}
    if labels is not None:
        arrays["labels"] = np.asarray(labels)
    np.savez(path, **arrays)
    _valid_or_user_error(lambda: load_array(f"npz:{path}", 8, 1))
