"""The autoencoder family and the conditional GAN: objectives, corruption,
conditioning, a step of every model, and the exports."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import tiny_config

from gan_zoo import exported, registry, training
from gan_zoo import pictures as drawing
from gan_zoo.datasets import digits
from gan_zoo.errors import UserError
from gan_zoo.models import dae
from gan_zoo.models.vae import VAE


def _model(tmp_path, model, **overrides):
    values = dict(model=model, batch_size=8, latent_dim=3)
    if model != "cgan":  # the cGAN's networks are the paper's
        values.update(hidden_units=32, hidden_layers=1)
    values.update(overrides)
    cfg = tiny_config(tmp_path / model, **values)
    return registry.model_class(model).from_flags(cfg, digits.load(), steps_per_epoch=2)


def _batch(n=8, start=0):
    images, labels = digits.load().arrays("train")
    return {
        "image": tf.constant(images[start : start + n].astype(np.float32) / 255.0),
        "label": tf.constant(labels[start : start + n]),
    }


def _networks(model):
    names = getattr(model, "network_names", ("generator", "discriminator"))
    return {name: getattr(model, name) for name in names}


# ----- the VAE's objective ---------------------------------------------------------


def _constant_vae(tmp_path, mean, log_var, pixel_logit, **overrides):
    """A VAE whose posterior is N(mean, exp(log_var)) for every image and whose
    decoder outputs sigmoid(pixel_logit) everywhere: all kernels zero, biases set."""
    model = _model(tmp_path, "vae", latent_dim=2, **overrides)
    for net, bias in (
        (model.encoder, np.concatenate([mean, log_var])),
        (model.decoder, np.full(784, pixel_logit)),
    ):
        for layer in net.layers:
            if isinstance(layer, keras.layers.Dense):
                kernel, b = layer.get_weights()
                last = layer is net.get_layer("output")
                layer.set_weights(
                    [np.zeros_like(kernel), bias.astype(np.float32) if last else np.zeros_like(b)]
                )
    return model


def test_elbo_terms_against_a_hand_computed_case(tmp_path):
    mean, log_var = np.array([1.0, -2.0]), np.log(np.array([0.25, 4.0]))
    model = _constant_vae(tmp_path, mean, log_var, pixel_logit=0.3)
    batch = _batch(4)
    nll, kl = model.bound_terms(batch["image"], batch["label"], tf.random.normal((4, 2)))
    p = 1.0 / (1.0 + np.exp(-0.3))
    x = batch["image"].numpy().reshape(4, -1).astype(np.float64)
    expected_nll = -(x * np.log(p) + (1 - x) * np.log(1 - p)).sum(1)
    var = np.exp(log_var)
    expected_kl = 0.5 * np.sum(var + mean**2 - 1 - log_var)
    np.testing.assert_allclose(nll.numpy(), expected_nll, rtol=1e-4)
    np.testing.assert_allclose(kl.numpy(), expected_kl, rtol=1e-5)
    # A standard normal posterior costs no KL.
    standard = _constant_vae(tmp_path, np.zeros(2), np.zeros(2), pixel_logit=0.0)
    _, kl0 = standard.bound_terms(batch["image"], batch["label"], tf.random.normal((4, 2)))
    np.testing.assert_allclose(kl0.numpy(), 0.0, atol=1e-6)
    # The held-out metric is the mean of the same two terms.
    metrics = model.held_out_metrics(batch["image"], batch["label"])
    assert tuple(metrics) == model.held_out_names
    assert metrics["neg_elbo"] == pytest.approx(expected_nll.mean() + expected_kl, rel=1e-4)


def test_reparameterised_sample_has_the_posterior_statistics(tmp_path):
    model = _model(tmp_path, "vae", latent_dim=4)
    image = _batch(1)["image"]
    mean, log_var = (t.numpy()[0] for t in model.posterior(image))
    noise = tf.random.stateless_normal((20000, 4), [1, 2])
    z = VAE.reparameterize(
        tf.tile(mean[None], (20000, 1)), tf.tile(log_var[None], (20000, 1)), noise
    ).numpy()
    np.testing.assert_allclose(z.mean(0), mean, atol=0.05 * np.exp(0.5 * log_var).max())
    np.testing.assert_allclose(z.var(0), np.exp(log_var), rtol=0.05)


def test_kl_warmup_weight_rises_to_one(tmp_path):
    model = _model(tmp_path, "vae", kl_warmup_epochs=2)  # 2 steps per epoch: 4 steps
    weights = []
    for _ in range(6):
        weights.append(float(model.kl_weight()))
        model.train_step(_batch())
    assert weights == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0, 1.0])


def test_gaussian_decoder_learns_its_scale(tmp_path):
    model = _model(tmp_path, "vae", recon_loss="mse")
    before = float(model.log_scale.numpy())
    model.train_step(_batch())
    assert float(model.log_scale.numpy()) != before


# ----- the denoising autoencoder's corruption ------------------------------------------


def test_corruptions_do_what_they_say():
    x = tf.fill((200, 28, 28, 1), 0.5)
    seed = keras.random.SeedGenerator(3)
    masked = dae.corrupt(x, "masking", 0.3, seed).numpy()
    assert set(np.unique(masked)) == {0.0, 0.5}
    assert np.mean(masked == 0.0) == pytest.approx(0.3, abs=0.01)
    salted = dae.corrupt(x, "salt_and_pepper", 0.2, seed).numpy()
    assert set(np.unique(salted)) == {0.0, 0.5, 1.0}
    assert np.mean(salted != 0.5) == pytest.approx(0.2, abs=0.01)
    assert np.mean(salted == 1.0) == pytest.approx(0.1, abs=0.01)
    noisy = dae.corrupt(x, "gaussian", 0.1, seed).numpy() - 0.5
    assert abs(noisy.mean()) < 0.002 and noisy.std() == pytest.approx(0.1, rel=0.02)
    with pytest.raises(ValueError, match="unknown corruption"):
        dae.corrupt(x, "blur", 0.1, seed)


def test_denoising_target_stays_clean(tmp_path):
    model = _model(tmp_path, "dae", corruption="masking", corruption_level=0.5)
    batch = _batch()
    inputs, targets = model.inputs_and_targets(batch)
    assert targets is batch["image"]
    changed = np.mean(inputs.numpy() != batch["image"].numpy())
    # Half the pixels are hit; those already 0 (most of a digit's background) look unchanged.
    assert 0.05 < changed < 0.5
    pictures = drawing.for_model(model, batch["image"], batch["label"])
    assert pictures["denoising"].shape == (3 * 30 + 2, 8 * 30 + 2, 1)


def test_fractional_corruption_needs_a_fraction(tmp_path):
    with pytest.raises(UserError, match="must be in \\(0, 1\\)"):
        tiny_config(tmp_path / "w", model="dae", corruption="masking", corruption_level=1.5)


# ----- conditioning -----------------------------------------------------------------


def test_conditional_models_read_the_label(tmp_path):
    cvae = _model(tmp_path, "cvae")
    x, z = _batch(2)["image"], tf.zeros((2, 3))
    one, eight = tf.constant([1, 1]), tf.constant([8, 8])

    def differ(a, b):
        return not np.allclose(a.numpy(), b.numpy())

    assert differ(cvae.decode({"z": z}, one), cvae.decode({"z": z}, eight))
    assert differ(cvae.encode(x, one)["z"], cvae.encode(x, eight)["z"])
    cgan = _model(tmp_path, "cgan", latent_dim=100)
    noise = cgan.sample_noise(2)
    assert differ(cgan((noise, tf.constant([0, 0]))), cgan((noise, tf.constant([5, 5]))))
    images = cgan((noise, tf.constant([0, 0])))
    assert differ(
        cgan.discriminate(images, {"label": tf.constant([0, 0])}, False),
        cgan.discriminate(images, {"label": tf.constant([5, 5])}, False),
    )


def test_cgan_has_the_papers_networks(tmp_path):
    cgan = _model(tmp_path, "cgan", latent_dim=100)
    dense = [
        layer.units for layer in cgan.generator.layers if isinstance(layer, keras.layers.Dense)
    ]
    assert dense == [200, 1000, 1200, 784]
    maxouts = [
        (layer.units, layer.pieces)
        for layer in cgan.discriminator.layers
        if layer.__class__.__name__ == "Maxout"
    ]
    assert maxouts == [(240, 5), (50, 5), (240, 4)]
    assert cgan.num_classes == 10


@pytest.mark.parametrize("model", ["cvae", "cgan"])
def test_conditional_models_need_labels(tmp_path, model):
    from gan_zoo.datasets.base import ArraySource

    source = ArraySource("toy", {"train": (np.zeros((20, 28, 28), np.uint8), None)}, 0)
    cfg = tiny_config(tmp_path / "w", model=model)
    with pytest.raises(UserError, match="needs labels"):
        registry.model_class(model).from_flags(cfg, source, steps_per_epoch=1)


# ----- one step of every model ---------------------------------------------------------


@pytest.mark.parametrize(
    "model, overrides",
    [
        ("ae", {}),
        ("ae", {"architecture": "conv"}),
        ("dae", {}),
        ("vae", {}),
        ("vae", {"recon_loss": "mse"}),
        ("cvae", {"architecture": "conv"}),
        ("cgan", {}),
    ],
)
def test_one_training_step_changes_every_network(tmp_path, model, overrides):
    net = _model(tmp_path, model, **overrides)
    batch = _batch(8)
    if model == "cgan":
        batch = _batch(8 * net.d_steps)
    before = {
        name: [v.numpy().copy() for v in n.trainable_variables]
        for name, n in _networks(net).items()
    }
    net.train_step(batch)
    for name, n in _networks(net).items():
        moved = [
            not np.array_equal(b, v.numpy())
            for b, v in zip(before[name], n.trainable_variables, strict=True)
        ]
        assert any(moved), name
        # Every kernel moves (biases of dead ReLUs may not, after one step).
        kernels = [
            m for m, v in zip(moved, n.trainable_variables, strict=True) if "kernel" in v.path
        ]
        assert all(kernels), name


# ----- training and export -----------------------------------------------------------


def test_ae_conv_trains_and_exports(tmp_path):
    run = training.run(
        tiny_config(tmp_path / "w", model="ae", architecture="conv", latent_dim=2, export=True),
        verbose=0,
    )
    loaded = tf.saved_model.load(run.export_dir)
    images = tf.constant(digits.load().arrays("test")[0][:3].astype(np.float32) / 255.0)
    z = loaded.signatures["encode"](images=images)["z"]
    np.testing.assert_allclose(
        loaded.signatures["decode"](z=z)["images"].numpy(),
        loaded.signatures["reconstruct"](images=images)["images"].numpy(),
        atol=1e-5,
    )
    np.testing.assert_allclose(z.numpy(), run.model.encode(images)["z"].numpy(), atol=1e-5)
    assert {"reconstructions", "latent", "manifold"} <= set(os.listdir(tmp_path / "w" / "pictures"))


def test_vae_logs_test_elbo_and_exports(tmp_path):
    run = training.run(
        tiny_config(
            tmp_path / "w", model="vae", latent_dim=2, epochs=2, hidden_units=32, export=True
        ),
        verbose=0,
    )
    assert len(run.history["test_neg_elbo"]) == 2
    summary = json.load(open(tmp_path / "w" / "summary.json"))
    assert summary["final_metrics"]["test_neg_elbo"] == pytest.approx(
        run.history["test_recon"][-1] + run.history["test_kl"][-1], rel=1e-5
    )
    loaded = tf.saved_model.load(run.export_dir)
    images = tf.constant(digits.load().arrays("test")[0][:3].astype(np.float32) / 255.0)
    code = loaded.signatures["encode"](images=images)
    assert code["z"].shape == (3, 2) and code["z_log_var"].shape == (3, 2)
    out = loaded.signatures["sample"](num=tf.constant(5), seed=tf.constant(1, tf.int64))
    again = loaded.signatures["sample"](num=tf.constant(5), seed=tf.constant(1, tf.int64))
    np.testing.assert_array_equal(out["images"].numpy(), again["images"].numpy())
    # The latent tools (walk.py, arithmetic.py) decode codes through `decode`.
    export = exported.load_export(run.export_dir)
    assert export.latent_dim == 2 and export.image_shape == (28, 28, 1)
    np.testing.assert_allclose(export.generate(out["z"].numpy()), out["images"].numpy(), atol=1e-5)


def test_vae_with_the_mixture_prior_estimates_its_kl_and_draws_from_the_mixture(tmp_path):
    from gan_zoo import losses

    model = _model(tmp_path, "vae", latent_dim=2, prior="mixture_gaussian")
    assert model.get_config()["prior"] == "mixture_gaussian"
    batch, noise = _batch(4), tf.random.stateless_normal((4, 2), [0, 1])
    _, kl = model.bound_terms(batch["image"], batch["label"], noise)
    # log q(z|x) - log p(z) at the very z the decoder read.
    mean, log_var = model.posterior(batch["image"])
    z = model.reparameterize(mean, log_var, noise)
    expected = losses.gaussian_log_density(z, mean, log_var) - model.prior.log_prob(z)
    np.testing.assert_allclose(kl.numpy(), expected.numpy(), rtol=1e-5)
    logs = model.train_step(batch)
    assert all(np.isfinite(float(v)) for v in logs.values())
    # `generate` decodes draws of the mixture: ten spokes 1.4 from the origin.
    draws = model.stateless_code(2000, tf.constant([0, 0], tf.int64))["z"].numpy()
    assert abs(np.linalg.norm(draws, axis=1).mean() - 1.4) < 0.1
    with pytest.raises(UserError, match="--latent_dim=2"):
        tiny_config(tmp_path / "bad", model="vae", prior="mixture_gaussian", latent_dim=3)
    with pytest.raises(UserError, match="--prior='uniform'"):
        tiny_config(tmp_path / "bad", model="vae", prior="uniform")


def test_cvae_export_takes_labels(tmp_path):
    run = training.run(
        tiny_config(tmp_path / "w", model="cvae", hidden_units=16, export=True), verbose=0
    )
    loaded = tf.saved_model.load(run.export_dir)
    images = tf.constant(digits.load().arrays("test")[0][:3].astype(np.float32) / 255.0)
    label = tf.constant([3, 3, 3])
    z = loaded.signatures["encode"](images=images, label=label)["z"]
    one = loaded.signatures["decode"](z=z, label=label)["images"].numpy()
    np.testing.assert_allclose(
        one,
        loaded.signatures["reconstruct"](images=images, label=label)["images"].numpy(),
        atol=1e-5,
    )
    drawn = loaded.signatures["generate_for_labels"](
        label=tf.constant([0, 7]), seed=tf.constant(0, tf.int64)
    )
    expected = run.model.decode({"z": drawn["z"]}, tf.constant([0, 7])).numpy()
    np.testing.assert_allclose(drawn["images"].numpy(), expected, atol=1e-5)


def test_cgan_trains_and_exports_class_rows(tmp_path):
    run = training.run(
        tiny_config(tmp_path / "w", model="cgan", num_samples=20, export=True), verbose=0
    )
    loaded = tf.saved_model.load(run.export_dir)
    out = loaded.signatures["sample"](num=tf.constant(20), seed=tf.constant(0, tf.int64))
    np.testing.assert_array_equal(out["label"].numpy(), np.repeat(np.arange(10), 2))
    again = loaded.signatures["generate"](z=out["z"], label=out["label"])["images"]
    np.testing.assert_allclose(again.numpy(), out["images"].numpy(), atol=1e-5)
    p = loaded.signatures["discriminate"](images=out["images"], label=out["label"])
    assert p["probability"].shape == (20,)
    with pytest.raises(UserError, match="also takes a label"):
        exported.load_export(run.export_dir).generate(np.zeros((1, 100)))


def test_export_signatures_refuse_wrong_shapes_and_dtypes(tmp_path):
    run = training.run(
        tiny_config(tmp_path / "w", model="vae", latent_dim=2, hidden_units=8, export=True),
        verbose=0,
    )
    loaded = tf.saved_model.load(run.export_dir)
    errors = (ValueError, TypeError, tf.errors.InvalidArgumentError)
    # The error names the input, its shape and the one expected (not a
    # mismatch deep inside the decoder's matrices).
    with pytest.raises(
        errors,
        match=r"tensor z \[3,5\] is not compatible with expected "
        r"shape \[\?,2\]",
    ):
        loaded.signatures["decode"](z=tf.zeros((3, 5)))
    with pytest.raises(errors, match=r"tensor images \[3,32,32,1\] is not compatible"):
        loaded.signatures["encode"](images=tf.zeros((3, 32, 32, 1)))
    with pytest.raises(errors, match=r"int32"):
        loaded.signatures["encode"](images=tf.zeros((3, 28, 28, 1), tf.int32))
