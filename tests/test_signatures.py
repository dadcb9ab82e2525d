"""Every serving signature of every registered model, as a process that has
never imported gan_zoo sees it through tf.saved_model.load: the inputs it
takes, and the shapes, dtypes and value ranges of what it returns.

The expected signatures are written out here, per model family, rather than
read from the models, so that a renamed, dropped or retyped input or output
fails. Models are tiny and untrained: the export is what is under test, and
an untrained network already fills its output range.
"""

import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import tiny_config

from gan_zoo import registry, training
from gan_zoo.datasets import digits

N = 5  # examples per call, and `num` for the signatures that draw their own
CLASSES = 10  # the embedded digits'
SMALL = {"gan": {}, "cgan": {}, "dcgan": dict(image_size=32, ngf=8, ndf=8)}
F32, I32, I64 = tf.float32, tf.int32, tf.int64


def _spec(name, cfg):
    """{signature: (inputs, outputs)}, each {name: (shape, dtype)}; None is
    the batch. Built from the config (sizes) and the families' contracts.
    ``serving_default``, what TF Serving calls when no signature is named, is
    the first endpoint (Keras' ExportArchive): generate for a GAN, encode for
    an autoencoder."""
    side = cfg.image_size if name == "dcgan" else 28
    images, z = ([None, side, side, 1], F32), ([None, cfg.latent_dim], F32)
    label, draw = ([None], I32), {"num": ([], I32), "seed": ([], I64)}
    if name in ("gan", "dcgan", "cgan"):
        conditional = {"label": label} if name == "cgan" else {}
        generate = ({"z": z, **conditional}, {"images": images})
        spec = {
            "generate": generate,
            "serving_default": generate,
            "sample": (draw, {"images": images, "z": z, **conditional}),
            "discriminate": (
                {"images": images, **conditional},
                {"probability": ([None], F32), "logit": ([None], F32)},
            ),
        }
        if name == "dcgan":  # every strided layer of D (ndf, 2 ndf, 4 ndf wide) pooled to 4x4
            spec["features"] = (
                {"images": images},
                {"features": ([None, 16 * cfg.ndf * (1 + 2 + 4)], F32)},
            )
        return spec
    # The autoencoder family: encode, decode, reconstruct, generate = sample.
    code = {"z": z, **({"z_log_var": z} if name in ("vae", "cvae") else {})}
    reads = {"label": label} if name in ("cvae", "aae_supervised") else {}
    categories = {"aae_semi_supervised": CLASSES}.get(name)
    if name == "aae_clustering":
        categories = cfg.num_clusters
    if categories:  # a softmax y beside the style z; decode takes y as categories
        y = ([None, categories], F32)
        code, generated = {"y": y, "z": z}, {"y": y, "z": z}
        decode_inputs = {"z": z, "y": label}
    else:
        generated = {"z": z}
        decode_inputs = {"z": z, **reads}
    encode = ({"images": images, **({"label": label} if name == "cvae" else {})}, code)
    spec = {
        "encode": encode,
        "serving_default": encode,
        "decode": (decode_inputs, {"images": images}),
        "reconstruct": ({"images": images, **reads}, {"images": images}),
        "generate": (draw, {"images": images, **generated}),
        "sample": (draw, {"images": images, **generated}),
    }
    if reads:
        spec["generate_for_labels"] = (
            {"label": label, "seed": ([], I64)},
            {"images": images, "z": z},
        )
    if categories:
        spec["cluster" if name == "aae_clustering" else "classify"] = (
            {"images": images},
            {"y": label, "probabilities": ([None, categories], F32)},
        )
    return spec


def _config(name, root):
    return tiny_config(
        os.path.join(root, name),
        model=name,
        **SMALL.get(name, dict(hidden_units=16, hidden_layers=1)),
    )


MODELS = sorted(registry.MODELS)
CASES = [
    (name, signature)
    for name in MODELS
    for signature in sorted(_spec(name, _config(name, "unused")))
]


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """Model name -> (config, loaded export), one untrained export per model,
    written the way training.run writes it."""
    cache, root = {}, tmp_path_factory.mktemp("signatures")

    def get(name):
        if name not in cache:
            cfg = _config(name, root)
            model = registry.model_class(name).from_flags(cfg, digits.load(), 2)
            cache[name] = cfg, tf.saved_model.load(training.export_model(cfg, model))
        return cache[name]

    return get


@pytest.mark.parametrize("name", MODELS)
def test_each_model_exports_exactly_the_expected_signatures(exports, name):
    cfg, loaded = exports(name)
    assert set(loaded.signatures) == set(_spec(name, cfg))


def _inputs(specs, categories):
    rng = np.random.default_rng(0)

    def value(key, shape):
        if key == "images":
            return rng.uniform(0.0, 1.0, [N] + shape[1:])
        if key == "z":
            return rng.normal(size=[N] + shape[1:])
        if key in ("label", "y"):
            return np.arange(N) % categories
        return {"num": N, "seed": 3}[key]

    return {key: tf.constant(value(key, shape), dtype) for key, (shape, dtype) in specs.items()}


@pytest.mark.parametrize("name, signature", CASES)
def test_signature_inputs_outputs_and_ranges(exports, name, signature):
    cfg, loaded = exports(name)
    inputs, outputs = _spec(name, cfg)[signature]
    fn = loaded.signatures[signature]
    declared = fn.structured_input_signature[1]
    assert {k: (v.shape.as_list(), v.dtype) for k, v in declared.items()} == inputs

    categories = cfg.num_clusters if name == "aae_clustering" else CLASSES
    got = {k: v.numpy() for k, v in fn(**_inputs(inputs, categories)).items()}
    assert {k: (list(v.shape), tf.as_dtype(v.dtype)) for k, v in got.items()} == {
        k: ([N] + shape[1:], dtype) for k, (shape, dtype) in outputs.items()
    }
    for key, value in got.items():
        if value.dtype.kind == "f":
            assert np.all(np.isfinite(value)), key
    # Ranges: pixels in [0, 1] whatever the model's own range; D's probability
    # the sigmoid of its logit; categories as one-hot draws, softmax codes or
    # argmax indices of their probabilities; labels among the classes.
    if "images" in got:
        assert 0.0 <= got["images"].min() and got["images"].max() <= 1.0
    if "logit" in got:
        np.testing.assert_allclose(
            got["probability"], 1 / (1 + np.exp(-got["logit"])), rtol=1e-5, atol=1e-7
        )
    if "probabilities" in got:
        assert np.all(got["probabilities"] >= 0)
        np.testing.assert_allclose(got["probabilities"].sum(1), 1.0, rtol=1e-5)
        np.testing.assert_array_equal(got["y"], got["probabilities"].argmax(1))
    elif "y" in got and signature in ("generate", "sample"):
        # Drawn categories in turn: 0, 1, ..., K-1, 0, ... as one-hot rows.
        np.testing.assert_array_equal(got["y"], np.eye(categories)[np.arange(N) % categories])
    elif "y" in got:
        assert np.all(got["y"] >= 0)
        np.testing.assert_allclose(got["y"].sum(1), 1.0, rtol=1e-5)
    if "label" in got:
        assert set(got["label"]) <= set(range(CLASSES))
