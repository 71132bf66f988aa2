"""Compare two revisions of gan_jax bit for bit: a refactor must give the same bits for the same seeds.

    python benchmarks/compare_commits.py OLD_REV NEW_REV [--out DIR]

NEW_REV may be WORKTREE: the repository's working tree, uncommitted changes included.
Each revision is extracted with ``git archive`` into a temporary folder and run in this
Python environment (sys.executable), one subprocess per command, each through the
revision's own ``gan_jax.cli.main([...])`` (the ``gan-jax`` entry point) or its own
``experiments/dirac_gan.py``, with JAX_PLATFORMS=cpu and one shared GAN_JAX_CACHE:

  1. train --config digits_dcgan steps=200, then sample -n 256 of it to an .npz;
  2. train --config ring8 steps=500 --seeds 0-2 (a sweep), then sample each seed_<s>;
  3. experiments/dirac_gan.py (default lr and steps, 2 GIF frames): its results.json.

``eval_every=0`` is added to both trainings only when both revisions accept it.
Every array of every .npz must be numpy.array_equal, and every value of results.json
(provenance left out) exactly equal. Prints a table; writes it to DIR/compare_commits.json
with --out; exits 0 when everything is equal, 1 otherwise.

The venv's editable install maps gan_jax to this repository with a sys.meta_path finder:
it fills in any gan_jax module the tree lacks, and ``python -c`` from the repository
imports the repository's gan_jax ahead of PYTHONPATH. So the runner starts Python isolated
(-I: no PYTHONPATH, no current folder), drops the editable finder, puts the tree first on
sys.path, and fails unless every imported gan_jax module (and _common) lies in that tree.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IGNORED_KEYS = {"provenance", "git_commit", "commit", "seconds", "time", "timestamp"}  # and *_seconds

# Run inside the subprocess: argv = tree, "cli" | script path, JSON list of arguments.
RUNNER = r"""
import json, os, runpy, sys
tree, what, args = os.path.realpath(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
editable = lambda obj: "editable" in (getattr(obj, "__module__", "") + getattr(obj, "__qualname__", "")).lower()
sys.meta_path[:] = [f for f in sys.meta_path if not editable(f) and not editable(type(f))]
sys.path_hooks[:] = [h for h in sys.path_hooks if not editable(h)]
sys.path[:] = [tree] + [p for p in sys.path if "__editable__" not in p]
def check():
    mods = {n: m for n, m in sys.modules.items() if n.split(".")[0] in ("gan_jax", "_common")}
    outside = [f"{n}: {f}" for n, m in mods.items() if (f := getattr(m, "__file__", None))
               and not os.path.realpath(f).startswith(tree + os.sep)]
    if "gan_jax" not in mods or outside:
        sys.exit(f"compare_commits runner: gan_jax not imported from {tree}: {outside or 'not imported'}")
try:
    import gan_jax
except ImportError as e:
    sys.exit(f"compare_commits runner: no gan_jax in {tree}: {e}")
check()
try:
    if what == "cli":
        from gan_jax.cli import main
        rc = main(args)
    else:
        sys.path.insert(0, os.path.dirname(what))
        sys.argv = [what] + args
        runpy.run_path(what, run_name="__main__")
        rc = 0
except SystemExit as e:
    rc = e.code
check()
sys.exit(rc)
"""


def run(tree, what, args, cwd, env, log):
    """Run one command of revision ``tree`` in a fresh isolated Python; its output goes to ``log``."""
    cmd = [sys.executable, "-I", "-c", RUNNER, tree, what, json.dumps(args)]
    with open(log, "a") as f:
        f.write(f"$ {what} {' '.join(args)}\n")
        f.flush()
        return subprocess.run(cmd, cwd=cwd, env=env, stdout=f, stderr=subprocess.STDOUT).returncode


def checked(tree, what, args, cwd, env, log):
    start = time.time()
    rc = run(tree, what, args, cwd, env, log)
    print(f"  {what} {' '.join(args)}: {time.time() - start:.0f} s", file=sys.stderr)
    if rc != 0:
        with open(log) as f:
            sys.exit(f"failed (exit {rc}) in {tree}: {what} {' '.join(args)}\n" + "".join(f.readlines()[-30:]))


def extract(rev, tmp):
    """The folder holding revision ``rev`` (WORKTREE: the repository itself) and its commit."""
    if rev == "WORKTREE":
        head = subprocess.check_output(["git", "-C", REPO, "rev-parse", "HEAD"], text=True).strip()
        return REPO, f"working tree on {head}"
    commit = subprocess.check_output(["git", "-C", REPO, "rev-parse", "--verify", f"{rev}^{{commit}}"],
                                     text=True).strip()
    tree = os.path.join(tmp, f"tree_{commit[:12]}")
    os.makedirs(tree, exist_ok=True)
    archive = subprocess.run(["git", "-C", REPO, "archive", commit], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", tree], input=archive, check=True)
    return tree, commit


def accepts_eval_off(tree, tmp, env):
    """Whether the revision's train accepts eval_every=0 (steps=0 is refused before anything runs)."""
    log = os.path.join(tmp, "probe.log")
    open(log, "w").close()
    rc = run(tree, "cli", ["train", "--config", "digits_dcgan", "eval_every=0", "steps=0",
                           "--runs-dir", os.path.join(tmp, "probe_runs")], tmp, env, log)
    with open(log) as f:
        return rc == 2 and "eval_every" not in f.read().split("\n", 1)[1]  # past the command line


def produce(tree, out, env, eval_off):
    """Run every command of one revision into ``out``; return {label: output file}."""
    runs, log = os.path.join(out, "runs"), os.path.join(out, "log.txt")
    os.makedirs(runs)
    extra = ["eval_every=0"] if eval_off else []
    go = lambda what, *args: checked(tree, what, list(args), out, env, log)
    files = {}
    go("cli", "train", "--config", "digits_dcgan", "steps=200", *extra, "--runs-dir", runs, "--no-progress")
    files["digits_dcgan samples"] = os.path.join(out, "a.npz")
    go("cli", "sample", "--checkpoint", os.path.join(runs, "digits_dcgan"), "-n", "256",
       "--out", files["digits_dcgan samples"], "--no-progress")
    go("cli", "train", "--config", "ring8", "steps=500", *extra, "--seeds", "0-2", "--runs-dir", runs, "--no-progress")
    for s in range(3):
        files[f"ring8 seed_{s} samples"] = os.path.join(out, f"ring8_seed_{s}.npz")
        go("cli", "sample", "--checkpoint", os.path.join(runs, "ring8", f"seed_{s}"), "-n", "256",
           "--out", files[f"ring8 seed_{s} samples"], "--no-progress")
    go(os.path.join(tree, "experiments", "dirac_gan.py"), "--out", os.path.join(out, "dirac"), "--gif-frames", "2")
    files["dirac_gan results.json"] = os.path.join(out, "dirac", "results.json")
    return files


def leaves(value, path=""):
    """(path, value) of every leaf of a JSON value, without the provenance/timing/commit keys."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k not in IGNORED_KEYS and not k.endswith("_seconds"):
                yield from leaves(v, f"{path}/{k}")
    elif isinstance(value, list):
        yield path + "#len", len(value)
        for i, v in enumerate(value):
            yield from leaves(v, f"{path}[{i}]")
    else:
        yield path, value


def same(x, y):
    """Exact equality of two JSON leaves (of one type; NaN equals NaN)."""
    return type(x) is type(y) and (x == y or (isinstance(x, float) and np.isnan(x) and np.isnan(y)))


def compare(label, old, new):
    """Rows {what, equal, max_abs_diff, note} for one pair of output files."""
    if old.endswith(".json"):
        with open(old) as f:
            a = dict(leaves(json.load(f)))
        with open(new) as f:
            b = dict(leaves(json.load(f)))
        differing = sorted(k for k in a.keys() | b.keys() if k not in a or k not in b or not same(a[k], b[k]))
        numeric = [abs(a[k] - b[k]) for k in differing if all(isinstance(x.get(k), (int, float)) for x in (a, b))]
        return [dict(what=label, equal=not differing, max_abs_diff=max(numeric) if numeric else None,
                     note=f"{len(differing)} of {len(a | b)} values differ: {differing[:5]}" if differing
                     else f"{len(a)} values")]
    rows = []
    with np.load(old) as a, np.load(new) as b:
        for key in sorted(set(a.files) | set(b.files)):
            what = f"{label}: {key}"
            if key not in a.files or key not in b.files:
                rows.append(dict(what=what, equal=False, max_abs_diff=None, note="only in one revision"))
                continue
            x, y = a[key], b[key]
            equal = x.dtype == y.dtype and np.array_equal(x, y, equal_nan=x.dtype.kind in "fc")
            diff = (float(np.max(np.abs(x.astype(np.float64) - y.astype(np.float64))))
                    if not equal and x.shape == y.shape and x.size else None)
            note = f"{x.dtype}{x.shape}" + ("" if equal else f" vs {y.dtype}{y.shape}")
            rows.append(dict(what=what, equal=bool(equal), max_abs_diff=diff, note=note))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("old_rev")
    parser.add_argument("new_rev", help="a revision, or WORKTREE for the working tree")
    parser.add_argument("--out", help="folder for compare_commits.json (default: print only)")
    args = parser.parse_args(argv)
    start = time.time()
    tmp = tempfile.mkdtemp(prefix="compare_commits_")
    try:
        env = {**os.environ, "JAX_PLATFORMS": "cpu", "GAN_JAX_CACHE": os.path.join(tmp, "cache"), "MPLBACKEND": "Agg"}
        trees = [extract(rev, tmp) for rev in (args.old_rev, args.new_rev)]
        eval_off = all(accepts_eval_off(tree, tmp, env) for tree, _ in trees)
        print(f"eval_every=0 {'accepted by both: evaluation off' if eval_off else 'not accepted by both: evaluation on'}",
              file=sys.stderr)
        outputs = []
        for name, (tree, commit) in zip(("old", "new"), trees):
            print(f"{name}: {commit} in {tree}", file=sys.stderr)
            outputs.append(produce(tree, os.path.join(tmp, name), env, eval_off))
        rows = [row for label in outputs[0] for row in compare(label, outputs[0][label], outputs[1][label])]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    width = max(len(r["what"]) for r in rows)
    print(f"{'what':{width}s}  equal  max abs diff  note")
    for r in rows:
        diff = "" if r["equal"] else ("-" if r["max_abs_diff"] is None else f"{r['max_abs_diff']:.3g}")
        print(f"{r['what']:{width}s}  {'yes' if r['equal'] else 'NO':5s}  {diff:12s}  {r['note']}")
    all_equal = all(r["equal"] for r in rows)
    print(f"{'all equal' if all_equal else 'DIFFERENT'}: {args.old_rev} ({trees[0][1]}) vs {args.new_rev} ({trees[1][1]}), "
          f"{time.time() - start:.0f} s")
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "compare_commits.json"), "w") as f:
            json.dump({"old": [args.old_rev, trees[0][1]], "new": [args.new_rev, trees[1][1]],
                       "evaluation_off": eval_off, "all_equal": all_equal, "rows": rows}, f, indent=2)
    return 0 if all_equal else 1


if __name__ == "__main__":
    sys.exit(main())
