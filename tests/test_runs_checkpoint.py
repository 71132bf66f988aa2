"""Checkpoints hold the whole run: resuming continues exactly, and mismatches
are clear errors. (Kills, damage and full disks: tests/test_hardening.py.)"""

import jax
import numpy as np
import pytest
from tiny_config import TINY_DIGITS

from gan_jax.config.build import init_state
from gan_jax.config.schema import get_config
from gan_jax.errors import UserError
from gan_jax.runs.checkpoint import Checkpointer, restore_run
from gan_jax.train.loop import train

TINY_DIGITS = TINY_DIGITS + ["log_every=5", "checkpoint_every=20"]


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
    other = init_state(get_config("gaussian1d", ["mlp_hidden=8"]))
    checkpointer = Checkpointer(run_dir)
    with pytest.raises(UserError, match="does not match the config"):
        checkpointer.restore(other)
    checkpointer.close()
    with pytest.raises(UserError, match="not a gan-jax run directory"):
        restore_run(str(tmp_path))


def _equal_trees(a, b) -> bool:
    return jax.tree.structure(a) == jax.tree.structure(b) and all(
        np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_resume_with_generator_averaging_continues_exactly_and_can_switch_it_off(tmp_path):
    toy = ["mlp_hidden=16", "latent_dim=4", "batch_size=32", "log_every=2", "checkpoint_every=4",
           "sample_every=1000000", "eval_every=0", "g_average_decay=0.9"]
    full = train(get_config("gaussian1d", toy + ["steps=8"]), str(tmp_path / "full"), progress=False,
                 echo=_quiet)
    half = str(tmp_path / "half")
    train(get_config("gaussian1d", toy + ["steps=4"]), half, progress=False, echo=_quiet)
    resumed = train(get_config("gaussian1d", toy + ["steps=8"]), half, resume=True, progress=False,
                    echo=_quiet)
    assert full.g_average is not None and _equal_trees(full, resumed)
    # Switched off (g_average_decay=0 at a resume), the saved average is dropped. (Switched on for a
    # checkpoint without one: tests/test_release_compat.py.)
    off = Checkpointer(str(tmp_path / "full"))
    dropped, _ = off.restore(jax.eval_shape(lambda: init_state(get_config("gaussian1d", toy + ["g_average_decay=0"]))))
    off.close()
    assert dropped.g_average is None and _equal_trees(dropped.g_params, full.g_params)
