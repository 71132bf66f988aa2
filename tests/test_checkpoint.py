"""Checkpoints hold the whole run: resuming continues exactly, a killed run
restores from its last complete checkpoint, and mismatches are clear errors."""

import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from gan_jax.checkpoint import Checkpointer, restore_run
from gan_jax.config import get_config
from gan_jax.errors import UserError
from gan_jax.loop import train

TINY_DIGITS = ["g_width=4", "d_width=4", "latent_dim=8", "batch_size=32", "log_every=5",
               "sample_every=1000", "checkpoint_every=20", "grid_samples=4"]


def _quiet(*_):
    pass


def test_resume_continues_exactly(tmp_path):
    # 1797 // 32 = 56 batches an epoch: 2 x 20 steps stays within one epoch, so
    # also run past an epoch boundary with 2 x 30 steps.
    n = 30
    overrides = TINY_DIGITS + [f"checkpoint_every={n}"]
    full = train(get_config("digits_dcgan", overrides + [f"steps={2 * n}"]), str(tmp_path / "full"),
                 progress=False, echo=_quiet)
    half_dir = str(tmp_path / "half")
    train(get_config("digits_dcgan", overrides + [f"steps={n}"]), half_dir, progress=False, echo=_quiet)
    resumed = train(get_config("digits_dcgan", overrides + [f"steps={2 * n}"]), half_dir, resume=True,
                    progress=False, echo=_quiet)
    assert int(resumed.step) == 2 * n
    for name in ("g_params", "d_params", "g_batch_stats", "d_batch_stats", "g_opt_state", "d_opt_state"):
        a, b = getattr(full, name), getattr(resumed, name)
        assert all(jax.tree.leaves(jax.tree.map(lambda x, y: bool(np.array_equal(x, y)), a, b))), name
    _, restored = restore_run(half_dir)
    assert int(restored.step) == 2 * n


def test_checkpoint_of_another_model_is_a_clear_error(tmp_path):
    run_dir = str(tmp_path / "run")
    train(get_config("gaussian1d", ["steps=2", "log_every=1", "checkpoint_every=2"]), run_dir,
          progress=False, echo=_quiet)
    from gan_jax.build import init_state
    other = init_state(get_config("gaussian1d", ["mlp_hidden=8"]))
    checkpointer = Checkpointer(run_dir)
    with pytest.raises(UserError, match="does not match the config"):
        checkpointer.restore(other)
    checkpointer.close()
    with pytest.raises(UserError, match="not a gan-jax run directory"):
        restore_run(str(tmp_path))


def test_run_killed_with_sigkill_resumes_from_last_complete_checkpoint(tmp_path):
    run_dir = tmp_path / "killed"
    cmd = [sys.executable, "-m", "gan_jax.cli", "train", "--config", "gaussian1d", "--name", "killed",
           "--runs-dir", str(tmp_path), "--no-progress", "steps=1000000", "checkpoint_every=25",
           "log_every=25", "sample_every=1000000"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt_dir = run_dir / "checkpoints"
    deadline = time.time() + 240
    while time.time() < deadline:
        steps = [d for d in os.listdir(ckpt_dir) if d.isdigit()] if ckpt_dir.exists() else []
        if len(steps) >= 2:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert len(steps) >= 2, "no checkpoints were written before the deadline"
    config, state = restore_run(str(run_dir))
    assert int(state.step) % 25 == 0 and int(state.step) >= 50
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(state.g_params))
    resumed = train(config.__class__(**{**config.__dict__, "steps": int(state.step) + 5}), str(run_dir),
                    resume=True, progress=False, echo=_quiet)
    assert int(resumed.step) == int(state.step) + 5
