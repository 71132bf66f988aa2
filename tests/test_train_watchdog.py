"""The watchdog of long runs (``--watchdog SECONDS``): a run whose steps stop finishing ends
with status 3, naming its last step and showing every Python thread's stack, so that a
scheduler can resume it; a run that keeps finishing steps is left alone."""

import os
import subprocess
import sys
import textwrap
import time

import pytest
from cli_checks import assert_one_line_error, run_cli
from tiny_config import TINY_TOY

from gan_jax.train import loop
from gan_jax.train.watchdog import EXIT_STATUS, Watchdog

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Step 7 finishes, then the main thread stops making progress (sleeps where a stuck XLA call would wait).
_STALLED = textwrap.dedent("""
    import time
    from gan_jax.train.watchdog import Watchdog
    def wait_for_the_device():
        time.sleep(30)
    dog = Watchdog(0.3)
    dog.beat(7)
    wait_for_the_device()
""")


def test_a_stalled_run_ends_with_status_3_naming_its_step_and_every_stack():
    start = time.time()
    proc = subprocess.run([sys.executable, "-c", _STALLED], cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT),
                          capture_output=True, text=True, timeout=60)
    elapsed = time.time() - start
    assert proc.returncode == EXIT_STATUS, proc.stderr
    first, rest = proc.stderr.split("\n", 1)
    assert "no training step finished within 0.3 s (the last step finished was 7)" in first
    assert "gan-jax resume" in first and "native threads are not shown" in first
    assert "wait_for_the_device" in rest   # the main thread's stack, where it waits
    assert rest.count("Thread 0x") + rest.count("Current thread 0x") >= 2      # every thread, the watchdog's too
    assert elapsed < 25


def test_a_run_that_keeps_finishing_steps_is_left_alone():
    fired = []
    with Watchdog(0.2, exit_process=fired.append) as dog:
        for step in range(1, 9):
            time.sleep(0.05)
            dog.beat(step)
    time.sleep(0.3)   # closed: no longer watching
    assert fired == [] and not dog._thread.is_alive()


def test_the_first_step_gets_its_own_allowance(capfd):
    """Compilation: before the first beat the limit is first_seconds; after it, seconds."""
    fired = []
    dog = Watchdog(0.1, first_seconds=0.6, exit_process=fired.append)
    time.sleep(0.3)
    assert fired == []
    dog.beat(1)
    deadline = time.time() + 5
    while not fired and time.time() < deadline:
        time.sleep(0.02)
    dog.close()
    assert fired == [EXIT_STATUS]
    assert "the last step finished was 1" in capfd.readouterr().err


def test_train_beats_once_per_chunk_and_refuses_bad_seconds(capsys, tmp_path, monkeypatch):
    made, beats = [], []

    class Recording(Watchdog):
        def __init__(self, seconds, *args, **kwargs):
            made.append(seconds)
            super().__init__(seconds, *args, **kwargs)

        def beat(self, step):
            beats.append(step)
            super().beat(step)

    monkeypatch.setattr(loop, "Watchdog", Recording)
    code, _, err = run_cli(capsys, "train", "--config", "gaussian1d", *TINY_TOY, "steps=2", "log_every=1",
                           "--runs-dir", str(tmp_path), "--name", "r", "--no-progress", "--watchdog", "600")
    assert code == 0, err
    assert made == [600.0] and beats == [1, 2]
    for bad in ("0", "-5", "soon", "inf", "nan", "1e9"):
        with pytest.raises(SystemExit) as exited:   # argparse's one-line usage error
            run_cli(capsys, "resume", str(tmp_path / "r"), "steps=3", "--watchdog", bad)
        assert_one_line_error(exited.value.code, capsys.readouterr().err, f"--watchdog: {bad}: ", "at most 604800")
