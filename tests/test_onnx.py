"""ONNX copies of the exports (gan_zoo/onnx_export.py, train.py --export_onnx).

For gan, dcgan, vae, aae and aae_semi_supervised, onnxruntime running each
written .onnx file gives what the SavedModel's signature gives, to 1e-5, on
random inputs; the signatures left out are exactly those that draw random
numbers, and the alias serving_default. `python -m gan_zoo.onnx_export` says
what it wrote and skipped; a run with --export_onnx converts its export, and
without the onnx extra stops with one line before it creates anything.

Models are tiny and untrained, but with BatchNorm statistics, scales and
biases moved off their initial values: untrained, BatchNorm is the identity
and biases are zero, so a conversion that dropped or swapped them would pass.
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

CLASSES = 10  # the embedded digits'
SMALL = {"gan": {}, "dcgan": dict(image_size=32, ngf=4, ndf=4)}
MLP = dict(hidden_units=16, hidden_layers=1)
AUTOENCODER = {"encode", "decode", "reconstruct"}
# Written out, not read from the export: a signature that stops converting fails.
CONVERTED = {
    "gan": {"generate", "discriminate"},
    "dcgan": {"generate", "discriminate", "features"},
    "vae": AUTOENCODER,
    "aae": AUTOENCODER,
    "aae_semi_supervised": AUTOENCODER | {"classify"},
}
CASES = [(name, signature) for name in sorted(CONVERTED) for signature in sorted(CONVERTED[name])]


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
def converted(tmp_path_factory):
    """Model name -> (loaded export, onnx_export.Converted), one tiny export
    per model, written the way training.run writes it."""
    pytest.importorskip("tf2onnx")
    pytest.importorskip("onnxruntime")
    cache, root = {}, tmp_path_factory.mktemp("onnx")

    def get(name):
        if name not in cache:
            cfg = tiny_config(root / name, model=name, **SMALL.get(name, MLP))
            model = registry.model_class(name).from_flags(cfg, digits.load(), 2)
            _move_off_initial_values(model, np.random.default_rng(1))
            export = exported.load_export(training.export_model(cfg, model))
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


@pytest.mark.parametrize("name, signature", CASES)
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
