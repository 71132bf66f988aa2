"""The study web app (Starlette): the page, the stimuli and a small JSON API.

    GET  /                                   the page (static, the same for everyone)
    GET  /static/study.js, /static/study.css
    GET  /api/study                          mode, exposure, numbers of trials
    POST /api/sessions        {"rater_id"?}  a new session (or the rater's unfinished one)
    GET  /api/sessions/{id}                  progress and the current trial
    POST /api/sessions/{id}/answers          {"trial_index", "response", "response_ms"}
    GET  /stimuli/{id}                       a PNG by its opaque id

A trial as the page sees it holds the images' URLs and nothing else: which
image is real is known to the page only from the answer's reply, after the
answer is committed, and only for practice trials. Every handler is ``async``
and touches SQLite on the event loop's thread, so requests are handled one at
a time against one connection: an answer is checked (right session, the next
trial, not yet answered) and committed before the next request is looked at.
"""

import asyncio
import contextlib
import json
import os
import re
import secrets
import sqlite3
import time
from typing import Optional

import numpy as np
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gan_jax.study.plan import RESPONSES, choose_model, plan_trials
from gan_jax.study.store import open_db, read_design

__all__ = ["make_app", "MAX_BODY_BYTES", "MAX_TRIAL_INDEX", "BODY_TIMEOUT_S"]

#: The largest request body the study app reads.
MAX_BODY_BYTES = 4096
MAX_TRIAL_INDEX = 2**31 - 1  #: SQLite stores up to 2**63 - 1; no session comes near either
BODY_TIMEOUT_S = 10.0  #: seconds a request's body may take to arrive after its headers
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_STATIC = {"study.js": "text/javascript; charset=utf-8", "study.css": "text/css; charset=utf-8"}
_STATIC_DIR = os.path.join(os.path.dirname(__file__), "static")
_NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
_PAGE_HEADERS = {**_NO_STORE, "Content-Security-Policy": "default-src 'self'; img-src 'self'",
                 "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}
_MAX_RESPONSE_MS = 24 * 3600 * 1000


class _Refusal(Exception):
    """A request the app refuses: HTTP ``status`` and a one-line ``message``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def _read_static(name: str) -> bytes:
    with open(os.path.join(_STATIC_DIR, name), "rb") as f:
        return f.read()


async def _read_body(request, timeout: float) -> bytes:
    """The request's body, at most MAX_BODY_BYTES (read in chunks, so a huge or
    endless body is refused without being held), all of it within ``timeout``
    seconds (408 otherwise: a body shorter than its Content-Length never ends)."""
    declared = request.headers.get("content-length")
    if declared is not None and not declared.isdigit():
        raise _Refusal(400, "the Content-Length header is not a number")
    if declared is not None and int(declared) > MAX_BODY_BYTES:
        raise _Refusal(413, f"the body must be at most {MAX_BODY_BYTES} bytes")

    async def collect() -> bytes:
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                raise _Refusal(413, f"the body must be at most {MAX_BODY_BYTES} bytes")
        return body

    try:
        return await asyncio.wait_for(collect(), timeout)
    except asyncio.TimeoutError:
        raise _Refusal(408, f"the body did not arrive within {timeout:g} s; send it again") from None
    except ClientDisconnect:
        raise _Refusal(400, "the request body was cut off") from None


async def _json_body(request, timeout: float) -> dict:
    """The request's JSON object (:func:`_read_body`)."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise _Refusal(415, "send the body as application/json")
    body = await _read_body(request, timeout)
    try:
        value = json.loads(body.decode("utf-8")) if body else {}
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: nested too deeply
        raise _Refusal(400, "the body is not valid JSON") from None
    if not isinstance(value, dict):
        raise _Refusal(400, "the body must be a JSON object")
    return value


class _Study:
    """The app's state: one database connection and the study's design."""

    def __init__(self, db_path: str):
        self.db = open_db(db_path)
        self.design = read_design(self.db)
        if self.design is None:
            raise ValueError(f"{db_path} holds no study")
        self.mode = self.design["mode"]
        rows = self.db.execute("SELECT id, kind, model FROM stimuli").fetchall()
        self.real_ids = sorted(i for i, kind, _ in rows if kind == "real")
        self.attention_ids = sorted(i for i, kind, _ in rows if kind == "attention")
        self.generated_ids = [sorted(i for i, kind, m in rows if kind == "generated" and m == model)
                              for model in range(len(self.design["runs"]))]
        self.sources = {i: self._source(i) for i, _, _ in rows}

    def _source(self, stimulus_id: str) -> str:
        kind, model, run, step, seed, index, real, real_index = self.db.execute(
            "SELECT kind, model, run_dir, checkpoint_step, sample_seed, sample_index, real_source, "
            "real_index FROM stimuli WHERE id = ?", (stimulus_id,)).fetchone()
        if kind == "generated":
            source = dict(kind=kind, model=model, run=run, checkpoint_step=step, sample_seed=seed,
                          sample_index=index)
        elif kind == "real":
            source = dict(kind=kind, source=real, index=real_index)
        else:
            source = dict(kind=kind, noise_seed=seed, index=index)
        return json.dumps(source, sort_keys=True)

    def new_session(self, rater_id: Optional[str]) -> dict:
        if rater_id is None:
            rater_id = secrets.token_urlsafe(24)
        else:
            known = self.db.execute("SELECT 1 FROM sessions WHERE rater_id = ?", (rater_id,)).fetchone()
            if not known:
                raise _Refusal(404, "unknown rater_id; start without one to get a new rater id")
            unfinished = self.db.execute(
                "SELECT s.id FROM sessions s WHERE s.rater_id = ? AND "
                "(SELECT count(*) FROM answers a WHERE a.session_id = s.id) < "
                "(SELECT count(*) FROM trials t WHERE t.session_id = s.id)", (rater_id,)).fetchone()
            if unfinished:
                return {"rater_id": rater_id, "session_id": unfinished[0]}
        rng = np.random.default_rng(secrets.randbits(128))
        counts = [0] * len(self.generated_ids)
        for model, n in self.db.execute("SELECT model, count(*) FROM sessions GROUP BY model"):
            counts[model] = n
        taken = [m for (m,) in self.db.execute("SELECT model FROM sessions WHERE rater_id = ?", (rater_id,))]
        model = choose_model(counts, taken, rng)
        if model < 0:
            raise _Refusal(409, "this rater has rated every model of the study; thank you")
        d = self.design
        plan = plan_trials(rng, self.mode, d["practice"], d["trials"], d["attention_checks"], self.real_ids,
                           self.generated_ids[model], self.attention_ids)
        session_id = secrets.token_urlsafe(24)
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute("INSERT INTO sessions VALUES (?, ?, ?, ?)", (session_id, rater_id, model, time.time()))
            self.db.executemany(
                "INSERT INTO trials VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(session_id, i, int(t["practice"]), int(t["attention"]), t["left"], t["right"],
                  t["real_side"], t["correct_response"]) for i, t in enumerate(plan)])
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        return {"rater_id": rater_id, "session_id": session_id}

    def _session_row(self, session_id: str):
        row = None
        if _TOKEN.match(session_id):
            row = self.db.execute("SELECT rater_id FROM sessions WHERE id = ?", (session_id,)).fetchone()
        if row is None:
            raise _Refusal(404, "unknown session; start a new one")
        return row[0]

    def progress(self, session_id: str) -> dict:
        self._session_row(session_id)
        total, practice = self.db.execute(
            "SELECT count(*), coalesce(sum(practice), 0) FROM trials WHERE session_id = ?", (session_id,)).fetchone()
        answered = self.db.execute("SELECT count(*) FROM answers WHERE session_id = ?", (session_id,)).fetchone()[0]
        state = {"session_id": session_id, "mode": self.mode, "exposure_ms": self.design["exposure_ms"],
                 "total": total, "practice_total": practice, "answered": answered, "done": answered >= total,
                 "trial": None, "score": None}
        if answered < total:
            is_practice, left, right = self.db.execute(
                "SELECT practice, left_stimulus, right_stimulus FROM trials WHERE session_id = ? AND trial_index = ?",
                (session_id, answered)).fetchone()
            images = [f"/stimuli/{left}"] + ([f"/stimuli/{right}"] if right else [])
            state["trial"] = {"index": answered, "practice": bool(is_practice), "images": images}
        else:
            correct, scored = self.db.execute(
                "SELECT coalesce(sum(correct), 0), count(*) FROM answers WHERE session_id = ? AND practice = 0 "
                "AND attention = 0", (session_id,)).fetchone()
            state["score"] = {"correct": correct, "scored": scored}
        return state

    def answer(self, session_id: str, body: dict) -> dict:
        rater_id = self._session_row(session_id)
        index, response, response_ms = body.get("trial_index"), body.get("response"), body.get("response_ms")
        if set(body) - {"trial_index", "response", "response_ms"}:
            raise _Refusal(400, "unexpected fields; send only trial_index, response and response_ms")
        if type(index) is not int or not 0 <= index <= MAX_TRIAL_INDEX:
            raise _Refusal(400, f"trial_index must be an integer from 0 to {MAX_TRIAL_INDEX}")
        if response not in RESPONSES[self.mode]:
            raise _Refusal(400, f"response must be one of {list(RESPONSES[self.mode])}")
        if type(response_ms) is not int or not 0 <= response_ms <= _MAX_RESPONSE_MS:
            raise _Refusal(400, f"response_ms must be an integer from 0 to {_MAX_RESPONSE_MS}")
        trial = self.db.execute(
            "SELECT practice, attention, left_stimulus, right_stimulus, real_side, correct_response FROM trials "
            "WHERE session_id = ? AND trial_index = ?", (session_id, index)).fetchone()
        if trial is None:
            raise _Refusal(404, f"this session has no trial {index}")
        answered = self.db.execute("SELECT count(*) FROM answers WHERE session_id = ?", (session_id,)).fetchone()[0]
        if index < answered:
            raise _Refusal(409, f"trial {index} is already answered; the next trial is {answered}")
        if index > answered:
            raise _Refusal(409, f"answer trial {answered} first (answers are taken in order)")
        practice, attention, left, right, real_side, correct_response = trial
        correct = response == correct_response
        try:
            self.db.execute(
                "INSERT INTO answers (rater_id, session_id, trial_index, practice, attention, left_stimulus, "
                "left_source, right_stimulus, right_source, real_side, exposure_ms, response, correct, "
                "response_ms, answered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (rater_id, session_id, index, practice, attention, left, self.sources[left], right,
                 self.sources[right] if right else None, real_side, self.design["exposure_ms"], response,
                 int(correct), response_ms, time.time()))
        except sqlite3.IntegrityError:
            raise _Refusal(409, f"trial {index} is already answered") from None
        reply = {"stored": True, "session": self.progress(session_id)}
        if practice:
            reply["feedback"] = {"correct": correct, "correct_response": correct_response}
        return reply

    def stimulus(self, stimulus_id: str) -> bytes:
        row = None
        if _TOKEN.match(stimulus_id):
            row = self.db.execute("SELECT png FROM stimuli WHERE id = ?", (stimulus_id,)).fetchone()
        if row is None:
            raise _Refusal(404, "no such image")
        return row[0]


def make_app(db_path: str, body_timeout: float = BODY_TIMEOUT_S):
    """The Starlette app serving the study stored in ``db_path``; a request's body must
    arrive within ``body_timeout`` seconds of its headers (else HTTP 408)."""

    study = _Study(db_path)
    page = _read_static("index.html")
    static = {name: _read_static(name) for name in _STATIC}

    def refuse(status: int, message: str):
        return JSONResponse({"error": message}, status_code=status, headers=_NO_STORE)

    def reply(payload, status: int = 200):
        return JSONResponse(payload, status_code=status, headers=_NO_STORE)

    async def index(request):
        return Response(page, media_type="text/html; charset=utf-8", headers=_PAGE_HEADERS)

    async def static_file(request):
        name = request.path_params["name"]
        if name not in static:
            raise _Refusal(404, "no such file")
        return Response(static[name], media_type=_STATIC[name], headers=_PAGE_HEADERS)

    async def study_info(request):
        d = study.design
        return reply({"mode": d["mode"], "exposure_ms": d["exposure_ms"], "practice": d["practice"],
                      "trials": d["trials"] + d["attention_checks"], "attention_checks": d["attention_checks"],
                      "responses": list(RESPONSES[d["mode"]])})

    async def new_session(request):
        body = await _json_body(request, body_timeout)
        if set(body) - {"rater_id"}:
            raise _Refusal(400, "the only field is rater_id")
        rater_id = body.get("rater_id")
        if rater_id is not None and (not isinstance(rater_id, str) or not _TOKEN.match(rater_id)):
            raise _Refusal(400, "rater_id must be the token this server gave out")
        return reply(study.new_session(rater_id), 201)

    async def session_state(request):
        return reply(study.progress(request.path_params["session_id"]))

    async def answer(request):
        body = await _json_body(request, body_timeout)
        return reply(study.answer(request.path_params["session_id"], body), 201)

    async def stimulus(request):
        return Response(study.stimulus(request.path_params["stimulus_id"]), media_type="image/png",
                        headers=_NO_STORE)

    async def on_refusal(request, exc: _Refusal):
        response = refuse(exc.status, exc.message)
        if exc.status in (408, 413):  # the body was not read to its end: this connection cannot go on
            response.headers["Connection"] = "close"
        return response

    async def on_http_error(request, exc: HTTPException):
        return refuse(exc.status_code, str(exc.detail))

    async def on_error(request, exc: Exception):
        return refuse(500, f"internal error ({type(exc).__name__}); the answer may not be stored, reload the page")

    routes = [Route("/", index, methods=["GET"]),
              Route("/static/{name}", static_file, methods=["GET"]),
              Route("/api/study", study_info, methods=["GET"]),
              Route("/api/sessions", new_session, methods=["POST"]),
              Route("/api/sessions/{session_id}", session_state, methods=["GET"]),
              Route("/api/sessions/{session_id}/answers", answer, methods=["POST"]),
              Route("/stimuli/{stimulus_id}", stimulus, methods=["GET"])]
    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        study.db.close()

    app = Starlette(routes=routes, exception_handlers={_Refusal: on_refusal, HTTPException: on_http_error,
                                                       Exception: on_error}, lifespan=lifespan)
    app.state.study = study
    return app
