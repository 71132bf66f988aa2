"""The project's own code compiles the training program once per setting: a resume and a
second sweep of the same config in the same process reuse it (no silent recompiles)."""

import jax
from cli_checks import run_cli
from tiny_config import TINY_TOY

from gan_jax.config.schema import get_config
from gan_jax.data.sources import make_source
from gan_jax.train.driver import train_members
from gan_jax.train.parallel import make_mesh
from gan_jax.train.sweep import make_chunk_fn


def _backend_compiles():
    """A list that grows by one entry per XLA backend compilation from now on."""
    seen = []
    jax.monitoring.register_event_duration_secs_listener(
        lambda event, duration, **kw: seen.append(event) if event == "/jax/core/compile/backend_compile_duration"
        else None)
    return seen


def test_a_resume_and_a_second_sweep_reuse_the_compiled_program(tmp_path, capsys):
    overrides = TINY_TOY + ["steps=4", "steps_per_call=2", "log_every=2", "checkpoint_every=2", "eval_every=0"]
    config = get_config("gaussian1d", overrides)
    program = make_chunk_fn(config, make_source(config), make_mesh())   # the command line's: on a device mesh
    assert make_chunk_fn(get_config("gaussian1d", overrides), make_source(config), make_mesh()) is program

    # (Earlier tests in this process may have filled the same caches: count what is added.)
    code, _, err = run_cli(capsys, "train", "--config", "gaussian1d", *overrides, "--runs-dir", str(tmp_path),
                           "--name", "run", "--no-progress")
    assert code == 0, err
    trained = program._cache_size()
    assert trained >= 1
    compiles = _backend_compiles()
    code, _, err = run_cli(capsys, "resume", str(tmp_path / "run"), "steps=8", "--no-progress")
    assert code == 0, err
    assert program._cache_size() == trained      # the resumed run ran the same compiled chunk

    in_memory = make_chunk_fn(config, make_source(config))   # train_members' (no mesh)
    train_members(config, [0, 1])                # a sweep of two seeds
    swept, before = in_memory._cache_size(), len(compiles)
    train_members(config, [5, 6])                # another sweep of the same config and width
    assert in_memory._cache_size() == swept and len(compiles) == before   # nothing compiled at all
