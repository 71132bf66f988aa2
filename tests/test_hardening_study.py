"""Hardening of ``gan-jax study``: bad ports and counts, report outputs, the database a failed
serve leaves (none), and the web API's answers to malformed or slow requests.

No model is trained here: the study database holds synthetic stimuli (noise PNGs under
the design of two run directories that need not exist), which is all the app and the
report read.
"""

import contextlib
import os
import secrets
import socket
import sqlite3
import threading
import time

import numpy as np
import pytest
from starlette.testclient import TestClient

from gan_jax.study import server
from gan_jax.study.app import MAX_BODY_BYTES, make_app
from gan_jax.study.server import make_server, prepare_study, study_design
from gan_jax.study.stimuli import encode_png
from cli_checks import assert_one_line_error, run_cli

DESIGN = dict(mode="2afc", trials=4, practice=1, attention_checks=1, exposure_ms=0, pool=8, seed=0)


def _stimuli(design):
    """Rows for the ``stimuli`` table: ``pool`` real and generated (per run) noise images, and the attention ones."""
    rng = np.random.default_rng(0)

    def png():
        return encode_png(rng.uniform(-1, 1, (8, 8, 1)))

    rows = [dict(id=secrets.token_urlsafe(16), kind="real", real_source=design["real"], real_index=i, png=png())
            for i in range(design["pool"])]
    for model, run in enumerate(design["runs"]):
        rows += [dict(id=secrets.token_urlsafe(16), kind="generated", model=model, run_dir=run, checkpoint_step=1,
                      sample_seed=0, sample_index=i, png=png()) for i in range(design["pool"])]
    rows += [dict(id=secrets.token_urlsafe(16), kind="attention", sample_seed=0, sample_index=i, png=png())
             for i in range(design["attention_checks"])]
    return rows


@pytest.fixture(scope="module")
def answered_db(tmp_path_factory):
    """A study database (synthetic stimuli) in which one rater has answered a whole session."""
    root = tmp_path_factory.mktemp("study_hardening")
    design = study_design([str(root / "a"), str(root / "b")], "digits", **DESIGN)
    path = str(root / "study.sqlite")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(server, "build_stimuli", lambda *args: (_stimuli(design), (8, 8, 1)))
        assert prepare_study(path, design) == "created"
    with TestClient(make_app(path)) as client:
        session = client.post("/api/sessions", json={}).json()["session_id"]
        for index in range(DESIGN["practice"] + DESIGN["trials"] + DESIGN["attention_checks"]):
            reply = client.post(f"/api/sessions/{session}/answers",
                                json={"trial_index": index, "response": "left", "response_ms": 5})
            assert reply.status_code == 201, reply.text
    return path


def _cli(capsys, *argv):
    """:func:`run_cli`, with argparse's usage errors (SystemExit) as an exit status too."""
    try:
        return run_cli(capsys, *argv)
    except SystemExit as e:
        out, err = capsys.readouterr()
        return e.code, out, err


def _files(directory):
    return sorted(os.listdir(directory))


# ---------------------------------------------------------------- study serve: port, counts, database

def test_serve_refuses_a_bad_or_busy_port_in_one_line(tmp_path, capsys):
    db = tmp_path / "s.sqlite"
    serve = ["study", "serve", str(tmp_path / "run"), "--real", "digits", "--db", str(db)]
    for port in ("99999", "-1", "65536"):
        code, _, err = run_cli(capsys, *serve, "--port", port)
        assert_one_line_error(code, err, "--port", "65535")
    with contextlib.closing(socket.socket()) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        code, _, err = run_cli(capsys, *serve, "--port", str(busy.getsockname()[1]))
    assert_one_line_error(code, err, "cannot listen", "--port")
    assert _files(tmp_path) == []


COUNT_LIMITS = [  # (command, option, a value beyond its bound, the bound named in --help)
    ("serve", "--trials", "1001", "1000"),
    ("serve", "--trials", "1" * 5000, "1000"),
    ("serve", "--practice", "101", "100"),
    ("serve", "--attention-checks", "1001", "1000"),
    ("serve", "--exposure-ms", "60001", "60000"),
    ("serve", "--pool", "5001", "5000"),
    ("serve", "--seed", str(2**31), "2147483647"),
    ("serve", "--seed", "-1", "2147483647"),
    ("report", "--resamples", "100000000", "100000"),
    ("report", "--resamples", "99", "100000"),
    ("report", "--seed", "-1", "2147483647"),
]


def test_every_count_has_an_upper_bound_named_in_help(tmp_path, capsys):
    db = str(tmp_path / "s.sqlite")
    argv = {"serve": ["study", "serve", str(tmp_path / "run"), "--real", "digits", "--db", db, "--port", "0"],
            "report": ["study", "report", db, "--out", str(tmp_path / "out")]}
    helps = {}
    for command in argv:
        with pytest.raises(SystemExit):
            run_cli(capsys, "study", command, "--help")
        helps[command] = " ".join(capsys.readouterr().out.split("positional arguments:")[1].split())
    for command, option, value, bound in COUNT_LIMITS:
        code, _, err = _cli(capsys, *argv[command], option, value)
        assert_one_line_error(code, err, option, bound)
        assert len(err) < 300, err
        help_line = helps[command].split(option, 1)[1].split(" --")[0]
        assert bound in help_line, (option, help_line)
    many = [str(tmp_path / f"run{i}") for i in range(17)]
    code, _, err = run_cli(capsys, "study", "serve", *many, "--real", "digits", "--db", db, "--port", "0")
    assert_one_line_error(code, err, "at most 16 models")
    assert "at most 16" in helps["serve"]
    assert _files(tmp_path) == []


def test_a_failed_serve_leaves_no_database_and_keeps_an_existing_one(tmp_path, capsys, monkeypatch):
    new_db = tmp_path / "new.sqlite"
    serve = ["study", "serve", str(tmp_path / "no_such_run"), "--real", "digits", "--port", "0"]
    code, _, err = run_cli(capsys, *serve, "--db", str(new_db))
    assert_one_line_error(code, err, "no_such_run")
    assert _files(tmp_path) == []
    # A file that was there before is never removed, not even an empty one.
    kept = tmp_path / "kept.sqlite"
    kept.write_bytes(b"")
    code, _, err = run_cli(capsys, *serve, "--db", str(kept))
    assert_one_line_error(code, err, "no_such_run")
    assert _files(tmp_path) == ["kept.sqlite"] and kept.read_bytes() == b""
    # Storing the study fails after the database file was made: the file goes again.
    design = study_design([str(tmp_path / "a")], "digits", **DESIGN)
    monkeypatch.setattr(server, "build_stimuli", lambda *args: (_stimuli(design), (8, 8, 1)))

    def broken(db, *args):
        db.execute("CREATE TABLE half (x)")
        raise KeyboardInterrupt

    monkeypatch.setattr(server, "create_study", broken)
    with pytest.raises(KeyboardInterrupt):
        prepare_study(str(new_db), design)
    assert _files(tmp_path) == ["kept.sqlite"]


# ---------------------------------------------------------------- study report --out

def test_report_out_must_be_a_directory_and_links_are_replaced_not_followed(answered_db, tmp_path, capsys):
    report = ["study", "report", answered_db, "--resamples", "100"]
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    for out in (a_file, a_file / "sub"):
        code, _, err = run_cli(capsys, *report, "--out", str(out))
        assert_one_line_error(code, err, str(out), "not a directory")
    assert a_file.read_text("utf-8") == "mine"
    out = tmp_path / "out"
    out.mkdir()
    elsewhere = tmp_path / "elsewhere.json"
    os.symlink(elsewhere, out / "report.json")
    code, _, err = run_cli(capsys, *report, "--out", str(out))
    assert_one_line_error(code, err, "report.json exists", "--overwrite")
    code, _, err = run_cli(capsys, *report, "--out", str(out), "--overwrite")
    assert code == 0, err
    assert not os.path.lexists(elsewhere)  # the link was replaced, never written through
    assert not os.path.islink(out / "report.json") and (out / "report.json").read_text().startswith("{")
    assert _files(out) == ["report.json", "report.png"]  # no temporary file left
    before = {name: (out / name).read_bytes() for name in _files(out)}
    code, _, err = run_cli(capsys, *report, "--out", str(out), "--seed", "1")
    assert_one_line_error(code, err, "exists", "--overwrite")
    assert {name: (out / name).read_bytes() for name in _files(out)} == before


# ---------------------------------------------------------------- the web API

def test_api_answers_400_to_out_of_range_or_malformed_fields(answered_db, tmp_path):
    db = str(tmp_path / "study.sqlite")
    with contextlib.closing(sqlite3.connect(answered_db)) as source, contextlib.closing(sqlite3.connect(db)) as copy:
        source.backup(copy)
    with TestClient(make_app(db), raise_server_exceptions=False) as client:
        session = client.post("/api/sessions", json={}).json()["session_id"]
        answers = f"/api/sessions/{session}/answers"
        good = {"trial_index": 0, "response": "left", "response_ms": 5}
        json_header = {"content-type": "application/json"}
        bad = [
            {**good, "trial_index": 99999999999999999999999},
            {**good, "trial_index": 2**63},
            {**good, "trial_index": -(2**70)},
            {**good, "trial_index": 1e300},
            {**good, "trial_index": None},
            {**good, "response_ms": 10**30},
            {**good, "response_ms": -(10**30)},
            {**good, "response": ["left"]},
            {**good, "response": {"left": 1}},
            {**good, "response": "left" * 500},
            {"trial_index": 0},
            {**good, "x" * 3000: 1},
        ]
        for body in bad:
            reply = client.post(answers, json=body)
            assert reply.status_code == 400 and 0 < len(reply.json()["error"]) < 120, (body, reply.status_code,
                                                                                       reply.text[:200])
        deep = [b"[" * 3000, b'{"a":' * 800, b'{"trial_index": ' + b"9" * 4000 + b"}"]
        for content in deep:
            reply = client.post(answers, content=content, headers=json_header)
            assert reply.status_code == 400 and reply.json()["error"], (content[:20], reply.text)
        for rater in (["x"], "R" * 65, "R" * 4000):
            reply = client.post("/api/sessions", json={"rater_id": rater})
            assert reply.status_code in (400, 413) and reply.json()["error"], reply.text
        assert client.post(answers, json=good).status_code == 201  # the server is fine and took nothing else
    with contextlib.closing(sqlite3.connect(db)) as check:
        assert check.execute("SELECT count(*) FROM answers WHERE session_id = ?", (session,)).fetchone()[0] == 1


@contextlib.contextmanager
def _server_thread(db_path, timeout):
    """The study's uvicorn server in a thread on 127.0.0.1, any free port; yields the port."""
    sock = server.bind_socket("127.0.0.1", 0)
    app_server = make_server(db_path, timeout)
    thread = threading.Thread(target=app_server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not app_server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert app_server.started
        yield sock.getsockname()[1]
    finally:
        app_server.should_exit = True
        thread.join(10)
        sock.close()
        assert not thread.is_alive()


def _exchange(port, request: bytes, wait: float) -> "tuple[bytes, float]":
    """Send ``request`` and read until the server closes the connection or ``wait`` s pass:
    ``(what came back, seconds until the connection closed or the wait ended)``."""
    start = time.monotonic()
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as conn:
        conn.sendall(request)
        with contextlib.suppress(socket.timeout, ConnectionResetError):
            while time.monotonic() - start < wait:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                received += chunk
    return received, time.monotonic() - start


def test_a_slow_body_gets_408_and_a_slow_head_is_closed(answered_db, tmp_path):
    db = str(tmp_path / "study.sqlite")
    with contextlib.closing(sqlite3.connect(answered_db)) as source, contextlib.closing(sqlite3.connect(db)) as copy:
        source.backup(copy)
    head = "POST /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    with _server_thread(db, timeout=1.0) as port:
        reply, seconds = _exchange(port, (head + "Content-Length: 100\r\n\r\n").encode() + b'{"rater_id"', wait=6)
        assert reply.startswith(b"HTTP/1.1 408") and b'"error"' in reply, reply
        assert 0.9 < seconds < 4, seconds  # answered after the body timeout, and the connection closed
        too_big = (head + f"Content-Length: {MAX_BODY_BYTES + 1}\r\n\r\n").encode()
        reply, seconds = _exchange(port, too_big, wait=6)
        assert reply.startswith(b"HTTP/1.1 413") and seconds < 0.9, (reply, seconds)
        for partial_head in (b"", head.encode()):  # nothing at all, or headers that never end
            reply, seconds = _exchange(port, partial_head, wait=6)
            assert reply == b"" and 0.9 < seconds < 4, (partial_head, reply, seconds)  # closed
        reply, _ = _exchange(port, b"GET /api/study HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", wait=6)
        assert reply.startswith(b"HTTP/1.1 200"), reply  # still serving
