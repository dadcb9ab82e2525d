"""The contractive autoencoder: the exact penalty against hand computations,
the stochastic one against the exact as its noise shrinks, and its step."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import tiny_config

from gan_zoo import exported, losses, networks, registry, training
from gan_zoo import pictures as drawing
from gan_zoo.datasets import digits
from gan_zoo.errors import UserError


def _images(n=5, side=3, seed=0):
    return tf.constant(np.random.default_rng(seed).uniform(0, 1, (n, side, side, 1)), tf.float32)


def test_exact_penalty_is_rifais_closed_form_for_a_sigmoid_layer():
    # h = s(W x + b): dh_j/dx_i = h_j (1 - h_j) W_ij (Rifai et al. 2011).
    rng = np.random.default_rng(1)
    w, b = rng.normal(size=(9, 4)).astype(np.float32), rng.normal(size=4).astype(np.float32)
    x = _images()

    def encode(images):
        return tf.sigmoid(tf.reshape(images, [-1, 9]) @ w + b)

    h = encode(x).numpy().astype(np.float64)
    expected = ((h * (1 - h)) ** 2 * (w.astype(np.float64) ** 2).sum(0)).sum(1)
    np.testing.assert_allclose(losses.contractive_penalty(encode, x).numpy(), expected, rtol=1e-5)


def test_exact_penalty_is_the_jacobian_taken_one_pixel_and_unit_at_a_time():
    # A ReLU MLP, 9 pixels -> 6 -> 3: every entry dh_j/dx_i by its own
    # gradient, and the Jacobian W2^T diag(relu'(a)) W1^T by hand.
    mlp = networks.dense_stack((3, 3, 1), 6, 1, 3, name="encoder")
    x = _images()
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        h = mlp(x)
        units = [[h[n, j] for j in range(3)] for n in range(5)]
    looped = np.zeros(5)
    for n in range(5):
        for j in range(3):
            row = tape.gradient(units[n][j], x).numpy()
            assert not np.any(np.delete(row, n, axis=0))  # examples are independent
            looped[n] += sum(row[n].ravel()[i] ** 2 for i in range(9))
    (w1, b1), (w2, _) = (mlp.get_layer(name).get_weights() for name in ("h0", "output"))
    flat = x.numpy().reshape(5, 9).astype(np.float64)
    active = (flat @ w1 + b1) > 0
    by_hand = [np.sum(((w1 * active[n]) @ w2) ** 2) for n in range(5)]  # J^T, [9, 3]
    penalty = losses.contractive_penalty(mlp, x).numpy()
    np.testing.assert_allclose(penalty, looped, rtol=1e-5)
    np.testing.assert_allclose(penalty, by_hand, rtol=1e-5)


# The noise levels of the next test, and what they gave (printed by pytest -s).
SIGMAS = (0.3, 0.1, 0.03, 0.01)


def test_stochastic_penalty_tends_to_the_exact_one_as_the_noise_shrinks():
    # A smooth (tanh) encoder, one image, 4000 noise draws e_k shared by
    # every sigma. As sigma -> 0 the estimate tends to mean_k ||J e_k||^2,
    # computed from the exact Jacobian J: the same draws, so this isolates
    # the estimator's O(sigma^2) bias from Monte Carlo noise. That limit in
    # turn is ||J||_F^2 up to Monte Carlo error: E ||J e||^2 = ||J||_F^2,
    # within 4 standard errors of the 4000 draws.
    keras.utils.set_random_seed(3)
    mlp = networks.dense_stack((4, 4, 1), 8, 1, 3, hidden_activation="tanh", name="encoder")
    draws = 4000
    x = tf.tile(_images(1, 4), [draws, 1, 1, 1])
    e = tf.random.stateless_normal(x.shape, [0, 1])
    one = x[:1]
    with tf.GradientTape() as tape:
        tape.watch(one)
        h = mlp(one)
    jacobian = tape.batch_jacobian(h, one).numpy().reshape(3, 16).astype(np.float64)
    exact = float(losses.contractive_penalty(mlp, x[:1]).numpy()[0])
    np.testing.assert_allclose(exact, (jacobian**2).sum(), rtol=1e-5)
    per_draw = ((e.numpy().reshape(draws, 16) @ jacobian.T) ** 2).sum(1)
    limit = per_draw.mean()
    assert abs(limit - exact) < 4 * per_draw.std() / np.sqrt(draws)
    gaps = []
    for sigma in SIGMAS:
        estimate = float(np.mean(losses.stochastic_contractive_penalty(mlp, x, e, sigma)))
        gaps.append(abs(estimate - limit) / limit)
        print(f"sigma {sigma}: stochastic {estimate:.5f}, limit {limit:.5f}, exact {exact:.5f}")
    # The bias shrinks like sigma^2: by about 10 for each step of sigma (a
    # factor 3 to 3.3), at least 4 here where float32 rounding enters at the
    # smallest sigma; it was 15 %, 2.3 %, 0.24 % and 0.04 % of the limit.
    assert all(a > 4 * b for a, b in zip(gaps, gaps[1:])) and gaps[-1] < 0.002


# ----- the model ---------------------------------------------------------------


def _model(tmp_path, model="cae", **overrides):
    values = dict(
        model=model,
        batch_size=8,
        latent_dim=2,
        hidden_units=32,
        hidden_layers=1,
        architecture="mlp",
    )
    cfg = tiny_config(tmp_path / model, **{**values, **overrides})
    return registry.model_class(model).from_flags(cfg, digits.load(), steps_per_epoch=2)


def _batch(n=8):
    images, labels = digits.load().arrays("train")
    return {
        "image": tf.constant(images[:n].astype(np.float32) / 255.0),
        "label": tf.constant(labels[:n]),
    }


def _weights(model):
    return [v.numpy().copy() for v in model.autoencoder_variables]


@pytest.mark.parametrize("contraction", ["jacobian", "stochastic"])
def test_penalty_reaches_the_encoder_only_and_a_step_moves_both_networks(tmp_path, contraction):
    model = _model(tmp_path, contraction=contraction, contraction_weight=1.0)
    x = _batch()["image"]
    with tf.GradientTape() as tape:
        penalty = tf.reduce_mean(model.penalty(x, training=True))
    grads = tape.gradient(
        penalty, model.encoder.trainable_variables + model.decoder.trainable_variables
    )
    # Every kernel of the encoder (a ReLU network's Jacobian does not depend
    # on its biases), nothing of the decoder.
    n = len(model.encoder.trainable_variables)
    kernels = [
        g for g, v in zip(grads[:n], model.encoder.trainable_variables) if "kernel" in v.path
    ]
    assert kernels and all(g is not None and np.any(g.numpy()) for g in kernels)
    assert all(g is None for g in grads[n:])
    before = {
        name: [v.numpy().copy() for v in getattr(model, name).trainable_variables]
        for name in ("encoder", "decoder")
    }
    logs = model.train_step(_batch())
    assert set(logs) == {"loss", "recon_loss", "contraction"}
    assert float(logs["loss"]) == pytest.approx(
        float(logs["recon_loss"]) + float(logs["contraction"]), rel=1e-5
    )
    for name, values in before.items():
        after = getattr(model, name).trainable_variables
        assert all(
            not np.array_equal(b, a.numpy()) for b, a in zip(values, after) if b.ndim == 2
        ), name


def test_lambda_zero_is_the_plain_autoencoders_step(tmp_path):
    cae, ae = _model(tmp_path, contraction_weight=0.0), _model(tmp_path, "ae")
    for name in ("encoder", "decoder"):
        getattr(ae, name).set_weights(getattr(cae, name).get_weights())
    batch = _batch()
    cae.train_step(batch)
    ae.train_step(batch)
    for a, b in zip(_weights(cae), _weights(ae), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_noisy_digit_and_code_pictures(tmp_path):
    model = _model(tmp_path)
    batch = _batch()
    pictures = drawing.for_model(model, batch["image"], batch["label"])
    assert {"denoising", "latent", "manifold", "reconstructions"} <= set(pictures)
    assert pictures["denoising"].shape == (3 * 30 + 2, 8 * 30 + 2, 1)


def test_get_config_round_trips(tmp_path):
    model = _model(
        tmp_path, contraction="stochastic", contraction_weight=0.5, contraction_noise=0.2
    )
    again = type(model).from_config(model.get_config())
    assert (again.contraction, again.contraction_weight, again.contraction_noise) == (
        "stochastic",
        0.5,
        0.2,
    )


# ----- Rifai et al.'s tied network ------------------------------------------------


def test_tied_decoder_reads_the_encoders_kernel_and_owns_only_its_bias(tmp_path):
    model = _model(tmp_path, architecture="tied", latent_dim=5)
    kernel = model.encoder.get_layer("code").kernel
    assert [v.path for v in model.decoder.trainable_variables] == ["output/bias"]
    assert len({id(v) for v in model.autoencoder_variables}) == 3  # W, b, c: W once
    h = tf.random.stateless_uniform((4, 5), [0, 2])
    bias = model.decoder.trainable_variables[0]
    by_hand = tf.sigmoid(h @ tf.transpose(kernel) + bias)
    np.testing.assert_allclose(
        model.decoder(h).numpy().reshape(4, -1), by_hand.numpy(), rtol=1e-5, atol=1e-6
    )
    # lambda = 0: the reconstruction alone moves W through both of its uses.
    plain = _model(tmp_path / "plain", architecture="tied", latent_dim=5, contraction_weight=0.0)
    plain.set_weights(model.get_weights())
    x = _batch()["image"]
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(losses.reconstruction_loss(x, plain(x), "bce"))
    (both,) = [
        g
        for g, v in zip(
            tape.gradient(loss, plain.autoencoder_variables), plain.autoencoder_variables
        )
        if v.path == "code/kernel"
    ]
    code = plain.encoder(x)
    with tf.GradientTape() as tape:  # the decoder's use alone: the code held fixed
        loss = tf.reduce_mean(
            losses.reconstruction_loss(x, plain.decoder(tf.stop_gradient(code)), "bce")
        )
    decoder_only = tape.gradient(loss, plain.encoder.get_layer("code").kernel)
    assert decoder_only is not None and not np.allclose(both.numpy(), decoder_only.numpy())


def test_tied_penalty_is_the_exact_jacobian_norm(tmp_path):
    model = _model(tmp_path, architecture="tied", latent_dim=5)
    x = _batch()["image"]
    np.testing.assert_allclose(
        model.penalty(x).numpy(), losses.contractive_penalty(model.code, x).numpy(), rtol=1e-5
    )
    before = [v.numpy().copy() for v in model.autoencoder_variables]
    logs = model.train_step(_batch())
    assert float(logs["contraction"]) > 0
    assert all(
        not np.array_equal(b, v.numpy()) for b, v in zip(before, model.autoencoder_variables)
    )


def test_tied_model_round_trips_through_get_config_and_its_export(tmp_path):
    model = _model(tmp_path, architecture="tied", latent_dim=5)
    again = type(model).from_config(model.get_config())
    again.set_weights(model.get_weights())
    assert (
        again.tied
        and again.decoder.get_layer("output")._kernel() is again.encoder.get_layer("code").kernel
    )
    x = _batch()["image"]
    np.testing.assert_allclose(again(x).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-6)
    cfg = tiny_config(
        tmp_path / "run", model="cae", architecture="tied", latent_dim=5, epochs=1, export=True
    )
    run = training.run(cfg, verbose=0)
    signatures = exported.load_export(run.export_dir).module.signatures
    code = signatures["encode"](images=x)["z"]
    np.testing.assert_allclose(code, run.model.code(x), atol=1e-6)
    np.testing.assert_allclose(
        signatures["decode"](z=code)["images"], run.model.decode({"z": code}), atol=1e-6
    )


def test_the_tied_network_is_the_contractive_autoencoders_alone(tmp_path):
    with pytest.raises(UserError, match="architecture"):
        tiny_config(tmp_path, model="ae", architecture="tied")


def test_bad_contraction_settings_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="--contraction='hessian' is not one of"):
        tiny_config(tmp_path / "a", model="cae", contraction="hessian")
    with pytest.raises(UserError, match="--contraction_noise=0.0 must be > 0"):
        tiny_config(tmp_path / "b", model="cae", contraction_noise=0.0)


def test_held_out_metrics_say_what_the_penalty_buys(tmp_path):
    model = _model(tmp_path, architecture="tied", latent_dim=5)
    images = digits.load().arrays("test")[0][:30].astype(np.float32) / 255.0
    scores = model.held_out_metrics(images, None, batch_size=16)  # two batches, one short
    assert set(scores) == set(model.held_out_names)
    x = tf.constant(images)
    recon = losses.reconstruction_loss(x, model(x), "bce")
    assert scores["recon"] == pytest.approx(float(tf.reduce_mean(recon)), rel=1e-5)
    assert scores["contraction"] == pytest.approx(
        float(tf.reduce_mean(losses.contractive_penalty(model.code, x))), rel=1e-4
    )
    # Noise moves the code, so the noisy copy rebuilds the clean digit worse.
    assert scores["noisy_recon"] > scores["recon"]
    assert model.held_out_metrics(images, None, batch_size=16) == scores  # one fixed draw
