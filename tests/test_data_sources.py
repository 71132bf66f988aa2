"""Data sources: ranges, shapes, determinism by position, and clear errors."""

import os

import numpy as np
import pytest

from gan_jax.config.schema import get_config
from gan_jax.data import files as data_files
from gan_jax.data import sources as data
from gan_jax.data import toys
from gan_jax.errors import UserError
from gan_jax.metrics import mode_coverage


def test_digits_are_1797_images_in_unit_range_with_a_disjoint_split():
    images, labels = data.load_digits()
    assert images.shape == (1797, 8, 8, 1) and images.dtype == np.float32
    assert images.min() == -1.0 and images.max() == 1.0
    assert set(np.unique(labels)) == set(range(10))
    train, _ = data.load_digits("train")
    test, _ = data.load_digits("test")
    assert len(train) + len(test) == 1797 and abs(len(test) - 359.4) < 1
    # disjoint: no test image appears in the training split
    train_rows = {row.tobytes() for row in train}
    assert sum(row.tobytes() in train_rows for row in test) < 5  # the data set has a few exact duplicates


def test_array_source_is_a_function_of_position_and_covers_each_epoch():
    images = np.arange(10, dtype=np.float32).reshape(10, 1)
    source = data.ArraySource(images, None, batch_size=5, seed=3)
    first = [source.batch(p)[0] for p in range(2)]
    assert sorted(np.concatenate(first)[:, 0].tolist()) == list(range(10))  # one epoch = a permutation
    resumed = next(source.iterate(start_position=1))[0]
    np.testing.assert_array_equal(resumed, first[1])
    assert not np.array_equal(source.batch(2)[0], source.batch(0)[0])  # reshuffled next epoch


@pytest.mark.parametrize("name", data.TOY_DATA)
def test_toy_mixtures_match_their_definition(name):
    x, modes = data.sample_toy_host(name, 0, 20000)
    if name == "gaussian1d":
        assert abs(x.mean() - toys.GAUSSIAN1D_MEAN) < 0.02 and abs(x.std() - toys.GAUSSIAN1D_STD) < 0.02
        return
    centers = data.mixture_centers(name)
    std = mode_coverage.RING_STD if name == "ring8" else mode_coverage.GRID_STD
    residual = x - centers[modes]
    np.testing.assert_allclose(residual.std(axis=0), [std, std], rtol=0.05)
    counts = np.bincount(modes, minlength=len(centers))
    assert len(centers) == (8 if name == "ring8" else 25) and counts.min() > 0.8 * counts.mean()


def test_npz_source_accepts_uint8_and_rejects_bad_arrays(tmp_path):
    good = tmp_path / "good.npz"
    np.savez(good, images=np.full((4, 8, 8), 255, np.uint8), labels=np.arange(4))
    images, labels = data.load_array(f"npz:{good}", 8, 1)
    assert images.shape == (4, 8, 8, 1) and images.max() == 1.0 and labels.tolist() == [0, 1, 2, 3]

    cases = {
        "nan": (np.full((4, 8, 8, 1), np.nan, np.float32), "NaN"),
        "range": (np.full((4, 8, 8, 1), 3.0, np.float32), "scale them to [-1, 1]"),
        "shape": (np.zeros((4, 16, 16, 1), np.float32), "set image_size=16 channels=1"),
        "dtype": (np.zeros((4, 8, 8, 1), np.int64), "dtype int64"),
    }
    for name, (array, message) in cases.items():
        path = tmp_path / f"{name}.npz"
        np.savez(path, images=array)
        with pytest.raises(UserError, match=message.replace("[", r"\[").replace("]", r"\]")):
            data.load_array(f"npz:{path}", 8, 1)


def test_folder_source_resizes_center_crops_and_reports_bad_files(tmp_path):
    from PIL import Image
    folder = tmp_path / "imgs"
    folder.mkdir()
    wide = np.zeros((20, 40, 3), np.uint8)
    wide[:, 10:30] = 255  # a white centre square 20x20 in a 20x40 image
    Image.fromarray(wide).save(folder / "a.png")
    images, labels = data.load_array(f"folder:{folder}", 8, 3)
    assert images.shape == (1, 8, 8, 3) and labels is None
    assert images.mean() > 0.8  # the centre crop keeps the white square (a squash would be half black)
    (folder / "broken.jpg").write_bytes(b"not an image")
    with pytest.raises(UserError, match="broken.jpg"):
        data.load_array(f"folder:{folder}", 8, 3)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match="has no images"):
        data.load_array(f"folder:{empty}", 8, 3)
    with pytest.raises(UserError, match="does not exist"):
        data.load_array(f"folder:{tmp_path / 'missing'}", 8, 3)


def test_unknown_data_and_small_data_sets_are_clear_errors():
    with pytest.raises(UserError, match="unknown data"):
        data.load_array("imagenet")
    with pytest.raises(UserError, match="fewer than batch_size"):
        data.ArraySource(np.zeros((3, 2), np.float32), None, 4, 0)


def _build_tiny_tfds(data_dir):
    tf = pytest.importorskip("tensorflow")
    tfds = pytest.importorskip("tensorflow_datasets")
    images = np.random.default_rng(0).integers(0, 256, (12, 10, 10, 1)).astype(np.uint8)
    labels = np.arange(12) % 3
    ds = tf.data.Dataset.from_tensor_slices({"image": images, "label": labels})
    builder = tfds.dataset_builders.TfDataBuilder(
        name="gan_jax_tiny", version="1.0.0", data_dir=str(data_dir), split_datasets={"train": ds},
        features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(10, 10, 1)),
            "label": tfds.features.ClassLabel(num_classes=3)}))
    builder.download_and_prepare()
    return images, labels


def test_tfds_source_reads_a_locally_built_data_set(tmp_path):
    _build_tiny_tfds(tmp_path)
    config = get_config("digits_dcgan", ["data=tfds:gan_jax_tiny", f"tfds_data_dir={tmp_path}",
                                         "batch_size=4"])
    source = data.make_source(config)
    assert source.num_classes == 3
    batches = source.iterate(0)
    batch, labels = next(batches)
    assert batch.shape == (4, 8, 8, 1) and batch.dtype == np.float32
    assert -1.0 <= batch.min() and batch.max() <= 1.0
    assert labels.shape == (4,) and set(labels.tolist()) <= {0, 1, 2}


def test_tfds_source_epoch_holds_every_image_once(tmp_path):
    """One epoch of three batches holds every image once, with its label: each
    batch image is far nearer one source image (downscaled by PIL, bilinear)
    than any other, and no source image is matched twice."""
    images, source_labels = _build_tiny_tfds(tmp_path)
    config = get_config("digits_dcgan", ["data=tfds:gan_jax_tiny", f"tfds_data_dir={tmp_path}",
                                         "batch_size=4"])
    batches = data.make_source(config).iterate(0)
    epoch = [next(batches) for _ in range(3)]
    epoch_images = np.concatenate([b for b, _ in epoch])
    epoch_labels = np.concatenate([lab for _, lab in epoch])
    from PIL import Image
    downscaled = np.stack([np.asarray(Image.fromarray(im[..., 0]).resize((8, 8), Image.BILINEAR))
                           for im in images])[..., None] / 127.5 - 1.0
    distances = np.abs(epoch_images[:, None] - downscaled[None]).mean(axis=(2, 3, 4))  # (epoch, source)
    two_smallest = np.sort(distances, axis=1)[:, :2]
    assert np.all(two_smallest[:, 0] < 0.5 * two_smallest[:, 1]), two_smallest
    nearest = distances.argmin(axis=1)
    assert sorted(nearest) == list(range(len(images)))
    np.testing.assert_array_equal(epoch_labels, source_labels[nearest])


def test_tfds_missing_data_set_is_one_clear_sentence(tmp_path):
    pytest.importorskip("tensorflow_datasets")
    config = get_config("mnist_dcgan", [f"tfds_data_dir={tmp_path}"])
    with pytest.raises(UserError, match="tfds build mnist"):
        data.make_source(config)


@pytest.mark.parametrize("spec", ["digits", "grid25"])
def test_per_process_sources_together_give_the_one_host_batch(spec):
    """Process i of n feeds rows [i B/n, (i+1) B/n) of the one-host global batch."""
    config = get_config("digits_dcgan", [f"data={spec}", "batch_size=12"])
    whole = data.make_source(config).batch(5)[0]
    for n in (2, 3):
        parts = [data.make_source(config, i, n).batch(5)[0] for i in range(n)]
        assert all(len(p) == 12 // n for p in parts)
        np.testing.assert_array_equal(np.concatenate(parts), whole)
    with pytest.raises(UserError, match="batch_size=12 does not split over 5 processes"):
        data.make_source(config, 0, 5)


def test_tfds_source_gives_each_process_its_own_half_of_the_split(tmp_path):
    images, _ = _build_tiny_tfds(tmp_path)
    config = get_config("digits_dcgan", ["data=tfds:gan_jax_tiny", f"tfds_data_dir={tmp_path}",
                                         "batch_size=4", "image_size=10"])
    halves = []
    for i in range(2):
        batches = data.make_source(config, i, 2).iterate(0)
        # local batches of 2; the stream repeats and shuffles across epochs, so
        # 20 batches show this process's 6 images (and no others)
        seen = np.concatenate([next(batches)[0] for _ in range(20)])
        assert seen.shape == (40, 10, 10, 1)
        halves.append({tuple(np.round(x.ravel(), 4)) for x in seen})
    assert len(halves[0]) == len(halves[1]) == 6 and not halves[0] & halves[1]
    every = {tuple(np.round(x.ravel() / 127.5 - 1.0, 4)) for x in images.astype(np.float32)}
    assert halves[0] | halves[1] == every


# --- user files: every failure one line -------------------------------------------

def _conditional_npz_config(path, *overrides):
    return get_config("digits_cgan", [f"data=npz:{path}", "batch_size=2", *overrides])


@pytest.mark.parametrize("labels, message", [
    (np.array([0.0, 1.0, 2.0, 3.0]), "dtype float64"),
    (np.array([0.0, np.nan, 2.0, 3.0]), "dtype float64"),
    (np.array([0, -1, 2, 3]), "include -1"),
    (np.array([0, 1, 2, 10]), "set num_classes=11"),
    (np.array([0, 1, 2]), "4 images but 3 labels"),
    (np.array([[0, 1], [2, 3]]), "shape (2, 2)"),
])
def test_npz_labels_must_be_one_integer_class_per_image(tmp_path, labels, message):
    path = tmp_path / "d.npz"
    np.savez(path, images=np.zeros((4, 8, 8, 1), np.uint8), labels=labels)
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        data.make_source(_conditional_npz_config(path))


def test_conditional_config_on_unlabelled_data_is_one_line(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, images=np.zeros((4, 8, 8, 1), np.uint8))
    with pytest.raises(UserError, match="has no labels"):
        data.make_source(_conditional_npz_config(path))
    labelled = tmp_path / "l.npz"
    np.savez(labelled, images=np.zeros((4, 8, 8, 1), np.uint8), labels=np.array([0, 1, 2, 3]))
    assert data.make_source(_conditional_npz_config(labelled)).num_classes == 4


def test_every_unreadable_npz_is_one_line(tmp_path):
    good = tmp_path / "good.npz"
    np.savez(good, images=np.zeros((64, 8, 8, 1), np.uint8))
    whole = good.read_bytes()
    cases = {
        "truncated": (whole[:len(whole) // 2], "cannot read"),
        "garbage": (b"PK\x03\x04 not really a zip", "cannot read"),
    }
    for name, (payload, message) in cases.items():
        (tmp_path / f"{name}.npz").write_bytes(payload)
        with pytest.raises(UserError, match=message):
            data.load_array(f"npz:{tmp_path / name}.npz", 8, 1)
    np.savez(tmp_path / "pickled.npz", images=np.array([object()] * 4, dtype=object))
    with pytest.raises(UserError, match="pickle"):
        data.load_array(f"npz:{tmp_path / 'pickled.npz'}", 8, 1)
    np.savez(tmp_path / "keys.npz", pictures=np.zeros((4, 8, 8, 1), np.uint8))
    with pytest.raises(UserError, match=r"\['pictures'\]; store the images under 'images'"):
        data.load_array(f"npz:{tmp_path / 'keys.npz'}", 8, 1)


def test_truncated_array_inside_an_intact_zip_is_one_line(tmp_path):
    """A member whose .npy data stops early (the zip directory itself intact)."""
    import zipfile
    array = np.zeros((16, 8, 8, 1), np.uint8)
    np.save(tmp_path / "images.npy", array)
    raw = (tmp_path / "images.npy").read_bytes()
    with zipfile.ZipFile(tmp_path / "short.npz", "w") as archive:
        archive.writestr("images.npy", raw[:-100])
    with pytest.raises(UserError, match="truncated"):
        data.load_array(f"npz:{tmp_path / 'short.npz'}", 8, 1)


def _png_header_only(path, width, height):
    """A PNG whose IHDR claims width x height pixels (and no pixel data)."""
    import struct
    import zlib

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))


def test_image_dimensions_are_checked_from_the_header_before_decoding(tmp_path):
    from PIL import Image
    folder = tmp_path / "imgs"
    folder.mkdir()
    _png_header_only(folder / "bomb.png", 100000, 100000)
    with pytest.raises(UserError, match="bomb.png"):
        data.load_array(f"folder:{folder}", 8, 1)
    (folder / "bomb.png").unlink()
    Image.fromarray(np.zeros((100, 100, 3), np.uint8)).save(folder / "large.png")
    config = get_config("digits_dcgan", [f"data=folder:{folder}", "batch_size=1", "max_image_pixels=5000"])
    with pytest.raises(UserError, match="10000 pixels, over max_image_pixels=5000"):
        data.make_source(config)
    raised = get_config("digits_dcgan", [f"data=folder:{folder}", "batch_size=1", "max_image_pixels=10000"])
    assert data.make_source(raised).images.shape == (1, 8, 8, 1)


def test_folder_walk_does_not_follow_a_symlink_loop(tmp_path):
    from PIL import Image
    folder = tmp_path / "imgs"
    (folder / "sub").mkdir(parents=True)
    for name in ("a.png", "sub/b.png"):
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(folder / name)
    os.symlink(folder, folder / "sub" / "loop")
    files = data_files.list_image_files(str(folder))
    assert [os.path.relpath(f, folder) for f in files] == ["a.png", os.path.join("sub", "b.png")]


def test_evaluation_batches_stream_a_seeded_subset_without_repeats(tmp_path):
    """n of N rows of an .npz, each an actual row of the file (numpy's own reader is the reference)."""
    images = np.random.default_rng(0).integers(0, 256, (50, 8, 8, 1)).astype(np.uint8)
    np.savez(tmp_path / "d.npz", images=images)
    config = get_config("digits_dcgan", [f"data=npz:{tmp_path / 'd.npz'}"])
    batches = list(data.evaluation_batches(config, 20, batch_size=7, seed=1))
    assert [len(b) for b in batches] == [7, 7, 6]
    rows = {row.tobytes() for row in data.to_unit_range(np.load(tmp_path / "d.npz")["images"], "file")}
    got = [row.tobytes() for row in np.concatenate(batches)]
    assert len(set(got)) == 20 and set(got) <= rows
    again = np.concatenate(list(data.evaluation_batches(config, 20, batch_size=5, seed=1)))
    np.testing.assert_array_equal(again, np.concatenate(batches))


def test_folder_images_are_decoded_one_batch_at_a_time(tmp_path):
    from PIL import Image
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(5):
        Image.fromarray(np.full((8, 8), 50 * i, np.uint8)).save(folder / f"{i}.png")
    files = data_files.list_image_files(str(folder))
    batches = data_files.image_batches(files, 8, 1, batch_size=2)
    first = next(batches)  # a generator: only the first two files are decoded so far
    assert first.shape == (2, 8, 8, 1) and first.dtype == np.uint8
    assert [b.shape[0] for b in batches] == [2, 1]


def _within(seconds, fn, unblock):
    """``fn()`` run in a thread that must finish within ``seconds``; if it does not, ``unblock()``
    lets it end and the test fails (a read that waits forever must not hang the suite)."""
    import threading
    result = {}

    def target():
        try:
            result["value"] = fn()
        except BaseException as e:  # handed to the test's thread
            result["error"] = e
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        unblock()
        thread.join(seconds)
        pytest.fail(f"still waiting after {seconds} s")
    if "error" in result:
        raise result["error"]
    return result["value"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_fifo_named_like_an_image_is_skipped_and_never_opened(tmp_path):
    from PIL import Image
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.fromarray(np.full((8, 8), 255, np.uint8)).save(folder / "a.png")
    fifo = folder / "zz.png"
    os.mkfifo(fifo)

    def unblock():   # a writer that opens and closes the FIFO ends a reader waiting in open()
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))

    assert data_files.list_image_files(str(folder)) == [str(folder / "a.png")]
    images, _ = _within(10, lambda: data.load_array(f"folder:{folder}", 8, 1), unblock)
    assert images.shape == (1, 8, 8, 1) and images.min() == 1.0
    with pytest.raises(UserError, match="zz.png is not a regular file"):
        _within(10, lambda: data_files.read_image(str(fifo), 8, 1), unblock)


def test_an_image_is_refused_by_its_aspect_ratio_and_its_size_once_resized_before_any_resize(tmp_path):
    from PIL import Image
    folder = tmp_path / "imgs"
    folder.mkdir()
    _png_header_only(folder / "line.png", 1, 3_000_000)   # 1x3,000,000: a 6 KB file, 12 GB once resized to 64
    with pytest.raises(UserError, match=r"line.png is 1x3000000 pixels, an aspect ratio over 100:1") as info:
        data.load_array(f"folder:{folder}", 64, 1)
    assert "\n" not in str(info.value)
    (folder / "line.png").unlink()
    Image.new("L", (50, 5000)).save(folder / "tall.png")   # 250,000 pixels and an aspect ratio of 100
    with pytest.raises(UserError, match=r"tall.png is 50x5000 pixels and would be 64x6400 = 409600 pixels"):
        data.load_array(f"folder:{folder}", 64, 1, max_image_pixels=300_000)
    images, _ = data.load_array(f"folder:{folder}", 8, 1, max_image_pixels=300_000)   # 8x800 once resized
    assert images.shape == (1, 8, 8, 1)


def test_an_image_folder_walk_is_bounded(tmp_path, monkeypatch):
    from gan_jax.data import files
    for i in range(5):
        (tmp_path / f"d{i}").mkdir()
    monkeypatch.setattr(files, "MAX_FOLDER_ENTRIES", 3)
    with pytest.raises(UserError, match="holds more than 3 files and folders"):
        files.list_image_files(str(tmp_path))
