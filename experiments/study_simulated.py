"""A user study completed by simulated raters against the real server, with
answer latency under load, the report, and (optionally) a browser screenshot.

Starts ``gan-jax study serve`` on 127.0.0.1 (a free port) on a new database,
lets --raters simulated raters take their sessions at once (threads; each
rater's error rate on ordinary trials is drawn from Beta around the
--error-rates given per model, so the truth is known; the first --inattentive
of them answer at random and fail the attention checks), then writes the
report. The raters are simulated: the numbers say how the app and the report
behave, not how realistic a model is.

    python experiments/study_simulated.py --runs RUN_DIR [RUN_DIR ...] --error-rates 0.35 [0.05 ...]
        [--real digits] [--raters 50] [--inattentive 0] [--trials 50] [--practice 5] [--screenshot docs/study_trial.png] --out DIR
"""

import contextlib
import json
import os
import threading
import time

import numpy as np
from _common import parse_args, run_main, write_results

from gan_jax.errors import UserError
from gan_jax.study.report import write_report
from gan_jax.study.server import prepare_study, study_design
from gan_jax.study.simulate import (
    SimulatedRater,
    load_oracle,
    serve_argv,
    server_process,
)
from gan_jax.study.store import open_db

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=900,760")


def take_screenshot(url: str, path: str, practice: int, profile_dir: str) -> None:
    """Open the page in headless Chromium, answer the practice trials and save the first scored trial."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in CHROMIUM_FLAGS + (f"--user-data-dir={profile_dir}",):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        wait = WebDriverWait(driver, 30)
        driver.get(url + "/")
        wait.until(ec.element_to_be_clickable((By.ID, "start"))).click()
        for _ in range(practice):
            wait.until(ec.element_to_be_clickable((By.ID, "answer-left"))).click()
            wait.until(ec.element_to_be_clickable((By.ID, "next"))).click()
        wait.until(ec.element_to_be_clickable((By.ID, "answer-left")))
        wait.until(lambda d: d.execute_script(
            "return [...document.querySelectorAll('#images img')].every(i => i.complete && i.naturalWidth > 0)"))
        driver.save_screenshot(path)
    finally:
        driver.quit()


def main(argv=None):
    def options(p):
        p.add_argument("--runs", nargs="+", required=True)
        p.add_argument("--error-rates", type=float, nargs="+", required=True,
                       help="mean error rate of the simulated raters on each model's trials")
        p.add_argument("--real", default="digits")
        p.add_argument("--raters", type=int, default=50)
        p.add_argument("--trials", type=int, default=50)
        p.add_argument("--practice", type=int, default=5)
        p.add_argument("--inattentive", type=int, default=0,
                       help="of the raters, this many answer at random and fail the attention checks")
        p.add_argument("--concentration", type=float, default=20.0, help="Beta concentration of rater error rates")
        p.add_argument("--screenshot", help="save a browser screenshot of a trial here")
    args = parse_args("study_simulated", __doc__.split("\n")[0], argv, options)
    if len(args.error_rates) != len(args.runs):
        raise UserError("give one --error-rates value per run")
    db_path = os.path.join(args.out, "study.sqlite")
    if os.path.exists(db_path):
        raise UserError(f"{db_path} exists; choose another --out")
    design = study_design(args.runs, args.real, "2afc", args.trials, args.practice)
    started = time.perf_counter()
    prepare_study(db_path, design)
    setup_s = time.perf_counter() - started
    with contextlib.closing(open_db(db_path)) as db:
        oracle = load_oracle(db)
    rng = np.random.default_rng(args.seed)
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    with server_process(serve_argv(db_path, design), env=env, cwd=REPO) as (process, url):
        if args.screenshot:
            take_screenshot(url, args.screenshot, args.practice, os.path.join(args.out, "chromium-profile"))
        raters, failures = [], []
        for i in range(args.raters):
            raters.append(SimulatedRater(url, oracle, 0.0, seed=args.seed * 1000 + i))
        # Sessions are opened one by one first so that the model each gets is known before drawing its rate.
        for rater in raters:
            rater.start()
        with contextlib.closing(open_db(db_path)) as db:
            sessions = dict(db.execute("SELECT id, model FROM sessions").fetchall())
        c = args.concentration
        for i, rater in enumerate(raters):
            mean = args.error_rates[sessions[rater.session_id]]
            rater.error_rate = float(rng.beta(mean * c, (1 - mean) * c))
            if i < args.inattentive:
                rater.error_rate, rater.fail_attention = 0.5, True

        def run(rater):
            try:
                rater.finish()
            except Exception as e:  # reported in results.json; the thread must end
                failures.append(repr(e))

        threads = [threading.Thread(target=run, args=(r,)) for r in raters]
        load_started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join(600)
        load_s = time.perf_counter() - load_started
    latencies = np.concatenate([r.latencies_ms for r in raters])
    sent = sum(len(r.answers) for r in raters)
    with contextlib.closing(open_db(db_path)) as db:
        stored = db.execute("SELECT count(*), count(DISTINCT session_id || ':' || trial_index) FROM answers").fetchone()
    report = write_report(db_path, args.out)
    results = {"raters": args.raters, "answers_sent": sent, "answers_stored": stored[0], "distinct_stored": stored[1],
               "failures": failures, "setup_seconds": round(setup_s, 1), "load_seconds": round(load_s, 1),
               "latency_ms": {"p50": float(np.percentile(latencies, 50)), "p95": float(np.percentile(latencies, 95)),
                              "max": float(latencies.max()), "n": int(latencies.size)},
               "simulated_error_rates": {str(m): args.error_rates[m] for m in range(len(args.runs))},
               "rater_error_rates": [{"model": sessions[r.session_id], "rate": r.error_rate,
                                      "fails_attention": r.fail_attention} for r in raters],
               "report": os.path.join(args.out, "report.json")}
    write_results(args.out, results)
    print(json.dumps({k: results[k] for k in ("answers_sent", "answers_stored", "distinct_stored", "failures",
                                              "load_seconds", "latency_ms")}))
    for m in report["models"]:
        print(m["model"], m["raters"], m["excluded_raters"], m["judgements"],
              {k: round(v["estimate"], 3) for k, v in m["rates"].items()})


if __name__ == "__main__":
    run_main(main)
