"""gan_jax.runs.layout: what marks a run or a sweep directory, the sweep record, how a
run directory is claimed (new, overwrite, resume) and locked. Local directories only."""

import errno
import json
import os

import pytest
from cli_checks import refused

from gan_jax.config.schema import Config, get_config
from gan_jax.runs.layout import (
    RUN_MARKERS,
    SWEEP_FILE,
    GcsRunLock,
    RunLock,
    claim_run_dir,
    is_run_dir,
    is_sweep_dir,
    read_sweep,
    seed_dir,
    write_sweep,
)


def _make_run(path, extra=("metrics.jsonl",)):
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump({"steps": 1}, f)
    for name in extra:
        with open(os.path.join(path, name), "w") as f:
            f.write("old " + name)


def _visible(path):
    return sorted(n for n in os.listdir(path) if n != ".lock")


# ---- markers ----

def test_markers():
    assert RUN_MARKERS == ("config.json", "sweep.json") and SWEEP_FILE == "sweep.json"


def test_is_run_dir(tmp_path):
    assert not is_run_dir(str(tmp_path / "missing"))
    assert not is_run_dir(str(tmp_path))                     # an empty directory
    (tmp_path / "notes.txt").write_text("x")
    assert not is_run_dir(str(tmp_path))
    assert not is_run_dir(str(tmp_path / "notes.txt"))       # a file
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").mkdir()                             # a directory named like the marker
    assert not is_run_dir(str(run))
    (run / "config.json").rmdir()
    (run / "config.json").write_text("{}")
    assert is_run_dir(str(run))
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / "sweep.json").write_text("{}")
    assert is_run_dir(str(sweep))


def test_seed_dir_and_is_sweep_dir(tmp_path):
    assert seed_dir(str(tmp_path), 3) == os.path.join(str(tmp_path), "seed_3")
    assert seed_dir("runs/s", 0) == os.path.join("runs/s", "seed_0")
    assert not is_sweep_dir(str(tmp_path))
    (tmp_path / "config.json").write_text("{}")
    assert not is_sweep_dir(str(tmp_path))                   # a run, not a sweep
    (tmp_path / "sweep.json").write_text("{}")
    assert is_sweep_dir(str(tmp_path))


# ---- the sweep record ----

def test_write_and_read_a_sweep(tmp_path):
    config = get_config("gaussian1d", ["steps=7"])
    write_sweep(str(tmp_path), config, (0, 3, 1), {3: 42}, {"version": "x"})
    assert os.listdir(tmp_path) == ["sweep.json"]           # no temporary file left behind
    record = json.loads((tmp_path / "sweep.json").read_text())
    assert record["seeds"] == [0, 3, 1]
    assert record["diverged"] == {"3": 42}
    assert record["runs"] == {"0": "seed_0", "3": "seed_3", "1": "seed_1"}
    assert record["provenance"] == {"version": "x"}
    assert record["config"]["steps"] == 7 and record["config"]["data"] == "gaussian1d"
    read_config, seeds, diverged = read_sweep(str(tmp_path))
    assert read_config == config and isinstance(read_config, Config)
    assert seeds == (0, 3, 1)
    assert diverged == {3: 42}
    assert is_sweep_dir(str(tmp_path)) and is_run_dir(str(tmp_path))


def test_rewriting_a_sweep_replaces_it(tmp_path):
    config = get_config("gaussian1d")
    write_sweep(str(tmp_path), config, (0, 1), {}, {})
    write_sweep(str(tmp_path), config, (0, 1), {0: 5, 1: 9}, {})
    assert read_sweep(str(tmp_path))[2] == {0: 5, 1: 9}
    assert os.listdir(tmp_path) == ["sweep.json"]


def _good_record():
    from gan_jax.config.schema import config_to_dict
    return {"seeds": [0, 1], "config": config_to_dict(get_config("gaussian1d")), "diverged": {}, "runs": {},
            "provenance": {}}


@pytest.mark.parametrize("damage", [
    lambda r: "{ not json",
    lambda r: b"\xff\xfe binary",
    lambda r: [1, 2],
    lambda r: {k: v for k, v in r.items() if k != "seeds"},
    lambda r: {k: v for k, v in r.items() if k != "config"},
    lambda r: dict(r, seeds=[]),
    lambda r: dict(r, seeds=[1, 1]),
    lambda r: dict(r, seeds=[-1]),
    lambda r: dict(r, seeds=["a"]),
    lambda r: dict(r, seeds=None),
    lambda r: dict(r, config=5),
    lambda r: dict(r, config={"steps": "many"}),
    lambda r: dict(r, config={"no_such_key": 1}),
    lambda r: dict(r, diverged={"x": 1}),
    lambda r: dict(r, diverged={"0": "late"}),
    # strictness: nothing is read leniently (a string digit by digit, a float rounded)
    lambda r: dict(r, seeds="12"),
    lambda r: dict(r, seeds=[1.7]),
    lambda r: dict(r, seeds=[True]),
    lambda r: dict(r, seeds={"0": 1}),
    lambda r: dict(r, config=[1, 2]),
    lambda r: dict(r, diverged=[1]),
    lambda r: dict(r, diverged="0"),
    lambda r: dict(r, diverged={"5": 3}),
    lambda r: dict(r, diverged={"0": -1}),
    lambda r: dict(r, diverged={"0": 2.5}),
])
def test_a_damaged_sweep_record_is_one_line_naming_the_file(tmp_path, damage):
    value = damage(_good_record())
    path = tmp_path / "sweep.json"
    if isinstance(value, bytes):
        path.write_bytes(value)
    else:
        path.write_text(value if isinstance(value, str) else json.dumps(value))
    refused(lambda: read_sweep(str(tmp_path)), str(path))


def test_a_missing_sweep_record(tmp_path):
    refused(lambda: read_sweep(str(tmp_path)), str(tmp_path / "sweep.json"), "does not exist")


# ---- claim_run_dir: new ----

def test_new_creates_the_directory_and_holds_its_lock(tmp_path):
    run_dir = str(tmp_path / "runs" / "a")                  # the parent is created too
    lock = claim_run_dir(run_dir, "new")
    try:
        assert os.path.isdir(run_dir) and _visible(run_dir) == []
        assert lock.fd is not None
        refused(lambda: RunLock(run_dir).acquire(), run_dir, "being written by", f"process {os.getpid()}")
    finally:
        lock.release()


@pytest.mark.parametrize("contents", [(), ("notes.txt",)])
def test_new_refuses_an_existing_directory_and_leaves_it_alone(tmp_path, contents):
    run_dir = tmp_path / "a"
    run_dir.mkdir()
    for name in contents:
        (run_dir / name).write_text("mine")
    refused(lambda: claim_run_dir(str(run_dir), "new"), str(run_dir), "exists", "--resume", "--overwrite")
    assert sorted(os.listdir(run_dir)) == sorted(contents)
    for name in contents:
        assert (run_dir / name).read_text() == "mine"


def test_new_refuses_an_existing_run(tmp_path):
    _make_run(tmp_path / "a")
    refused(lambda: claim_run_dir(str(tmp_path / "a"), "new"), "exists")
    assert (tmp_path / "a" / "metrics.jsonl").read_text() == "old metrics.jsonl"


@pytest.mark.parametrize("name", [".hidden", "a b", "-x", "a" * 129])
def test_claim_refuses_a_name_that_is_not_a_plain_folder(tmp_path, name):
    for mode in ("new", "overwrite", "resume"):
        refused(lambda mode=mode: claim_run_dir(os.path.join(str(tmp_path), name), mode), "plain folder name")
    assert os.listdir(tmp_path) == []


def test_claim_refuses_a_parent_that_is_a_file(tmp_path):
    (tmp_path / "runs").write_text("a file")
    refused(lambda: claim_run_dir(str(tmp_path / "runs" / "a"), "new"), "is a file", "--runs-dir")
    assert (tmp_path / "runs").read_text() == "a file"


# ---- claim_run_dir: overwrite ----

def test_overwrite_replaces_a_run(tmp_path):
    run_dir = str(tmp_path / "a")
    _make_run(run_dir, extra=("metrics.jsonl", "samples.png"))
    (tmp_path / "a" / "checkpoints").mkdir()
    (tmp_path / "a" / "checkpoints" / "1").write_text("ckpt")
    (tmp_path / "neighbour.txt").write_text("keep")
    lock = claim_run_dir(run_dir, "overwrite")
    try:
        assert _visible(run_dir) == []
        assert lock.fd is not None
    finally:
        lock.release()
    assert (tmp_path / "neighbour.txt").read_text() == "keep"


def test_overwrite_creates_an_absent_directory(tmp_path):
    lock = claim_run_dir(str(tmp_path / "a"), "overwrite")
    lock.release()
    assert os.path.isdir(tmp_path / "a")


@pytest.mark.parametrize("contents", [(), ("precious.txt",)])
def test_overwrite_refuses_a_directory_that_is_not_a_run(tmp_path, contents):
    run_dir = tmp_path / "a"
    run_dir.mkdir()
    for name in contents:
        (run_dir / name).write_text("mine")
    refused(lambda: claim_run_dir(str(run_dir), "overwrite"), str(run_dir), "not a gan-jax run")
    assert sorted(os.listdir(run_dir)) == sorted(contents)


def test_overwrite_refuses_a_file_in_the_way(tmp_path):
    (tmp_path / "a").write_text("a file")
    refused(lambda: claim_run_dir(str(tmp_path / "a"), "overwrite"), "not a gan-jax run")
    assert (tmp_path / "a").read_text() == "a file"


def test_overwrite_never_follows_a_symlink_inside_the_run(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "data.npz").write_text("user data")
    run_dir = tmp_path / "runs" / "a"
    _make_run(run_dir)
    os.symlink(outside, run_dir / "data")
    os.symlink(outside / "data.npz", run_dir / "file_link")
    lock = claim_run_dir(str(run_dir), "overwrite")
    lock.release()
    assert _visible(run_dir) == []
    assert os.listdir(outside) == ["data.npz"]
    assert (outside / "data.npz").read_text() == "user data"


@pytest.mark.parametrize("mode", ["overwrite", "resume"])
def test_a_run_dir_that_is_a_symlink_is_refused_without_touching_its_target(tmp_path, mode):
    """A run directory that is a link to a run elsewhere: one line, and the linked run is left
    exactly as it was (nothing deleted, no .lock written into it)."""
    outside = tmp_path / "elsewhere"
    _make_run(outside)
    (tmp_path / "runs").mkdir()
    os.symlink(outside, tmp_path / "runs" / "a")
    refused(lambda: claim_run_dir(str(tmp_path / "runs" / "a"), mode), "symbolic link", str(outside))
    assert sorted(os.listdir(outside)) == ["config.json", "metrics.jsonl"]
    assert (outside / "metrics.jsonl").read_text() == "old metrics.jsonl"
    assert os.path.islink(tmp_path / "runs" / "a")


def test_a_lock_file_that_is_a_symlink_is_refused_not_written_through(tmp_path):
    run_dir = tmp_path / "a"
    _make_run(run_dir)
    (tmp_path / "precious.txt").write_text("keep me")
    os.symlink(tmp_path / "precious.txt", run_dir / ".lock")
    refused(lambda: claim_run_dir(str(run_dir), "resume"), "symbolic link", ".lock")
    assert (tmp_path / "precious.txt").read_text() == "keep me"


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES])
@pytest.mark.parametrize("call", ["mkdir", "open"])
def test_a_read_only_or_forbidden_runs_dir_is_one_line(tmp_path, monkeypatch, code, call):
    """EROFS/EACCES from creating the run directory or its lock (simulated: tests run as root)."""
    real = getattr(os, call)

    def refuse(path, *args, **kwargs):
        if str(path).startswith(str(tmp_path)):
            raise OSError(code, os.strerror(code), str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, call, refuse)
    refused(lambda: claim_run_dir(str(tmp_path / "runs" / "a"), "new"), str(tmp_path / "runs"),
            "read-only" if code == errno.EROFS else "may not be written", "--runs-dir")
    assert not os.path.lexists(tmp_path / "runs" / "a")


def test_overwrite_refuses_a_run_that_is_being_written(tmp_path):
    run_dir = str(tmp_path / "a")
    _make_run(run_dir)
    held = RunLock(run_dir).acquire()
    try:
        refused(lambda: claim_run_dir(run_dir, "overwrite"), "being written by")
        assert _visible(run_dir) == ["config.json", "metrics.jsonl"]
    finally:
        held.release()


# ---- claim_run_dir: resume ----

def test_resume_takes_an_existing_run_and_keeps_its_files(tmp_path):
    run_dir = str(tmp_path / "a")
    _make_run(run_dir)
    lock = claim_run_dir(run_dir, "resume")
    try:
        assert _visible(run_dir) == ["config.json", "metrics.jsonl"]
        assert (tmp_path / "a" / "metrics.jsonl").read_text() == "old metrics.jsonl"
        refused(lambda: claim_run_dir(run_dir, "resume"), "being written by")
    finally:
        lock.release()
    claim_run_dir(run_dir, "resume").release()             # free again once released


def test_resume_creates_an_absent_run(tmp_path):
    lock = claim_run_dir(str(tmp_path / "a"), "resume")
    lock.release()
    assert os.path.isdir(tmp_path / "a") and _visible(str(tmp_path / "a")) == []


# ---- RunLock ----

def test_a_second_lock_is_refused_while_the_first_is_held(tmp_path):
    first = RunLock(str(tmp_path)).acquire()
    message = refused(lambda: RunLock(str(tmp_path)).acquire(), str(tmp_path), "being written by",
                       f"process {os.getpid()}", "try again")
    assert "since" in message
    first.release()
    second = RunLock(str(tmp_path)).acquire()
    second.release()


def test_the_lock_as_a_context_manager(tmp_path):
    with RunLock(str(tmp_path)) as lock:
        assert lock.fd is not None
        refused(lambda: RunLock(str(tmp_path)).acquire(), "being written by")
    assert lock.fd is None
    with RunLock(str(tmp_path)):
        pass


def test_release_is_idempotent_and_a_released_lock_can_be_taken_again(tmp_path):
    lock = RunLock(str(tmp_path))
    lock.release()                                          # never acquired: nothing to do
    lock.acquire()
    lock.release()
    lock.release()
    lock.acquire()
    refused(lambda: RunLock(str(tmp_path)).acquire(), "being written by")
    lock.release()


def test_the_lock_file_names_its_holder(tmp_path):
    with RunLock(str(tmp_path)):
        text = (tmp_path / ".lock").read_text()
        assert text.startswith(f"process {os.getpid()} on ")


def test_a_gs_run_dir_gets_the_bucket_lock_without_touching_the_network():
    lock = RunLock("gs://some-bucket/runs/a")
    assert isinstance(lock, GcsRunLock)
    assert lock.path == "gs://some-bucket/runs/a/.lock"
    assert (lock.bucket, lock.name) == ("some-bucket", "runs/a/.lock")
    assert lock.fd is None
    lock.release()                                          # not held: nothing to do
