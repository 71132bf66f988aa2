"""Simulated raters: HTTP clients that take a study through the real API.

A simulated rater perceives each image's truth through an ``oracle`` (the
stimulus id -> kind map that the caller reads from the database) and answers
wrongly with its own error rate; attention checks it answers correctly unless
told to fail them. Used by the load and crash tests and by
``experiments/study_simulated.py``; needs ``httpx2`` (the study extra).
"""

import contextlib
import queue
import signal
import subprocess
import sys
import threading
import time
from typing import Callable, Dict, List, Optional

import numpy as np

__all__ = ["load_oracle", "right_response", "SimulatedRater", "serve_argv", "server_process"]


def serve_argv(db_path: str, design: dict) -> List[str]:
    """The ``gan-jax study serve`` command line (this Python) that continues the
    study ``design`` stored in ``db_path``, on 127.0.0.1 and any free port."""
    argv = [sys.executable, "-m", "gan_jax.cli", "study", "serve", *design["runs"], "--real", design["real"],
            "--db", db_path, "--port", "0"]
    for key in ("mode", "trials", "practice", "attention_checks", "exposure_ms", "pool", "seed"):
        argv += [f"--{key.replace('_', '-')}", str(design[key])]
    return argv


@contextlib.contextmanager
def server_process(argv: List[str], env: Optional[dict] = None, cwd: Optional[str] = None,
                   start_timeout: float = 120.0):
    """Run a ``gan-jax study serve`` command line as a subprocess; yields
    ``(process, base URL)`` once it prints its address, and stops it (SIGINT,
    then SIGKILL) on exit unless it has already ended."""
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=cwd)
    lines: "queue.Queue[str]" = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    url, seen = None, []
    deadline = time.monotonic() + start_timeout
    try:
        while url is None and time.monotonic() < deadline and process.poll() is None:
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                continue
            seen.append(line)
            if line.startswith("serving at "):
                url = line.split()[2].rstrip("/")
        if url is None:
            raise RuntimeError("the study server did not start:\n" + "".join(seen))
        yield process, url
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def load_oracle(db) -> Dict[str, str]:
    """``{stimulus id: 'real' | 'generated' | 'attention'}`` from an open study database."""
    return dict(db.execute("SELECT id, kind FROM stimuli").fetchall())


def right_response(mode: str, image_urls: List[str], oracle: Dict[str, str]) -> str:
    """The right answer to a trial given the truth of its images (``/stimuli/<id>`` URLs)."""
    kinds = [oracle[url.rsplit("/", 1)[-1]] for url in image_urls]
    if mode == "single":
        return "real" if kinds[0] == "real" else "generated"
    return "right" if kinds[0] == "real" else "left"


class SimulatedRater:
    """One rater's session, answer by answer, against ``base_url``.

    ``error_rate``: the probability of a wrong answer on ordinary trials;
    ``fail_attention``: answer attention checks wrongly. ``latencies_ms``
    collects the wall time of every answer request.
    """

    def __init__(self, base_url: str, oracle: Dict[str, str], error_rate: float, seed: int,
                 fail_attention: bool = False, timeout: float = 30.0):
        import httpx2  # optional (the study extra): only the simulated raters need an HTTP client
        self.client = httpx2.Client(base_url=base_url, timeout=timeout)
        self.oracle, self.error_rate, self.fail_attention = oracle, error_rate, fail_attention
        self.rng = np.random.default_rng(seed)
        self.rater_id: Optional[str] = None
        self.session_id: Optional[str] = None
        self.state: Optional[dict] = None
        self.answers: List[dict] = []  # every answer the server confirmed
        self.latencies_ms: List[float] = []

    def start(self) -> None:
        """Open a session (a new rater, or this rater's next session)."""
        body = {} if self.rater_id is None else {"rater_id": self.rater_id}
        reply = self.client.post("/api/sessions", json=body)
        reply.raise_for_status()
        self.rater_id, self.session_id = reply.json()["rater_id"], reply.json()["session_id"]
        self.refresh()

    def refresh(self) -> dict:
        """Ask the server where this session stands (e.g. after it restarted)."""
        reply = self.client.get(f"/api/sessions/{self.session_id}")
        reply.raise_for_status()
        self.state = reply.json()
        return self.state

    def answer_one(self) -> dict:
        """Answer the current trial; returns the confirmed answer."""
        trial = self.state["trial"]
        urls = trial["images"]
        for url in urls:
            self.client.get(url).raise_for_status()
        mode = self.state["mode"]
        right = right_response(mode, urls, self.oracle)
        attention = any(self.oracle[u.rsplit("/", 1)[-1]] == "attention" for u in urls)
        wrong = self.fail_attention if attention else self.rng.random() < self.error_rate
        options = ("left", "right") if mode == "2afc" else ("real", "generated")
        response = [o for o in options if o != right][0] if wrong else right
        sent = {"trial_index": trial["index"], "response": response,
                "response_ms": int(self.rng.integers(300, 3000))}
        started = time.perf_counter()
        reply = self.client.post(f"/api/sessions/{self.session_id}/answers", json=sent)
        self.latencies_ms.append(1000.0 * (time.perf_counter() - started))
        reply.raise_for_status()
        self.state = reply.json()["session"]
        self.answers.append(sent)
        return sent

    def finish(self, stop: Callable[[], bool] = lambda: False) -> None:
        """Answer until the session is done or ``stop()`` is true (bounded by the session's length)."""
        for _ in range(self.state["total"]):
            if self.state["done"] or stop():
                return
            self.answer_one()

    def close(self) -> None:
        self.client.close()
