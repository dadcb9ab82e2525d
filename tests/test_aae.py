"""Adversarial autoencoder: the two phases, each touching only its own variables."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import tiny_config

from gan_zoo import pictures as drawing
from gan_zoo import signatures
from gan_zoo.datasets import digits
from gan_zoo.errors import UserError
from gan_zoo.models.aae import AAE


def _model(tmp_path, **overrides):
    values = dict(model="aae", hidden_units=32, hidden_layers=2, batch_size=8)
    values.update(overrides)
    cfg = tiny_config(tmp_path / "w", **values)
    return AAE.from_flags(cfg, digits.load(), steps_per_epoch=2)


def _batch(n=8, seed=0):
    images, labels = digits.load().arrays("train")
    return {
        "image": tf.constant(images[:n].astype(np.float32) / 255.0),
        "label": tf.constant(labels[:n]),
    }


def _networks(model):
    return [getattr(model, name) for name in model.network_names]


def _snapshot(model):
    return {
        net.name: [v.numpy().copy() for v in net.trainable_variables] for net in _networks(model)
    }


def _moved(model, before):
    return {
        net.name: any(
            not np.array_equal(b, v.numpy())
            for b, v in zip(before[net.name], net.trainable_variables, strict=True)
        )
        for net in _networks(model)
    }


@pytest.mark.parametrize(
    "phase, expected",
    [
        ("reconstruction_phase", {"encoder": True, "decoder": True, "discriminator": False}),
        ("discriminator_phase", {"encoder": False, "decoder": False, "discriminator": True}),
        ("generator_phase", {"encoder": True, "decoder": False, "discriminator": False}),
    ],
)
def test_each_phase_updates_only_its_own_variables(tmp_path, phase, expected):
    model = _model(tmp_path, prior="mixture_gaussian", conditional_prior=True)
    before = _snapshot(model)
    getattr(model, phase)(_batch())
    assert _moved(model, before) == expected


def test_train_step_runs_both_phases_and_g_steps(tmp_path):
    model = _model(tmp_path, g_steps=2)
    model.train_step(_batch())
    assert int(model.ae_optimizer.iterations) == 1
    assert int(model.d_optimizer.iterations) == 1
    assert int(model.g_optimizer.iterations) == 2


def test_pretraining_is_reconstruction_only(tmp_path):
    model = _model(tmp_path, pretrain_epochs=1)  # 2 steps per epoch
    for _ in range(3):
        model.train_step(_batch())
    assert int(model.ae_optimizer.iterations) == 3
    assert int(model.d_optimizer.iterations) == 1  # only the third step regularizes


def test_conditional_discriminator_sees_the_label(tmp_path):
    model = _model(tmp_path, prior="mixture_gaussian", conditional_prior=True)
    assert model.discriminator.input_shape == (None, 2 + 10)
    codes = tf.zeros((4, 2))
    a = model.discriminate("z", codes, tf.constant([0, 0, 0, 0]))
    b = model.discriminate("z", codes, tf.constant([3, 3, 3, 3]))
    assert not np.allclose(a.numpy(), b.numpy())


def test_conditional_prior_needs_labels_and_2d_priors_need_2d(tmp_path):
    with pytest.raises(UserError, match="--latent_dim=2"):
        tiny_config(tmp_path / "w", model="aae", prior="swiss_roll", latent_dim=8)


def test_aae_trains_and_exports_its_signatures(tmp_path):
    from gan_zoo import training

    run = training.run(
        tiny_config(
            tmp_path / "w",
            model="aae",
            hidden_units=16,
            hidden_layers=1,
            prior="swiss_roll",
            export=True,
        ),
        verbose=0,
    )
    loaded = tf.saved_model.load(run.export_dir)
    assert {"encode", "decode", "reconstruct", "generate", "sample"} <= set(loaded.signatures)
    images = tf.random.uniform((3, 28, 28, 1))
    z = loaded.signatures["encode"](images=images)["z"]
    assert z.shape == (3, 2)
    np.testing.assert_allclose(
        loaded.signatures["decode"](z=z)["images"].numpy(),
        loaded.signatures["reconstruct"](images=images)["images"].numpy(),
        atol=1e-5,
    )
    out = loaded.signatures["generate"](num=tf.constant(4), seed=tf.constant(0, tf.int64))
    assert out["images"].shape == (4, 28, 28, 1) and out["z"].shape == (4, 2)
    # The decoder's sigmoid pixels of the codes it drew.
    np.testing.assert_allclose(
        out["images"].numpy(), run.model.decode({"z": out["z"]}).numpy(), atol=1e-6
    )


def test_get_config_round_trips(tmp_path):
    model = _model(tmp_path, prior="mixture_gaussian", conditional_prior=True, g_steps=2)
    clone = AAE.from_config(model.get_config())
    assert (clone.prior_name, clone.conditional_prior, clone.g_steps, clone.latent_dim) == (
        "mixture_gaussian",
        True,
        2,
        2,
    )
    assert clone.discriminator.count_params() == model.discriminator.count_params()


def test_pictures_show_codes_manifold_and_reconstructions(tmp_path):
    model = _model(tmp_path, prior="mixture_gaussian")
    batch = _batch(60)
    pictures = drawing.for_model(model, batch["image"], batch["label"])
    assert set(pictures) == {"reconstructions", "latent", "manifold"}
    assert pictures["manifold"].shape == (20 * 28, 20 * 28, 1)
    assert pictures["reconstructions"].shape == (10 * 30 + 2, 10 * 30 + 2, 1)
    assert pictures["latent"].ndim == 3 and pictures["latent"].shape[-1] == 3
    # First row: the originals themselves.
    originals = np.round(batch["image"].numpy()[:10] * 255).astype(np.uint8)
    np.testing.assert_array_equal(pictures["reconstructions"][2:30, 2:30], originals[0])


def test_no_2d_pictures_for_a_wider_code(tmp_path):
    model = _model(tmp_path, latent_dim=8)
    batch = _batch(50)
    assert set(drawing.for_model(model, batch["image"], batch["label"])) == {"reconstructions"}


def test_supervised_decoder_uses_the_label(tmp_path):
    from gan_zoo.models.aae_supervised import SupervisedAAE

    cfg = tiny_config(tmp_path / "w", model="aae_supervised", hidden_units=32, hidden_layers=2)
    model = SupervisedAAE.from_flags(cfg, digits.load(), steps_per_epoch=2)
    assert model.decoder.input_shape == (None, 2 + 10)
    z = tf.zeros((2, 2))
    a = model.decode({"z": z}, tf.constant([1, 1])).numpy()
    b = model.decode({"z": z}, tf.constant([7, 7])).numpy()
    assert not np.allclose(a, b)
    before = _snapshot(model)
    model.train_step(_batch())
    assert all(_moved(model, before).values())
    batch = _batch(20)
    style = drawing.for_model(model, batch["image"], batch["label"])["style"]
    assert style.shape == (10 * 30 + 2, 10 * 30 + 2, 1)


def test_supervised_aae_trains_and_exports_label_signatures(tmp_path):
    from gan_zoo import training

    run = training.run(
        tiny_config(
            tmp_path / "w", model="aae_supervised", hidden_units=16, hidden_layers=1, export=True
        ),
        verbose=0,
    )
    loaded = tf.saved_model.load(run.export_dir)
    z = tf.zeros((3, 2))
    one = loaded.signatures["decode"](z=z, label=tf.constant([1, 1, 1]))["images"].numpy()
    two = loaded.signatures["decode"](z=z, label=tf.constant([2, 2, 2]))["images"].numpy()
    assert one.shape == (3, 28, 28, 1) and not np.allclose(one, two)
    images = tf.random.uniform((3, 28, 28, 1))
    out = loaded.signatures["reconstruct"](images=images, label=tf.constant([0, 1, 2]))
    assert out["images"].shape == (3, 28, 28, 1)


def test_supervised_aae_on_unlabelled_data_is_a_user_error(tmp_path):
    from gan_zoo.datasets.base import ArraySource
    from gan_zoo.models.aae_supervised import SupervisedAAE

    source = ArraySource("toy", {"train": (np.zeros((20, 28, 28), np.uint8), None)}, 0)
    cfg = tiny_config(tmp_path / "w", model="aae_supervised")
    with pytest.raises(UserError, match="needs labels"):
        SupervisedAAE.from_flags(cfg, source, steps_per_epoch=1)


# ----- semi-supervised and clustering variants ----------------------------------


def _categorical_model(tmp_path, model="aae_clustering", **overrides):
    from gan_zoo import registry

    values = dict(
        model=model,
        hidden_units=32,
        hidden_layers=1,
        batch_size=8,
        latent_dim=3,
        **({"num_clusters": 5} if model == "aae_clustering" else {}),
    )
    values.update(overrides)
    cfg = tiny_config(tmp_path / "w", **values)
    return registry.model_class(model).from_flags(cfg, digits.load(), steps_per_epoch=2)


def _labelled_batch(n=8):
    batch = _batch(n)
    images, labels = digits.load().arrays("train")
    batch.update(
        labelled_image=tf.constant(images[100 : 100 + n].astype(np.float32) / 255.0),
        labelled_label=tf.constant(labels[100 : 100 + n]),
    )
    return batch


NO = {"encoder": False, "decoder": False, "discriminator": False, "y_discriminator": False}


PHASES = [
    ("reconstruction_phase", {"encoder", "decoder"}),
    ("discriminator_phase", {"discriminator", "y_discriminator"}),
    ("generator_phase", {"encoder"}),
]


# The clustering AAE learns without labels: it has no classification phase
# (test_clustering_takes_no_labels), so only the semi-supervised one is tried.
@pytest.mark.parametrize(
    "model_name, phase, moving",
    [
        *[("aae_clustering", *case) for case in PHASES],
        *[("aae_semi_supervised", *case) for case in PHASES],
        ("aae_semi_supervised", "classification_phase", {"encoder"}),
    ],
)
def test_categorical_phases_update_only_their_own_variables(tmp_path, model_name, phase, moving):
    model = _categorical_model(tmp_path, model_name)
    before = _snapshot(model)
    getattr(model, phase)(_labelled_batch())
    assert _moved(model, before) == {**NO, **{name: True for name in moving}}


def test_clustering_takes_no_labels(tmp_path):
    keras.utils.set_random_seed(0)
    model = _categorical_model(tmp_path)
    assert not hasattr(model, "classification_phase") and not hasattr(model, "c_optimizer")
    assert "class_loss" not in model.metric_names()
    # Its step reads the images alone: labels that disagree change nothing.
    batch, relabelled = _labelled_batch(), _labelled_batch()
    relabelled.update(label=(batch["label"] + 1) % 10, labelled_label=(batch["label"] + 3) % 10)
    keras.utils.set_random_seed(0)
    twin = _categorical_model(tmp_path)
    model.train_step(batch)
    twin.train_step(relabelled)
    for a, b in zip(model.variables, twin.variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_categorical_code_has_a_softmax_y_and_a_style_z(tmp_path):
    model = _categorical_model(tmp_path)
    assert model.encoder.output_shape == (None, 5 + 3)
    assert model.decoder.input_shape == (None, 5 + 3)
    assert model.y_discriminator.input_shape == (None, 5)
    assert model.discriminator.input_shape == (None, 3)
    code = model.encode(_batch()["image"])
    assert code["y"].shape == (8, 5) and code["z"].shape == (8, 3)
    np.testing.assert_allclose(code["y"].numpy().sum(1), 1.0, rtol=1e-5)
    # Real samples for the y discriminator are one-hot; the code's prior is gaussian.
    y = model.prior_samples("y", tf.zeros(64, tf.int32)).numpy()
    assert y.shape == (64, 5) and np.all(y.sum(1) == 1.0) and set(np.unique(y)) == {0.0, 1.0}
    assert model.prior_samples("z", tf.zeros(64, tf.int32)).shape == (64, 3)
    # The decoder reads y: the same z with another category decodes differently.
    z = tf.zeros((1, 3))
    a = model.decode({"y": tf.one_hot([0], 5), "z": z}, None).numpy()
    b = model.decode({"y": tf.one_hot([4], 5), "z": z}, None).numpy()
    assert not np.allclose(a, b)


def test_classification_phase_learns_the_labelled_batch(tmp_path):
    model = _categorical_model(tmp_path, "aae_semi_supervised")
    batch = _labelled_batch(16)
    for _ in range(60):
        model.classification_phase(batch)
    predicted = model.categorical.categories(batch["labelled_image"]).numpy()
    np.testing.assert_array_equal(predicted, batch["labelled_label"].numpy())
    assert int(model.c_optimizer.iterations) == 60


def test_classification_only_trains_the_encoder_on_labels_alone(tmp_path):
    model = _categorical_model(tmp_path, "aae_semi_supervised", classification_only=True)
    assert model.get_config()["classification_only"] is True
    before = _snapshot(model)
    model.train_step(_labelled_batch())
    # No reconstruction, no adversaries: the decoder and both discriminators stay.
    assert _moved(model, before) == {**NO, "encoder": True}
    assert int(model.c_optimizer.iterations) == 1
    assert int(model.optimizer.iterations) == int(model.d_optimizer.iterations) == 0


def test_held_out_metrics_are_error_rates_of_the_categories(tmp_path):
    model = _categorical_model(tmp_path, "aae_semi_supervised")
    batch = _batch(40)
    predicted = model.categorical.categories(batch["image"]).numpy()
    metrics = model.held_out_metrics(batch["image"], batch["label"])
    assert tuple(metrics) == model.held_out_names
    assert metrics["error"] == pytest.approx(np.mean(predicted != batch["label"].numpy()))
    # Each cluster named by its most frequent label; the error is the share of
    # images whose label is not their cluster's name.
    clustering = _categorical_model(tmp_path, "aae_clustering")
    clusters, labels = (
        clustering.categorical.categories(batch["image"]).numpy(),
        batch["label"].numpy(),
    )
    named = sum(np.bincount(labels[clusters == k]).max() for k in np.unique(clusters))
    metrics = clustering.held_out_metrics(batch["image"], batch["label"])
    assert tuple(metrics) == clustering.held_out_names
    assert metrics["cluster_error"] == pytest.approx(1 - named / len(labels))


def test_keep_best_by_a_held_out_error_needs_its_model_and_a_validation_split(tmp_path):
    from gan_zoo import training
    from gan_zoo.datasets.base import ArraySource

    # Refused with the settings (so by --check too), before any data is read.
    with pytest.raises(UserError, match="--model=gan does not measure error; use --keep_best="):
        tiny_config(tmp_path / "a", model="gan", keep_best="error")
    with pytest.raises(UserError, match="does not measure error; it measures cluster_error"):
        tiny_config(tmp_path / "b", model="aae_clustering", keep_best="error")
    with pytest.raises(UserError, match="--model=ae does not measure noisy_recon; use"):
        tiny_config(tmp_path / "b", model="ae", keep_best="noisy_recon")
    assert tiny_config(tmp_path / "e", model="cae", keep_best="noisy_recon").keep_best
    # The embedded digits have no validation split: the test digits would choose.
    with pytest.raises(UserError, match="no validation split here; for MNIST add --paper_split"):
        training.run(
            tiny_config(tmp_path / "c", model="aae_semi_supervised", keep_best="error"), verbose=0
        )
    images = np.zeros((8, 28, 28), np.uint8), np.zeros(8, np.int32)
    with_validation = ArraySource("toy", {"train": images, "validation": images}, 10)
    cfg = tiny_config(tmp_path / "d", model="aae_semi_supervised", keep_best="error")
    training._check_keep_best(cfg, with_validation)


def test_keep_best_error_exports_the_epoch_with_the_lowest_validation_error(tmp_path, monkeypatch):
    import json
    import os

    from conftest import fake_mnist_dir

    from gan_zoo import training
    from gan_zoo.datasets import mnist

    # A paper split of 100 training and 20 validation digits.
    monkeypatch.setattr(mnist, "PAPER_TRAIN_SIZE", 100)
    cfg = tiny_config(
        tmp_path / "w",
        model="aae_semi_supervised",
        dataset="mnist",
        data_dir=fake_mnist_dir(str(tmp_path / "mnist")),
        paper_split=True,
        keep_best="error",
        hidden_units=16,
        hidden_layers=1,
        latent_dim=2,
        num_labels=20,
        epochs=3,
    )
    run = training.run(cfg, verbose=0)
    errors = run.history["val_error"]
    best = json.load(open(tmp_path / "w" / "best.json"))
    assert best["value"] == min(errors) and best["epoch"] == 1 + errors.index(min(errors))
    assert os.path.isfile(os.path.join(best["export"], "saved_model.pb"))


def test_held_out_metrics_read_the_validation_split_where_there_is_one(tmp_path):
    from gan_zoo import callbacks
    from gan_zoo.datasets import pipeline
    from gan_zoo.datasets.base import ArraySource

    def split(value, n=8):  # each split's images are all `value`, to tell them apart
        return np.full((n, 28, 28), value, np.uint8), np.arange(n) % 10

    both = ArraySource("toy", {"train": split(0), "validation": split(100), "test": split(200)}, 10)
    assert pipeline.held_out_split(both) == "validation"
    images, _ = pipeline.held_out(both, 4, (0.0, 1.0))
    np.testing.assert_allclose(images.numpy(), 100 / 255, rtol=1e-6)
    test_only = ArraySource("toy", {"train": split(0), "test": split(200)}, 10)
    assert pipeline.held_out_split(test_only) == "test"
    assert pipeline.held_out_split(ArraySource("toy", {"train": split(0)}, 10)) == "train"

    model = _categorical_model(tmp_path, "aae_semi_supervised")
    batch = _batch(20)
    expected = model.held_out_metrics(batch["image"], batch["label"])["error"]
    for name, prefix in (("validation", "val"), ("test", "test")):
        callback = callbacks.HeldOutMetrics(batch["image"], batch["label"], name)
        callback.set_model(model)
        logs = {}
        callback.on_epoch_end(0, logs)
        assert logs == {f"{prefix}_error": expected}


def test_categories_picture_has_one_row_per_category(tmp_path):
    model = _categorical_model(tmp_path)
    batch = _batch(30)
    pictures = drawing.for_model(model, batch["image"], batch["label"])
    assert set(pictures) == {"reconstructions", "categories", "style"}
    assert pictures["categories"].shape == (5 * 30 + 2, 11 * 30 + 2, 1)
    # style: ten held-out codes z (rows), each decoded with the 5 categories (columns).
    assert pictures["style"].shape == (10 * 30 + 2, 5 * 30 + 2, 1)
    z = model.encode(batch["image"][:10])["z"]
    third_row = model.decode({"y": tf.eye(5), "z": tf.repeat(z[2:3], 5, axis=0)}).numpy()
    cell = pictures["style"][2 * 30 + 2 : 3 * 30, 4 * 30 + 2 : 5 * 30, 0]
    np.testing.assert_allclose(cell / 255.0, third_row[4, ..., 0], atol=1 / 255 + 1e-6)
    assert "cluster" in signatures.for_model(model)


def test_clustering_refuses_a_conditional_prior(tmp_path):
    with pytest.raises(UserError, match="drop --conditional_prior"):
        tiny_config(tmp_path / "w", model="aae_clustering", conditional_prior=True)


def test_semi_supervised_needs_labels(tmp_path):
    from gan_zoo.datasets.base import ArraySource
    from gan_zoo.models.aae_semi_supervised import SemiSupervisedAAE

    source = ArraySource("toy", {"train": (np.zeros((20, 28, 28), np.uint8), None)}, 0)
    cfg = tiny_config(tmp_path / "w", model="aae_semi_supervised")
    with pytest.raises(UserError, match="needs labels"):
        SemiSupervisedAAE.from_flags(cfg, source, steps_per_epoch=1)


def test_semi_supervised_trains_logs_its_error_and_exports_classify(tmp_path, monkeypatch):
    import json

    from tensorflow.python.autograph.impl import api

    from gan_zoo import training

    # Nothing of gan_zoo goes through AutoGraph: it converts a function from
    # its source file as that is on disk when the function is traced, so a
    # run whose checkout was edited while it trained (a `git pull`) failed at
    # its next export with a NameError; conversion also costs start-up time.
    # This run has the labelled stream and three kinds of signatures.
    converted, convert = [], api.converted_call

    def recording(f, *args, **kwargs):
        if getattr(f, "__module__", "").startswith("gan_zoo"):
            converted.append(f.__qualname__)
        return convert(f, *args, **kwargs)

    monkeypatch.setattr(api, "converted_call", recording)
    cfg = tiny_config(
        tmp_path / "w",
        model="aae_semi_supervised",
        hidden_units=16,
        hidden_layers=1,
        latent_dim=2,
        num_labels=20,
        epochs=2,
        export=True,
        run_eagerly=False,
    )
    run = training.run(cfg, verbose=0)
    assert converted == []
    assert len(run.history["test_error"]) == 2
    assert int(run.model.c_optimizer.iterations) == 4
    summary = json.load(open(tmp_path / "w" / "summary.json"))
    assert summary["final_metrics"]["test_error"] == run.history["test_error"][-1]
    loaded = tf.saved_model.load(run.export_dir)
    assert {"classify", "encode", "decode", "generate", "reconstruct"} <= set(loaded.signatures)
    images = digits.load().arrays("test")[0][:6].astype(np.float32) / 255.0
    out = loaded.signatures["classify"](images=tf.constant(images))
    np.testing.assert_array_equal(
        out["y"].numpy(), run.model.categorical.categories(tf.constant(images)).numpy()
    )
    assert out["probabilities"].shape == (6, 10)
    code = loaded.signatures["encode"](images=tf.constant(images))
    assert code["y"].shape == (6, 10) and code["z"].shape == (6, 2)
    decoded = loaded.signatures["decode"](z=code["z"], y=out["y"])["images"]
    assert decoded.shape == (6, 28, 28, 1)
    sample = loaded.signatures["generate"](num=tf.constant(20), seed=tf.constant(0, tf.int64))
    np.testing.assert_array_equal(np.argmax(sample["y"].numpy(), 1), np.arange(20) % 10)


def test_input_noise_reaches_the_encoder_in_every_training_phase_only(tmp_path):
    noisy = _categorical_model(tmp_path, "aae_semi_supervised", input_noise=0.3)
    images = _batch(16)["image"]
    # Encoding for use (pictures, metrics, export) reads the clean images.
    np.testing.assert_array_equal(noisy.encoder_input(images).numpy(), images.numpy())
    drawn = (noisy.encoder_input(images, training=True) - images).numpy()
    assert abs(drawn.std() - 0.3) < 0.01 and abs(drawn.mean()) < 0.01
    # Every phase encodes through categorical.logits_and_z: two training passes differ,
    # two passes for use agree, and with no noise training passes agree too.
    first, second = (
        noisy.categorical.logits_and_z(images, training=True)[0].numpy() for _ in range(2)
    )
    assert np.abs(first - second).max() > 1e-3
    np.testing.assert_array_equal(
        noisy.categorical.logits_and_z(images)[0].numpy(),
        noisy.categorical.logits_and_z(images)[0].numpy(),
    )
    clean = _categorical_model(tmp_path, "aae_semi_supervised")
    np.testing.assert_array_equal(
        clean.categorical.logits_and_z(images, training=True)[0].numpy(),
        clean.categorical.logits_and_z(images, training=True)[0].numpy(),
    )
    assert noisy.get_config()["input_noise"] == 0.3
    with pytest.raises(UserError, match="input_noise"):
        tiny_config(tmp_path / "bad", model="aae", input_noise=-0.1)


def test_discriminator_input_noise_blurs_prior_samples_and_codes_alike(tmp_path):
    identity_d = _categorical_model(tmp_path, "aae_clustering", d_input_noise=0.3)
    labels = tf.zeros([4000], tf.int32)
    one_hot = tf.one_hot(tf.range(4000) % 5, 5)
    # Through an identity "discriminator" the input is what D reads.
    identity_d.y_discriminator = lambda code, training: code
    drawn = (identity_d.discriminate("y", one_hot, labels) - tf.reshape(one_hot, [-1])).numpy()
    assert abs(drawn.std() - 0.3) < 0.01 and abs(drawn.mean()) < 0.01
    # The real networks: two reads of the same code differ only with the noise on.
    code = one_hot[:8]
    noisy = _categorical_model(tmp_path)  # aae_clustering's default noise
    clean = _categorical_model(tmp_path, d_input_noise=0.0)
    for model, differs in ((noisy, True), (clean, False)):
        for name, width in (("y", 5), ("z", 3)):
            value = code if name == "y" else tf.ones([8, width])
            first, second = (model.discriminate(name, value, labels[:8]).numpy() for _ in range(2))
            assert (np.abs(first - second).max() > 1e-4) == differs, (name, differs)
    assert noisy.get_config()["d_input_noise"] == 0.3
    with pytest.raises(UserError, match="d_input_noise"):
        tiny_config(tmp_path / "bad", model="aae", d_input_noise=-0.1)


def test_discriminator_input_noise_stops_after_its_epochs(tmp_path):
    model = _categorical_model(tmp_path, d_input_noise=0.3, d_input_noise_epochs=1)
    code, labels = tf.one_hot(tf.range(8) % 5, 5), tf.zeros([8], tf.int32)

    def noisy_reads():
        first, second = (model.discriminate("y", code, labels).numpy() for _ in range(2))
        return np.abs(first - second).max() > 1e-4

    assert model.get_config()["noise_steps"] == 2  # one epoch of 2 steps
    for _ in range(2):
        assert not model.update_phase() and noisy_reads()
        model.train_step(_batch())
    assert model.update_phase()  # the third step is the first without noise
    assert not model.noisy and not noisy_reads()
    model.train_step(_batch())
    assert int(model.d_optimizer.iterations) == 3  # D still trains, now on clean codes
    with pytest.raises(UserError, match="d_input_noise_epochs"):
        tiny_config(tmp_path / "bad", model="aae", d_input_noise_epochs=-1)


def test_the_noise_switch_retraces_a_compiled_step_on_its_epoch(tmp_path):
    from gan_zoo import training

    def draws(noise, noise_epochs):
        cfg = tiny_config(
            tmp_path / f"{noise}_{noise_epochs}",
            model="aae",
            hidden_units=16,
            hidden_layers=1,
            d_input_noise=noise,
            d_input_noise_epochs=noise_epochs,
            epochs=2,
            steps_per_epoch=4,
            steps_per_execution=2,
            run_eagerly=False,
        )
        model = training.run(cfg, verbose=0).model
        return int(model.seed_generator.state.numpy()[1]), model.noisy

    # The noise is a draw of its own wherever D reads a code; the prior
    # samples are drawn either way.
    clean, noisy, switched = draws(0.0, 0), draws(0.3, 0), draws(0.3, 1)
    assert (noisy[1], switched[1]) == (True, False)
    assert noisy[0] - clean[0] == 2 * (switched[0] - clean[0]) > 0
