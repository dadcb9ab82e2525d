"""The GAN paper's remaining pieces (issue 38): Figure 2's nearest training
examples, the memorization metric, the CIFAR-10 networks of the authors'
configurations, Theorem 1 on the 1-D toy and several G steps per D step."""

import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import run_script, run_scripts, tiny_config
from PIL import Image

from gan_zoo import exported, networks, pixels, toy1d, training
from gan_zoo.datasets import digits
from gan_zoo.errors import UserError
from gan_zoo.evaluation import nearest
from gan_zoo.models import gan_cifar
from gan_zoo.models.gan import GAN


def _train_images():
    return digits.load().arrays("train")[0].astype(np.float32) / 255.0


def _counted(source, batch_size, sizes):
    for batch in nearest.training_batches(source, "train", batch_size):
        sizes.append(len(batch))
        yield batch


# --- the search -------------------------------------------------------------


def test_nearest_streams_the_set_and_finds_each_copy_itself():
    source, train = digits.load(), _train_images()
    picked = [0, 4321, 8999]
    noise = np.random.default_rng(0).uniform(size=(3, 28, 28, 1)).astype(np.float32)
    sizes = []
    found = nearest.nearest(
        np.concatenate([train[picked], noise]), _counted(source, 700, sizes), keep_images=True
    )
    assert max(sizes) == 700 and len(sizes) == 13 and sum(sizes) == len(train)  # streamed
    assert list(found["index"][:3]) == picked and np.all(found["distance"][:3] == 0)
    np.testing.assert_array_equal(found["image"][:3], train[picked])
    brute = ((train.reshape(len(train), -1)[None] - noise.reshape(3, 1, -1)) ** 2).sum(-1)
    assert list(found["index"][3:]) == list(brute.argmin(1))
    np.testing.assert_allclose(found["distance"][3:], brute.min(1), rtol=1e-5)
    # Only images from `first` on: a training image then finds another one.
    later = nearest.nearest(train[:1], nearest.training_batches(source, "train", 700), first=1)
    assert later["index"][0] >= 1 and later["distance"][0] > 0


def test_memorization_flags_a_copier_and_not_fresh_draws():
    source, train = digits.load(), _train_images()
    test = digits.load().arrays("test")[0].astype(np.float32) / 255.0

    def score(samples, real_train=None):
        return nearest.memorization(
            samples,
            test[500:],
            lambda: nearest.training_batches(source, "train", 1000),
            real_train,
        )

    copier = score(train[1000:1300])["samples"]
    assert copier["ratio"] == 0 and copier["share_closer"] == 1
    fresh = score(test[:300], real_train=train[:1000])  # real digits the model never saw
    for row in (fresh["samples"], fresh["real_train"]):
        assert 0.8 < row["ratio"] < 1.25 and row["share_closer"] < 0.05, row
    assert fresh["real_train"]["reference_images"] == len(train) - 1000
    # The control: the same real digits against the split that holds them are copies.
    assert fresh["real_train"]["copies"]["ratio"] == 0
    assert fresh["real_train"]["copies"]["share_closer"] == 1
    noise = np.random.default_rng(0).uniform(size=(300, 28, 28, 1)).astype(np.float32)
    assert score(noise)["samples"]["share_closer"] == 0


def test_evaluate_scores_memorization_of_copies_and_real_training_digits(tmp_path):
    copies = tmp_path / "copies.npy"
    np.save(copies, np.round(_train_images()[2000:2400] * 255).astype(np.uint8))
    result = run_script(
        "-m",
        "gan_zoo.evaluate",
        f"--samples={copies}",
        "--metrics=memorization",
        "--dataset=digits",
        "--real_train=2000",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    scored = json.loads(result.stdout.strip().splitlines()[-1])
    assert scored["metrics"] == ["memorization"]
    assert scored["samples"]["memorization"]["share_closer"] == 1
    real = scored["real_train"]["memorization"]
    assert 0.8 < real["ratio"] < 1.25 and real["num"] == 2000
    assert real["copies"]["ratio"] == 0 and real["copies"]["share_closer"] == 1


# --- Figure 2 -----------------------------------------------------------------


class _Copier(keras.layers.Layer):
    """G(z) = one fixed image, whatever z."""

    def __init__(self, image, **kwargs):
        super().__init__(**kwargs)
        self.image = tf.constant(image)

    def call(self, z):
        return tf.broadcast_to(self.image, (tf.shape(z)[0],) + tuple(self.image.shape))


@pytest.fixture(scope="module")
def copier_export(tmp_path_factory):
    cfg = tiny_config(tmp_path_factory.mktemp("fig2") / "w", export=True)
    model = GAN.from_flags(cfg, digits.load(), 2)
    z = keras.Input((cfg.latent_dim,))
    model.generator = keras.Model(z, _Copier(_train_images()[1234])(z))
    return training.export_model(cfg, model)


def test_figure_2_puts_each_samples_own_training_image_beside_it(copier_export, tmp_path):
    out = tmp_path / "fig2.png"
    results = run_scripts(
        {
            "fig": [
                "-m",
                "gan_zoo.sample",
                f"--export={copier_export}",
                "--nearest",
                "--num=10",
                f"--out={out}",
                "--scale=1",
                "--nearest_batch=500",
            ],
            "bad": ["-m", "gan_zoo.sample", f"--export={copier_export}", "--nearest", "--num=7"],
        }
    )
    assert results["fig"].returncode == 0, results["fig"].stderr[-3000:]
    rows = [line for line in results["fig"].stdout.splitlines() if line.startswith("row")]
    assert rows == [f"row {r}: training example 1234, squared distance 0.00" for r in (0, 1)]
    picture = np.asarray(Image.open(out).convert("RGB"))
    assert picture.shape == (2 * 30 + 2, 6 * 30 + 2, 3)  # 2 rows of 5 samples + 1, pad 2
    cell = picture[2:30, 152:180]  # row 0's neighbour, grey: the training digit itself
    np.testing.assert_array_equal(cell[..., 0], np.round(_train_images()[1234, ..., 0] * 255))
    assert (picture[0, 150:182] == (255, 255, 0)).all()  # outlined in yellow
    assert (picture[0, :150] != (255, 255, 0)).any(axis=-1).all()  # the samples are not
    bad = results["bad"]
    assert bad.returncode == 2 and "multiple of it" in bad.stderr.strip().splitlines()[-1]


# --- the CIFAR-10 networks ------------------------------------------------------


def test_cifar_networks_have_the_configurations_layer_sizes():
    shape = (32, 32, 3)
    # Layer by layer from the yamls: e.g. G: 100*8000+8000 + 8000*8000+8000 + 8000*3072+3072.
    assert gan_cifar.fully_connected_generator(100, shape).count_params() == 89_395_072
    d = networks.maxout_discriminator(shape, units=1600, pieces=5, hidden_layers=2)
    assert d.count_params() == 37_393_601  # 3072*8000+8000 + 1600*8000+8000 + 1601
    g = gan_cifar.deconvolutional_generator(100, shape)
    assert g.get_layer("converter").output.shape[1:] == (10, 10, 80)
    assert g.output_shape == (None, 32, 32, 3) and g.count_params() == 64_825_072
    d = gan_cifar.convolutional_discriminator(shape)
    assert [tuple(d.get_layer(f"h{i}").output.shape[1:]) for i in range(3)] == [
        (16, 16, 32),
        (7, 7, 32),
        (5, 5, 192),
    ]  # cuda-convnet's ceil-mode pooling of 33, 15 and 9
    # 8*8*3*64+64 + 8*8*32*64+64 + 5*5*32*384+384 + 4800*2500+2500 + 501
    assert d.count_params() == 12_454_073
    rates = [layer.rate for layer in d.layers if isinstance(layer, keras.layers.Dropout)]
    assert rates == [0.2, 0.5, 0.5, 0.5, 0.5]


def test_maxout_convolution_pools_windows_that_run_off_the_edge():
    layer = gan_cifar.MaxoutConv(1, 2, 1, 0, 4, 2)
    x = -np.arange(5 * 5, dtype=np.float32).reshape(1, 5, 5, 1)
    layer.build(x.shape)
    layer.conv.kernel.assign(np.array([1.0, -1.0], np.float32).reshape(1, 1, 1, 2))
    out = layer(x).numpy()[0, ..., 0]  # the max of the pieces x and -x: 5 r + c at (r, c)
    # ceil((5 - 4) / 2) + 1 = 2 windows a side (valid pooling: 1); the second
    # starts at 2 and runs off the edge, so it reaches row and column 4.
    np.testing.assert_array_equal(out, [[18.0, 19.0], [23.0, 24.0]])


def test_global_contrast_normalization_is_pylearn2s():
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(4, 32, 32, 3)).astype(np.float32)
    out = pixels.global_contrast_normalize(images, 55.0).numpy().reshape(4, -1)
    np.testing.assert_allclose(out.mean(1), 0, atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 55, rtol=1e-5)
    again = pixels.global_contrast_normalize(images * 255 - 3, 55.0).numpy().reshape(4, -1)
    np.testing.assert_allclose(again, out, atol=1e-3)  # brightness and contrast do not matter
    shown = pixels.contrast_display(out).numpy()
    assert shown.min() >= 0 and shown.max() <= 1 and np.isclose(np.abs(shown - 0.5).max(), 0.5)


@pytest.fixture(scope="module")
def colour_folder(tmp_path_factory):
    """40 generated 32x32 RGB images: the CIFAR-10 stand-in of a machine without it."""
    root = tmp_path_factory.mktemp("colour")
    rng = np.random.default_rng(0)
    for i in range(40):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(root / f"{i}.png")
    return str(root)


@pytest.mark.parametrize("name", ["gan_cifar10_fc", "gan_cifar10_conv"])
def test_cifar_models_train_and_export_on_32x32x3_images(name, colour_folder, tmp_path):
    cfg = tiny_config(
        tmp_path / "w",
        model=name,
        dataset="image_folder",
        data_dir=colour_folder,
        image_size=32,
        width_factor=0.05,
        export=True,
    )
    assert cfg.gcn_scale == 55 and cfg.learning_rate == (0.025 if name.endswith("fc") else 0.004)
    run = training.run(cfg, verbose=0)
    assert int(run.model.g_optimizer.iterations) == 2
    export = exported.load_export(run.export_dir)
    images, z = export.sample(6, 0)
    assert images.shape == (6, 32, 32, 3) and 0 <= images.min() and images.max() <= 1
    raw = run.model.generator(z).numpy()  # G draws in the normalised space...
    assert raw.min() < 0 or raw.max() > 1
    np.testing.assert_allclose(images, pixels.contrast_display(raw), atol=1e-5)  # ...shown
    # discriminate normalises the [0, 1] images it is given, as training did.
    logits = export.signature("discriminate")(images=tf.constant(images))["logit"].numpy()
    own = run.model.discriminator(pixels.global_contrast_normalize(images, 55.0)).numpy()
    np.testing.assert_allclose(logits, own.ravel(), rtol=1e-4, atol=1e-5)
    clone = type(run.model).from_config(run.model.get_config())
    assert clone.gcn_scale == 55 and clone.generator.count_params() == (
        run.model.generator.count_params()
    )


def test_cifar_models_refuse_other_sizes(tmp_path):
    with pytest.raises(UserError, match="32x32 images; use --image_size=32"):
        tiny_config(tmp_path, model="gan_cifar10_conv", image_size=64)


def test_cifar10_paper_split_under_tfds_mock_data():
    import tensorflow_datasets as tfds

    from gan_zoo import registry
    from gan_zoo.datasets import tfds_images

    with tfds.testing.mock_data(num_examples=5):
        cfg = registry.resolve({"dataset": "cifar10", "paper_split": True}).run
        source = tfds_images.load_cifar10(cfg)
        assert source.split_names() == ["train", "validation", "test"]
        assert source._splits["train"] == "train[:40000]"
        assert source._splits["validation"] == "train[40000:]"


# --- Theorem 1 ------------------------------------------------------------------


def test_theorem_1_two_ways_along_training_and_its_minimum():
    gan = toy1d.build_gan(decay_steps=200, seed=0)
    rng, done, values = np.random.default_rng(0), 0, []
    for step in (0, 40, 200):
        toy1d.train(gan, toy1d.DATA, steps=step - done, batch_size=128, rng=rng)
        done = step
        c = toy1d.virtual_criterion(gan, num_samples=50_000)
        # V(G, D*) by Monte Carlo over draws of x and z, against -log 4 + 2 JSD integrated.
        assert abs(c["value"] - c["via_jsd"]) < 0.01, (step, c)
        assert c["jsd"] > 0
        values.append(c["via_jsd"])
    assert values[0] > values[-1] > -math.log(4)  # training lowers C(G) towards -log 4
    # The minimum: among Gaussians p_g, -log 4 exactly at p_g = p_data, above it elsewhere.
    grid = np.linspace(-6.0, 8.0, 8001)
    p_data = toy1d.DATA.density(grid)
    for mean in (0.0, 0.9, 1.0, 1.1, 2.0):
        for std in (0.3, 0.45, 0.5, 0.55, 1.0):
            value, via_jsd = toy1d.criterion_on_grid(
                p_data, toy1d.Gaussian1D(mean, std).density(grid), grid
            )
            assert value == pytest.approx(via_jsd, abs=1e-9)
            if (mean, std) == (1.0, 0.5):
                assert value == pytest.approx(-math.log(4), abs=1e-9)
            else:
                assert value > -math.log(4) + 1e-4
    # A generator that draws p_data exactly, G(z) = 1 + z / 2, reaches it by sampling too.
    exact = toy1d.build_gan(seed=0)
    exact.generator = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    exact.generator.layers[-1].set_weights([np.array([[0.5]]), np.array([1.0])])
    c = toy1d.virtual_criterion(exact)
    assert abs(c["value"] + math.log(4)) < 0.005 and abs(c["via_jsd"] + math.log(4)) < 0.005
