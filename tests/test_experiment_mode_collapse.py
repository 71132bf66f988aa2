"""experiments/mode_collapse_2d.py: rows of earlier runs are kept, bad input is one line."""

import json
import os
import subprocess
import sys

import pytest
from cli_checks import load_experiment

from gan_jax.errors import UserError

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "experiments", "mode_collapse_2d.py")


def test_second_invocation_keeps_the_first_ones_rows(tmp_path):
    script = load_experiment("mode_collapse_2d")
    common = ["--data", "ring8", "--seeds", "1", "--set", "steps=8", "batch_size=16",
              "--out", str(tmp_path)]
    script.main(["--methods", "gan_nonsaturating"] + common)
    script.main(["--methods", "pacgan2"] + common)
    results = json.loads((tmp_path / "results.json").read_text())
    snapshots = json.loads((tmp_path / "snapshots.json").read_text())
    assert list(results["ring8"]) == ["gan_nonsaturating", "pacgan2"]
    for method in ("gan_nonsaturating", "pacgan2"):
        row = results["ring8"][method]
        assert row["summary"]["n_seeds"] == 1 and 0 <= row["seeds"][0]["modes"] <= 8
        assert len(snapshots["ring8"][method]) >= 1
        assert row["provenance"]["versions"]["jax"] and row["provenance"]["prng"]
        assert all(len(points) == 500 and len(points[0]) == 2
                   for points in snapshots["ring8"][method].values())
    table = (tmp_path / "table.md").read_text()
    assert "| gan_nonsaturating (ours) |" in table and "| pacgan2 (ours) |" in table
    assert "†" not in table


def test_an_average_is_scored_beside_the_generator_as_trained(tmp_path):
    """With g_average_decay > 0 a row scores the average and, under ``raw_``, the generator as
    trained, which averaging must not change: its scores equal a run without the average."""
    script = load_experiment("mode_collapse_2d")
    common = ["--data", "ring8", "--methods", "gan_nonsaturating", "--seeds", "2"]
    tiny = ["steps=8", "batch_size=16"]
    script.main(common + ["--set"] + tiny + ["g_average_decay=0.5", "--out", str(tmp_path / "a")])
    script.main(common + ["--set"] + tiny + ["--out", str(tmp_path / "b")])
    averaged = json.loads((tmp_path / "a" / "results.json").read_text())["ring8"]["gan_nonsaturating"]
    plain = json.loads((tmp_path / "b" / "results.json").read_text())["ring8"]["gan_nonsaturating"]
    for with_average, without in zip(averaged["seeds"], plain["seeds"]):
        assert {k[4:]: v for k, v in with_average.items() if k.startswith("raw_")} == \
            {k: v for k, v in without.items() if k != "seed"}
    assert averaged["raw_summary"] == plain["summary"] and "raw_summary" not in plain
    table = (tmp_path / "a" / "table.md").read_text()
    assert "| gan_nonsaturating (ours, average) |" in table and "| gan_nonsaturating (ours, as trained) |" in table


def test_rows_without_provenance_are_marked_as_older_code():
    script = load_experiment("mode_collapse_2d")
    summary = {"modes_mean": 8.0, "modes_std": 0.0, "hq_mean": 90.0, "hq_std": 1.0, "n_seeds": 5}
    table = script.markdown_table("ring8", {
        "old": {"summary": summary, "provenance": {"git_commit": "unknown", "first_committed_in": "abc"}},
        "new": {"summary": summary, "provenance": {"git_commit": "unknown", "versions": {"jax": "0"}}}})
    assert "| old (ours) † | 8.0 ± 0.0 | 90.0 ± 1.0 | 5 |" in table
    assert "| new (ours) | 8.0 ± 0.0 |" in table
    assert "† made by older code" in table


def test_bad_override_is_one_line_and_exit_2(tmp_path):
    proc = subprocess.run([sys.executable, SCRIPT, "--data", "ring8", "--methods", "best",
                           "--seeds", "1", "--set", "pack=0", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "config key 'pack' in overrides got 0: must be >= 1" in lines[0] and "Traceback" not in proc.stderr
    assert not (tmp_path / "results.json").exists()


def test_bad_seeds_and_late_bad_overrides_are_refused_before_training(tmp_path):
    script = load_experiment("mode_collapse_2d")
    common = ["--data", "ring8", "--out", str(tmp_path)]
    with pytest.raises(UserError, match="--seeds 0 trains nothing"):
        script.main(common + ["--methods", "pacgan2", "--seeds", "0"])
    with pytest.raises(UserError, match="distinct"):
        script.main(common + ["--methods", "pacgan2", "--seeds", "3", "3"])
    # unroll_shared_latent is fine for unrolled_k1 but not for gan_nonsaturating (no unroll):
    # refused before unrolled_k1 trains.
    with pytest.raises(UserError, match="unroll_steps >= 1"):
        script.main(common + ["--methods", "unrolled_k1", "gan_nonsaturating", "--seeds", "1",
                              "--set", "unroll_shared_latent=true", "steps=4"])
    assert not (tmp_path / "results.json").exists()


def test_an_out_that_is_a_file_is_one_line_and_kept(tmp_path):
    script = load_experiment("mode_collapse_2d")
    taken = tmp_path / "taken"
    taken.write_text("a user's file")
    with pytest.raises(UserError, match="cannot create the results folder"):
        script.main(["--data", "ring8", "--methods", "pacgan2", "--seeds", "1", "--out", str(taken)])
    assert taken.read_text() == "a user's file"


@pytest.mark.parametrize("name, args", [
    ("mode_collapse_2d", ["--data", "ring8", "--methods", "pacgan2", "--seeds", "1", "--set", "steps=4"]),
    ("stacked_digits", ["--methods", "dcgan", "--seeds", "0", "--samples", "300", "--set", "steps=4"]),
    ("unrolled_ring", ["--variants", "plain_k5", "--seeds", "0", "--steps", "4"]),
])
@pytest.mark.parametrize("content", ['{"variants": {"plain_k5": {"seeds": [', "[1, 2, 3]"])
def test_an_unreadable_results_json_is_one_line_and_kept(tmp_path, name, args, content):
    # Every experiment keeps the rows of an earlier run: a results.json it cannot read
    # (truncated, or not an object) is refused before any training, and left as it was.
    script = load_experiment(name)
    saved = tmp_path / "results.json"
    saved.write_text(content)
    with pytest.raises(UserError, match="results.json"):
        script.main(args + ["--out", str(tmp_path)])
    assert saved.read_text() == content


@pytest.mark.parametrize("data", ["ring8", "grid25"])
def test_best_rpgan_is_the_best_preset_with_only_the_objective_changed(data):
    import dataclasses
    script = load_experiment("mode_collapse_2d")
    best, rpgan = script.method_config(data, "best"), script.method_config(data, "best_rpgan")
    changed = {k for k, v in dataclasses.asdict(rpgan).items() if v != getattr(best, k)}
    assert changed == {"name", "d_loss", "g_loss", "r1_weight", "r2_weight"} - ({"r1_weight"} if best.r1_weight == 1.0 else set())
    assert (rpgan.d_loss, rpgan.g_loss, rpgan.r1_weight, rpgan.r2_weight) == ("rpgan", "rpgan", 1.0, 1.0)
