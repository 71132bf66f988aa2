"""The sweep trainer: N seeds vmapped in one compiled program (gan_jax.train.sweep, gan_jax.train.loop).

What is checked: member s of a sweep computes what a single run with seed s
computes; a sweep resumes as a whole, bit-identical to an uninterrupted one
(also from a step where one seed had saved more than another); a seed that
diverges is frozen at its last finite state while the others go on; seed
directories are ordinary runs for ``sample`` and ``eval``; every bad input is
one line with exit status 2.
"""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from cli_checks import run_cli as _run
from cli_checks import same_state as _same_state
from tiny_config import TINY_TOY

import gan_jax.train.loop as loop
from gan_jax.config.schema import get_config, parse_seeds
from gan_jax.errors import UserError
from gan_jax.runs.checkpoint import Checkpointer, restore_run
from gan_jax.train import memory, sweep
from gan_jax.train.driver import train_members

SEEDS = "3,5"


def _train(runs, name, *overrides, seeds=SEEDS):
    return ["train", "--config", "gaussian1d", *TINY_TOY, "steps_per_call=4", "log_every=4",
            *overrides, "--runs-dir", str(runs), "--name", name, "--seeds", seeds, "--no-progress"]


@pytest.mark.parametrize("text, fragment", [
    ("", "empty"), ("1,,2", "empty"), ("1,1", "repeats 1"), ("a", "'a' is not"), ("-3", "not a non-negative"),
    ("4-2", "not a non-negative"), ("1.5", "not a non-negative"), ("2147483648", "outside"),
])
def test_bad_seed_lists_are_refused(text, fragment):
    with pytest.raises(UserError, match=fragment):
        parse_seeds(text)
    assert parse_seeds("0-2,7") == (0, 1, 2, 7)


def test_chunk_stops_are_multiples_of_the_call_length_and_of_every_event():
    assert sweep.chunk_stops(0, 10, 4) == [4, 8, 10]
    assert sweep.chunk_stops(4, 10, 4, (3,)) == [6, 8, 9, 10]
    assert sweep.chunk_stops(10, 10, 4) == []


def test_a_member_of_a_sweep_is_the_single_run_with_its_seed():
    config = get_config("gaussian1d", TINY_TOY + ["steps=12", "steps_per_call=4"])
    together, diverged = train_members(config, [3, 5])
    alone, _ = train_members(config, [5])
    assert diverged == {}
    for x, y in zip(jax.tree.leaves(sweep.member(together, 1)), jax.tree.leaves(sweep.member(alone, 0))):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-5, atol=1e-6)
    # Different seeds train different generators.
    assert not _same_state(sweep.member(together, 0).g_params, sweep.member(together, 1).g_params)
    assert int(sweep.member(together, 0).step) == 12


def test_a_second_sweep_of_the_same_config_reuses_the_compiled_program():
    # JAX keys its compiled programs on the state's static fields (modules, optimisers):
    # two fresh inits of one config must give the same tree, or each run compiles again.
    config = get_config("gaussian1d", TINY_TOY + ["steps=4", "steps_per_call=4"])
    a, b = sweep.init_members(config, [0]), sweep.init_members(config, [1])
    assert jax.tree.structure(a) == jax.tree.structure(b)
    from gan_jax.config.build import init_state
    assert jax.tree.structure(init_state(config)) == jax.tree.structure(init_state(config))
    traces = []
    step = jax.jit(lambda state: (traces.append(1), state.step + 1)[1])
    step(sweep.member(a, 0)), step(sweep.member(b, 0))
    assert len(traces) == 1


def test_a_step_that_makes_a_member_non_finite_freezes_it_and_leaves_the_others():
    config = get_config("gaussian1d", TINY_TOY + ["steps=2"])
    states = sweep.init_members(config, [0, 1])
    # Member 1's discriminator is scaled past float32's range after one step: inf.
    blown = jax.tree.map(lambda x: x.at[1].multiply(1e36) if x.ndim > 1 else x, states.d_params)
    states = states.replace(d_params=blown)
    before = jax.tree.map(np.asarray, states)
    chunk = sweep.make_chunk_fn(config)
    images = np.random.default_rng(0).normal(size=(3, 2, 1, 32, 1)).astype(np.float32)
    out, alive, died_at, metrics = chunk(states, jnp.ones(2, bool), jnp.full(2, -1, jnp.int32),
                                         jnp.asarray([0, 1], jnp.int32), jnp.int32(7), images, None)
    assert np.asarray(alive).tolist() == [True, False]
    assert int(died_at[1]) == 7   # the first step of the chunk was refused
    assert _same_state(sweep.member(out, 1), sweep.member(before, 1))
    assert int(out.step[0]) == int(before.step[0]) + 3
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(out))


def test_a_sweep_resumes_as_a_whole_bit_identical_to_an_uninterrupted_one(tmp_path, capsys):
    runs = tmp_path / "runs"
    code, out, err = _run(capsys, *_train(runs, "whole", "steps=16", "checkpoint_every=4"))
    assert code == 0, err
    assert "sweep directory" in out
    record = json.load(open(runs / "whole" / "sweep.json"))
    assert record["seeds"] == [3, 5] and record["diverged"] == {}
    code, _, err = _run(capsys, *_train(runs, "cut", "steps=8", "checkpoint_every=4"))
    assert code == 0, err
    # One seed saved a step the other did not (a kill between the two saves): the
    # sweep restarts from the step both have.
    Checkpointer(str(runs / "cut" / "seed_5")).manager.delete(8)
    code, out, err = _run(capsys, "resume", str(runs / "cut"), "steps=16", "--no-progress")
    assert code == 0, err
    assert f"resumed {runs / 'cut'} at step 4" in out
    for seed in (3, 5):
        _, whole = restore_run(str(runs / "whole" / f"seed_{seed}"))
        _, cut = restore_run(str(runs / "cut" / f"seed_{seed}"))
        assert int(cut.step) == 16 and _same_state(whole, cut), seed
        steps = [json.loads(line)["step"] for line in open(runs / "cut" / f"seed_{seed}" / "metrics.jsonl")]
        assert steps == sorted(set(steps)) == [4, 8, 12, 16]
    # A seed directory is an ordinary run for sample and eval.
    out_path = tmp_path / "s.npz"
    code, _, err = _run(capsys, "sample", "--checkpoint", str(runs / "cut" / "seed_3"), "-n", "10",
                        "--out", str(out_path))
    assert code == 0, err
    assert np.load(out_path)["samples"].shape == (10, 1)
    code, _, err = _run(capsys, "sample", "--checkpoint", str(runs / "cut"), "-n", "10", "--out",
                        str(tmp_path / "t.npz"))
    assert code == 2 and "is a sweep of 2 runs" in err and "seed_3" in err and err.count("\n") == 1
    # A sweep resumes as a whole, with its own seeds.
    code, _, err = _run(capsys, "resume", str(runs / "cut"), "--seeds", "3,5", "--no-progress")
    assert code == 2 and "a sweep resumes as a whole" in err and err.count("\n") == 1
    code, _, err = _run(capsys, *_train(runs, "cut", "steps=20", "--resume", seeds="3,4"))
    assert code == 2 and "a sweep resumes as a whole" in err and err.count("\n") == 1


def test_a_diverging_seed_is_frozen_and_marked_while_the_others_finish(tmp_path, monkeypatch, capsys):
    original = loop.init_members

    def one_blows_up(config, seeds):
        states = original(config, seeds)
        return states.replace(d_params=jax.tree.map(lambda x: x.at[1].multiply(1e36) if x.ndim > 1 else x,
                                                    states.d_params))
    monkeypatch.setattr(loop, "init_members", one_blows_up)
    runs = tmp_path / "runs"
    code, out, err = _run(capsys, *_train(runs, "nan", "steps=12", "checkpoint_every=4"))
    assert code == 0, err
    assert "seed 5 diverged at step 1" in out and "the other seeds go on" in out
    assert json.load(open(runs / "nan" / "sweep.json"))["diverged"] == {"5": 1}
    marked = json.load(open(runs / "nan" / "seed_5" / "diverged.json"))
    assert marked["step"] == 1 and marked["frozen_at_step"] == 0
    _, alive = restore_run(str(runs / "nan" / "seed_3"))
    _, frozen = restore_run(str(runs / "nan" / "seed_5"))
    assert int(alive.step) == 12 and int(frozen.step) == 0
    # Resumed, the frozen seed stays frozen and the other trains on.
    code, out, err = _run(capsys, "resume", str(runs / "nan"), "steps=16", "--no-progress")
    assert code == 0, err
    _, alive = restore_run(str(runs / "nan" / "seed_3"))
    _, still = restore_run(str(runs / "nan" / "seed_5"))
    assert int(alive.step) == 16 and _same_state(still, frozen)

    # Every seed diverging ends the sweep with one line.
    monkeypatch.setattr(loop, "init_members", lambda config, seeds: original(config, seeds).replace(
        d_params=jax.tree.map(lambda x: x * 1e36 if x.ndim > 1 else x, original(config, seeds).d_params)))
    code, _, err = _run(capsys, *_train(runs, "all", "steps=4"))
    assert code == 2 and "every seed of" in err and err.count("\n") == 1


@pytest.mark.parametrize("argv, fragment", [
    (["--seeds", ""], "empty"),
    (["--seeds", "1,1"], "repeats 1"),
    (["--seeds", "x"], "'x' is not"),
])
def test_bad_sweep_input_is_one_line(tmp_path, capsys, argv, fragment):
    code, _, err = _run(capsys, "train", "--config", "gaussian1d", *TINY_TOY, "steps=2", "--runs-dir",
                        str(tmp_path), "--no-progress", *argv)
    assert code == 2 and fragment in err and err.count("\n") == 1, err
    assert not os.listdir(tmp_path)


def test_a_sweep_that_does_not_fit_is_refused_before_compiling():
    config = get_config("gaussian1d", TINY_TOY)
    from gan_jax.config.build import init_state
    template = init_state(config)
    per_member = memory.sweep_memory_bytes(config, template, 1)
    assert memory.sweep_memory_bytes(config, template, 10) == 10 * per_member
    memory.check_sweep_memory(config, template, 10, available_bytes=40 * per_member)
    with pytest.raises(UserError, match="use at most 5 seeds"):
        memory.check_sweep_memory(config, template, 10, available_bytes=10 * per_member + 1)
