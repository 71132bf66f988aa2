"""Chunked .npz writing: the file np.load reads equals np.savez of the whole arrays."""

import numpy as np
import pytest

from gan_jax.io.npz_stream import save_npz_chunks


def test_chunks_read_back_as_the_whole_array(tmp_path):
    rng = np.random.default_rng(0)
    whole = rng.normal(size=(2503, 8, 8, 1)).astype(np.float32)
    labels = rng.integers(0, 10, 2503).astype(np.int32)
    seen = []
    path = save_npz_chunks(str(tmp_path / "s.npz"), "samples", (whole[i:i + 1000] for i in range(0, 2503, 1000)),
                           2503, extra={"labels": labels}, on_chunk=seen.append)
    with np.load(path, allow_pickle=False) as f:
        assert sorted(f.files) == ["labels", "samples"]
        np.testing.assert_array_equal(f["samples"], whole)
        np.testing.assert_array_equal(f["labels"], labels)
    assert seen == [1000, 1000, 503]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "s.npz"
    path.write_bytes(b"the user's file")
    with pytest.raises(ValueError, match="held 3 rows, not 5"):
        save_npz_chunks(str(path), "samples", [np.zeros((3, 2))], 5)
    assert path.read_bytes() == b"the user's file" and sorted(p.name for p in tmp_path.iterdir()) == ["s.npz"]
