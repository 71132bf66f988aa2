"""The study web app at the HTTP level, in a real browser, under load and after kill -9.

One tiny trained digits run (2 steps) serves as both models of the 2afc study
(a copy of it is the second model); the single-mode study shows a tiny 28x28
mnist5k run (the shared fixture) against mnist5k's real digits. Each test works
on its own copy of a study database made once per module. "The real server" is ``gan-jax study serve`` started as a
subprocess on 127.0.0.1 on a free port.
"""

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import struct
import threading
import time

import httpx2
import numpy as np
import pytest
from starlette.testclient import TestClient

from gan_jax.cli import main
from gan_jax.study.app import MAX_BODY_BYTES, make_app
from gan_jax.study.server import prepare_study, study_design
from gan_jax.study.simulate import (
    SimulatedRater,
    load_oracle,
    right_response,
    serve_argv,
    server_process,
)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DESIGNS = {
    "2afc": dict(mode="2afc", trials=6, practice=2, attention_checks=2, exposure_ms=0, pool=40, seed=0),
    "single": dict(mode="single", trials=6, practice=2, attention_checks=2, exposure_ms=300, pool=40, seed=0),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("study_runs")
    assert main(["train", "--config", "digits_dcgan", "steps=2", "log_every=1", "sample_every=2",
                 "checkpoint_every=2", "--runs-dir", str(root), "--name", "r", "--no-progress"]) == 0
    shutil.copytree(root / "r", root / "r2")
    return [str(root / "r"), str(root / "r2")]


@pytest.fixture(scope="module")
def study_dbs(runs, mnist5k_run, tmp_path_factory):
    """``{mode: (database path, design)}``: 2afc over both digits runs against digits, single over
    the 28x28 mnist5k run against mnist5k."""
    root = tmp_path_factory.mktemp("study_dbs")
    made = {}
    for mode, options in DESIGNS.items():
        design = (study_design(runs, "digits", **options) if mode == "2afc" else
                  study_design([mnist5k_run[0]], "mnist5k", **options))
        path = str(root / f"{mode}.sqlite")
        assert prepare_study(path, design) == "created"
        made[mode] = (path, design)
    return made


@pytest.fixture
def fresh(study_dbs, tmp_path):
    """A function giving this test its own copy of a study database."""
    def copy(mode):
        source, design = study_dbs[mode]
        target = str(tmp_path / f"{mode}.sqlite")
        shutil.copy(source, target)
        return target, design
    return copy


def _truth(db_path, session_id):
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        return db.execute("SELECT trial_index, practice, attention, left_stimulus, right_stimulus, real_side, "
                          "correct_response FROM trials WHERE session_id = ? ORDER BY trial_index",
                          (session_id,)).fetchall()


def _answers(db_path):
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        return db.execute("SELECT session_id, trial_index, response FROM answers ORDER BY id").fetchall()


@contextlib.contextmanager
def real_server(db_path, design):
    """``gan-jax study serve`` on 127.0.0.1, a free port; yields ``(process, base URL)``."""
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""), JAX_PLATFORMS="cpu")
    with server_process(serve_argv(db_path, design), env=env, cwd=REPO, start_timeout=60) as (process, url):
        assert url.startswith("http://127.0.0.1:")
        yield process, url


def _png_chunks(data: bytes):
    """``[(type, payload)]`` of a PNG file."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, position = [], 8
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        chunks.append((kind.decode(), data[position + 8:position + 8 + length]))
        position += 12 + length
    return chunks


# ---------------------------------------------------------------- HTTP flow (in process)

def test_two_afc_session_flow(fresh):
    db_path, design = fresh("2afc")
    with TestClient(make_app(db_path)) as client:
        info = client.get("/api/study").json()
        assert info == {"mode": "2afc", "exposure_ms": 0, "practice": 2, "trials": 8, "attention_checks": 2,
                        "responses": ["left", "right"]}
        session = client.post("/api/sessions", json={})
        assert session.status_code == 201
        rater_id, session_id = session.json()["rater_id"], session.json()["session_id"]
        assert len(rater_id) >= 32 and len(session_id) >= 32 and rater_id != session_id
        truth = _truth(db_path, session_id)
        assert len(truth) == 10 and sum(t[2] for t in truth) == 2
        rng = np.random.default_rng(0)
        sent, expected_correct = [], 0
        state = client.get(f"/api/sessions/{session_id}").json()
        for index, practice, attention, left, right, real_side, correct_response in truth:
            trial = state["trial"]
            # Before the answer the page knows the images' URLs and nothing else.
            assert set(trial) == {"index", "practice", "images"}
            assert trial == {"index": index, "practice": bool(practice), "images": [f"/stimuli/{left}",
                                                                                     f"/stimuli/{right}"]}
            assert state["score"] is None and not state["done"]
            response = ["left", "right"][int(rng.integers(2))]
            reply = client.post(f"/api/sessions/{session_id}/answers",
                                json={"trial_index": index, "response": response, "response_ms": 700 + index})
            assert reply.status_code == 201
            body = reply.json()
            if practice:
                assert body["feedback"] == {"correct": response == correct_response,
                                            "correct_response": correct_response}
            else:
                assert "feedback" not in body  # no feedback on scored trials
                expected_correct += int(response == correct_response and not attention)
            sent.append((session_id, index, response))
            state = body["session"]
        assert state["done"] and state["trial"] is None
        assert state["score"] == {"correct": expected_correct, "scored": 6}
        assert _answers(db_path) == sent
        again = client.post(f"/api/sessions/{session_id}/answers",
                            json={"trial_index": 9, "response": "left", "response_ms": 5})
        assert again.status_code == 409 and "already answered" in again.json()["error"]
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        row = db.execute("SELECT rater_id, practice, attention, left_source, right_source, real_side, exposure_ms, "
                         "correct, response_ms, answered_at FROM answers WHERE trial_index = 0").fetchone()
    assert row[0] == rater_id and row[1] == 1 and row[6] == 0 and row[8] == 700 and row[9] > 0
    sources = [json.loads(row[3]), json.loads(row[4])]
    real = sources[0] if row[5] == "left" else sources[1]
    fake = sources[1] if row[5] == "left" else sources[0]
    assert real["kind"] == "real" and real["source"] == "digits" and 0 <= real["index"] < 1797
    assert fake["kind"] == "generated" and fake["checkpoint_step"] == 2 and fake["sample_seed"] == 0


def test_single_mode_flow_and_exposure(fresh):
    db_path, _ = fresh("single")
    with TestClient(make_app(db_path)) as client:
        assert client.get("/api/study").json()["responses"] == ["real", "generated"]
        session_id = client.post("/api/sessions", json={}).json()["session_id"]
        state = client.get(f"/api/sessions/{session_id}").json()
        assert state["exposure_ms"] == 300
        for index, practice, attention, left, right, _, correct_response in _truth(db_path, session_id):
            assert right is None and state["trial"]["images"] == [f"/stimuli/{left}"]
            reply = client.post(f"/api/sessions/{session_id}/answers",
                                json={"trial_index": index, "response": correct_response, "response_ms": 10})
            assert reply.status_code == 201
            state = reply.json()["session"]
        assert state["score"] == {"correct": 6, "scored": 6}
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        assert db.execute("SELECT count(*), sum(correct), min(exposure_ms) FROM answers").fetchone() == (10, 10, 300)
        sources = [json.loads(row[0]) for row in db.execute("SELECT left_source FROM answers")]
        pngs = [png for (png,) in db.execute("SELECT png FROM stimuli")]
    # Real 28x28 digits of mnist5k's 4,000 training digits, every stimulus an 8-bit grey 28x28 PNG.
    real = [source for source in sources if source["kind"] == "real"]
    assert real and all(r["source"] == "mnist5k" and 0 <= r["index"] < 4000 for r in real)
    assert {_png_chunks(png)[0][1][:10] for png in pngs} == {struct.pack(">II", 28, 28) + bytes([8, 0])}


def test_models_get_balanced_raters_and_a_rater_each_model_once(fresh):
    db_path, _ = fresh("2afc")
    with TestClient(make_app(db_path)) as client:
        for _ in range(6):
            client.post("/api/sessions", json={})
        first = client.post("/api/sessions", json={}).json()
        # An unfinished session is handed back, not replaced.
        assert client.post("/api/sessions", json={"rater_id": first["rater_id"]}).json() == first
        for index, *_, correct_response in _truth(db_path, first["session_id"]):
            client.post(f"/api/sessions/{first['session_id']}/answers",
                        json={"trial_index": index, "response": correct_response, "response_ms": 1})
        second = client.post("/api/sessions", json={"rater_id": first["rater_id"]}).json()
        assert second["rater_id"] == first["rater_id"] and second["session_id"] != first["session_id"]
        for index, *_, correct_response in _truth(db_path, second["session_id"]):
            client.post(f"/api/sessions/{second['session_id']}/answers",
                        json={"trial_index": index, "response": correct_response, "response_ms": 1})
        third = client.post("/api/sessions", json={"rater_id": first["rater_id"]})
        assert third.status_code == 409 and "every model" in third.json()["error"]
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        per_model = dict(db.execute("SELECT model, count(*) FROM sessions GROUP BY model").fetchall())
        models = [m for (m,) in db.execute("SELECT model FROM sessions WHERE rater_id = ?", (first["rater_id"],))]
    assert abs(per_model[0] - per_model[1]) <= 1 and sum(per_model.values()) == 8
    assert sorted(models) == [0, 1]


def test_nothing_tells_real_from_generated_before_the_answer(fresh):
    db_path, _ = fresh("2afc")
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        by_kind = {kind: [i for (i,) in db.execute("SELECT id FROM stimuli WHERE kind = ?", (kind,))]
                   for kind in ("real", "generated", "attention")}
    with TestClient(make_app(db_path)) as client:
        page = client.get("/")
        assert page.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert "http" not in page.text.replace("http-equiv", "")  # no CDN, nothing from elsewhere
        script = client.get("/static/study.js").text
        assert "real_side" not in script and "/stimuli/" not in script
        forms = set()
        for kind, ids in by_kind.items():
            assert len({len(i) for i in ids}) == 1 and all(i.replace("-", "").replace("_", "").isalnum() for i in ids)
            for stimulus_id in ids[:5]:
                reply = client.get(f"/stimuli/{stimulus_id}")
                headers = dict(reply.headers)  # the byte length too: pixel data is stored uncompressed
                chunks = _png_chunks(reply.content)
                # Same headers, same PNG layout (IHDR: size, bit depth, colour type), no metadata chunks.
                forms.add((json.dumps(headers, sort_keys=True), chunks[0][1],
                           tuple(sorted({kind for kind, _ in chunks}))))
        assert len(forms) == 1, forms
        headers, ihdr, chunk_kinds = forms.pop()
        assert chunk_kinds == ("IDAT", "IEND", "IHDR")
        assert struct.unpack(">II", ihdr[:8]) == (8, 8) and ihdr[8:10] == bytes([8, 0])  # 8-bit grey, like the data
        assert json.loads(headers)["cache-control"] == "no-store"
        # Trials of many sessions: the same form whichever side is real, and identical pages.
        for _ in range(4):
            session_id = client.post("/api/sessions", json={}).json()["session_id"]
            for index, practice, *_ in _truth(db_path, session_id)[:3]:
                state = client.get(f"/api/sessions/{session_id}").json()
                assert set(state) == {"session_id", "mode", "exposure_ms", "total", "practice_total", "answered",
                                      "done", "trial", "score"}
                assert set(state["trial"]) == {"index", "practice", "images"}
                client.post(f"/api/sessions/{session_id}/answers",
                            json={"trial_index": index, "response": "left", "response_ms": 1})
            assert client.get("/").content == page.content


def test_report_counts_and_exclusions(fresh, tmp_path, capsys):
    db_path, design = fresh("2afc")
    # Model m's raters err on ordinary scored trials in a known pattern; rater 0 of model 0
    # fails both attention checks and is excluded.
    with TestClient(make_app(db_path)) as client:
        expected = {0: [0, 0, 0], 1: [0, 0, 0]}  # errors, trials, excluded
        for rater in range(6):
            session_id = client.post("/api/sessions", json={}).json()["session_id"]
            with contextlib.closing(sqlite3.connect(db_path)) as db:
                model = db.execute("SELECT model FROM sessions WHERE id = ?", (session_id,)).fetchone()[0]
            excluded = rater == 0
            scored = 0
            for index, practice, attention, *_, correct_response in _truth(db_path, session_id):
                wrong = ("left" if correct_response == "right" else "right")
                if attention:
                    response = wrong if excluded else correct_response
                elif practice:
                    response = correct_response
                else:
                    response = wrong if scored < model + 1 + rater % 2 else correct_response
                    scored += 1
                    if not excluded:
                        expected[model][0] += int(response == wrong)
                        expected[model][1] += 1
                client.post(f"/api/sessions/{session_id}/answers",
                            json={"trial_index": index, "response": response, "response_ms": 1})
            expected[model][2] += int(excluded)
    out = tmp_path / "report"
    assert main(["study", "report", db_path, "--out", str(out), "--resamples", "500"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert (out / "report.png").stat().st_size > 0
    for model in report["models"]:
        errors, trials, excluded = expected[model["model"]]
        assert model["excluded_raters"] == excluded and model["judgements"] == trials
        rate = model["rates"]["error_generated"]
        assert rate["estimate"] == pytest.approx(errors / trials)
        assert rate["low"] <= rate["estimate"] <= rate["high"]
        assert model["rates"]["error"]["estimate"] == model["rates"]["error_real"]["estimate"] == rate["estimate"]
    pair = report["pairs"][0]
    assert pair["share_a_error_generated_greater"] + pair["share_b_error_generated_greater"] <= 1.0
    assert main(["study", "report", db_path, "--out", str(out)]) == 2  # never overwrites
    assert "exists" in capsys.readouterr().err


# ---------------------------------------------------------------- command-line refusals

def test_serve_and_report_refuse_bad_input(runs, study_dbs, tmp_path, capsys):
    def refused(argv, words):
        try:
            code = main(argv)
        except SystemExit as e:  # a usage error (a count out of its bounds): argparse exits
            code = e.code
        assert code == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and words in err, err

    no_checkpoint = tmp_path / "fresh_run"
    no_checkpoint.mkdir()
    shutil.copy(os.path.join(runs[0], "config.json"), no_checkpoint / "config.json")
    db = str(tmp_path / "s.sqlite")
    serve = ["study", "serve", "--port", "0", "--db", db]
    refused(serve + [str(no_checkpoint), "--real", "digits"], "no checkpoint")
    refused(serve + [runs[0], "--real", "nosuchdata"], "unknown data")
    refused(serve + [runs[0], "--real", "digits", "--mode", "3afc"], "--mode")
    refused(serve + [runs[0], "--real", "digits", "--trials", "0"], "--trials")
    refused(serve + [runs[0], "--real", "digits", "--trials", "500"], "--pool")
    existing, _ = study_dbs["single"]
    refused(["study", "serve", "--port", "0", "--db", existing, runs[0], "--real", "digits"], "another study")
    refused(serve[:-1] + [str(tmp_path / "no" / "s.sqlite"), runs[0], "--real", "digits"], "does not exist")
    refused(serve[:-1] + [str(tmp_path), runs[0], "--real", "digits"], "is a folder")
    foreign = tmp_path / "notes.txt"
    foreign.write_text("not a database at all, just some notes" * 100)
    refused(serve[:-1] + [str(foreign), runs[0], "--real", "digits"], "not a SQLite database")
    other_sqlite = str(tmp_path / "other.sqlite")
    with contextlib.closing(sqlite3.connect(other_sqlite)) as other:
        other.execute("CREATE TABLE t (x)")
    refused(serve[:-1] + [other_sqlite, runs[0], "--real", "digits"], "not a gan-jax study database")
    empty = tmp_path / "empty.sqlite"
    empty.write_bytes(b"")
    out = str(tmp_path / "out")
    refused(["study", "report", str(empty), "--out", out], "not a gan-jax study database")
    refused(["study", "report", str(foreign), "--out", out], "not a SQLite database")
    refused(["study", "report", other_sqlite, "--out", out], "not a gan-jax study database")
    refused(["study", "report", str(tmp_path / "missing.sqlite"), "--out", out], "does not exist")
    refused(["study", "report", existing, "--out", out], "no answers")
    assert not os.path.exists(out)


def test_non_local_host_warns(runs, tmp_path, capsys):
    assert main(["study", "serve", "--host", "0.0.0.0", "--port", "0", "--db", str(tmp_path / "s.sqlite"), runs[0],
                 "--real", "nosuch"]) == 2
    assert "warning: listening on 0.0.0.0" in capsys.readouterr().err


# ---------------------------------------------------------------- the real server

def test_bad_requests_get_json_4xx_and_the_server_keeps_running(fresh):
    db_path, design = fresh("2afc")
    with real_server(db_path, design) as (process, url), httpx2.Client(base_url=url, timeout=10) as client:
        session_id = client.post("/api/sessions", json={}).json()["session_id"]
        answers = f"/api/sessions/{session_id}/answers"
        good = {"trial_index": 0, "response": "left", "response_ms": 10}

        def chunks():
            for _ in range(100):
                yield b"x" * 1000

        bad = [
            (client.get("/api/sessions/" + "A" * 32), 404),
            (client.get("/api/sessions/..%2F..%2Fetc"), 404),
            (client.get("/stimuli/..%2F..%2Fetc%2Fpasswd"), 404),
            (client.get("/stimuli/" + "B" * 22), 404),
            (client.get("/static/app.py"), 404),
            (client.get("/nothing/here"), 404),
            (client.delete("/api/sessions"), 405),
            (client.post(answers, content=b"trial_index=0", headers={"content-type": "text/plain"}), 415),
            (client.post(answers, content=b"{not json", headers={"content-type": "application/json"}), 400),
            (client.post(answers, content=b"\xff\xfe", headers={"content-type": "application/json"}), 400),
            (client.post(answers, json=[1, 2]), 400),
            (client.post(answers, json={**good, "padding": "x" * (2 * MAX_BODY_BYTES)}), 413),
            (client.post(answers, content=chunks(), headers={"content-type": "application/json"}), 413),
            (client.post(answers, json={**good, "response": "real"}), 400),
            (client.post(answers, json={**good, "response_ms": -1}), 400),
            (client.post(answers, json={**good, "response_ms": 1.5}), 400),
            (client.post(answers, json={**good, "response_ms": True}), 400),
            (client.post(answers, json={**good, "trial_index": "0"}), 400),
            (client.post(answers, json={**good, "extra": 1}), 400),
            (client.post(answers, json={**good, "trial_index": 1}), 409),  # out of order
            (client.post(answers, json={**good, "trial_index": 999}), 404),
            (client.post("/api/sessions/" + "C" * 32 + "/answers", json=good), 404),
            (client.post("/api/sessions", json={"rater_id": "D" * 32}), 404),
            (client.post("/api/sessions", json={"rater_id": "../x"}), 400),
            (client.post("/api/sessions", json={"rater_id": 5}), 400),
        ]
        for reply, status in bad:
            assert reply.status_code == status, (reply.request.url, reply.text)
            assert reply.headers["content-type"] == "application/json" and reply.json()["error"]
        assert client.post(answers, json=good).status_code == 201
        assert client.post(answers, json=good).status_code == 409  # accepted once
        assert process.poll() is None
        assert client.get("/api/study").status_code == 200
    assert _answers(db_path) == [(session_id, 0, "left")]


def test_fifty_raters_at_once(fresh):
    db_path, design = fresh("2afc")
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        oracle = load_oracle(db)
    with real_server(db_path, design) as (process, url):
        raters = [SimulatedRater(url, oracle, error_rate=0.3, seed=i) for i in range(50)]
        failures = []

        def run(rater):
            try:
                rater.start()
                rater.finish()
            except Exception as e:  # reported below; the thread must end
                failures.append(repr(e))

        threads = [threading.Thread(target=run, args=(r,)) for r in raters]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not failures and not any(t.is_alive() for t in threads), failures
        assert process.poll() is None
    sent = sorted((r.session_id, a["trial_index"], a["response"]) for r in raters for a in r.answers)
    assert len(sent) == 50 * 10
    assert sorted(_answers(db_path)) == sent  # every answer once, nothing else
    latencies = np.concatenate([r.latencies_ms for r in raters])
    print(f"50 raters, {len(latencies)} answers: p50 {np.percentile(latencies, 50):.1f} ms, "
          f"p95 {np.percentile(latencies, 95):.1f} ms")
    for r in raters:
        r.close()


def test_kill_9_loses_nothing_and_sessions_continue(fresh):
    db_path, design = fresh("2afc")
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        oracle = load_oracle(db)
    raters = []
    with real_server(db_path, design) as (process, url):
        raters = [SimulatedRater(url, oracle, error_rate=0.2, seed=i, timeout=5) for i in range(8)]
        for r in raters:
            r.start()
        stop = threading.Event()
        threads = [threading.Thread(target=lambda r=r: _answer_until_killed(r, stop)) for r in raters]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while sum(len(r.answers) for r in raters) < 24 and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)  # mid-study: raters are still sending
        process.wait()
        stop.set()
        for t in threads:
            t.join(30)
    confirmed = {(r.session_id, a["trial_index"], a["response"]) for r in raters for a in r.answers}
    stored = _answers(db_path)
    assert 24 <= len(confirmed) < 8 * 10
    assert confirmed <= set(stored)  # no confirmed answer is lost
    assert len(stored) <= len(confirmed) + len(raters)  # at most the one in flight per rater
    with real_server(db_path, design) as (process, url):
        for r in raters:
            r.client.close()
            r.client = httpx2.Client(base_url=url, timeout=10)
            before = sum(1 for s in stored if s[0] == r.session_id)
            state = r.refresh()
            assert state["answered"] == before  # continues where it stopped
            assert state["trial"]["index"] == before
            r.finish()
            assert r.state["done"]
    final = _answers(db_path)
    assert len(final) == len(set((s, i) for s, i, _ in final)) == 8 * 10
    assert set(stored) <= set(final)
    for r in raters:
        r.close()


def _answer_until_killed(rater, stop):
    """Answer until the server dies (a connection error) or ``stop`` is set."""
    while not stop.is_set() and not rater.state["done"]:
        try:
            rater.answer_one()
        except httpx2.HTTPError:
            return


# ---------------------------------------------------------------- a real browser

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@contextlib.contextmanager
def chromium(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=900,760",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _browser_session(tmp_path, fresh, by_keyboard, screenshot=None):
    """Take one session through the page; returns the answers given, as ``(trial_index, response)``."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait
    db_path, design = fresh("2afc")
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        oracle = load_oracle(db)
    given = []
    with real_server(db_path, design) as (_, url), chromium(tmp_path) as driver:
        wait = WebDriverWait(driver, 20)
        driver.get(url + "/")
        start = wait.until(ec.element_to_be_clickable((By.ID, "start")))
        instructions = driver.find_element(By.ID, "instructions").text
        assert "2 practice trials, then 8 trials (2 of them check that you are paying attention)" in instructions
        body = driver.find_element(By.TAG_NAME, "body")
        body.send_keys(Keys.ENTER) if by_keyboard else start.click()
        for index in range(10):
            if by_keyboard and index == 5:
                # A reload mid-session offers to continue where the rater stopped.
                driver.refresh()
                start = wait.until(ec.element_to_be_clickable((By.ID, "start")))
                assert start.text == "Continue where you stopped"
                body = driver.find_element(By.TAG_NAME, "body")
                body.send_keys(Keys.ENTER)
            wait.until(ec.element_to_be_clickable((By.ID, "answer-left")))
            wait.until(lambda d: d.execute_script(
                "return [...document.querySelectorAll('#images img')].every(i => i.complete && i.naturalWidth > 0)"))
            # 8x8 digits shown 32 times larger, nearest neighbour.
            image = driver.find_element(By.ID, "image-left")
            assert (image.size["width"], image.size["height"]) == (256, 256)
            assert image.value_of_css_property("image-rendering") == "pixelated"
            assert not driver.find_element(By.ID, "next").is_displayed()
            assert driver.find_element(By.ID, "feedback").text == ""
            progress = driver.find_element(By.ID, "progress").text
            assert progress == (f"Practice {index + 1} of 2" if index < 2 else f"Trial {index - 1} of 8")
            urls = [driver.find_element(By.ID, f"image-{side}").get_attribute("src").split(url)[1]
                    for side in ("left", "right")]
            right = right_response("2afc", urls, oracle)
            response = right if index % 3 else ("left" if right == "right" else "right")
            if screenshot and index == 3:
                driver.save_screenshot(str(screenshot))
            if by_keyboard:
                body.send_keys("f" if response == "left" else "j") if index % 2 else \
                    body.send_keys(Keys.ARROW_LEFT if response == "left" else Keys.ARROW_RIGHT)
            else:
                driver.find_element(By.ID, f"answer-{response}").click()
            given.append((index, response))
            if index < 2:
                feedback = wait.until(ec.visibility_of_element_located((By.ID, "feedback")))
                wait.until(lambda d: d.find_element(By.ID, "feedback").text)
                assert feedback.text.startswith("Correct" if response == right else "Not quite")
                next_button = wait.until(ec.element_to_be_clickable((By.ID, "next")))
                body.send_keys(Keys.ENTER) if by_keyboard else next_button.click()
        score = wait.until(ec.visibility_of_element_located((By.ID, "score"))).text
        with contextlib.closing(sqlite3.connect(db_path)) as db:
            (session_id,), = db.execute("SELECT id FROM sessions").fetchall()
        truth = {t[0]: t for t in _truth(db_path, session_id)}
        correct = sum(1 for i, r in given if not truth[i][1] and not truth[i][2] and r == truth[i][6])
        assert f"right on {correct} of 6 scored trials" in score, score
        assert driver.find_element(By.ID, "error").text == ""
    stored = _answers(db_path)
    assert [(i, r) for _, i, r in stored] == given and len({s for s, _, _ in stored}) == 1
    return given


@pytest.mark.skipif(not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)),
                    reason="needs Debian's chromium and chromium-driver (.ci/run installs them)")
def test_browser_session_by_keyboard(fresh, tmp_path):
    _browser_session(tmp_path, fresh, by_keyboard=True)


@pytest.mark.skipif(not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)),
                    reason="needs Debian's chromium and chromium-driver (.ci/run installs them)")
def test_browser_session_by_clicking(fresh, tmp_path):
    shot = tmp_path / "trial.png"
    _browser_session(tmp_path, fresh, by_keyboard=False, screenshot=shot)
    assert _png_chunks(shot.read_bytes())[0][0] == "IHDR"


@pytest.mark.skipif(not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)),
                    reason="needs Debian's chromium and chromium-driver (.ci/run installs them)")
def test_browser_single_mode_masks_after_the_exposure(fresh, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait
    db_path, design = fresh("single")  # --exposure-ms 300
    with real_server(db_path, design) as (_, url), chromium(tmp_path) as driver:
        wait = WebDriverWait(driver, 20)
        driver.get(url + "/")
        wait.until(ec.element_to_be_clickable((By.ID, "start"))).click()
        wait.until(ec.element_to_be_clickable((By.ID, "answer-right")))
        # A 28x28 mnist5k digit shown 9 times larger (252 pixels), nearest neighbour, not blurred
        # (masked after the exposure by visibility: hidden, which keeps its size).
        image = driver.find_element(By.ID, "image-left")
        wait.until(lambda d: image.size["width"] != 0 and image.get_attribute("naturalWidth") == "28")
        WebDriverWait(driver, 5).until(lambda d: image.size["width"] == 252)
        assert (image.size["width"], image.size["height"]) == (252, 252)
        assert image.value_of_css_property("image-rendering") == "pixelated"
        assert driver.find_element(By.ID, "answer-left").text == "Real (F)"
        assert not driver.find_element(By.ID, "figure-right").is_displayed()  # one image in single mode
        WebDriverWait(driver, 5).until(
            lambda d: "masked" in d.find_element(By.ID, "figure-left").get_attribute("class"))
        assert not driver.find_element(By.ID, "image-left").is_displayed()
        driver.find_element(By.ID, "answer-right").click()
        wait.until(lambda d: d.find_element(By.ID, "feedback").text)
    assert [(i, r) for _, i, r in _answers(db_path)] == [(0, "generated")]
