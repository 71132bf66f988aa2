"""gan_jax.io.paths on local paths (atomic writes, output-path checks, the disk-full
message, queries and changes), and its pure string functions on ``gs://`` URLs
(nothing here reaches the network)."""

import json
import os
import re
import shutil

import pytest
from cli_checks import refused

from gan_jax.errors import UserError
from gan_jax.io import paths

# ---- names (pure strings) ----

@pytest.mark.parametrize("path,gcs,url", [
    ("gs://bucket/a", True, True), ("gs://bucket", True, True), ("s3://bucket/a", False, True),
    ("http://host/x", False, True), ("/tmp/gs://x", False, False), ("runs/a", False, False),
    ("gs:/bucket", False, False), ("GS://bucket", False, True),
])
def test_is_gcs_and_is_url(path, gcs, url):
    assert paths.is_gcs(path) is gcs
    assert paths.is_url(path) is url


@pytest.mark.parametrize("url,parts", [
    ("gs://bucket/a/b.txt", ("bucket", "a/b.txt")), ("gs://bucket", ("bucket", "")),
    ("gs://bucket/", ("bucket", "")), ("gs://bucket/dir/", ("bucket", "dir/")),
])
def test_split_gcs(url, parts):
    assert paths.split_gcs(url) == parts


def test_join():
    assert paths.join("gs://bucket/runs", "a", "b.json") == "gs://bucket/runs/a/b.json"
    assert paths.join("gs://bucket/runs/", "a") == "gs://bucket/runs/a"
    assert paths.join("gs://bucket", "x") == "gs://bucket/x"
    assert paths.join("runs", "a", "b.json") == os.path.join("runs", "a", "b.json")
    assert paths.join("/abs", "x") == os.path.join("/abs", "x")


@pytest.mark.parametrize("path,parent", [
    ("gs://bucket/a/b/c.json", "gs://bucket/a/b"), ("gs://bucket/a", "gs://bucket"),
    ("gs://bucket", "gs://bucket"), ("gs://bucket/a/b/", "gs://bucket/a"),
    ("runs/a/b.json", os.path.join("runs", "a")), ("/x", "/"),
])
def test_dirname(path, parent):
    assert paths.dirname(path) == parent


@pytest.mark.parametrize("path,name", [
    ("gs://bucket/a/b.json", "b.json"), ("gs://bucket/a/dir/", "dir"), ("runs/a/", "a"),
    ("runs/a/b.json", "b.json"), ("a", "a"),
])
def test_basename(path, name):
    assert paths.basename(path) == name


def test_abspath():
    assert paths.abspath("gs://bucket/a/") == "gs://bucket/a"
    assert paths.abspath("gs://bucket/a") == "gs://bucket/a"
    assert paths.abspath("rel/x") == os.path.abspath("rel/x")


def test_check_location_accepts_local_paths_and_refuses_other_schemes_offline(tmp_path):
    assert paths.check_location(str(tmp_path)) == str(tmp_path)
    assert paths.check_location("not/yet/there") == "not/yet/there"
    refused(lambda: paths.check_location("s3://bucket/x", "--runs-dir"), "--runs-dir", "s3://", "not supported")
    refused(lambda: paths.check_location("http://host/x"), "http://")
    refused(lambda: paths.check_location("gs://Bad_Bucket/x"), "'Bad_Bucket'", "not a valid bucket name")
    refused(lambda: paths.check_location("gs:///x"), "not a valid bucket name")


# ---- atomic writes ----

def test_write_text_creates_and_replaces_without_leftovers(tmp_path):
    target = tmp_path / "notes.txt"
    assert paths.write_text(str(target), "first ✓") == str(target)
    assert target.read_text(encoding="utf-8") == "first ✓"
    inode = target.stat().st_ino
    paths.write_text(str(target), "second")
    assert target.read_text() == "second"
    assert target.stat().st_ino != inode                    # a new file renamed over the old one
    assert os.listdir(tmp_path) == ["notes.txt"]


def test_write_bytes_round_trip_without_leftovers(tmp_path):
    target = tmp_path / "blob.bin"
    data = bytes(range(256)) * 10
    assert paths.write_bytes(str(target), data) == str(target)
    assert target.read_bytes() == data
    paths.write_bytes(str(target), b"")
    assert target.read_bytes() == b""
    assert paths.read_bytes(str(target)) == b""
    assert os.listdir(tmp_path) == ["blob.bin"]


def test_atomic_write_json_and_text(tmp_path):
    target = tmp_path / "record.json"
    value = {"seeds": [0, 1], "name": "run", "nested": {"x": 1.5}}
    assert paths.atomic_write_json(str(target), value) == str(target)
    text = target.read_text()
    assert json.loads(text) == value and text.endswith("\n")
    paths.atomic_write_json(str(target), [1, 2])
    assert json.loads(target.read_text()) == [1, 2]
    assert paths.atomic_write_text(str(target), "plain") == str(target)
    assert target.read_text() == "plain"
    assert os.listdir(tmp_path) == ["record.json"]


def test_a_failed_write_leaves_no_temporary_file(tmp_path):
    (tmp_path / "target").mkdir()                            # the rename over a directory fails
    (tmp_path / "target" / "inside").write_text("keep")
    with pytest.raises(UserError, match="a folder of that name is in the way"):
        paths.write_text(str(tmp_path / "target"), "data")
    assert os.listdir(tmp_path) == ["target"]
    assert (tmp_path / "target" / "inside").read_text() == "keep"


def test_a_write_into_a_missing_directory_fails_and_creates_nothing(tmp_path):
    with pytest.raises(FileNotFoundError):
        paths.write_text(str(tmp_path / "missing" / "x.txt"), "data")
    assert os.listdir(tmp_path) == []


def test_a_relative_target_is_written_next_to_itself(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    paths.write_text("here.txt", "x")
    assert os.listdir(tmp_path) == ["here.txt"]


# ---- check_output_path ----

def test_check_output_path_creates_the_parent_folders(tmp_path):
    out = tmp_path / "a" / "b" / "c" / "out.npz"
    assert paths.check_output_path(str(out)) == str(out)
    assert (tmp_path / "a" / "b" / "c").is_dir()
    assert not out.exists()                                  # the file itself is not created


def test_check_output_path_refuses_an_existing_file_unless_overwrite(tmp_path):
    out = tmp_path / "out.npz"
    out.write_text("old")
    refused(lambda: paths.check_output_path(str(out), option="--samples"), str(out), "exists", "--overwrite",
             "--samples")
    assert paths.check_output_path(str(out), overwrite=True) == str(out)
    assert out.read_text() == "old"


def test_check_output_path_counts_a_dangling_link_as_existing(tmp_path):
    link = tmp_path / "out.npz"
    os.symlink(tmp_path / "nowhere", link)
    refused(lambda: paths.check_output_path(str(link)), "exists")


@pytest.mark.parametrize("overwrite", [False, True])
def test_check_output_path_refuses_a_directory(tmp_path, overwrite):
    (tmp_path / "out").mkdir()
    refused(lambda: paths.check_output_path(str(tmp_path / "out"), overwrite=overwrite), "--out",
             "is a directory", "file name inside it")


@pytest.mark.parametrize("overwrite", [False, True])
def test_check_output_path_refuses_a_parent_that_is_a_file(tmp_path, overwrite):
    (tmp_path / "parent").write_text("a file")
    for out in (tmp_path / "parent" / "out.npz", tmp_path / "parent" / "deeper" / "out.npz"):
        refused(lambda out=out: paths.check_output_path(str(out), overwrite=overwrite), str(tmp_path / "parent"),
                 "is a file, not a directory")
    assert (tmp_path / "parent").read_text() == "a file"


# ---- disk_full_message ----

def test_disk_full_message_mentions_free_space(tmp_path):
    message = paths.disk_full_message(str(tmp_path))
    assert "\n" not in message and str(tmp_path) in message and "free some space" in message
    free = float(re.search(r"\(([0-9.]+) MiB free", message).group(1))
    assert free == pytest.approx(shutil.disk_usage(tmp_path).free / 2**20, rel=0.05, abs=64)
    assert "needed" not in message


def test_disk_full_message_mentions_what_is_needed(tmp_path):
    message = paths.disk_full_message(str(tmp_path), needed_bytes=3 * 2**20)
    assert "about 3.0 MiB is needed" in message and "MiB free" in message


def test_disk_full_message_for_a_missing_path_and_a_bucket(tmp_path):
    assert "0.0 MiB free" in paths.disk_full_message(str(tmp_path / "missing" / "deeper"))
    message = paths.disk_full_message("gs://bucket/runs/a")
    assert "gs://bucket/runs/a" in message and "free some space" in message and "MiB" not in message


# ---- queries and changes on local paths ----

def test_local_queries(tmp_path):
    (tmp_path / "f.txt").write_text("x")
    (tmp_path / "d").mkdir()
    os.symlink(tmp_path / "nowhere", tmp_path / "dangling")
    assert sorted(paths.listdir(str(tmp_path))) == ["d", "dangling", "f.txt"]
    assert paths.listdir(str(tmp_path / "d")) == []
    assert paths.exists(str(tmp_path / "f.txt")) and paths.exists(str(tmp_path / "d"))
    assert paths.exists(str(tmp_path / "dangling"))          # a link to nothing counts
    assert not paths.exists(str(tmp_path / "missing"))
    assert paths.isfile(str(tmp_path / "f.txt")) and not paths.isfile(str(tmp_path / "d"))
    assert not paths.isfile(str(tmp_path / "dangling")) and not paths.isfile(str(tmp_path / "missing"))
    assert paths.isdir(str(tmp_path / "d")) and not paths.isdir(str(tmp_path / "f.txt"))
    assert not paths.isdir(str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError):
        paths.listdir(str(tmp_path / "missing"))


def test_local_reads(tmp_path):
    (tmp_path / "t.txt").write_text("héllo", encoding="utf-8")
    (tmp_path / "b.bin").write_bytes(b"\xff\x00")
    assert paths.read_text(str(tmp_path / "t.txt")) == "héllo"
    assert paths.read_bytes(str(tmp_path / "b.bin")) == b"\xff\x00"
    with pytest.raises(UnicodeDecodeError):
        paths.read_text(str(tmp_path / "b.bin"))
    with pytest.raises(FileNotFoundError):
        paths.read_bytes(str(tmp_path / "missing"))
    with pytest.raises(IsADirectoryError):
        paths.read_bytes(str(tmp_path))
    with paths.open_for_reading(str(tmp_path / "b.bin")) as f:
        f.seek(1)
        assert f.read() == b"\x00"


def test_local_changes(tmp_path):
    paths.makedirs(str(tmp_path / "a" / "b"))
    paths.makedirs(str(tmp_path / "a" / "b"))                # exists already: fine
    assert (tmp_path / "a" / "b").is_dir()
    (tmp_path / "a" / "b" / "f.txt").write_text("x")
    paths.move_tree(str(tmp_path / "a"), str(tmp_path / "moved"))
    assert not (tmp_path / "a").exists() and (tmp_path / "moved" / "b" / "f.txt").read_text() == "x"
    assert sorted(paths.glob(str(tmp_path / "moved" / "*" / "*.txt"))) == [str(tmp_path / "moved" / "b" / "f.txt")]
    paths.remove(str(tmp_path / "moved" / "b" / "f.txt"))
    assert paths.listdir(str(tmp_path / "moved" / "b")) == []
    paths.rmtree(str(tmp_path / "moved"))
    assert os.listdir(tmp_path) == []


def test_atomic_output_renames_a_finished_file_with_the_umask_mode(tmp_path):
    target = tmp_path / "fig.png"
    old = os.umask(0o027)
    try:
        with paths.atomic_output(str(target)) as local:
            assert local != str(target) and os.path.dirname(local) == str(tmp_path) and local.endswith(".png")
            with open(local, "wb") as f:
                f.write(b"png")
            assert not target.exists()
        assert paths.file_mode() == 0o640
    finally:
        os.umask(old)
    assert target.read_bytes() == b"png"
    assert oct(target.stat().st_mode & 0o777) == oct(0o640)
    assert os.listdir(tmp_path) == ["fig.png"]


def test_atomic_output_replaces_a_symlink_and_never_writes_through_it(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (tmp_path / "out").mkdir()
    link = tmp_path / "out" / "link.png"
    link.symlink_to(victim)
    paths.write_bytes(str(link), b"new")
    assert victim.read_text() == "keep me"
    assert not link.is_symlink() and link.read_bytes() == b"new"


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_atomic_output_leaves_the_old_file_and_no_temporary_on_any_error(tmp_path, error):
    target = tmp_path / "grid.png"
    target.write_bytes(b"old")
    with pytest.raises(type(error)):
        with paths.atomic_output(str(target)) as local:
            with open(local, "wb") as f:
                f.write(b"half")
            raise error
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["grid.png"]


def test_a_read_only_directory_is_one_user_error(tmp_path):
    directory = tmp_path / "ro"
    directory.mkdir()
    directory.chmod(0o555)
    try:
        if os.access(directory, os.W_OK):
            pytest.skip("running as root: a read-only directory is writable")
        with pytest.raises(UserError, match="no permission to write"):
            paths.write_bytes(str(directory / "x.json"), b"{}")
    finally:
        directory.chmod(0o755)


def test_free_space_is_checked_before_writing(tmp_path):
    free = shutil.disk_usage(tmp_path).free
    with pytest.raises(UserError, match="would take about .* free; free some space"):
        paths.check_free_space(str(tmp_path / "sub" / "huge.npz"), free * 2)
    paths.check_free_space(str(tmp_path / "small.npz"), 10)
