"""The dimensionality-reduction AAEs (Makhzani et al. 2015, Sec. 7): the
representation W_c y + z, each phase moving only its own variables, and the
export round trip."""

import numpy as np
import pytest
import tensorflow as tf
from conftest import tiny_config

from gan_zoo import pictures as drawing
from gan_zoo import registry, signatures
from gan_zoo.datasets import digits
from gan_zoo.errors import UserError

SEMI, UNSUPERVISED = "aae_dim_reduction", "aae_dim_reduction_unsupervised"


def _model(tmp_path, name, **overrides):
    values = dict(model=name, hidden_units=32, hidden_layers=1, batch_size=8, latent_dim=2)
    if name == UNSUPERVISED:
        values["num_clusters"] = 5
    values.update(overrides)
    cfg = tiny_config(tmp_path / name, **values)
    return registry.model_class(name).from_flags(cfg, digits.load(), steps_per_epoch=2)


def _batch(n=8):
    images, labels = (a[:n] for a in digits.load().arrays("train"))
    more_images, more_labels = (a[100 : 100 + n] for a in digits.load().arrays("train"))
    return {
        "image": tf.constant(images.astype(np.float32) / 255.0),
        "label": tf.constant(labels),
        "labelled_image": tf.constant(more_images.astype(np.float32) / 255.0),
        "labelled_label": tf.constant(more_labels),
    }


def _values(model):
    parts = {name: getattr(model, name).trainable_variables for name in model.network_names}
    return {**parts, "cluster_heads": [model.cluster_heads]}


def _moved(model, phase):
    before = {k: [v.numpy().copy() for v in vs] for k, vs in _values(model).items()}
    phase()
    return {
        k
        for k, vs in _values(model).items()
        if any(not np.array_equal(b, v.numpy()) for b, v in zip(before[k], vs, strict=True))
    }


@pytest.mark.parametrize(
    "name, phase, moving",
    [
        (name, "reconstruction_phase", {"encoder", "decoder", "cluster_heads"})
        for name in (SEMI, UNSUPERVISED)
    ]
    + [
        (name, "discriminator_phase", {"discriminator", "y_discriminator"})
        for name in (SEMI, UNSUPERVISED)
    ]
    + [(name, "generator_phase", {"encoder"}) for name in (SEMI, UNSUPERVISED)]
    + [(name, "cluster_head_phase", {"cluster_heads"}) for name in (SEMI, UNSUPERVISED)]
    + [(SEMI, "classification_phase", {"encoder"})],
)
def test_each_phase_updates_only_its_own_variables(tmp_path, name, phase, moving):
    model = _model(tmp_path, name)
    method = getattr(model, phase)
    batch = _batch()
    assert _moved(model, method if phase == "cluster_head_phase" else lambda: method(batch)) == (
        moving
    )


def test_a_step_runs_every_phase_once_and_logs_the_heads_cost(tmp_path):
    model = _model(tmp_path, SEMI, cluster_head_distance=100.0)
    logs = model.train_step(_batch())
    optimizers = ("ae", "d", "g", "c", "h")
    assert [int(getattr(model, f"{o}_optimizer").iterations) for o in optimizers] == [1] * 5
    # Ten heads drawn N(0, 100^2) are all closer than 100 to some: a cost.
    assert float(logs["head_cost"]) > 0
    assert "class_loss" in logs and "class_loss" not in _model(tmp_path, UNSUPERVISED).metrics_names


def test_the_decoder_reads_the_representation_alone(tmp_path):
    model = _model(tmp_path, UNSUPERVISED)
    assert model.encoder.output_shape == (None, 5 + 2)
    assert model.decoder.input_shape == (None, 2)
    assert model.cluster_heads.shape == (5, 2)
    code = model.encode(_batch()["image"])
    np.testing.assert_allclose(
        code["representation"].numpy(),
        code["y"].numpy() @ model.cluster_heads.numpy() + code["z"].numpy(),
        rtol=1e-5,
        atol=1e-6,
    )
    # A one-hot y with z = 0 is its cluster's head.
    heads = model.decode({"y": tf.eye(5), "z": tf.zeros((5, 2))}).numpy()
    np.testing.assert_allclose(heads, model.decoder(model.cluster_heads).numpy(), atol=1e-6)


def test_config_round_trips_and_eta_must_be_positive(tmp_path):
    model = _model(tmp_path, UNSUPERVISED, cluster_head_distance=2.5)
    clone = type(model).from_config(model.get_config())
    assert (clone.cluster_head_distance, clone.num_categories) == (2.5, 5)
    assert clone.cluster_heads.shape == (5, 2)
    with pytest.raises(UserError, match="cluster_head_distance"):
        tiny_config(tmp_path / "bad", model=SEMI, cluster_head_distance=0.0)
    with pytest.raises(UserError, match="drop --conditional_prior"):
        tiny_config(tmp_path / "bad", model=UNSUPERVISED, conditional_prior=True)


def test_the_map_is_drawn_with_its_heads(tmp_path):
    model = _model(tmp_path, SEMI)
    batch = _batch(30)
    pictures = drawing.for_model(model, batch["image"], batch["label"])
    assert set(pictures) == {"reconstructions", "latent", "categories", "style", "representation"}
    assert pictures["representation"].ndim == 3 and pictures["representation"].shape[-1] == 3
    assert "representation" not in drawing.for_model(
        _model(tmp_path, SEMI, latent_dim=3), batch["image"], batch["label"]
    )


def test_unsupervised_serves_cluster_and_the_representation(tmp_path):
    model = _model(tmp_path, UNSUPERVISED)
    served = signatures.for_model(model)
    assert {"cluster", "decode_representation", "encode"} <= set(
        served
    ) and "classify" not in served
    images = _batch()["image"]
    out = served["cluster"](images=images)
    np.testing.assert_array_equal(out["y"].numpy(), model.categorical.categories(images).numpy())


def test_trains_exports_and_the_export_gives_what_the_model_gives(tmp_path):
    from gan_zoo import exported, training
    from gan_zoo.evaluation import classification

    cfg = tiny_config(
        tmp_path / "w",
        model=SEMI,
        hidden_units=16,
        hidden_layers=1,
        num_labels=20,
        steps_per_epoch=3,
        export=True,
    )
    run = training.run(cfg, verbose=0)
    model, export = run.model, exported.load_export(run.export_dir)
    images = tf.constant(digits.load().arrays("test")[0][:6].astype(np.float32) / 255.0)
    code = export.module.signatures["encode"](images=images)
    expected = model.encode(images)
    assert set(code) == {"y", "z", "representation"}
    for key in code:
        np.testing.assert_allclose(code[key].numpy(), expected[key].numpy(), atol=1e-5)
    y = tf.constant([0, 3, 9, 1, 1, 2])
    np.testing.assert_allclose(
        export.module.signatures["decode"](z=code["z"], y=y)["images"].numpy(),
        model.decode({"y": tf.one_hot(y, 10), "z": code["z"]}).numpy(),
        atol=1e-5,
    )
    np.testing.assert_allclose(
        export.module.signatures["decode_representation"](representation=code["representation"])[
            "images"
        ].numpy(),
        export.module.signatures["reconstruct"](images=images)["images"].numpy(),
        atol=1e-5,
    )
    classes = export.module.signatures["classify"](images=images)["y"].numpy()
    np.testing.assert_array_equal(classes, model.categorical.categories(images).numpy())
    # gan_zoo.evaluate --metrics=error scores it like any classifier.
    scored = classification.export_error(export, digits.load())
    assert 0.0 <= scored["test_error"] <= 1.0 and "class_control" in scored
