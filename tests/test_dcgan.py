"""DCGAN: the paper's architecture guidelines, checked on the built networks."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_zoo import registry, signatures
from gan_zoo.datasets import digits
from gan_zoo.errors import UserError
from gan_zoo.models.dcgan import DCGAN


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    cfg = registry.resolve(
        dict(
            model="dcgan",
            image_size=64,
            ngf=8,
            ndf=8,
            batch_size=4,
            workdir=str(tmp_path_factory.mktemp("w")),
        )
    )
    return DCGAN.from_flags(cfg, digits.load(), steps_per_epoch=1)


def _of(net, kind):
    return [layer for layer in net.layers if isinstance(layer, kind)]


def test_generator_shape_projection_and_activations(model):
    g = model.generator
    assert g.output_shape == (None, 64, 64, 1)
    assert g.get_layer("reshape").output.shape[1:] == (4, 4, 8 * 8)  # 4x4x(8 ngf)
    deconvs = _of(g, keras.layers.Conv2DTranspose)
    assert [d.strides for d in deconvs] == [(2, 2)] * 4  # 4 -> 8 -> 16 -> 32 -> 64
    assert deconvs[-1].activation.__name__ == "tanh"
    assert len(_of(g, keras.layers.ReLU)) == 4  # ReLU after projection and each hidden deconv
    assert len(_of(g, keras.layers.Dense)) == 1  # only the projection of z


def test_batchnorm_everywhere_but_g_output_and_d_input(model):
    g, d = model.generator, model.discriminator
    # Each G layer but the last is followed by BN; the output goes straight to tanh.
    g_names = [layer.name for layer in g.layers]
    assert g_names[g_names.index("output") + 1 :] == []
    assert len(_of(g, keras.layers.BatchNormalization)) == 4
    convs = _of(d, keras.layers.Conv2D)
    bns = _of(d, keras.layers.BatchNormalization)
    assert len(bns) == len(convs) - 2  # none after the input conv, none on the logit
    first = d.get_layer("conv0")
    assert not any(layer.input is first.output for layer in bns)


def test_discriminator_strides_leaky_relu_no_pooling_no_dense(model):
    d = model.discriminator
    convs = _of(d, keras.layers.Conv2D)
    assert [c.strides for c in convs[:-1]] == [(2, 2)] * 4
    assert [layer.negative_slope for layer in _of(d, keras.layers.LeakyReLU)] == [0.2] * 4
    for net in (model.generator, model.discriminator):
        names = [type(layer).__name__ for layer in net.layers]
        assert not any("Pool" in n for n in names)
    assert not _of(d, keras.layers.Dense)
    assert d.output_shape == (None, 1)


def test_weights_start_normal_with_std_002(model):
    for net in (model.generator, model.discriminator):
        for layer in net.layers:
            if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
                kernel = layer.kernel.numpy()
                if kernel.size >= 1000:
                    assert abs(kernel.mean()) < 0.003
                    assert kernel.std() == pytest.approx(0.02, rel=0.1)


def test_paper_optimizer_and_noise(model):
    assert isinstance(model.d_optimizer, keras.optimizers.Adam)
    assert float(model.d_optimizer.learning_rate) == pytest.approx(2e-4)
    assert float(model.g_optimizer.beta_1) == pytest.approx(0.5)
    z = model.sample_noise(5000).numpy()
    assert -1.0 <= z.min() < -0.99 and 0.99 < z.max() <= 1.0
    assert registry.resolve({"model": "dcgan"}).batch_size == 128


def test_features_are_every_layer_pooled_to_4x4(model):
    images = tf.random.uniform((3, 64, 64, 1))
    out = signatures.for_model(model)["features"](images)["features"]
    assert out.shape == (3, 16 * 8 * (1 + 2 + 4 + 8))


def test_train_step_moves_both_networks_and_bn_statistics(model):
    batch = {"image": tf.random.uniform((4, 64, 64, 1), -1, 1), "label": tf.zeros(4, tf.int32)}
    g_before = [v.numpy().copy() for v in model.generator.weights]
    d_before = [v.numpy().copy() for v in model.discriminator.weights]
    model.train_step(batch)
    assert all(
        not np.array_equal(b, v.numpy())
        for b, v in zip(g_before, model.generator.weights, strict=True)
    )
    assert all(
        not np.array_equal(b, v.numpy())
        for b, v in zip(d_before, model.discriminator.weights, strict=True)
    )


@pytest.mark.parametrize("size", [16, 48, 256])
def test_unsupported_image_size_is_a_user_error(size):
    with pytest.raises(UserError, match="32, 64, 128"):
        registry.resolve({"model": "dcgan", "image_size": size})


def test_mnist_is_resized_and_keeps_one_channel(tmp_path):
    from conftest import tiny_config

    from gan_zoo import training

    run = training.run(
        tiny_config(tmp_path / "w", model="dcgan", image_size=32, ngf=4, ndf=4), verbose=0
    )
    assert run.model.generator.output_shape == (None, 32, 32, 1)
    assert run.model.discriminator.input_shape == (None, 32, 32, 1)


def test_train_py_dcgan_on_a_generated_lsun_lmdb_trains_and_exports(tmp_path):
    """The headline command on a tiny LSUN-layout LMDB (WebP and JPEG records of
    different sizes, one corrupt), through the real CLI."""
    import json

    from conftest import run_script
    from test_image_datasets import lsun_records, write_lmdb

    write_lmdb(tmp_path / "lsun" / "bedroom_train_lmdb", lsun_records())
    workdir = tmp_path / "run"
    result = run_script(
        "train.py",
        "--model=dcgan",
        "--dataset=lsun",
        f"--data_dir={tmp_path / 'lsun'}",
        f"--workdir={workdir}",
        "--image_size=32",
        "--ngf=4",
        "--ndf=4",
        "--batch_size=2",
        "--epochs=1",
        "--steps_per_epoch=3",
        "--num_samples=4",
        "--run_eagerly",  # the data path is the subject, not the traced step
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "skipped undecodable" in result.stderr  # the truncated record, counted not fatal
    meta = json.loads((workdir / "export" / "gan_zoo.json").read_text())
    assert meta["model"] == "dcgan" and meta["config"]["dataset"] == "lsun"
    loaded = tf.saved_model.load(str(workdir / "export"))
    out = loaded.signatures["sample"](num=tf.constant(3), seed=tf.constant(1, tf.int64))
    assert out["images"].shape == (3, 32, 32, 3)
    features = loaded.signatures["features"](images=out["images"])["features"]
    assert features.shape == (3, 16 * 4 * (1 + 2 + 4))


def test_lsun_without_data_says_where_it_comes_from(tmp_path):
    from conftest import run_scripts

    results = run_scripts(
        {
            "train": [
                "train.py",
                "--model=dcgan",
                "--dataset=lsun",
                f"--data_dir={tmp_path}",
                f"--workdir={tmp_path}/w",
            ],
            "prepare": ["-m", "gan_zoo.prepare_lsun", f"--data_dir={tmp_path}"],
        }
    )
    for result in results.values():
        assert result.returncode == 2
        assert result.stderr.count("\n") == 1 and "github.com/fyu/lsun" in result.stderr
        assert "Traceback" not in result.stderr


def test_fused_batchnorm_matches_keras_batchnorm():
    import keras
    import numpy as np
    import tensorflow as tf

    from gan_zoo.networks import FusedBatchNorm

    x = tf.random.normal([16, 8, 8, 5], 2.0, 3.0, seed=1)
    ours, theirs = (
        FusedBatchNorm(momentum=0.9, epsilon=1e-5),
        keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5),
    )
    for layer in (ours, theirs):
        layer.build(x.shape)
        layer.gamma.assign(tf.linspace(0.5, 2.0, 5))
        layer.beta.assign(tf.linspace(-1.0, 1.0, 5))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        outputs = [layer(x, training=True) for layer in (ours, theirs)]
        losses = [tf.reduce_sum(tf.sin(y)) for y in outputs]
    np.testing.assert_allclose(outputs[0], outputs[1], atol=1e-5)
    for wrt in (x, ours.gamma, ours.beta):
        other = {id(ours.gamma): theirs.gamma, id(ours.beta): theirs.beta}.get(id(wrt), x)
        np.testing.assert_allclose(
            tape.gradient(losses[0], wrt), tape.gradient(losses[1], other), rtol=1e-4, atol=1e-4
        )
    np.testing.assert_allclose(ours.moving_mean, theirs.moving_mean, atol=1e-6)
    # The unbiased batch variance (Torch's) in the moving average: n / (n - 1).
    n = 16 * 8 * 8
    batch_var = (theirs.moving_variance.numpy() - 0.9) / 0.1
    np.testing.assert_allclose(ours.moving_variance, 0.9 + 0.1 * batch_var * n / (n - 1), rtol=1e-5)
    np.testing.assert_allclose(
        ours(x, training=False),
        (x - ours.moving_mean) / np.sqrt(ours.moving_variance + 1e-5) * ours.gamma + ours.beta,
        atol=1e-4,
    )


def test_batch_statistics_samples_leave_the_moving_averages_alone(model):
    moving = [v.numpy().copy() for v in model.generator.non_trainable_variables]
    assert len(moving) > 0
    with_batch = model.preview_with_batch_stats(12, seed=3, batch_size=4).numpy()
    with_moving = model.preview(12, seed=3).numpy()
    assert with_batch.shape == with_moving.shape == (12, 64, 64, 1)
    assert 0.0 <= with_batch.min() and with_batch.max() <= 1.0
    # Fresh moving averages (mean 0, variance 1) differ from any batch's statistics.
    assert np.abs(with_batch - with_moving).max() > 1e-3
    for before, after in zip(moving, model.generator.non_trainable_variables, strict=True):
        np.testing.assert_array_equal(before, after.numpy())


def test_batch_statistics_evaluation_needs_a_batchnorm_generator():
    with pytest.raises(UserError, match="needs a generator with BatchNorm"):
        registry.resolve({"model": "gan", "eval_every_epochs": 1, "eval_batch_stats": True})
