"""Property-based tests of the whole command line: every command's arguments and damaged
run directories, run in-process with a bounded number of examples.

What must hold for any input (``damage.check_outcome``): exit status 0 or 2; on 2 exactly
one line on stderr, ``gan-jax COMMAND: error: ...``; no traceback; an answer within a time
bound and without mapping more than a few GiB (``damage.bounded``). And nothing changes
outside what the command names as its output (a run it continues or evaluates, ``--out``,
``--runs-dir``, ``--db``, ``--save-stats``) and the cache ``$GAN_JAX_CACHE``: in
particular no file a symlink points to (the "victim" folder beside the working folder).

Each example runs in a fresh folder ``ROOT/work`` (the current directory), beside
``ROOT/victim``; the inputs there are a trained run and a sweep (copies of one tiny
gaussian1d sweep trained once per module), and hostile files: random bytes, an empty
file, folders named like files, FIFOs, symlinks to the victim, a dangling symlink.

``derandomize=True`` makes the examples the same on every run; ``HYPOTHESIS_EXAMPLES=N``
runs N examples per test instead of the bounded default (to explore).
"""

import os
import shutil
import tempfile

import numpy as np
import pytest
from damage import DAMAGES, changed_paths, check_outcome, damage, run_bounded, snapshot, tree_paths
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tiny_config import TINY_TOY

from gan_jax.cli import main
from gan_jax.cli.demo import DEMOS
from gan_jax.config.schema import key_rules

SECONDS = 20   # per command: far above what any of these inputs needs once compiled (the fixture compiles)


def _settings(examples: int):
    """Reproducible (derandomized, no example database), at most ``examples`` examples
    (``$HYPOTHESIS_EXAMPLES`` instead, when set)."""
    return settings(max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", examples)), derandomize=True,
                    database=None, deadline=None, print_blob=False, report_multiple_bugs=False,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])


# ---- the trained runs, once per module ----

TRAIN_OVERRIDES = [*TINY_TOY, "steps=2", "checkpoint_every=1", "log_every=1"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """``{"sweep": path, "single": path}``: a 2-seed gaussian1d sweep trained for two steps
    (checkpoints 1 and 2) and a copy of its seed 0 as a run of its own."""
    root = tmp_path_factory.mktemp("trained")
    code = main(["train", "--config", "gaussian1d", *TRAIN_OVERRIDES, "--seeds", "0,1",
                 "--runs-dir", str(root), "--name", "sweep", "--no-progress"])
    assert code == 0
    shutil.copytree(root / "sweep" / "seed_0", root / "single", symlinks=True)
    runs = {"sweep": str(root / "sweep"), "single": str(root / "single")}
    _each_command_works_on_an_intact_copy(runs, tmp_path_factory.mktemp("intact"))
    return runs


def _each_command_works_on_an_intact_copy(runs: dict, scratch) -> None:
    """Each command of the damage test succeeds on an undamaged copy (so that a refusal in
    that test is the damage's doing); this also compiles what the examples then reuse."""
    for kind in ("single", "sweep"):
        for name in _damage_commands(kind, kind):
            if kind == "sweep" and name not in ("resume", "train --resume"):
                continue   # the same member commands as for the single run
            run = shutil.copytree(runs[kind], scratch / name.replace(" ", "_") / kind, symlinks=True)
            argv = _damage_commands(kind, str(run))[name]
            code = main([a if a != "out.npz" else str(run.parent / "out.npz") for a in argv])
            assert code == (2 if name == "interpolate" else 0), (kind, name)   # gaussian1d: points, not images


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A fresh ``$GAN_JAX_CACHE`` holding the digits classifier when the usual cache has one."""
    usual = os.environ.get("GAN_JAX_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "gan_jax")
    directory = tmp_path / "cache"
    directory.mkdir()
    for name in ("digits_mlp_v1.msgpack",):
        if os.path.isfile(os.path.join(usual, name)):
            shutil.copy(os.path.join(usual, name), directory)
    monkeypatch.setenv("GAN_JAX_CACHE", str(directory))
    return str(directory)


def _workspace(tmp_path, trained) -> tuple:
    """``(work, victim)``: two fresh sibling folders; ``work`` holds the inputs the
    arguments name (see the module's docstring), ``victim`` what its symlinks point to."""
    root = tempfile.mkdtemp(dir=tmp_path)
    work, victim = os.path.join(root, "work"), os.path.join(root, "victim")
    os.mkdir(victim)
    shutil.copytree(trained["single"], os.path.join(work, "run"), symlinks=True)
    shutil.copytree(trained["sweep"], os.path.join(work, "sweep"), symlinks=True)
    shutil.copy(os.path.join(work, "run", "config.json"), os.path.join(work, "config.json"))
    rng = np.random.default_rng(0)
    np.savez(os.path.join(work, "samples.npz"), samples=rng.normal(size=(64, 2)).astype(np.float32))
    np.savez(os.path.join(victim, "victim.npz"), samples=rng.normal(size=(64, 2)).astype(np.float32))
    for name in ("random.bin", "random.npz", "random.json", "random.png", "random.sqlite", "random.pth"):
        with open(os.path.join(work, name), "wb") as f:
            f.write(rng.bytes(300))
    for name in ("empty.npz", "empty.json", "empty.sqlite"):
        open(os.path.join(work, name), "wb").close()
    for name in ("adir", "adir.npz", "adir.png", "adir.json"):
        os.mkdir(os.path.join(work, name))
    for name in ("fifo", "fifo.npz", "fifo.json", "fifo.sqlite", "fifo.png"):
        os.mkfifo(os.path.join(work, name))
    with open(os.path.join(victim, "victim.txt"), "w") as f:
        f.write("a file outside the working folder that a symlink points to\n")
    for name, target in (("link_to_victim.npz", "victim.npz"), ("link_out.npz", "victim.txt"),
                         ("link_out.png", "victim.txt"), ("link.json", "victim.txt"),
                         ("link.sqlite", "victim.txt"), ("dangling.npz", "missing.npz")):
        os.symlink(os.path.join(victim, target), os.path.join(work, name))
    return work, victim


# ---- the values arguments take: valid ones first (hypothesis shrinks towards them) ----

def _pick(valid, hostile):
    return st.one_of(st.sampled_from(valid), st.sampled_from(hostile))


HOSTILE_INPUTS = ["missing", "missing.npz", "missing/deeper/x.npz", "random.bin", "random.npz", "empty.npz",
                  "adir", "adir.npz", "fifo", "fifo.npz", "link_to_victim.npz", "dangling.npz", "random.bin/x.npz",
                  "", " ", "-", "/", "/dev/null", "/dev/zero", "x" * 300, "a/" * 2100, "ñü名.npz", "new\nline.npz",
                  "gs://gan-jax-no-such-bucket-3141/run", "gs://b/x.npz", "s3://bucket/x.npz",
                  "http://127.0.0.1:9/x.npz", "~/x.npz", "run/config.json", "sweep"]
HOSTILE_OUTPUTS = ["adir.npz", "adir.png", "random.npz", "random.png", "link_out.npz", "link_out.png",
                   "dangling.npz", "fifo.npz", "fifo.png", "random.bin/x.npz", "missing/deeper/x.npz", "out",
                   "out.txt", "", ".npz", "new\nline.npz", "ñü名.png", "x" * 300 + ".npz", "a/" * 2100 + "x.npz",
                   "gs://gan-jax-no-such-bucket-3141/out.npz", "s3://bucket/out.npz", "run", "samples.npz"]
RUNS = ["run", "sweep/seed_0", "sweep/seed_1"]
COUNTS = ["2", "8", "1", "0", "-1", "-5", "1000000000", "99999999999999999999999", "-99999999999999999999",
          "1e400", "nan", "inf", "", " ", "1.5", "0x10", "\u0663", "2147483648"]
SEEDS = ["0", "7", "-1", "2147483648", "99999999999999999999999", "nan", "", "1.5"]
DEMO_COUNTS = ["0", "-1", "-5", "1000000000", "99999999999999999999999", "1e400", "nan", "", "1.5", "0x10"]
FLOATS = ["0.1", "1", "0", "-1", "1e400", "nan", "inf", "-inf", "", "1e-320", "abc"]
TEXTS = ["", " ", "none", "ñ", "a\nb", "-", "=", ",", "--", "\u202e", "x" * 5000]
SOURCES = ["gaussian1d", "ring8", "grid25", "samples.npz", "npz:samples.npz", "run", "sweep/seed_0"]
HOSTILE_SOURCES = HOSTILE_INPUTS + ["digits", "npz:random.npz", "npz:fifo.npz", "folder:adir", "folder:missing",
                                    "tfds:gan_jax_no_such_dataset", "npz:", "folder:", "tfds:", "ring8 ", "RING8",
                                    "npz:/dev/zero"]

# Distributed options only as combinations refused before jax.distributed.initialize runs
# (a successful initialize would change this test process for good).
DISTRIBUTED = st.sampled_from([["--num-processes", "2"], ["--process-id", "0"], ["--coordinator", "127.0.0.1:1"],
                               ["--coordinator", "127.0.0.1:1", "--num-processes", "2", "--process-id", "5"],
                               ["--coordinator", "127.0.0.1:1", "--num-processes", "-1", "--process-id", "0"],
                               ["--coordinator", "", "--num-processes", "0", "--process-id", "0"],
                               ["--num-processes", "1e400"], ["--process-id", "nan"]])


def _values(typ, rule):
    """Valid and hostile texts for a config key of type ``typ`` and rule ``rule``."""
    if "choices" in rule:
        return _pick([str(c) for c in rule["choices"]], ["no_such_choice", "", "7", "NONE"] + TEXTS)
    if typ is bool:
        return _pick(["true", "false"], ["maybe", "1", "", "yes", "nan"])
    if typ is int:
        return _pick(["1", "2"], COUNTS)
    if typ is float:
        return _pick(FLOATS[:3], FLOATS[3:])
    return _pick(["gaussian1d"], TEXTS + HOSTILE_SOURCES)


_KEY_RULES = key_rules()
# Overrides may not start long work: steps stays tiny (a count other keys may not make
# huge is what the one-line refusals are for).
_STEPS = _pick(["1", "2"], ["0", "-1", "1e400", "nan", "", "99999999999999999999999", "1.5"])


@st.composite
def _override(draw):
    name = draw(st.sampled_from(sorted(_KEY_RULES) + ["bogus", "", "STEPS", "steps "]))
    if name == "steps":
        return f"steps={draw(_STEPS)}"
    typ, rule = _KEY_RULES.get(name, (str, {}))
    return f"{name}={draw(_values(typ, rule))}"


OVERRIDES = st.lists(st.one_of(_override(), st.sampled_from(["=", "=1", "a==b", "steps==2", "data=npz:fifo.npz",
                                                               "data=npz:/dev/zero", "data=folder:adir"])),
                     max_size=3)


# ---- every command's arguments ----

def _options(draw, table: dict, max_size: int = 4) -> list:
    """A few ``--option value`` pairs (or bare flags) drawn from ``table`` {option: values or None}."""
    names = draw(st.lists(st.sampled_from(sorted(table)), max_size=max_size, unique=True))
    argv = []
    for name in names:
        argv.append(name)
        if table[name] is not None:
            argv.append(draw(table[name]))
    return argv


def _maybe(draw, argv: list) -> list:
    """``argv``, or (rarely) nothing: a required argument left out."""
    return argv if draw(st.sampled_from([True] * 9 + [False])) else []


@st.composite
def train_args(draw):
    argv = ["train", "--config", draw(_pick(["gaussian1d", "ring8", "config.json"],
                                             ["no_such", "random.json", "empty.json", "adir.json", "fifo.json",
                                              "link.json", "missing.json", "/dev/zero", "", "random.bin"])),
            *TINY_TOY, "steps=1", *draw(OVERRIDES)]
    argv += ["--runs-dir", draw(_pick(["runs", "new/runs"], ["random.bin", "fifo", "adir", "", "link_out.npz",
                                                              "gs://gan-jax-no-such-bucket-3141/runs",
                                                              "s3://bucket/runs"]))]
    argv += _options(draw, {"--name": _pick(["fresh", "run", "sweep"], TEXTS + ["..", ".", "a/b", "random.bin",
                                                                               "fifo", "link_out.npz"]),
                            "--seeds": _pick(["0,1", "0-1"], ["", "-1", "0,0", "1-0", "a", "nan", "0-1000000",
                                                              "99999999999999999999999", " 0"]),
                            "--resume": None, "--overwrite": None}, max_size=3)
    if draw(st.sampled_from([False] * 7 + [True])):
        argv += draw(DISTRIBUTED)
    return argv + ["--no-progress"]


@st.composite
def resume_args(draw):
    argv = ["resume", *_maybe(draw, [draw(_pick(["run", "sweep"], HOSTILE_INPUTS))])]
    overrides = draw(st.lists(st.one_of(
        st.builds(lambda k, v: f"{k}={v}", st.sampled_from(["log_every", "checkpoint_every", "keep_checkpoints",
                                                            "eval_every", "steps_per_call", "sample_every"]),
                  _pick(["1", "2"], COUNTS)),
        st.sampled_from(["lr_g=0.5", "seed=3", "bogus=1", "data=ring8", "=", "steps=2"])), max_size=2))
    argv += ["steps=3", *overrides] + _options(draw, {"--seeds": _pick(["0,1"], ["", "x"])}, max_size=1)
    if draw(st.sampled_from([False] * 7 + [True])):
        argv += draw(DISTRIBUTED)
    return argv + ["--no-progress"]


@st.composite
def sample_args(draw):
    argv = ["sample", *_maybe(draw, ["--checkpoint", draw(_pick(RUNS + ["sweep"], HOSTILE_INPUTS))]),
            *_maybe(draw, ["--out", draw(_pick(["out.npz", "out.png", "new/out.npz"], HOSTILE_OUTPUTS))])]
    argv += _options(draw, {"-n": _pick(["8", "2"], COUNTS + ["4097"]), "--seed": _pick(["0"], SEEDS),
                            "--labels": _pick(["0"], ["", "-1", "99", "a", "1e400", ",", "0,,1", "nan"] + TEXTS),
                            "--overwrite": None, "--best": None})
    return argv + ["--no-progress"]


@st.composite
def eval_args(draw):
    argv = ["eval", *_maybe(draw, [draw(_pick(RUNS, HOSTILE_INPUTS))])]
    argv += _options(draw, {"-n": _pick(["50", "2"], COUNTS), "--seed": _pick(["0"], SEEDS),
                            "--features": _pick(["auto", "classifier"], ["inception", "points", "", "bogus"]),
                            "--inception-weights": _pick(["missing.msgpack"], HOSTILE_INPUTS), "--best": None})
    return argv + ["--no-progress"]


@st.composite
def fid_args(draw):
    argv = ["fid", *_maybe(draw, ["--real", draw(_pick(SOURCES, HOSTILE_SOURCES))]),
            *_maybe(draw, ["--fake", draw(_pick(SOURCES, HOSTILE_SOURCES))])]
    argv += _options(draw, {"-n": _pick(["50", "2"], COUNTS), "--data-samples": _pick(["50"], COUNTS),
                            "--image-size": _pick(["8"], COUNTS), "--channels": _pick(["1", "3"], COUNTS),
                            "--features": _pick(["auto", "points"], ["classifier", "inception", "", "bogus"]),
                            "--inception-weights": _pick(["missing.msgpack"], HOSTILE_INPUTS),
                            "--tfds-data-dir": _pick(["adir"], HOSTILE_INPUTS),
                            "--max-image-pixels": _pick(["64"], COUNTS),
                            "--save-stats": _pick(["stats.npz"], HOSTILE_OUTPUTS)})
    if "-n" not in argv:
        argv += ["-n", "50"]
    return argv + ["--no-progress"]


@st.composite
def convert_inception_args(draw):
    argv = ["convert-inception", *_maybe(draw, [draw(_pick(["random.pth"], HOSTILE_INPUTS))])]
    argv += _options(draw, {"--no-verify": None}, max_size=1)
    if draw(st.booleans()):
        argv.append(draw(_pick(["out.msgpack"], HOSTILE_OUTPUTS)))
    return argv


@st.composite
def mode_coverage_args(draw):
    argv = ["mode-coverage", *_maybe(draw, [draw(_pick(["samples.npz"], HOSTILE_INPUTS + ["random.json"]))])]
    return argv + _maybe(draw, ["--data", draw(_pick(["ring8", "grid25"], ["gaussian1d", "", "RING8", "ring8 "]))])


@st.composite
def interpolate_args(draw):
    argv = ["interpolate", *_maybe(draw, [draw(_pick(RUNS, HOSTILE_INPUTS))])]
    return argv + _options(draw, {"--out": _pick(["interp.png"], HOSTILE_OUTPUTS),
                                  "--pairs": _pick(["2"], COUNTS), "--steps": _pick(["3"], COUNTS),
                                  "--method": _pick(["slerp", "lerp"], TEXTS + ["SLERP"]),
                                  "--label": _pick(["0"], COUNTS), "--seed": _pick(["0"], SEEDS)})


@st.composite
def demo_args(draw):
    """A demo's own options always include one hostile value: a valid demo runs for minutes."""
    name = draw(_pick(sorted(DEMOS), ["", "no_such_demo", "_common", "../gan_jax", "--list"]))
    counts = st.sampled_from(DEMO_COUNTS)
    table = {"--out": _pick(["demo_out"], HOSTILE_OUTPUTS), "--seed": st.sampled_from(["nan", "", "1.5", "1e400"]),
             "--steps": counts, "--grid": counts, "--samples": counts, "--batch-size": counts,
             "--lr": st.sampled_from(["", "abc", "1,5"]), "--seconds": st.sampled_from(["", "abc", "1,5"]),
             "--gif-frames": counts, "--methods": st.sampled_from(["", "no_such", "-"]),
             "--bogus": st.sampled_from(["1"])}
    options = _options(draw, table, max_size=3)
    if not any(o != "--out" and o.startswith("--") for o in options):
        options += ["--bogus", "1"]
    return ["demo", name, *options]


@st.composite
def study_serve_args(draw):
    argv = ["study", "serve", *_maybe(draw, draw(st.lists(_pick(["run"], HOSTILE_INPUTS + ["sweep"]), min_size=1,
                                                           max_size=2))),
            *_maybe(draw, ["--real", draw(_pick(["ring8", "samples.npz"], HOSTILE_SOURCES))])]
    return argv + _options(draw, {"--mode": _pick(["2afc", "single"], TEXTS + ["2AFC"]),
                                  "--trials": _pick(["2"], COUNTS), "--practice": _pick(["0"], COUNTS),
                                  "--attention-checks": _pick(["0"], COUNTS), "--exposure-ms": _pick(["0"], COUNTS),
                                  "--pool": _pick(["4"], COUNTS), "--seed": _pick(["0"], SEEDS),
                                  "--db": _pick(["study.sqlite"], HOSTILE_OUTPUTS + ["random.sqlite", "empty.sqlite",
                                                                                     "fifo.sqlite", "link.sqlite"]),
                                  "--host": _pick(["127.0.0.1"], ["", "no-such-host.invalid", "999.1.1.1", "::1"]),
                                  "--port": _pick(["0"], ["-1", "65536", "99999999999999999999999", "nan", ""])})


@st.composite
def study_report_args(draw):
    argv = ["study", "report", *_maybe(draw, [draw(_pick(["study.sqlite"],
                                                         HOSTILE_INPUTS + ["random.sqlite", "empty.sqlite",
                                                                           "fifo.sqlite", "link.sqlite"]))]),
            *_maybe(draw, ["--out", draw(_pick(["report"], HOSTILE_OUTPUTS))])]
    return argv + _options(draw, {"--resamples": _pick(["100"], COUNTS), "--seed": _pick(["0"], SEEDS),
                                  "--overwrite": None})


COMMANDS = {"train": train_args(), "resume": resume_args(), "sample": sample_args(), "eval": eval_args(),
            "fid": fid_args(), "convert-inception": convert_inception_args(), "mode-coverage": mode_coverage_args(),
            "interpolate": interpolate_args(), "demo": demo_args(), "study serve": study_serve_args(),
            "study report": study_report_args()}

# Where a command may write: the options (or positions) naming its output, and its default outputs.
OUTPUT_OPTIONS = ("--out", "--runs-dir", "--db", "--save-stats")
DEFAULT_OUTPUTS = {"train": ["runs"], "study": ["study.sqlite"], "demo": ["experiments"]}
POSITIONAL_OUTPUTS = {"resume": 1, "eval": 1, "interpolate": 1, "convert-inception": 2}


def _named_outputs(argv: list) -> list:
    """The paths (relative to the working folder) ``argv`` allows its command to change."""
    named = list(DEFAULT_OUTPUTS.get(argv[0], []))
    named += [argv[i + 1] for i, a in enumerate(argv[:-1]) if a in OUTPUT_OPTIONS]
    positionals = [a for a in argv[1:] if not a.startswith("-")]
    if argv[0] in POSITIONAL_OUTPUTS and len(positionals) >= POSITIONAL_OUTPUTS[argv[0]]:
        named += positionals[:POSITIONAL_OUTPUTS[argv[0]]]
    return [os.path.normpath(p) for p in named]   # "" is the current folder, as os.path.join takes it


def _allowed(path: str, outputs: list) -> bool:
    """Whether ``path`` is an output, inside one, or a folder on the way to one."""
    return any(o == "." or path == o or path.startswith(o + "/") or o.startswith(path + "/") for o in outputs)


def _never_serve(monkeypatch):
    """``study serve`` sets the study up but returns instead of serving forever."""
    import gan_jax.study.server
    monkeypatch.setattr(gan_jax.study.server, "serve", lambda db_path, sock: None)


@_settings(examples=6)
@given(data=st.data())
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_answers_any_arguments_in_one_line(command, data, trained, cache, tmp_path, capsys,
                                                          monkeypatch):
    argv = data.draw(COMMANDS[command], label="argv")
    _never_serve(monkeypatch)
    work, victim = _workspace(tmp_path, trained)
    monkeypatch.chdir(work)
    before, victim_before = snapshot(work), snapshot(victim)
    code, out, err = run_bounded(capsys, argv, SECONDS)
    check_outcome(argv, code, out, err)
    victim_after = snapshot(victim)
    assert victim_after == victim_before, f"wrote through a symlink: {changed_paths(victim_before, victim_after)}"
    outputs = _named_outputs(argv)
    stray = [p for p in changed_paths(before, snapshot(work)) if not _allowed(p, outputs)]
    assert not stray, f"changed {stray}, which {argv!r} does not name as its output"


# ---- damaged run directories ----

def _damage_commands(kind: str, run: str) -> dict:
    """The commands that read a run of ``kind`` ("single" or "sweep") at ``run``."""
    member = run if kind == "single" else os.path.join(run, "seed_0")
    resume_by_train = ["train", "--config", "gaussian1d", *TRAIN_OVERRIDES, "steps=3", "--runs-dir",
                       os.path.dirname(run), "--name", os.path.basename(run), "--resume", "--no-progress"]
    if kind == "sweep":
        resume_by_train[-1:-1] = ["--seeds", "0,1"]
    return {"resume": ["resume", run, "steps=3", "--no-progress"],
            "train --resume": resume_by_train,
            "sample": ["sample", "--checkpoint", member, "-n", "8", "--out", "out.npz", "--no-progress"],
            "eval": ["eval", member, "-n", "50", "--no-progress"],
            "fid": ["fid", "--real", "gaussian1d", "--fake", member, "-n", "50", "--no-progress"],
            "interpolate": ["interpolate", member, "--pairs", "1", "--steps", "2"]}


@_settings(examples=10)
@given(data=st.data())
def test_a_damaged_run_is_used_or_refused_in_one_line(data, trained, cache, tmp_path, capsys, monkeypatch):
    kind = data.draw(st.sampled_from(["single", "sweep"]), label="run")
    target = data.draw(st.sampled_from(tree_paths(trained[kind])), label="damaged path")
    how = data.draw(st.sampled_from(DAMAGES), label="damage")
    command = data.draw(st.sampled_from(sorted(_damage_commands(kind, kind))), label="command")
    work, victim = _workspace(tmp_path, trained)
    monkeypatch.chdir(work)
    run = os.path.join(work, "run" if kind == "single" else "sweep")
    damage(os.path.join(run, target), how, victim, seed=len(target))
    argv = _damage_commands(kind, run)[command]
    outside = {p: e for p, e in snapshot(work).items() if not _allowed(p, [os.path.basename(run), "out.npz"])}
    victim_before = snapshot(victim)
    code, out, err = run_bounded(capsys, argv, SECONDS)
    check_outcome(argv, code, out, err)
    victim_after = snapshot(victim)
    assert victim_after == victim_before, f"wrote through a symlink: {changed_paths(victim_before, victim_after)}"
    after = {p: e for p, e in snapshot(work).items() if not _allowed(p, [os.path.basename(run), "out.npz"])}
    assert after == outside, f"changed outside the run: {changed_paths(outside, after)}"
