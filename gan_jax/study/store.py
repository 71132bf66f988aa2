"""The study database: one SQLite file (standard library, WAL journal).

Tables: ``study`` (one row: the design as JSON), ``stimuli`` (encoded PNG
bytes under an opaque id, with where each came from), ``sessions`` (rater and
session tokens, the assigned model), ``trials`` (the planned trials of each
session) and ``answers`` (one row per answer, committed the moment it
arrives; ``UNIQUE(session_id, trial_index)`` makes a second answer to the same
trial impossible even if two requests race).
"""

import contextlib
import json
import os
import sqlite3
import time
import urllib.parse
from typing import Optional

from gan_jax.errors import UserError

__all__ = ["SCHEMA_VERSION", "STIMULUS_COLUMNS", "check_db_path", "remove_db", "open_db", "create_study", "read_design",
           "check_study_db"]

#: The version of the study database's tables (SQLite ``user_version``).
SCHEMA_VERSION = 1
_APPLICATION_ID = 0x67616E73  # "gans": marks a file as a gan-jax study database

_SCHEMA = """
CREATE TABLE study (id INTEGER PRIMARY KEY CHECK (id = 1), schema_version INTEGER NOT NULL,
                    design TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE stimuli (id TEXT PRIMARY KEY, kind TEXT NOT NULL CHECK (kind IN ('real', 'generated', 'attention')),
                      model INTEGER, run_dir TEXT, checkpoint_step INTEGER, sample_seed INTEGER,
                      sample_index INTEGER, real_source TEXT, real_index INTEGER, png BLOB NOT NULL);
CREATE TABLE sessions (id TEXT PRIMARY KEY, rater_id TEXT NOT NULL, model INTEGER NOT NULL,
                       created REAL NOT NULL, UNIQUE (rater_id, model));
CREATE TABLE trials (session_id TEXT NOT NULL REFERENCES sessions(id), trial_index INTEGER NOT NULL,
                     practice INTEGER NOT NULL, attention INTEGER NOT NULL,
                     left_stimulus TEXT NOT NULL REFERENCES stimuli(id),
                     right_stimulus TEXT REFERENCES stimuli(id),
                     real_side TEXT, correct_response TEXT NOT NULL, PRIMARY KEY (session_id, trial_index));
CREATE TABLE answers (id INTEGER PRIMARY KEY AUTOINCREMENT, rater_id TEXT NOT NULL,
                      session_id TEXT NOT NULL REFERENCES sessions(id), trial_index INTEGER NOT NULL,
                      practice INTEGER NOT NULL, attention INTEGER NOT NULL,
                      left_stimulus TEXT NOT NULL, left_source TEXT NOT NULL,
                      right_stimulus TEXT, right_source TEXT, real_side TEXT,
                      exposure_ms INTEGER NOT NULL, response TEXT NOT NULL, correct INTEGER NOT NULL,
                      response_ms INTEGER NOT NULL, answered_at REAL NOT NULL,
                      UNIQUE (session_id, trial_index));
"""


def check_db_path(path: str, create: bool = False) -> None:
    """UserError unless ``path`` names a database file: an existing file, or (``create``) a
    file or a new name in an existing folder. Opens nothing and creates nothing."""
    if not create and not os.path.isfile(path):
        raise UserError(f"{path} does not exist; pass the --db file that `gan-jax study serve` wrote")
    if create and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        raise UserError(f"the folder of {path} does not exist; create it or pass another --db")
    if os.path.isdir(path):
        raise UserError(f"{path} is a folder; pass a database file")


def remove_db(path: str) -> None:
    """Delete the database file ``path`` and SQLite's files beside it (``-wal``, ``-shm``,
    ``-journal``); for a database this process has just created and not initialised."""
    for name in (path, path + "-wal", path + "-shm", path + "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(name)


def _check_is_study(path: str, create: bool) -> None:
    """UserError unless the existing file ``path`` is a gan-jax study database (or, with
    ``create``, an empty SQLite database), read through a read-only connection."""
    try:
        probe = sqlite3.connect(f"file:{urllib.parse.quote(os.path.abspath(path))}?mode=ro", uri=True)
        try:
            application_id = probe.execute("PRAGMA application_id").fetchone()[0]
            tables = probe.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        finally:
            probe.close()
    except sqlite3.DatabaseError as e:
        raise UserError(f"{path} is not a SQLite database ({e}); pass a study database "
                        "or a new file name") from None
    if application_id != _APPLICATION_ID and (tables or not create):
        raise UserError(f"{path} is not a gan-jax study database; pass the file that "
                        "`gan-jax study serve` wrote or a new file name")


def open_db(path: str, create: bool = False) -> sqlite3.Connection:
    """A connection in WAL mode with full fsync on commit and foreign keys on.

    Raises UserError when ``path`` is missing (unless ``create``) or is not a
    gan-jax study database.
    """
    check_db_path(path, create)
    if os.path.isfile(path) and os.path.getsize(path) > 0 or not create:
        _check_is_study(path, create)   # read-only first: a file that is not a study is never changed
    try:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA busy_timeout=5000")
        application_id = db.execute("PRAGMA application_id").fetchone()[0]
        tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    except sqlite3.DatabaseError as e:
        raise UserError(f"{path} is not a SQLite database ({e}); pass a study database "
                        "or a new file name") from None
    if application_id != _APPLICATION_ID and (tables or not create):
        db.close()
        raise UserError(f"{path} is not a gan-jax study database; pass the file that "
                        "`gan-jax study serve` wrote or a new file name")
    return db


#: The columns of the ``stimuli`` table, in order.
STIMULUS_COLUMNS = ("id", "kind", "model", "run_dir", "checkpoint_step", "sample_seed", "sample_index",
                    "real_source", "real_index", "png")


def create_study(db: sqlite3.Connection, design: dict, stimuli) -> None:
    """In one transaction: create the tables, store ``design`` (a JSON-able
    dict) and the ``stimuli`` (dicts keyed by ``STIMULUS_COLUMNS``), so that a
    crash leaves either no study or a whole one."""
    db.execute("BEGIN IMMEDIATE")
    try:
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)
        db.execute(f"PRAGMA application_id={_APPLICATION_ID}")
        db.execute("INSERT INTO study VALUES (1, ?, ?, ?)",
                   (SCHEMA_VERSION, json.dumps(design, sort_keys=True), time.time()))
        db.executemany(f"INSERT INTO stimuli VALUES ({', '.join('?' * len(STIMULUS_COLUMNS))})",
                       [tuple(s.get(c) for c in STIMULUS_COLUMNS) for s in stimuli])
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def read_design(db: sqlite3.Connection) -> Optional[dict]:
    """The stored design, or None for a database without a study yet."""
    if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'study'").fetchone():
        return None
    row = db.execute("SELECT schema_version, design FROM study").fetchone()
    if row is None:
        return None
    if row[0] != SCHEMA_VERSION:
        raise UserError(f"this study database has schema version {row[0]}, this gan-jax reads "
                        f"{SCHEMA_VERSION}; use the gan-jax version that made it")
    return json.loads(row[1])


def check_study_db(path: str) -> sqlite3.Connection:
    """Open an existing study database for reading (UserError if empty or foreign)."""
    db = open_db(path)
    if read_design(db) is None:
        db.close()
        raise UserError(f"{path} holds no study; run `gan-jax study serve ... --db {path}` first")
    return db
