"""Every serving signature of every registered model, as a process that has
never imported gan_zoo sees it through tf.saved_model.load: the inputs it
takes, and the shapes, dtypes and value ranges of what it returns; and the
ONNX copies of the exports (gan_zoo/onnx_export.py, train.py --export_onnx).

The expected signatures are written out here, per model family, rather than
read from the models, so that a renamed, dropped or retyped input or output
fails. Models are tiny and untrained, one export per model shared by all the
tests here, with BatchNorm statistics, scales and biases moved off their
initial values: untrained, BatchNorm is the identity and biases are zero, so
an ONNX conversion that dropped or swapped them would pass (an untrained
network already fills its output range).

For gan, dcgan, vae, aae and aae_semi_supervised, onnxruntime running each
written .onnx file gives what the SavedModel's signature gives, to 1e-5, on
random inputs; the signatures left out are exactly those that draw random
numbers, and the alias serving_default. `python -m gan_zoo.onnx_export` says
what it wrote and skipped; a run with --export_onnx converts its export, and
without the onnx extra stops with one line before it creates anything.
"""

import os
import shutil
import sys

import numpy as np
import pytest
import tensorflow as tf
from conftest import run_scripts, tiny_config

from gan_zoo import exported, onnx_export, registry, training
from gan_zoo.datasets import digits
from gan_zoo.errors import UserError

N = 5  # examples per call, and `num` for the signatures that draw their own
CLASSES = 10  # the embedded digits'
SMALL = {
    "gan": {},
    "cgan": {},
    "dcgan": dict(image_size=32, ngf=4, ndf=4),
    "gan_cifar10_fc": dict(width_factor=0.01),
    "gan_cifar10_conv": dict(width_factor=0.05),
}
F32, I32, I64 = tf.float32, tf.int32, tf.int64


def _spec(name, cfg):
    """{signature: (inputs, outputs)}, each {name: (shape, dtype)}; None is
    the batch. Built from the config (sizes) and the families' contracts.
    ``serving_default``, what TF Serving calls when no signature is named, is
    the first endpoint (Keras' ExportArchive): generate for a GAN, encode for
    an autoencoder."""
    side = cfg.image_size if name == "dcgan" or name.startswith("gan_cifar10") else 28
    images, z = ([None, side, side, 1], F32), ([None, cfg.latent_dim], F32)
    label, draw = ([None], I32), {"num": ([], I32), "seed": ([], I64)}
    if name in ("gan", "dcgan", "cgan") or name.startswith("gan_cifar10"):
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
    gaussian = name in ("vae", "cvae", "vae_semi_supervised")
    code = {"z": z, **({"z_log_var": z} if gaussian else {})}
    reads = {"label": label} if name in ("cvae", "aae_supervised", "vae_semi_supervised") else {}
    categories = {
        "aae_semi_supervised": CLASSES,
        "aae_dim_reduction": CLASSES,
        "vae_semi_supervised": CLASSES,
    }.get(name)
    clusters = name in ("aae_clustering", "aae_dim_reduction_unsupervised")
    if clusters:
        categories = cfg.num_clusters
    if categories:  # a softmax y beside the style z; decode takes y as categories
        y = ([None, categories], F32)
        # M2's y is no prior draw: generate decodes z with labels in turn.
        code, generated = {"y": y, **code}, {"y": y, "z": z} if not gaussian else {"z": z}
        decode_inputs = {"z": z, "y": label}
    else:
        generated = {"z": z}
        decode_inputs = {"z": z, **reads}
    if name.startswith("aae_dim_reduction"):  # and their sum W_c y + z
        code = {**code, "representation": z}
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
        spec["cluster" if clusters else "classify"] = (
            {"images": images},
            {"y": label, "probabilities": ([None, categories], F32)},
        )
    if name.startswith("aae_dim_reduction"):
        spec["decode_representation"] = ({"representation": z}, {"images": images})
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


def _move_off_initial_values(model, rng):
    for variable in model.variables:
        if variable.dtype != "float32":  # seed generators' states
            continue
        shape = tuple(variable.shape)
        if variable.name in ("moving_variance", "gamma"):
            variable.assign(rng.uniform(0.5, 1.5, shape).astype(np.float32))
        elif variable.name in ("moving_mean", "beta", "bias"):
            variable.assign(rng.normal(0.0, 0.2, shape).astype(np.float32))


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """Model name -> (config, exported.Export), one tiny export per model,
    written the way training.run writes it."""
    cache, root = {}, tmp_path_factory.mktemp("signatures")

    def get(name):
        if name not in cache:
            cfg = _config(name, root)
            model = registry.model_class(name).from_flags(cfg, digits.load(), 2)
            _move_off_initial_values(model, np.random.default_rng(1))
            cache[name] = cfg, exported.load_export(training.export_model(cfg, model))
        return cache[name]

    return get


@pytest.mark.parametrize("name", MODELS)
def test_each_model_exports_exactly_the_expected_signatures(exports, name):
    cfg, export = exports(name)
    assert set(export.module.signatures) == set(_spec(name, cfg))


def _inputs(specs, categories):
    rng = np.random.default_rng(0)

    def value(key, shape):
        if key == "images":
            return rng.uniform(0.0, 1.0, [N] + shape[1:])
        if key in ("z", "representation"):
            return rng.normal(size=[N] + shape[1:])
        if key in ("label", "y"):
            return np.arange(N) % categories
        return {"num": N, "seed": 3}[key]

    return {key: tf.constant(value(key, shape), dtype) for key, (shape, dtype) in specs.items()}


@pytest.mark.parametrize("name, signature", CASES)
def test_signature_inputs_outputs_and_ranges(exports, name, signature):
    cfg, export = exports(name)
    inputs, outputs = _spec(name, cfg)[signature]
    fn = export.module.signatures[signature]
    declared = fn.structured_input_signature[1]
    assert {k: (v.shape.as_list(), v.dtype) for k, v in declared.items()} == inputs

    categories = cfg.num_clusters if name.endswith(("clustering", "unsupervised")) else CLASSES
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


# ONNX
AUTOENCODER = {"encode", "decode", "reconstruct"}
# Written out, not read from the export: a signature that stops converting fails.
CONVERTED = {
    "gan": {"generate", "discriminate"},
    "dcgan": {"generate", "discriminate", "features"},
    "vae": AUTOENCODER,
    "aae": AUTOENCODER,
    "aae_semi_supervised": AUTOENCODER | {"classify"},
}
ONNX_CASES = [
    (name, signature) for name in sorted(CONVERTED) for signature in sorted(CONVERTED[name])
]


@pytest.fixture(scope="module")
def converted(exports):
    """Model name -> (exported.Export, onnx_export.Converted) for the
    models of CONVERTED, converted once."""
    pytest.importorskip("tf2onnx")
    pytest.importorskip("onnxruntime")
    cache = {}

    def get(name):
        if name not in cache:
            export = exports(name)[1]
            cache[name] = export, onnx_export.write(export)
        return cache[name]

    return get


@pytest.mark.parametrize("name", sorted(CONVERTED))
def test_every_signature_is_converted_or_skipped_for_its_reason(converted, name):
    export, result = converted(name)
    assert set(result.files) == CONVERTED[name]
    assert set(result.skipped) == set(export.module.signatures) - CONVERTED[name]
    for signature, reason in result.skipped.items():
        inputs = export.module.signatures[signature].structured_input_signature[1]
        if signature == "serving_default":
            assert reason == onnx_export.SKIPPED["serving_default"]
        else:
            assert "seed" in inputs and reason == onnx_export.DRAWS, signature
    directory = os.path.join(export.directory, "onnx")
    assert result.files == {s: os.path.join(directory, s + ".onnx") for s in CONVERTED[name]}
    assert sorted(os.listdir(directory)) == sorted(s + ".onnx" for s in CONVERTED[name])


@pytest.mark.parametrize("name, signature", ONNX_CASES)
def test_onnxruntime_gives_what_the_saved_model_gives(converted, name, signature):
    import onnxruntime

    export, result = converted(name)
    fn = export.module.signatures[signature]
    session = onnxruntime.InferenceSession(
        result.files[signature], providers=["CPUExecutionProvider"]
    )
    inputs = onnx_export.random_inputs(fn, 16, np.random.default_rng(7), CLASSES)
    assert {i.name for i in session.get_inputs()} == set(inputs)
    expected = {
        k: v.numpy() for k, v in fn(**{k: tf.constant(v) for k, v in inputs.items()}).items()
    }
    # ONNX names a value once: reconstruct's output `images` is `images_out`.
    names = {k: k + "_out" if k in inputs else k for k in expected}
    got = dict(zip([o.name for o in session.get_outputs()], session.run(None, inputs), strict=True))
    assert set(got) == set(names.values())
    for key, value in expected.items():
        assert got[names[key]].dtype == value.dtype, key
        np.testing.assert_allclose(got[names[key]], value, rtol=0, atol=1e-5, err_msg=key)


def test_the_command_writes_the_files_and_says_what_it_skipped(converted, tmp_path):
    export, _ = converted("aae")
    copy = shutil.copytree(export.directory, tmp_path / "export")
    shutil.rmtree(copy / "onnx")
    done = run_scripts(
        {
            "good": ["-m", "gan_zoo.onnx_export", f"--export={copy}"],
            "bad": ["-m", "gan_zoo.onnx_export", f"--export={tmp_path}"],
        }
    )
    assert done["good"].returncode == 0, done["good"].stderr
    assert sorted(os.listdir(copy / "onnx")) == sorted(s + ".onnx" for s in AUTOENCODER)
    lines = done["good"].stdout.splitlines()
    assert [line.split(" (")[0] for line in lines[:3]] == [
        f"Wrote {copy}/onnx/{s}.onnx" for s in sorted(AUTOENCODER)
    ]
    assert lines[3:] == [f"Skipped {s}: {onnx_export.DRAWS}." for s in ("generate", "sample")] + [
        f"Skipped serving_default: {onnx_export.SKIPPED['serving_default']}."
    ]
    assert done["bad"].returncode == 2
    assert (
        done["bad"].stderr == f"error: {tmp_path} is not a SavedModel export (no "
        "saved_model.pb); pass the export/ directory of a train.py run.\n"
    )


def test_without_the_extra_a_run_stops_before_it_starts(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` fails
    cfg = tiny_config(tmp_path / "run", export_onnx=True, export=True)
    for attempt in (
        lambda: training.run(cfg),
        lambda: training.export_only(cfg),
        lambda: onnx_export.require("ONNX export"),
    ):
        with pytest.raises(UserError) as raised:
            attempt()
        message = str(raised.value)
        assert "\n" not in message
        assert "onnxruntime" in message and 'pip install -e ".[onnx]"' in message
    assert not (tmp_path / "run").exists()


def test_a_run_with_export_onnx_converts_its_export(tmp_path, monkeypatch):
    # The conversion itself is tested above; this is the hook in training.run,
    # without the training (the chief converts what _train exported).
    converted = []
    monkeypatch.setattr(onnx_export, "require", lambda purpose, precision: None)
    monkeypatch.setattr(onnx_export, "convert_export", converted.append)
    monkeypatch.setattr(
        training,
        "_train",
        lambda cfg, verbose: training.Run(cfg, None, 1, {}, None, f"{cfg.workdir}/export"),
    )
    training.run(tiny_config(tmp_path / "plain", export=True))
    training.run(tiny_config(tmp_path / "onnx", export_onnx=True, export=True))
    assert converted == [f"{tmp_path}/onnx/export"]
