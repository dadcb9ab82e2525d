"""LSUN LMDB, image folders and the tfds image sets, on fixtures made here (offline)."""

import io
import json
import logging

import lmdb
import numpy as np
import pytest
from PIL import Image

from gan_zoo import config
from gan_zoo.datasets import base, image_folder, images, lsun, pipeline, tfds_images, tfds_util
from gan_zoo.errors import UserError

SIZE = 32
RED, BLUE = (255, 0, 0), (0, 0, 255)


def make_config(**changes):
    return config.RunConfig(**{"image_size": SIZE, **changes})


def encode(array, fmt, **options):
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(array, np.uint8)).save(buffer, fmt, **options)
    return buffer.getvalue()


def noise(height, width, seed):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), np.uint8)


def framed(height, width):
    """Blue, except for the central square, which is red."""
    image = np.zeros((height, width, 3), np.uint8)
    image[:] = BLUE
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    image[top : top + side, left : left + side] = RED
    return image


def take_all(source):
    batches = list(source.dataset("train").as_numpy_iterator())
    return np.stack([b["image"] for b in batches]), np.array([b["label"] for b in batches])


# --- LSUN -------------------------------------------------------------------


# In key order, which is the order of the stream. WebP and JPEG of various
# sizes and aspect ratios (some smaller than SIZE), two lossless framed ones
# to see where the crop lands, and a truncated record first of all.
def lsun_records():
    truncated = encode(noise(60, 80, 9), "WEBP")
    return {
        b"00a": truncated[: len(truncated) // 2],
        b"10a": encode(noise(48, 64, 1), "WEBP", quality=80),
        b"10b": encode(noise(100, 70, 2), "WEBP", quality=80),
        b"20a": encode(framed(40, 90), "WEBP", lossless=True),
        b"20b": encode(framed(90, 40), "WEBP", lossless=True),
        b"30a": encode(noise(64, 64, 3), "JPEG", quality=90),
        b"30b": encode(noise(30, 50, 4), "JPEG", quality=90),
        b"30c": encode(noise(120, 80, 5), "JPEG", quality=90),
    }


def write_lmdb(path, records):
    path.parent.mkdir(parents=True, exist_ok=True)
    env = lmdb.open(str(path), map_size=1 << 24)
    with env.begin(write=True) as txn:
        for key, value in records.items():
            txn.put(key, value)
    env.close()
    return path


@pytest.fixture
def lsun_parent(tmp_path):
    write_lmdb(tmp_path / "lsun" / "bedroom_train_lmdb", lsun_records())
    return tmp_path / "lsun"


def test_lsun_streams_square_images_and_skips_the_truncated_record(lsun_parent, caplog):
    source = lsun.load(make_config(data_dir=str(lsun_parent)))
    assert source.name == "lsun_bedroom" and source.num_classes == 0
    assert source.image_shape == (SIZE, SIZE, 3)
    assert source.split_names() == ["train"] and source.num_examples("train") == 8
    with caplog.at_level(logging.WARNING):
        pictures, labels = take_all(source)
    assert pictures.shape == (7, SIZE, SIZE, 3) and pictures.dtype == np.uint8
    assert np.all(labels == -1)
    assert source.skipped == 1 and "00a" in caplog.text
    take_all(source)
    assert source.skipped == 1  # a bad record counts once, however many passes
    for picture in pictures[2:4]:  # the framed ones: only their red centre is left
        assert picture[..., 0].min() > 250 and picture[..., 2].max() < 5
    with pytest.raises(UserError, match="no split 'test'"):
        source.dataset("test")
    batches, steps = pipeline.training_dataset(
        source, "train", batch_size=3, value_range=(-1.0, 1.0), seed=0
    )
    batch = next(iter(batches))
    assert steps == 2 and batch["image"].shape == (3, SIZE, SIZE, 3)


def test_lsun_data_dir_may_be_the_lmdb_itself_and_max_examples_caps(lsun_parent):
    source = lsun.load(
        make_config(data_dir=str(lsun_parent / "bedroom_train_lmdb"), max_examples=3)
    )
    assert source.num_examples("train") == 3
    assert take_all(source)[0].shape == (3, SIZE, SIZE, 3)


def test_lsun_found_through_the_environment(lsun_parent, monkeypatch):
    monkeypatch.setenv(lsun.ENV_VAR, str(lsun_parent))
    assert lsun.find_lmdb("", "bedroom") == str(lsun_parent / "bedroom_train_lmdb")
    monkeypatch.setenv(lsun.ENV_VAR, str(lsun_parent / "nowhere"))
    monkeypatch.setenv("HOME", str(lsun_parent / "nowhere"))
    with pytest.raises(UserError, match=r"LSUN_DIR.*fyu/lsun.*--data_dir"):
        lsun.load(make_config())


def test_lsun_bad_directories_say_what_is_wrong(tmp_path):
    with pytest.raises(UserError, match="not a directory.*download.py -c bedroom"):
        lsun.load(make_config(data_dir=str(tmp_path / "missing")))
    (tmp_path / "notes.txt").write_text("not an lmdb")
    with pytest.raises(UserError, match="not an LMDB of LSUN's layout"):
        lsun.load(make_config(data_dir=str(tmp_path)))
    broken = tmp_path / "bedroom_train_lmdb"
    broken.mkdir()
    (broken / "data.mdb").write_bytes(b"\0" * 100)
    with pytest.raises(UserError, match="not an LMDB of LSUN's layout"):
        lsun.load(make_config(data_dir=str(tmp_path)))
    empty = write_lmdb(tmp_path / "empty" / "bedroom_train_lmdb", {})
    with pytest.raises(UserError, match="empty"):
        lsun.load(make_config(data_dir=str(empty)))
    junk = write_lmdb(tmp_path / "junk" / "bedroom_train_lmdb", {b"a": b"junk", b"b": b"RIFF"})
    with pytest.raises(UserError, match="none of the first 2"):
        lsun.load(make_config(data_dir=str(junk)))


# --- image folder -------------------------------------------------------------


def test_image_folder_labels_by_subdirectory_and_skips_bad_files(tmp_path):
    root = tmp_path / "pets"
    (root / "cats" / "indoor").mkdir(parents=True)
    (root / "dogs").mkdir()
    transparent = np.zeros((40, 30, 4), np.uint8)  # fully transparent: lands on white
    (root / "cats" / "a.png").write_bytes(encode(transparent, "PNG"))
    (root / "cats" / "b.JPG").write_bytes(encode(noise(50, 50, 1)[..., 0], "JPEG"))  # grey
    (root / "cats" / "indoor" / "c.webp").write_bytes(encode(noise(20, 60, 2), "WEBP"))
    (root / "dogs" / "d.jpeg").write_bytes(encode(noise(70, 40, 3), "JPEG"))
    (root / "dogs" / "e_corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    (root / "dogs" / "f_truncated.jpg").write_bytes(encode(noise(64, 64, 4), "JPEG")[:900])
    (root / "dogs" / ".g_hidden.jpg").write_bytes(b"ignored")
    (root / "dogs" / "notes.txt").write_text("ignored")

    source = image_folder.load(make_config(data_dir=str(root)))
    assert source.num_classes == 2 and source.class_names == ("cats", "dogs")
    assert source.num_examples("train") == 6
    pictures, labels = take_all(source)
    assert pictures.shape == (4, SIZE, SIZE, 3)
    assert labels.tolist() == [0, 0, 0, 1]
    assert np.all(pictures[0] == 255)
    assert source.skipped == 2


def test_image_folder_without_classes_and_with_max_examples(tmp_path):
    for i in range(3):
        (tmp_path / f"{i}.png").write_bytes(encode(noise(33, 47, i), "PNG"))
    source = image_folder.load(make_config(data_dir=str(tmp_path), max_examples=2))
    pictures, labels = take_all(source)
    assert source.num_classes == 0 and labels.tolist() == [-1, -1]
    assert source.num_examples("train") == 2 and pictures.shape == (2, SIZE, SIZE, 3)


def test_image_folder_mistakes_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="--data_dir"):
        image_folder.load(make_config())
    with pytest.raises(UserError, match="not a directory"):
        image_folder.load(make_config(data_dir=str(tmp_path / "missing")))
    with pytest.raises(UserError, match="no .jpg"):
        image_folder.load(make_config(data_dir=str(tmp_path)))
    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(UserError, match="none of the first 1"):
        image_folder.load(make_config(data_dir=str(tmp_path)))
    (tmp_path / "class").mkdir()
    (tmp_path / "class" / "x.png").write_bytes(encode(noise(8, 8, 0), "PNG"))
    with pytest.raises(UserError, match="both directly in it"):
        image_folder.load(make_config(data_dir=str(tmp_path)))


def test_center_square_keeps_the_centre_at_the_right_scale():
    picture = images.center_square(framed(30, 75), 15).numpy()
    assert picture.shape == (15, 15, 3) and np.all(picture == RED)
    grey = np.arange(64, dtype=np.float32).reshape(8, 8, 1) * 4
    np.testing.assert_array_equal(images.center_square(grey, 8).numpy(), grey)
    cifar_like = noise(32, 32, 0)  # already the right size: passes unchanged
    np.testing.assert_array_equal(images.center_square(cifar_like, 32).numpy(), cifar_like)


# --- tfds -------------------------------------------------------------------


def test_cifar10_and_celeb_a_under_tfds_mock_data():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=5):
        cifar = tfds_images.load_cifar10(make_config())
        assert (cifar.split_names(), cifar.num_classes) == (["train", "test"], 10)
        assert cifar.num_examples("test") == 5
        pictures, labels = take_all(cifar)
        assert pictures.shape == (5, SIZE, SIZE, 3) and pictures.dtype == np.uint8
        assert labels.min() >= 0 and labels.max() <= 9

        celeb = tfds_images.load_celeb_a(make_config(image_size=64, max_examples=3))
        assert celeb.split_names() == ["train", "validation", "test"] and celeb.num_classes == 0
        assert celeb.num_examples("validation") == 3
        pictures, labels = take_all(celeb)
        assert pictures.shape == (3, 64, 64, 3) and np.all(labels == -1)


def test_tfds_image_set_missing_offline_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(tfds_util, "reachable", lambda *a, **k: False)
    with pytest.raises(UserError, match="no network.*tfds build cifar10"):
        tfds_images.load_cifar10(make_config(data_dir=str(tmp_path)))


def test_a_folder_that_fits_in_memory_is_decoded_once_not_every_pass(tmp_path, monkeypatch):
    for i in range(6):
        (tmp_path / f"{i}.png").write_bytes(encode(noise(40, 40, i), "PNG"))
    source = image_folder.load(make_config(data_dir=str(tmp_path)))
    calls = []
    original = images.decode
    monkeypatch.setattr(images, "decode", lambda *a: calls.append(1) or original(*a))
    dataset, steps = pipeline.training_dataset(source, "train", 3, (0.0, 1.0), seed=0)
    batches = list(dataset.take(4 * steps).as_numpy_iterator())  # 4 passes
    # Every pass holds all six images, reshuffled, yet each was decoded once.
    passes = [
        np.sort(
            np.concatenate(
                [b["image"].reshape(3, -1).sum(1) for b in batches[i * steps : (i + 1) * steps]]
            )
        )
        for i in range(4)
    ]
    for later in passes[1:]:
        np.testing.assert_allclose(passes[0], later)
    assert len(calls) == 6

    monkeypatch.setattr(pipeline, "CACHE_LIMIT_BYTES", 0)  # too big to cache: decode each pass
    calls.clear()
    dataset, steps = pipeline.training_dataset(source, "train", 3, (0.0, 1.0), seed=0)
    list(dataset.take(4 * steps).as_numpy_iterator())
    assert len(calls) >= 4 * 6


def test_a_prepared_lsun_export_streams_the_same_images_without_decoding(lsun_parent, caplog):
    cfg = make_config(data_dir=str(lsun_parent))
    streamed, _ = take_all(lsun.load(cfg))
    flat = lsun.prepare(cfg)
    assert flat == str(lsun_parent / f"bedroom_train_{SIZE}.u8")
    meta = json.load(open(lsun_parent / f"bedroom_train_{SIZE}.json"))
    assert meta["count"] == 7 and meta["skipped"] == 1
    source = lsun.load(cfg)
    assert isinstance(source, base.FlatFileSource) and source.num_examples("train") == 7
    prepared, labels = take_all(source)
    np.testing.assert_array_equal(prepared, streamed)
    assert np.all(labels == -1)
    assert (
        lsun.load(make_config(data_dir=str(lsun_parent), max_examples=3)).num_examples("train") == 3
    )
    assert not isinstance(
        lsun.load(make_config(data_dir=str(lsun_parent), image_size=SIZE * 2)), base.FlatFileSource
    )  # prepared at another size: the LMDB
    with open(flat, "ab") as f:  # a damaged file is not used
        f.write(b"\0")
    with caplog.at_level(logging.WARNING):
        assert not isinstance(lsun.load(cfg), base.FlatFileSource)
    assert "does not match" in caplog.text
