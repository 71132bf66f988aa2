"""Setting a study up in its database and serving it (uvicorn on a socket we bind)."""

import os
import socket
from typing import Optional, Sequence

from gan_jax.errors import UserError
from gan_jax.study.plan import MODES, attention_checks_for, images_needed
from gan_jax.study.stimuli import build_stimuli
from gan_jax.study.store import create_study, open_db, read_design

__all__ = ["DESIGN_KEYS", "study_design", "prepare_study", "bind_socket", "serve"]

# The options that define a study; a database made with other values is another study.
DESIGN_KEYS = ("runs", "real", "mode", "trials", "practice", "attention_checks", "exposure_ms", "pool", "seed")


def study_design(runs: Sequence[str], real: str, mode: str = "2afc", trials: int = 50, practice: int = 5,
                 attention_checks: Optional[int] = None, exposure_ms: int = 0, pool: int = 200,
                 seed: int = 0) -> dict:
    """The design as stored in the database, after checking the values (UserError)."""
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
    return dict(runs=absolute, real=real, mode=mode, trials=trials, practice=practice,
                attention_checks=attention, exposure_ms=exposure_ms, pool=pool, seed=seed)


def prepare_study(db_path: str, design: dict) -> str:
    """Create the study in ``db_path`` (sampling every stimulus), or check that
    the database already holds this very study (then nothing is sampled).
    Returns ``"created"`` or ``"continued"``; UserError for another study."""
    existed = os.path.exists(db_path)
    db = open_db(db_path, create=True)
    try:
        stored = read_design(db)
        if stored is not None:
            different = [k for k in DESIGN_KEYS if stored.get(k) != design[k]]
            if different:
                raise UserError(f"{db_path} holds another study (its {', '.join(different)} differ); "
                                "pass the same options to continue it or a new --db for a new study")
            return "continued"
        if existed and db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            raise UserError(f"{db_path} is not a gan-jax study database; pass a new --db file")
        stimuli, _ = build_stimuli(design["runs"], design["real"], design["pool"], design["attention_checks"],
                                   design["seed"])
        create_study(db, design, stimuli)
        return "created"
    finally:
        db.close()


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port); UserError if it cannot be bound."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise UserError(f"cannot listen on {host}:{port} ({e.strerror}); pick another --port or --host") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def serve(db_path: str, sock: socket.socket) -> None:
    """Serve the study in ``db_path`` on the bound ``sock`` until interrupted."""
    import uvicorn  # the web server and framework are the optional `study` extra

    from gan_jax.study.app import make_app
    config = uvicorn.Config(make_app(db_path), log_level="warning", access_log=False, lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])
