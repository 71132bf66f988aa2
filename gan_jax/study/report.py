"""``report.json`` and a figure from a study database (the maths is in :mod:`gan_jax.study.stats`)."""

import json
import os
from typing import Dict, List

import numpy as np

from gan_jax.errors import UserError
from gan_jax.io import paths
from gan_jax.io.figures import new_figure, save_figure
from gan_jax.study.stats import (
    RATE_NAMES,
    bootstrap_totals,
    contributions,
    expanded_interval,
    rates,
    share_greater,
)
from gan_jax.study.store import check_study_db

__all__ = ["MAX_ATTENTION_FAILURES", "type_index", "study_report", "write_report"]

MAX_ATTENTION_FAILURES = 1  #: a rater who fails more attention checks than this is excluded
_BOOTSTRAP_SLICE = 2**20  # raters drawn per slice of resamples (memory: about 40 bytes each)


def type_index(mode: str, correct_response: str, correct: bool) -> int:
    """The trial type (a row of :func:`gan_jax.study.stats.contributions`) of one scored answer."""
    if mode == "2afc":
        return 0 if not correct else 1
    generated = correct_response == "generated"
    return (0 if not correct else 1) if generated else (2 if not correct else 3)


def _reported_rates(mode: str):
    """In 2afc every answer calls one image of the pair real, so the 'real' answer rate is 1/2 by design."""
    return RATE_NAMES if mode == "single" else RATE_NAMES[:3]


def _rater_counts(db, mode: str, model: int):
    """``(type counts (R, T) of the kept raters, kept rater ids, excluded rater ids)`` for one model."""
    rows = db.execute(
        "SELECT a.rater_id, a.attention, t.correct_response, a.correct FROM answers a "
        "JOIN sessions s ON s.id = a.session_id JOIN trials t ON t.session_id = a.session_id "
        "AND t.trial_index = a.trial_index WHERE s.model = ? AND a.practice = 0", (model,)).fetchall()
    n_types = len(contributions(mode))
    counts: Dict[str, np.ndarray] = {}
    failures: Dict[str, int] = {}
    for rater, attention, correct_response, correct in rows:
        counts.setdefault(rater, np.zeros(n_types, np.int64))
        failures.setdefault(rater, 0)
        if attention:
            failures[rater] += int(not correct)
        else:
            counts[rater][type_index(mode, correct_response, bool(correct))] += 1
    excluded = sorted(r for r, f in failures.items() if f > MAX_ATTENTION_FAILURES)
    kept = sorted(r for r in counts if r not in excluded and counts[r].sum() > 0)
    table = np.array([counts[r] for r in kept], np.int64).reshape(len(kept), n_types)
    return table, kept, excluded


def study_report(db_path: str, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> dict:
    """Per model: the four rates with bootstrap intervals over raters, counts,
    exclusions; per pair of models, the share of resamples in which one model's
    error on generated images exceeds the other's."""
    db = check_study_db(db_path)
    try:
        design = json.loads(db.execute("SELECT design FROM study").fetchone()[0])
        mode = design["mode"]
        matrix = contributions(mode)
        rng = np.random.default_rng(seed)
        models: List[dict] = []
        resampled = []
        for model, run in enumerate(design["runs"]):
            table, kept, excluded = _rater_counts(db, mode, model)
            entry = {"model": model, "run": run, "raters": len(kept), "excluded_raters": len(excluded),
                     "judgements": int(table.sum()), "rates": {}}
            if len(kept):
                estimate = rates(table.sum(0) @ matrix)
                boot = rates(_bootstrap(table, n_boot, rng) @ matrix)
                for name in _reported_rates(mode):
                    low, high = expanded_interval(boot[name], estimate[name], len(kept), level)
                    entry["rates"][name] = {"estimate": float(estimate[name]), "low": float(low), "high": float(high)}
                resampled.append(boot["error_generated"])
            else:
                resampled.append(np.full(n_boot, np.nan))
            models.append(entry)
        pairs = [{"model_a": a, "model_b": b,
                  "share_a_error_generated_greater": share_greater(resampled[a], resampled[b]),
                  "share_b_error_generated_greater": share_greater(resampled[b], resampled[a])}
                 for a in range(len(models)) for b in range(a + 1, len(models))]
        answers = db.execute("SELECT count(*) FROM answers").fetchone()[0]
    finally:
        db.close()
    if answers == 0:
        raise UserError(f"{db_path} holds a study but no answers yet; report once raters have answered")
    return {"design": design, "level": level, "bootstrap": {"resamples": n_boot, "seed": seed,
            "resampling": "raters with replacement; interval widened by sqrt(R/(R-1))"},
            "attention": {"max_failures": MAX_ATTENTION_FAILURES}, "models": models, "pairs": pairs}


def _plot(report: dict):
    """The figure of a report: each model's rates with their intervals, as bars."""
    labels = {"error_generated": "error on generated", "error_real": "error on real",
              "error": "overall error", "real_answer_rate": "'real' answers"}
    models = report["models"]
    names = _reported_rates(report["design"]["mode"])
    fig = new_figure((1.8 + 1.9 * len(names), 3.6))
    ax = fig.subplots()
    width = 0.8 / max(1, len(models))
    for i, m in enumerate(models):
        xs, ys, errs = [], [], [[], []]
        for j, name in enumerate(names):
            r = m["rates"].get(name)
            if r is None:
                continue
            xs.append(j + (i - (len(models) - 1) / 2) * width)
            ys.append(r["estimate"])
            errs[0].append(r["estimate"] - r["low"])
            errs[1].append(r["high"] - r["estimate"])
        ax.bar(xs, ys, width * 0.9, yerr=errs, capsize=4,
               label=f"{os.path.basename(m['run'])} ({m['raters']} raters, {m['excluded_raters']} excluded)")
    ax.axhline(0.5, color="0.5", lw=0.8, ls="--", label="chance (0.5)")
    ax.set_xticks(range(len(names)), [labels[n] for n in names])
    ax.set_ylim(0, 1)
    ax.set_ylabel(f"rate ({int(100 * report['level'])} % bootstrap interval)")
    mode = report["design"]["mode"]
    ax.set_title(f"{mode} study: rates per model" + (" (in 2afc the three error rates coincide)" if mode == "2afc" else ""))
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def _check_out(out_dir: str, names, overwrite: bool) -> None:
    """UserError unless the report files ``names`` can be written in ``out_dir`` (a
    directory, existing or not) without replacing one, unless ``overwrite``. Creates nothing."""
    if paths.is_url(out_dir):
        paths.check_location(out_dir, "--out")
    else:
        ancestor = os.path.abspath(out_dir)
        while not os.path.lexists(ancestor):
            ancestor = os.path.dirname(ancestor)
        if not os.path.isdir(ancestor):
            what = "is a file" if ancestor == os.path.abspath(out_dir) else f"lies in {ancestor}, a file"
            raise UserError(f"--out {out_dir} {what}, not a directory; choose a directory for the report")
    for name in names:
        path = paths.join(out_dir, name)
        if paths.isdir(path):
            raise UserError(f"{path} is a directory; remove it or choose another --out")
        if paths.exists(path) and not overwrite:
            raise UserError(f"{path} exists; pass --overwrite to replace it or choose another --out")


def _bootstrap(table: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """:func:`~gan_jax.study.stats.bootstrap_totals` in slices of at most about a million
    drawn raters each, so that memory stays bounded whatever the resamples and raters."""
    size = max(1, _BOOTSTRAP_SLICE // max(1, len(table)))
    return np.concatenate([bootstrap_totals(table, min(size, n_boot - start), rng)
                           for start in range(0, n_boot, size)])


def write_report(db_path: str, out_dir: str, n_boot: int = 2000, seed: int = 0, overwrite: bool = False) -> dict:
    """Write ``out_dir/report.json`` and ``out_dir/report.png`` (each atomically, a link
    replaced and never written through); never replaces them without ``overwrite``."""
    names = ("report.json", "report.png")
    _check_out(out_dir, names, overwrite)
    report = study_report(db_path, n_boot, seed)
    paths.makedirs(out_dir)
    fig = _plot(report)
    paths.atomic_write_json(paths.join(out_dir, names[0]), report)
    save_figure(fig, paths.join(out_dir, names[1]), dpi=120)
    return report
