"""The semi-supervised VAE (Kingma et al. 2014's M2): which loss part moves
which network, the unlabelled bound and the labelled one against hand
computations, and the export that gan_zoo.evaluate --metrics=error reads."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import tiny_config

from gan_zoo import exported, losses, registry, training
from gan_zoo.datasets import digits
from gan_zoo.evaluation import classification
from gan_zoo.models.cvae import CVAE

NETWORKS = ("encoder", "decoder", "classifier")


def _model(tmp_path, **overrides):
    values = dict(
        model="vae_semi_supervised", batch_size=4, latent_dim=3, hidden_units=16, num_labels=20
    )
    cfg = tiny_config(tmp_path / "w", **{**values, **overrides})
    return registry.model_class("vae_semi_supervised").from_flags(cfg, digits.load(), 2)


def _batch(n=4):
    images, labels = digits.load().arrays("train")
    scaled = images.astype(np.float32) / 255.0
    return {
        "image": tf.constant(scaled[:n]),
        "label": tf.fill([n], -1),
        "labelled_image": tf.constant(scaled[100 : 100 + n]),
        "labelled_label": tf.constant(labels[100 : 100 + n]),
    }


def test_marginal_bound_by_hand():
    # Two classes, q(y|x) = (1/4, 3/4), L = (3, 5): U = sum q L - H(q).
    u = losses.marginal_bound(tf.constant([[3.0, 5.0]]), tf.constant([[0.0, math.log(3.0)]]))
    entropy = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    assert float(u[0]) == pytest.approx(0.25 * 3 + 0.75 * 5 - entropy, rel=1e-6)


@pytest.mark.parametrize(
    "term, moving",
    [
        ("classification", {"classifier"}),
        ("labelled", {"encoder", "decoder"}),
        ("unlabelled", {"encoder", "decoder", "classifier"}),
    ],
)
def test_each_loss_part_reaches_exactly_its_networks(tmp_path, term, moving):
    model = _model(tmp_path)
    with tf.GradientTape(persistent=True) as tape:
        value = model.objective_terms(_batch())[term]
    for name in NETWORKS:
        grads = tape.gradient(value, getattr(model, name).trainable_variables)
        reached = any(g is not None and np.any(g.numpy()) for g in grads)
        assert reached == (name in moving), name


def test_a_step_moves_every_network_with_one_optimizer(tmp_path):
    model = _model(tmp_path)
    before = {
        n: [v.numpy().copy() for v in getattr(model, n).trainable_variables] for n in NETWORKS
    }
    logs = model.train_step(_batch())
    assert set(logs) == {"loss", "unlabelled_bound", "labelled_bound", "class_loss"}
    assert set(model.checkpoint_items()) == {"ae_optimizer"}
    for name, values in before.items():
        after = getattr(model, name).trainable_variables
        assert any(not np.array_equal(b, a.numpy()) for b, a in zip(values, after)), name


def test_classification_only_steps_the_classifier_on_the_labels_alone(tmp_path):
    model = _model(tmp_path, classification_only=True)
    batch = _batch()
    before = {
        n: [v.numpy().copy() for v in getattr(model, n).trainable_variables]
        for n in ("encoder", "decoder", "classifier")
    }
    logits = model.class_logits(batch["labelled_image"])
    expected = keras.losses.sparse_categorical_crossentropy(
        batch["labelled_label"], logits, from_logits=True
    )
    logs = model.train_step(batch)
    assert float(logs["class_loss"]) == pytest.approx(float(tf.reduce_mean(expected)), rel=1e-5)
    for name, values in before.items():
        moved = [
            not np.array_equal(b, v.numpy())
            for b, v in zip(values, getattr(model, name).trainable_variables)
        ]
        assert all(moved) if name == "classifier" else not any(moved), name
    assert model.get_config()["classification_only"] is True


def test_the_bounds_are_the_cvaes_summed_over_classes_by_hand(tmp_path, monkeypatch):
    model = _model(tmp_path)
    batch, k, n = _batch(), model.num_classes, 4
    noise = tf.random.stateless_normal((k * n + n, model.latent_dim), [4, 2])
    draws = iter([noise[:n], noise[n:]])  # the labelled batch's first, then the tiled one
    monkeypatch.setattr(model, "_normal", lambda rows: next(draws))
    terms = model.objective_terms(batch, training=False)
    cvae = CVAE(model.encoder, model.decoder, model.latent_dim, num_classes=k)
    nll, kl = cvae.bound_terms(batch["labelled_image"], batch["labelled_label"], noise[:n])
    assert float(terms["labelled"]) == pytest.approx(float(tf.reduce_mean(nll + kl)), rel=1e-5)
    bounds = np.zeros((n, k))
    for c in range(k):  # one class at a time, with that class's slice of the noise
        nll, kl = cvae.bound_terms(
            batch["image"], tf.fill([n], c), noise[n + c * n : n + (c + 1) * n]
        )
        bounds[:, c] = (nll + kl).numpy()
    q = tf.nn.softmax(model.classifier(batch["image"])).numpy().astype(np.float64)
    by_hand = np.mean(np.sum(q * bounds, 1) + np.sum(q * np.log(q), 1))
    assert float(terms["unlabelled"]) == pytest.approx(by_hand, rel=1e-5)
    assert model.labelled_share == pytest.approx(20 / digits.load().num_examples("train"))


def test_encode_uses_the_most_probable_class_without_labels(tmp_path):
    model = _model(tmp_path)
    x = _batch()["image"]
    code = model.encode(x)
    predicted = tf.argmax(code["y"], axis=1, output_type=tf.int32)
    np.testing.assert_allclose(code["z"], model.encode(x, predicted)["z"], atol=1e-6)
    again = type(model).from_config(model.get_config())
    assert (again.labelled_share, again.classification_weight) == (
        model.labelled_share,
        model.classification_weight,
    )


def test_trains_logs_its_error_exports_and_evaluates(tmp_path):
    cfg = tiny_config(
        tmp_path / "w",
        model="vae_semi_supervised",
        hidden_units=16,
        latent_dim=2,
        num_labels=20,
        epochs=2,
        export=True,
    )
    run = training.run(cfg, verbose=0)
    assert len(run.history["test_error"]) == 2
    export = exported.load_export(run.export_dir)
    signatures = export.module.signatures
    assert {"classify", "encode", "decode", "generate", "generate_for_labels"} <= set(signatures)
    images = tf.constant(digits.load().arrays("test")[0][:6].astype(np.float32) / 255.0)
    out = signatures["classify"](images=images)
    logits = run.model.class_logits(images)
    np.testing.assert_allclose(out["probabilities"], tf.nn.softmax(logits), atol=1e-5)
    np.testing.assert_array_equal(out["y"], tf.argmax(logits, axis=1))
    code = signatures["encode"](images=images)
    for key, value in run.model.encode(images).items():
        np.testing.assert_allclose(code[key], value, atol=1e-5)
    decoded = signatures["decode"](z=code["z"], y=out["y"])["images"]
    np.testing.assert_allclose(decoded, run.model.decode(code, out["y"]), atol=1e-5)
    drawn = signatures["generate_for_labels"](
        label=tf.constant([0, 7]), seed=tf.constant(0, tf.int64)
    )
    np.testing.assert_allclose(
        drawn["images"], run.model.decode({"z": drawn["z"]}, tf.constant([0, 7])), atol=1e-5
    )
    # gan_zoo.evaluate --metrics=error, as for aae_semi_supervised.
    result = classification.export_error(export, digits.load())
    assert 0.0 <= result["test_error"] <= 1.0 and 0.0 <= result["class_control"] <= 1.0


def test_binarize_draws_binary_pixels_at_their_grey_levels(tmp_path):
    model = _model(tmp_path, binarize=True)
    grey = tf.fill([2000, 28, 28, 1], 0.3)
    drawn = model.binary(grey).numpy()
    assert set(np.unique(drawn)) == {0.0, 1.0}
    assert drawn.mean() == pytest.approx(0.3, abs=0.005)
    assert not np.array_equal(drawn, model.binary(grey).numpy())  # anew per call
    # Both bounds read binary images while training, grey ones otherwise.
    seen = []
    bound_terms = model.bound_terms

    def spy(images, *args, **kwargs):
        seen.append(np.unique(images.numpy()))
        return bound_terms(images, *args, **kwargs)

    model.bound_terms = spy
    model.objective_terms(_batch(), training=True)
    assert len(seen) == 2 and all(set(values) <= {0.0, 1.0} for values in seen)
    seen.clear()
    model.objective_terms(_batch(), training=False)
    assert all(len(values) > 2 for values in seen)
    assert model.get_config()["binarize"] is True
