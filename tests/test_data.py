import gzip

import numpy as np
import pytest
import tensorflow as tf
from conftest import fake_mnist_dir, write_idx

from gan_zoo import pixels
from gan_zoo.datasets import digits, idx, mnist, pipeline, tfds_util
from gan_zoo.errors import UserError


@pytest.mark.parametrize("name", ["x-idx3-ubyte", "x-idx3-ubyte.gz"])
def test_idx_round_trip_raw_and_gzipped(tmp_path, name):
    array = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / name, array)
    np.testing.assert_array_equal(idx.read_idx(str(tmp_path / name)), array)


def test_idx_rejects_bad_magic_and_truncation(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(UserError, match="not an IDX file"):
        idx.read_idx(str(tmp_path / "bad"))
    write_idx(tmp_path / "full", np.zeros((4, 3), np.uint8))
    data = (tmp_path / "full").read_bytes()
    (tmp_path / "cut").write_bytes(data[:-5])
    with pytest.raises(UserError, match="truncated"):
        idx.read_idx(str(tmp_path / "cut"))
    with gzip.open(tmp_path / "broken.gz", "wb") as f:
        f.write(data)
    (tmp_path / "broken2.gz").write_bytes((tmp_path / "broken.gz").read_bytes()[:20])
    with pytest.raises(UserError):
        idx.read_idx(str(tmp_path / "broken2.gz"))


def test_mnist_from_idx_dir_with_paper_split(tmp_path, tiny):
    fake_mnist_dir(tmp_path, n_train=60200, n_test=10, gz=False)
    source = mnist.load(tiny(dataset="mnist", data_dir=str(tmp_path), paper_split=True))
    assert source.num_examples("train") == 50000
    assert source.num_examples("validation") == 10200
    assert source.num_examples("test") == 10
    assert source.image_shape == (28, 28, 1)
    raw = idx.read_idx(str(tmp_path / "train-images-idx3-ubyte"))
    np.testing.assert_array_equal(source.arrays("validation")[0][0, ..., 0], raw[50000])


def test_mnist_missing_file_names_what_is_missing(tmp_path, tiny):
    fake_mnist_dir(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(UserError, match="t10k-labels-idx1-ubyte"):
        mnist.load(tiny(dataset="mnist", data_dir=str(tmp_path)))


def test_mnist_without_data_or_network_says_how_to_get_it(tmp_path, tiny, monkeypatch):
    monkeypatch.setattr(tfds_util, "reachable", lambda *a, **k: False)
    with pytest.raises(UserError, match="--data_dir"):
        mnist.load(tiny(dataset="mnist", data_dir=str(tmp_path)))


def test_embedded_digits_are_real_labelled_mnist():
    source = digits.load()
    images, labels = source.arrays("train")
    assert images.shape == (9000, 28, 28, 1) and images.dtype == np.uint8
    assert source.num_examples("test") == 1000
    assert set(np.unique(labels)) == set(range(10))
    # Real digits: dark background, bright strokes, mostly empty borders.
    assert images[:, :2].mean() < 1.0 and 20 < images.mean() < 50


def test_pipeline_batches_scales_and_counts_one_pass(tiny):
    source = digits.load()
    ds, steps = pipeline.training_dataset(source, "train", 3 * 32, (-1.0, 1.0), seed=0)
    assert steps == 9000 // 96
    batch = next(iter(ds))
    assert batch["image"].shape == (96, 28, 28, 1)
    assert batch["image"].dtype.name == "float32"
    values = batch["image"].numpy()
    assert values.min() == -1.0 and values.max() == 1.0


def test_pipeline_epoch_visits_every_example_once():
    from gan_zoo.datasets.base import ArraySource

    images = np.arange(50, dtype=np.uint8).reshape(50, 1, 1, 1)
    source = ArraySource("toy", {"train": (images, None)}, num_classes=0)
    ds, steps = pipeline.training_dataset(source, "train", 10, (0.0, 255.0), seed=3)
    first = np.concatenate([b["image"].numpy().ravel() for b in ds.take(steps)])
    second = np.concatenate([b["image"].numpy().ravel() for b in ds.skip(steps).take(steps)])
    assert sorted(first.round().astype(int)) == list(range(50))
    assert sorted(second.round().astype(int)) == list(range(50))
    assert not np.array_equal(first, second)  # reshuffled every pass


def test_pipeline_refuses_batch_larger_than_data():
    with pytest.raises(UserError, match="batch_size"):
        pipeline.training_dataset(digits.load(), "test", 5000, (0, 1), seed=0)


def test_pipeline_resizes_to_the_model_shape_and_caps_examples():
    source = digits.load()
    ds, steps = pipeline.training_dataset(
        source, "train", 10, (-1.0, 1.0), seed=0, image_shape=(32, 32, 1), max_examples=95
    )
    assert steps == 9  # 95 examples, batches of 10
    batch = next(iter(ds))["image"].numpy()
    assert batch.shape == (10, 32, 32, 1)
    assert -1.0 <= batch.min() and batch.max() <= 1.0 and batch.max() > 0.5


def test_digits_are_padded_into_a_32_pixel_frame_and_crop_back_exactly():
    images = next(iter(digits.load().dataset("test").batch(16)))["image"]
    framed = pipeline.model_images(images, (-1.0, 1.0), (32, 32, 1)).numpy()
    assert framed.shape == (16, 32, 32, 1)
    # Two background pixels (black: the range's low end) on every side, the
    # digit itself untouched: nothing is resampled.
    border = np.ones((32, 32), bool)
    border[2:30, 2:30] = False
    assert (framed[:, border] == -1.0).all()
    np.testing.assert_allclose(
        framed[:, 2:30, 2:30], pipeline.scale_images(images, (-1.0, 1.0)).numpy(), atol=1e-6
    )
    unit = images.numpy().astype(np.float32) / 255.0
    back = pipeline.to_data_size(pixels.to_unit_range(framed, (-1.0, 1.0)), (28, 28, 1))
    np.testing.assert_allclose(back.numpy(), unit, atol=1e-6)
    # 64 pixels: the same frame, doubled; halving it back is not exact, but
    # closer than resampling 28 -> 64 -> 28 directly.
    doubled = pipeline.resize_images(tf.constant(unit), (64, 64, 1))
    assert doubled.shape == (16, 64, 64, 1) and float(tf.reduce_max(doubled[:, :4])) == 0.0
    error = np.abs(pipeline.to_data_size(doubled, (28, 28, 1)).numpy() - unit).mean()
    direct = tf.image.resize(tf.image.resize(unit, (64, 64)), (28, 28), antialias=True)
    assert 0 < error < 0.9 * np.abs(direct.numpy() - unit).mean()


def test_pipeline_refuses_a_channel_mismatch():
    with pytest.raises(UserError, match="3-channel"):
        pipeline.training_dataset(
            digits.load(), "train", 10, (0, 1), seed=0, image_shape=(28, 28, 3)
        )


def test_balanced_subset_takes_equal_counts_per_class_reproducibly():
    labels = np.repeat(np.arange(10), 30)
    picked = pipeline.balanced_subset(labels, 100, 10, seed=3)
    assert len(picked) == len(set(picked)) == 100
    np.testing.assert_array_equal(np.bincount(labels[picked]), [10] * 10)
    np.testing.assert_array_equal(picked, pipeline.balanced_subset(labels, 100, 10, seed=3))
    assert not np.array_equal(picked, pipeline.balanced_subset(labels, 100, 10, seed=4))
    with pytest.raises(UserError, match="multiple of the 10 classes"):
        pipeline.balanced_subset(labels, 105, 10, seed=0)
    with pytest.raises(UserError, match="class 0 has only 30"):
        pipeline.balanced_subset(labels, 400, 10, seed=0)


def test_labelled_stream_draws_only_the_chosen_examples_and_hides_other_labels():
    source = digits.load()
    train, steps = pipeline.training_dataset(source, "train", 50, (0.0, 1.0), seed=0)
    ds = pipeline.with_labelled_stream(train, source, 20, 10, (0.0, 1.0), seed=0)
    images, labels = source.arrays("train")
    chosen = pipeline.balanced_subset(labels, 20, 10, seed=0)
    chosen_images = images[chosen].astype(np.float32) / 255.0
    seen = []
    for batch in ds.take(6).as_numpy_iterator():
        assert batch["image"].shape == (50, 28, 28, 1) and np.all(batch["label"] == -1)
        assert batch["labelled_image"].shape == (10, 28, 28, 1)
        for image, label in zip(batch["labelled_image"], batch["labelled_label"], strict=True):
            match = np.flatnonzero(np.all(np.abs(chosen_images - image) < 1e-6, (1, 2, 3)))
            assert len(match) == 1 and labels[chosen[match[0]]] == label
            seen.append(match[0])
    # 60 draws cycle through all 20 labelled examples, 3 times each.
    np.testing.assert_array_equal(np.bincount(seen, minlength=20), [3] * 20)


@pytest.mark.parametrize(
    "settings", [{"model": "gan"}, {"model": "aae_semi_supervised", "hidden_units": 16}]
)
def test_the_stream_train_py_fits_runs_without_tf_data_autotuning(tmp_path, settings):
    # Its thread held up the end of every fit call (gan_zoo/datasets/pipeline.py).
    from conftest import tiny_config

    from gan_zoo import training

    cfg = tiny_config(tmp_path / "w", **settings)
    make_dataset = training._prepare(cfg, resume_from=None)[2]
    options = make_dataset(0).options()
    assert options.autotune.enabled is False
    # and the multi-worker sharding set beside it survives
    assert options.experimental_distribute.auto_shard_policy.name == "DATA"
