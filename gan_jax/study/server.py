"""Setting a study up in its database and serving it (uvicorn on a socket we bind)."""

import os
import socket
from typing import Optional, Sequence

from gan_jax.errors import UserError
from gan_jax.io import paths
from gan_jax.study.plan import MODES, attention_checks_for, images_needed
from gan_jax.study.stimuli import build_stimuli
from gan_jax.study.store import check_db_path, create_study, open_db, read_design, remove_db

__all__ = ["DESIGN_KEYS", "MAX_PORT", "study_design", "prepare_study", "bind_socket",
           "make_server", "serve"]

#: The largest TCP port number.
MAX_PORT = 65535

#: The options that define a study; a database made with other values is another study.
DESIGN_KEYS = ("runs", "real", "mode", "trials", "practice", "attention_checks", "exposure_ms", "pool", "seed")


def study_design(runs: Sequence[str], real: str, mode: str = "2afc", trials: int = 50, practice: int = 5,
                 attention_checks: Optional[int] = None, exposure_ms: int = 0, pool: int = 200,
                 seed: int = 0, generator: str = "auto") -> dict:
    """The design as stored in the database, after checking the values (UserError). ``generator``
    (which generator of each run draws) is stored only when it is not ``auto``, so that studies
    created before the option existed continue as they are."""
    if mode not in MODES:
        raise UserError(f"--mode must be one of {', '.join(MODES)}, got {mode!r}")
    if not runs:
        raise UserError("name at least one run directory to study")
    absolute = [os.path.abspath(run) for run in runs]
    if len(set(absolute)) != len(absolute):
        raise UserError("a run directory is named twice; name each model once")
    if trials < 1 or practice < 0 or exposure_ms < 0 or pool < 1:
        raise UserError(f"need --trials >= 1, --practice >= 0, --exposure-ms >= 0 and --pool >= 1; "
                        f"got {trials}, {practice}, {exposure_ms}, {pool}")
    attention = attention_checks_for(trials) if attention_checks is None else attention_checks
    if attention < 0:
        raise UserError(f"--attention-checks must be >= 0, got {attention}")
    need = images_needed(mode, practice, trials, attention)
    if pool < max(need.values()):
        raise UserError(f"a session shows {need['real']} real and {need['generated']} generated images "
                        f"(never one twice) but --pool is {pool}; raise --pool or lower --trials/--practice")
    design = dict(runs=absolute, real=real, mode=mode, trials=trials, practice=practice,
                  attention_checks=attention, exposure_ms=exposure_ms, pool=pool, seed=seed)
    if generator != "auto":
        design["generator"] = generator
    return design


def prepare_study(db_path: str, design: dict) -> str:
    """Create the study in ``db_path`` (sampling every stimulus), or check that
    the database already holds this very study (then nothing is sampled).
    Returns ``"created"`` or ``"continued"``; UserError for another study.

    Every input is checked, and every stimulus made, before a new database file
    is created; a file this call created is removed again if the study could not
    be stored in it (a file that existed before is never removed)."""
    check_db_path(db_path, create=True)
    if _holds_this_study(db_path, design):
        return "continued"
    stimuli, _ = build_stimuli(design["runs"], design["real"], design["pool"], design["attention_checks"],
                               design["seed"], design.get("generator", "auto"))
    paths.check_free_space(db_path, sum(len(s["png"]) for s in stimuli))
    created = not os.path.lexists(db_path)
    try:
        db = open_db(db_path, create=True)
        try:
            create_study(db, design, stimuli)
        finally:
            db.close()
    except BaseException:
        if created:
            remove_db(db_path)
        raise
    return "created"


def _holds_this_study(db_path: str, design: dict) -> bool:
    """True if ``db_path`` holds the study ``design``; False if it is missing or an empty
    database (the study goes in); UserError for another study or a foreign file."""
    if not os.path.exists(db_path) or os.path.getsize(db_path) == 0:
        return False
    db = open_db(db_path, create=True)
    try:
        stored = read_design(db)
        if stored is not None:
            different = [k for k in DESIGN_KEYS if stored.get(k) != design[k]]
            if different:
                raise UserError(f"{db_path} holds another study (its {', '.join(different)} differ); "
                                "pass the same options to continue it or a new --db for a new study")
            return True
        if db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            raise UserError(f"{db_path} is not a gan-jax study database; pass a new --db file")
        return False
    finally:
        db.close()


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port); UserError if it cannot be bound."""
    if not 0 <= port <= MAX_PORT:
        raise UserError(f"--port must be from 0 (any free port) to {MAX_PORT}, got {port}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except (OSError, ValueError) as e:  # ValueError: a host name that is no address at all
        sock.close()
        reason = getattr(e, "strerror", None) or str(e)
        raise UserError(f"cannot listen on {host}:{port} ({reason}); pick another --port or --host") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def make_server(db_path: str, timeout: Optional[float] = None):
    """The uvicorn server of the study in ``db_path`` (not started). ``timeout`` (default
    :data:`gan_jax.study.app.BODY_TIMEOUT_S`) bounds each wait on a client: for a request's
    head (line and headers) a connection that is too slow is closed; for its body the
    reply is HTTP 408."""
    import uvicorn  # the web server and framework are the optional `study` extra

    from gan_jax.study.app import BODY_TIMEOUT_S, make_app
    timeout = BODY_TIMEOUT_S if timeout is None else timeout
    config = uvicorn.Config(make_app(db_path, timeout), log_level="warning", access_log=False, lifespan="on",
                            http=_h11_with_head_timeout(timeout))
    return uvicorn.Server(config)


def _h11_with_head_timeout(timeout: float):
    """uvicorn's h11 protocol, closing a connection that has not sent a whole request head
    within ``timeout`` seconds of opening or of its last response (uvicorn alone would wait
    for it forever: its keep-alive timer stops at the first byte)."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeadTimeoutProtocol(H11Protocol):
        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._expect_head()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._expect_head()

        def _expect_head(self) -> None:
            waiting = self.cycle  # a new request head replaces it

            def expire() -> None:
                if self.cycle is waiting and not self.transport.is_closing():
                    self.transport.close()
            self.loop.call_later(timeout, expire)

    return HeadTimeoutProtocol


def serve(db_path: str, sock: socket.socket) -> None:
    """Serve the study in ``db_path`` on the bound ``sock`` until interrupted."""
    make_server(db_path).run(sockets=[sock])
