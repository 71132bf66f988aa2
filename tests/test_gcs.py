"""Run directories in Google Cloud Storage, against a real storage server on 127.0.0.1.

The module starts one ``gcp-storage-emulator`` (in memory, bucket ``bkt``;
``tests/gcs_emulator.py`` adds the generation header and the preconditions
Cloud Storage has and the emulator lacks) on a free port and points every client at it through
``STORAGE_EMULATOR_HOST`` alone: gcsfs reads it, and gan_jax derives tensorstore's
``TENSORSTORE_GCS_HTTP_URL`` (orbax's arrays) from it; Google's metadata server is pointed at a closed
local port, so nothing leaves 127.0.0.1. ``GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT``
is off (``conftest.py``): gcsfs's experimental file system first asks for the
bucket's layout over gRPC, which the emulator does not serve, and waits 60 s.

A tiny run is trained into the bucket, killed with SIGKILL after a
checkpoint, resumed to the end and compared bit for bit with an
uninterrupted local run; ``sample`` and ``eval`` read it from the bucket;
the 2-process run writes into the bucket; bad locations are one line and
exit status 2.
"""

import json
import os
import signal
import socket
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
from tiny_config import TINY_TOY

from gan_jax.config.schema import get_config
from gan_jax.errors import UserError
from gan_jax.io import paths
from gan_jax.runs.checkpoint import restore_run
from gan_jax.train.loop import train

BUCKET = "bkt"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def gcs():
    """A storage emulator on 127.0.0.1 with the bucket ``bkt``; the environment points at it."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "gcs_emulator.py"), "start", "--host=127.0.0.1", f"--port={port}", "--in-memory", f"--default-bucket={BUCKET}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert server.poll() is None and time.time() < deadline, "the storage emulator did not start"
            time.sleep(0.1)
    url = f"http://127.0.0.1:{port}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STORAGE_EMULATOR_HOST", url)
        mp.delenv("TENSORSTORE_GCS_HTTP_URL", raising=False)   # derived from STORAGE_EMULATOR_HOST
        mp.delenv(paths.STORAGE_TIMEOUT_ENV, raising=False)
        closed = f"127.0.0.1:{_free_port()}"   # nothing listens: credential look-ups fail fast, locally
        mp.setenv("GCE_METADATA_HOST", closed)
        mp.setenv("GCE_METADATA_IP", closed)
        mp.setenv("GCE_METADATA_ROOT", closed)
        mp.setenv("EPATH_USE_TF", "false")
        yield url
    server.terminate()
    server.wait(timeout=30)


def _steps_logged(run_dir):
    return [json.loads(line)["step"] for line in paths.read_text(paths.join(run_dir, "metrics.jsonl")).splitlines()]


def test_gs_paths_use_gcsfs_without_the_grpc_probe(gcs):
    """The client the code uses: epath (and so orbax) goes through fsspec's gcsfs, not
    tf.io.gfile, and gcsfs is its core file system (no gRPC bucket-layout probe)."""
    import gcsfs.core
    from etils import epath
    from etils.epath import backend
    paths.check_location(f"gs://{BUCKET}/x", "test")
    assert epath.Path(f"gs://{BUCKET}/x")._backend is backend.fsspec_backend
    assert type(paths.gcs_filesystem()) is gcsfs.core.GCSFileSystem
    start = time.time()
    paths.write_text(f"gs://{BUCKET}/probe/a.txt", "one")
    assert paths.read_text(f"gs://{BUCKET}/probe/a.txt") == "one"
    assert paths.listdir(f"gs://{BUCKET}/probe") == ["a.txt"]
    paths.move_tree(f"gs://{BUCKET}/probe", f"gs://{BUCKET}/probe2")
    assert paths.listdir(f"gs://{BUCKET}/probe2") == ["a.txt"] and not paths.exists(f"gs://{BUCKET}/probe")
    assert time.time() - start < 10


def test_one_emulator_variable_configures_both_clients(gcs, monkeypatch):
    """STORAGE_EMULATOR_HOST (with or without a scheme) also points tensorstore at the emulator
    unless TENSORSTORE_GCS_HTTP_URL is set; every checkpoint in this module relies on it."""
    paths.check_location(f"gs://{BUCKET}/x", "test")
    assert os.environ["TENSORSTORE_GCS_HTTP_URL"] == gcs
    monkeypatch.delenv("TENSORSTORE_GCS_HTTP_URL")
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs[len("http://"):])
    paths.configure_gcs_clients()
    assert os.environ["TENSORSTORE_GCS_HTTP_URL"] == gcs
    monkeypatch.setenv("TENSORSTORE_GCS_HTTP_URL", "http://127.0.0.1:1")   # the user's own is kept
    paths.configure_gcs_clients()
    assert os.environ["TENSORSTORE_GCS_HTTP_URL"] == "http://127.0.0.1:1"
    for bad in ("0", "-3", "soon", "1e9", "nan"):
        monkeypatch.setenv(paths.STORAGE_TIMEOUT_ENV, bad)
        with pytest.raises(UserError, match="GAN_JAX_STORAGE_TIMEOUT=.* is not a number of seconds"):
            paths.check_location(f"gs://{BUCKET}/x", "test")


def test_an_unreachable_array_store_ends_in_one_line(gcs, monkeypatch):
    """gcsfs reaches the bucket but tensorstore (orbax's arrays) cannot: the checkpoint write ends
    in one line naming the checkpoint within a bounded time, instead of retrying for 15 minutes."""
    from gan_jax.core.state import GANState
    from gan_jax.runs.checkpoint import Checkpointer
    weights = {"w": jax.numpy.zeros(2)}   # a small state: what is saved does not matter here
    state = GANState(step=jax.numpy.asarray(0), g_params=weights, d_params=weights, g_batch_stats={},
                     d_batch_stats={}, g_opt_state=(), d_opt_state=(), generator=None, discriminator=None,
                     g_tx=None, d_tx=None)
    monkeypatch.setenv("TENSORSTORE_GCS_HTTP_URL", f"http://127.0.0.1:{_free_port()}")   # nothing listens
    monkeypatch.setenv(paths.STORAGE_TIMEOUT_ENV, "0.2")
    config = get_config("gaussian1d", TINY_TOY)
    run_dir = paths.check_location(f"gs://{BUCKET}/unreachable/r")
    checkpointer = Checkpointer(run_dir)
    start = time.time()
    try:
        with pytest.raises(UserError) as refused:
            checkpointer.save(state, config, 0)
    finally:
        checkpointer.close()
    message = str(refused.value)
    assert "\n" not in message and message.startswith(f"could not write {run_dir}/checkpoints/0: storage did not "
                                                      "answer within 0.2 s"), message
    assert "TENSORSTORE_GCS_HTTP_URL=http://127.0.0.1:" in message and "gan-jax resume" in message
    assert time.time() - start < 30


def test_a_store_that_never_answers_ends_in_one_line(gcs, monkeypatch):
    """A server that accepts connections and never answers: gcsfs's requests end after
    GAN_JAX_STORAGE_TIMEOUT seconds with one line naming the location."""
    import fsspec.config
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)   # the kernel accepts; nobody answers
    monkeypatch.setitem(fsspec.config.conf.setdefault("gcs", {}), "requests_timeout", None)   # restored after
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{server.getsockname()[1]}")
    monkeypatch.setenv(paths.STORAGE_TIMEOUT_ENV, "0.5")
    try:
        start = time.time()
        with pytest.raises(UserError, match=r"^could not reach gs://bkt/silent: storage did not answer within 0.5 s"):
            paths.check_location(f"gs://{BUCKET}/silent", "test")
        with pytest.raises(UserError, match=r"^could not read gs://bkt/silent/a.txt: storage did not answer"):
            paths.read_text(f"gs://{BUCKET}/silent/a.txt")
        from gan_jax.runs.layout import GcsRunLock
        with pytest.raises(UserError, match=r"^could not write gs://bkt/silent/run/.lock: storage did not answer"):
            GcsRunLock(f"gs://{BUCKET}/silent/run").acquire()
        assert time.time() - start < 15
    finally:
        server.close()


# Runs gan-jax; it stops for good (sleeps) right after the checkpoint save number PAUSE_AFTER_SAVE,
# having touched PAUSE_FLAG, so that the test kills it at a known point.
_DRIVER = textwrap.dedent("""
    import os, sys, time
    import gan_jax.runs.checkpoint as checkpoint
    pause_after, flag = int(os.environ["PAUSE_AFTER_SAVE"]), os.environ["PAUSE_FLAG"]
    original, calls = checkpoint.Checkpointer.save, []
    def save(self, *args, **kwargs):
        step = original(self, *args, **kwargs)
        calls.append(step)
        if len(calls) == pause_after:
            open(flag, "w").close()
            time.sleep(600)
        return step
    checkpoint.Checkpointer.save = save
    from gan_jax.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def test_a_run_in_a_bucket_killed_and_resumed_equals_a_local_run(gcs, tmp_path, capsys):
    runs, steps = f"gs://{BUCKET}/runs", 12
    run_dir = f"{runs}/r"
    overrides = [f"steps={steps}", "checkpoint_every=4", "log_every=1"]
    driver = tmp_path / "driver.py"
    driver.write_text(_DRIVER)
    flag = tmp_path / "paused"
    env = dict(os.environ, PAUSE_AFTER_SAVE="2", PAUSE_FLAG=str(flag))
    proc = subprocess.Popen([sys.executable, str(driver), "train", "--config", "gaussian1d", *TINY_TOY, *overrides,
                             "--runs-dir", runs, "--name", "r", "--no-progress"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 50
    while not flag.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None and flag.exists(), proc.stderr.read() if proc.poll() is not None else "no pause"
    # Killed after checkpoint 8: its lock object stays behind, its rows up to 8 are in the bucket.
    lock = json.loads(paths.read_text(f"{run_dir}/.lock"))
    assert lock["pid"] == proc.pid
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _steps_logged(run_dir)[:8] == list(range(1, 9))

    # A second writer is refused while a live process holds the lock.
    from gan_jax.errors import UserError
    from gan_jax.runs.layout import GcsRunLock, RunLock
    held = RunLock(run_dir).acquire()   # the killed process's lock is stale (its process is gone): taken over
    assert isinstance(held, GcsRunLock)
    with pytest.raises(UserError, match="is being written by process"):
        RunLock(run_dir).acquire()
    held.release()

    code, out, err = _run(capsys, "resume", run_dir, "--no-progress")
    assert code == 0, err
    assert "resumed gs://bkt/runs/r at step 8" in out
    _, resumed = restore_run(run_dir)
    whole = train(get_config("gaussian1d", TINY_TOY + overrides), str(tmp_path / "whole"),
                  progress=False, echo=lambda *a: None)
    assert int(resumed.step) == steps and _same_state(resumed, whole)
    assert _steps_logged(run_dir) == list(range(1, steps + 1)), "each step logged exactly once"
    names = paths.listdir(run_dir)
    assert {"config.json", "provenance.json", "metrics.jsonl", "tensorboard", "samples", "curves.png",
            "checkpoints"} <= set(names) and ".lock" not in names, names
    assert len(paths.listdir(f"{run_dir}/tensorboard")) == 2   # one event file per process that trained
    assert "final.png" in paths.listdir(f"{run_dir}/samples")
    assert json.loads(paths.read_text(f"{run_dir}/provenance.json"))["resumes"]


def test_sample_and_eval_read_a_run_from_the_bucket(gcs, tmp_path, capsys):
    """A sweep trains into the bucket; sample and eval take one of its gs:// seed runs;
    their outputs go to a local file or the bucket."""
    runs = f"gs://{BUCKET}/sampled"
    code, _, err = _run(capsys, "train", "--config", "gaussian1d", *TINY_TOY, "steps=2", "--runs-dir", runs,
                        "--name", "r", "--seeds", "0,1", "--no-progress")
    assert code == 0, err
    assert json.loads(paths.read_text(f"{runs}/r/sweep.json"))["seeds"] == [0, 1]
    assert paths.isfile(f"{runs}/r/seed_1/config.json") and _steps_logged(f"{runs}/r/seed_1") == [2]
    run_dir = f"{runs}/r/seed_0"
    code, out, err = _run(capsys, "sample", "--checkpoint", run_dir, "-n", "20", "--out", str(tmp_path / "s.npz"))
    assert code == 0, err
    with np.load(tmp_path / "s.npz") as f:
        local_samples = f["samples"]
    assert local_samples.shape == (20, 1)
    code, out, err = _run(capsys, "sample", "--checkpoint", run_dir, "-n", "20", "--out", f"{runs}/s.npz")
    assert code == 0, err
    with paths.open_for_reading(f"{runs}/s.npz") as raw, np.load(raw) as f:
        np.testing.assert_array_equal(f["samples"], local_samples)
    code, _, err = _run(capsys, "sample", "--checkpoint", run_dir, "-n", "20", "--out", f"{runs}/s.npz")
    _assert_one_line_error(code, err, "exists; pass --overwrite")
    code, out, err = _run(capsys, "eval", run_dir, "-n", "50", "--no-progress")
    assert code == 0, err
    result = json.loads(paths.read_text(f"{run_dir}/eval.json"))
    assert result["n_generated"] == 50 and paths.isfile(f"{run_dir}/eval.png")


def test_bad_locations_are_one_line_and_exit_status_2(gcs, tmp_path, capsys, monkeypatch):
    train_args = ["train", "--config", "gaussian1d", *TINY_TOY, "steps=1", "--name", "r", "--no-progress"]
    code, _, err = _run(capsys, *train_args, "--runs-dir", "gs://no-such-bucket/runs")
    _assert_one_line_error(code, err, "the bucket gs://no-such-bucket does not exist", "gcloud storage buckets create")
    for argv in (["resume", "gs://no-such-bucket/runs/r"], ["eval", "gs://no-such-bucket/runs/r"],
                 ["sample", "--checkpoint", "gs://no-such-bucket/r", "--out", str(tmp_path / "s.png")]):
        code, _, err = _run(capsys, *argv)
        _assert_one_line_error(code, err, "gs://no-such-bucket does not exist")
    code, _, err = _run(capsys, *train_args, "--runs-dir", "s3://bkt/runs")
    _assert_one_line_error(code, err, "the URL scheme s3:// is not supported", "gs://BUCKET")
    code, _, err = _run(capsys, "fid", "--real", "digits", "--fake", "npz:https://example.com/x.npz")
    _assert_one_line_error(code, err, "the URL scheme https:// is not supported")
    code, _, err = _run(capsys, *train_args, "--runs-dir", "gs://Bad_Bucket!/runs")
    _assert_one_line_error(code, err, "is not a valid bucket name")
    assert not tmp_path.joinpath("s.png").exists()
    # No credentials: without an emulator gan-jax asks Google's default credentials first.
    monkeypatch.delenv("STORAGE_EMULATOR_HOST")
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "no_gcloud"))
    start = time.time()
    code, _, err = _run(capsys, *train_args, "--runs-dir", f"gs://{BUCKET}/runs")
    _assert_one_line_error(code, err, "no Google Cloud credentials", "gcloud auth application-default login")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing-key.json"))
    code, _, err = _run(capsys, "resume", f"gs://{BUCKET}/runs/r")
    _assert_one_line_error(code, err, "no Google Cloud credentials", "GOOGLE_APPLICATION_CREDENTIALS")
    assert time.time() - start < 30
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs)
    assert not paths.exists(f"gs://{BUCKET}/runs/r/config.json") or paths.isfile(f"gs://{BUCKET}/runs/r/config.json")


def test_a_stale_lock_is_taken_over_and_a_live_one_refuses(gcs):
    from gan_jax.errors import UserError
    from gan_jax.runs.layout import GcsRunLock, claim_run_dir
    run_dir = f"gs://{BUCKET}/locks/a"
    first = claim_run_dir(run_dir, "new")
    with pytest.raises(UserError, match="is being written by process"):
        claim_run_dir(run_dir, "resume")
    # Creation is conditional (ifGenerationMatch=0): of two claimants that both found no lock,
    # the second upload is refused by the store.
    racer = GcsRunLock(run_dir)
    with pytest.raises(FileExistsError):
        racer._upload({"holder": "a racer"}, 0)
    # The holder renews its heartbeat; once it stops (a holder on another host that died),
    # the lock goes stale after ttl seconds and is taken over.
    first.release()
    short = GcsRunLock(run_dir, ttl=0.5).acquire()
    generation = short.generation
    time.sleep(0.4)
    assert short.generation != generation and short.lost is None   # renewed
    short._stop.set()
    short._thread.join()
    record = json.loads(paths.read_text(f"{run_dir}/.lock"))
    record["host"] = "another-host"
    paths.write_text(f"{run_dir}/.lock", json.dumps(record))
    with pytest.raises(UserError, match="is being written by process"):
        GcsRunLock(run_dir, ttl=0.5).acquire()
    time.sleep(0.6)
    taken = GcsRunLock(run_dir, ttl=0.5).acquire()
    assert json.loads(paths.read_text(f"{run_dir}/.lock"))["token"] == taken.record["token"]
    taken.release()
    assert not paths.exists(f"{run_dir}/.lock")


# One process of a 2-host run of the toy GAN (2 processes x 2 CPU devices): `gan-jax train` for
# 2 steps into the bucket, then `gan-jax resume` to 3, through the multi-host options.
def test_two_hosts_write_one_run_into_the_bucket(gcs, tmp_path):
    """A multi-host run (2 processes x 2 CPU devices joined by jax.distributed, Gloo, each feeding
    its half of every global batch) with a gs:// runs directory trains, checkpoints and resumes to
    the parameters of the one-device loop; process 0 alone writes the logs and prints, every
    process takes part in the checkpoints, and the run restores from the bucket."""
    import multihost
    reference = multihost.start_one_device_loop(tmp_path)   # runs beside the two hosts
    runs = f"gs://{BUCKET}/hosts"
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
    coordinator = f"127.0.0.1:{_free_port()}"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    procs = [subprocess.Popen([sys.executable, "-c", multihost.HOST_SCRIPT, runs, coordinator, str(i)], env=env,
                              cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for i, (p, (out, err)) in enumerate(zip(procs, outs)):
        assert p.returncode == 0, f"process {i}: {err[-3000:]}"
    one = multihost.finish_one_device_loop(*reference)
    assert outs[0][0].count("run directory: gs://bkt/hosts/run") == 2 and "run directory:" not in outs[1][0], outs
    assert "(4 device(s), 2 processes)" in outs[0][0] and "resumed" in outs[0][0]
    assert all("batch_size=6 does not split over 4 devices" in err for _, err in outs), outs
    _, state = restore_run(f"{runs}/run")
    assert int(state.step) == 3
    two_hosts = jax.device_get(jax.tree.leaves((state.g_params, state.d_params, state.d_batch_stats)))
    assert len(one) == len(two_hosts) > 0
    for a, b in zip(one, two_hosts):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert _steps_logged(f"{runs}/run") == [1, 2, 3]   # one writer, no duplicate rows
    assert len(paths.listdir(f"{runs}/run/tensorboard")) == 2   # process 0's train and resume only
    assert paths.listdir(f"{runs}/run/checkpoints") == ["2", "3"]
    assert not paths.exists(f"{runs}/run/.lock")
