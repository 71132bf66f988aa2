"""gan_jax.runs.runlog: metrics.jsonl (one JSON row per log call) and TensorBoard in a
local run directory; append on resume; dropping the rows a resumed run logs again."""

import json
import logging
import os
import random

from gan_jax.runs.runlog import (
    MAX_ROW_BYTES,
    METRICS_FILE,
    TENSORBOARD_DIR,
    LibraryLog,
    RunLogger,
    drop_rows_after,
    library_logs,
)


def _rows(run_dir):
    with open(os.path.join(run_dir, METRICS_FILE)) as f:
        return [json.loads(line) for line in f]


def test_names():
    assert METRICS_FILE == "metrics.jsonl" and TENSORBOARD_DIR == "tensorboard"


def test_one_json_row_per_log_call(tmp_path):
    logger = RunLogger(str(tmp_path), append=False)
    logger.log(1, {"d_loss": 0.5, "g_loss": 1.25})
    logger.log(2, {"d_loss": 0.25})
    logger.log(10, {})
    # each row is on disk as soon as it is logged
    assert _rows(tmp_path) == [{"step": 1, "d_loss": 0.5, "g_loss": 1.25}, {"step": 2, "d_loss": 0.25},
                               {"step": 10}]
    logger.close()
    text = (tmp_path / METRICS_FILE).read_text()
    assert text.endswith("\n") and text.count("\n") == 3
    assert _rows(tmp_path) == [{"step": 1, "d_loss": 0.5, "g_loss": 1.25}, {"step": 2, "d_loss": 0.25},
                               {"step": 10}]


def test_tensorboard_events_are_written(tmp_path):
    logger = RunLogger(str(tmp_path), append=False)
    logger.log(1, {"d_loss": 0.5})
    logger.close()
    tensorboard = tmp_path / TENSORBOARD_DIR
    assert tensorboard.is_dir()
    events = [p for p in tensorboard.rglob("*") if p.is_file() and "tfevents" in p.name]
    assert events and all(p.stat().st_size > 0 for p in events)


def test_append_keeps_the_old_rows_and_a_fresh_start_does_not(tmp_path):
    logger = RunLogger(str(tmp_path), append=False)
    logger.log(1, {"x": 1.0})
    logger.log(2, {"x": 2.0})
    logger.close()
    old = (tmp_path / METRICS_FILE).read_bytes()
    logger = RunLogger(str(tmp_path), append=True)
    logger.log(3, {"x": 3.0})
    logger.close()
    assert (tmp_path / METRICS_FILE).read_bytes().startswith(old)
    assert [r["step"] for r in _rows(tmp_path)] == [1, 2, 3]
    logger = RunLogger(str(tmp_path), append=False)
    logger.log(7, {"x": 7.0})
    logger.close()
    assert _rows(tmp_path) == [{"step": 7, "x": 7.0}]


def test_append_to_a_run_without_a_log_creates_it(tmp_path):
    logger = RunLogger(str(tmp_path), append=True)
    logger.log(5, {"x": 1.0})
    logger.close()
    assert _rows(tmp_path) == [{"step": 5, "x": 1.0}]


def test_a_logger_that_does_not_write_writes_nothing(tmp_path):
    logger = RunLogger(str(tmp_path), append=False, write=False)
    logger.log(1, {"x": 1.0})
    logger.flush()
    logger.close()
    assert os.listdir(tmp_path) == []


def test_flush_and_close_twice(tmp_path):
    logger = RunLogger(str(tmp_path), append=False)
    logger.log(1, {"x": 1.0})
    logger.flush()
    assert _rows(tmp_path) == [{"step": 1, "x": 1.0}]
    logger.close()
    logger.close()
    logger.log(2, {"x": 2.0})                          # after close: nothing more is written
    assert _rows(tmp_path) == [{"step": 1, "x": 1.0}]


# ---- drop_rows_after ----

_LINES = ['{"step": 1, "x": 0.1}\n', '{"step":2,"x":0.2}\n', '{"x": 0.3, "step": 3}\n',
          '{"step": 4, "x": 0.4}\n', '{"step": 5,   "x": 0.5}\n']


def test_drop_rows_after_keeps_earlier_rows_byte_for_byte(tmp_path):
    path = tmp_path / METRICS_FILE
    path.write_text("".join(_LINES))
    drop_rows_after(str(path), 3)
    assert path.read_text() == "".join(_LINES[:3])
    assert os.listdir(tmp_path) == [METRICS_FILE]     # no temporary file left behind


def test_drop_rows_after_a_step_between_rows(tmp_path):
    path = tmp_path / METRICS_FILE
    lines = ['{"step": 10}\n', '{"step": 20}\n', '{"step": 30}\n']
    path.write_text("".join(lines))
    drop_rows_after(str(path), 25)
    assert path.read_text() == "".join(lines[:2])
    drop_rows_after(str(path), 0)
    assert path.read_text() == ""


def test_drop_rows_after_keeps_everything_up_to_the_last_step(tmp_path):
    path = tmp_path / METRICS_FILE
    path.write_text("".join(_LINES))
    before = os.stat(path)
    drop_rows_after(str(path), 5)
    drop_rows_after(str(path), 100)
    assert path.read_text() == "".join(_LINES)
    assert os.stat(path).st_ino == before.st_ino         # not rewritten when nothing is dropped


def test_drop_rows_after_removes_rows_cut_short(tmp_path):
    path = tmp_path / METRICS_FILE
    path.write_text("".join(_LINES[:2]) + '{"step": 3, "x"')
    drop_rows_after(str(path), 10)
    assert path.read_text() == "".join(_LINES[:2])
    path.write_text("".join(_LINES[:2]) + "\n" + '["not", "a", "row"]\n' + '{"no_step": 1}\n' + _LINES[2])
    drop_rows_after(str(path), 10)
    assert path.read_text() == "".join(_LINES[:3])


def test_drop_rows_after_then_append_continues_the_log(tmp_path):
    logger = RunLogger(str(tmp_path), append=False)
    for step in range(1, 6):
        logger.log(step, {"x": float(step)})
    logger.close()
    drop_rows_after(str(tmp_path / METRICS_FILE), 3)
    logger = RunLogger(str(tmp_path), append=True)
    logger.log(4, {"x": 40.0})
    logger.close()
    assert _rows(tmp_path) == [{"step": 1, "x": 1.0}, {"step": 2, "x": 2.0}, {"step": 3, "x": 3.0},
                               {"step": 4, "x": 40.0}]


def test_drop_rows_after_a_missing_file_does_nothing(tmp_path):
    drop_rows_after(str(tmp_path / METRICS_FILE), 3)
    assert os.listdir(tmp_path) == []


def test_a_kept_last_row_without_its_newline_gets_one(tmp_path):
    """The next row appended is not glued onto it."""
    path = tmp_path / METRICS_FILE
    path.write_text(_LINES[0] + _LINES[1].rstrip("\n"))
    drop_rows_after(str(path), 5)
    logger = RunLogger(str(tmp_path), append=True)
    logger.log(3, {"x": 0.3})
    logger.close()
    assert [row["step"] for row in _rows(tmp_path)] == [1, 2, 3]


def test_a_log_of_random_bytes_never_stops_a_resume(tmp_path):
    path = tmp_path / METRICS_FILE
    noise = random.Random(0).randbytes(20000)
    overlong = b"x" * (MAX_ROW_BYTES + 5)   # no newline in sight: skipped without being held whole
    path.write_bytes(_LINES[0].encode() + noise + b"\n" + _LINES[1].encode() + b"\xff\xfe{\n" + overlong)
    garbled = drop_rows_after(str(path), 5)
    assert garbled > 0
    assert path.read_text() == _LINES[0] + _LINES[1]
    assert os.listdir(tmp_path) == [METRICS_FILE]
    assert drop_rows_after(str(path), 5) == 0


def test_a_log_that_is_a_symlink_is_replaced_never_written_through(tmp_path):
    outside = tmp_path / "outside.jsonl"
    outside.write_text(_LINES[0])
    run = tmp_path / "run"
    run.mkdir()
    os.symlink(outside, run / METRICS_FILE)
    logger = RunLogger(str(run), append=True)
    logger.log(2, {"x": 0.2})
    logger.close()
    assert outside.read_text() == _LINES[0]
    assert not os.path.islink(run / METRICS_FILE)
    assert [row["step"] for row in _rows(run)] == [1, 2]


def test_library_logs_go_to_the_run_log_never_through_a_link(tmp_path, caplog):
    """absl's (orbax's) records and tracebacks reach the file, not the terminal's handlers; a link
    at the file's place is not written through."""
    path = tmp_path / "train.log"
    with caplog.at_level(logging.WARNING), library_logs(LibraryLog(str(path))):
        try:
            raise OSError(28, "No space left on device")
        except OSError:
            logging.getLogger("absl").exception("save failed")
        logging.getLogger("orbax").warning("orbax says")
    assert not [r for r in caplog.records if r.name in ("absl", "orbax")]
    text = path.read_text()
    assert "save failed" in text and "Traceback" in text and "orbax says" in text
    (tmp_path / "other.txt").write_text("keep")
    os.remove(path)
    os.symlink(tmp_path / "other.txt", path)
    with library_logs(LibraryLog(str(path))):
        logging.getLogger("absl").error("not through the link")
    assert (tmp_path / "other.txt").read_text() == "keep"
    assert logging.getLogger("absl").propagate
