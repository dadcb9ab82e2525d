"""ONNX copies of an export's serving signatures, for runtimes other than TensorFlow.

    python -m gan_zoo.onnx_export --export=runs/gan_digits/export

writes ``<export>/onnx/<signature>.onnx`` for every signature that ONNX can
express, runs each through onnxruntime on random inputs and reports how far
its outputs are from the SavedModel's. ``train.py --export_onnx`` does the
same after its export. Needs the ``onnx`` extra: ``pip install -e ".[onnx]"``.

The files live inside the export directory, not beside it, because every
re-export replaces that directory whole (gan_zoo.export writes a new one and
swaps it in): ONNX files of an older export can never sit next to a newer
SavedModel. They also travel with the export and its gan_zoo.json when it is
copied to a server.

Each ONNX graph has the signature's input and output names, with one
exception: ONNX names every value once, so an output named like an input (the
``images`` that ``reconstruct`` returns for the ``images`` it takes) gets
the suffix ``_out``.

Not converted:
- signatures that draw random numbers from a ``seed`` input (``sample``, the
  autoencoders' ``generate``, ``generate_for_labels``): they use TensorFlow's
  stateless Philox ops (StatelessRandomUniformV2, ...), which ONNX has no
  operator for (tf2onnx 1.17 leaves them unconverted and onnxruntime refuses
  the graph); ONNX's own RandomNormal takes a seed fixed at conversion time
  and another generator, so one seed could not give the same images anyway.
  Draw z yourself and call ``generate`` / ``decode``.
- ``serving_default``: TF Serving's name for the first signature (generate
  or encode), whose file it would duplicate.
"""

from __future__ import annotations

if __name__ == "__main__":
    # As a command, mute TensorFlow's C++ start-up notes before the imports
    # below load it, as gan_zoo.cli does for every entry point.
    from gan_zoo import cli

    cli.import_tensorflow_quietly()

import dataclasses  # noqa: E402
import importlib  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from gan_zoo import exported, signatures, storage  # noqa: E402
from gan_zoo.errors import UserError  # noqa: E402

PACKAGES = ("tf2onnx", "onnx", "onnxruntime")
INSTALL = 'pip install -e ".[onnx]"'
DIRECTORY = "onnx"
# tf2onnx 1.17's own default, stated so that upgrading tf2onnx does not change
# the files; every onnxruntime since 1.10 runs it.
OPSET = 15
# Outputs further than this from TensorFlow's mean a wrong conversion, not
# rounding: float32 exports differed by at most a few 1e-7 on every model here,
# float16 ones (which add in another order) by up to 3e-4. mixed_bfloat16 is
# absent: its graphs convert, but onnxruntime refuses them (opset 15's Conv has
# no bfloat16, and tf2onnx 1.17 types some bfloat16 MatMuls as float16).
TOLERANCE = {"float32": 1e-4, "mixed_float16": 1e-2}
CHECK_BATCH = 8

SKIPPED = {
    "serving_default": "TF Serving's alias of the first signature, converted under its own name"
}
DRAWS = (
    "draws random numbers from its seed with TensorFlow's stateless Philox ops, which "
    "ONNX lacks; draw z yourself and run generate (GANs) or decode (autoencoders)"
)


@dataclasses.dataclass
class Converted:
    """What :func:`write` did: ``files`` maps each converted signature to its
    .onnx path, ``max_diff`` to onnxruntime's largest absolute difference from
    TensorFlow on random inputs, ``skipped`` to why a signature was not."""

    directory: str
    files: dict
    max_diff: dict
    skipped: dict

    def lines(self) -> list[str]:
        """One line per signature, for the user."""
        out = [
            f"Wrote {path} (onnxruntime matches TensorFlow to {self.max_diff[name]:.1e} on "
            f"{CHECK_BATCH} random inputs)"
            for name, path in self.files.items()
        ]
        return out + [f"Skipped {name}: {why}." for name, why in self.skipped.items()]


def require(purpose: str, mixed_precision: str = "float32") -> None:
    """Raises UserError, one line saying why and what to do, unless an export
    of this precision converts here: tf2onnx, onnx and onnxruntime import and
    the precision is not mixed_bfloat16.

    Args:
      purpose: what needs them, for the message (e.g. "--export_onnx").
      mixed_precision: the run's --mixed_precision.
    """
    if mixed_precision not in TOLERANCE:
        raise UserError(
            f"{purpose} cannot convert a --mixed_precision={mixed_precision} model: "
            "onnxruntime does not run its bfloat16 layers; use float32 or "
            "mixed_float16."
        )
    missing = []
    for name in PACKAGES:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise UserError(
            f"{purpose} needs {', '.join(missing)}, not installed here; install "
            f"the onnx extra with: {INSTALL}"
        )


def skip_reason(name: str, signature) -> str | None:
    """Why signature ``name`` is not converted, or None if it is."""
    if name in SKIPPED:
        return SKIPPED[name]
    if "seed" in signature.structured_input_signature[1]:
        return DRAWS
    return None


def _renamed_outputs(signature) -> dict:
    """TensorFlow output name -> ONNX output name (see the module docstring)."""
    inputs = set(signature.structured_input_signature[1])
    return {key: key + "_out" if key in inputs else key for key in signature.structured_outputs}


def convert(signature):
    """The ONNX ModelProto of one loaded serving signature.

    Args:
      signature: ``loaded.signatures[name]`` of a SavedModel.

    Returns:
      An onnx.ModelProto whose inputs and outputs carry the signature's names
      (outputs renamed per :func:`_renamed_outputs`).
    """
    import tf2onnx

    specs = signature.structured_input_signature[1]
    names = sorted(specs)
    renamed = _renamed_outputs(signature)

    # tf2onnx names the graph's inputs after the TensorSpecs and its outputs
    # after the returned dict's keys; a signature only takes keywords, so it
    # is called through a function of named positional arguments.
    def positional(*args):
        outputs = signature(**dict(zip(names, args, strict=True)))
        return {renamed[k]: v for k, v in outputs.items()}

    positional = signatures.traced(
        positional, *[tf.TensorSpec(specs[k].shape, specs[k].dtype, name=k) for k in names]
    )

    # tf2onnx logs every graph rewriter that does not apply as an ERROR; a
    # conversion that really fails is caught by onnxruntime below.
    tf2onnx_logger = logging.getLogger("tf2onnx")
    level = tf2onnx_logger.level
    tf2onnx_logger.setLevel(logging.CRITICAL)
    try:
        proto, _ = tf2onnx.convert.from_function(
            positional, input_signature=positional.input_signature, opset=OPSET
        )
    finally:
        tf2onnx_logger.setLevel(level)
    return proto


def random_inputs(signature, batch: int, rng, categories: int = 2) -> dict:
    """Inputs for ``signature``: images in [0, 1], standard normal codes and
    integer labels below ``categories``, ``batch`` of each, as numpy arrays.

    The export does not record how many classes its labels have; every
    model here has at least two, so the default is valid for all of them.
    """
    inputs = {}
    for key, spec in signature.structured_input_signature[1].items():
        shape = [batch] + spec.shape.as_list()[1:]
        if spec.dtype.is_integer:
            value = rng.integers(0, categories, shape)
        elif key == "images":
            value = rng.uniform(0.0, 1.0, shape)
        else:
            value = rng.normal(size=shape)
        inputs[key] = value.astype(spec.dtype.as_numpy_dtype)
    return inputs


def max_difference(signature, session, inputs: dict) -> float:
    """Largest absolute difference between every output of ``signature`` and
    of onnxruntime's ``session`` on ``inputs``."""
    expected = signature(**{k: tf.constant(v) for k, v in inputs.items()})
    got = dict(zip([o.name for o in session.get_outputs()], session.run(None, inputs), strict=True))
    renamed = _renamed_outputs(signature)
    return max(
        float(np.max(np.abs(value.numpy().astype(np.float64) - got[renamed[key]])))
        for key, value in expected.items()
    )


def write(export: exported.Export, seed: int = 0) -> Converted:
    """Writes ``<export>/onnx/<signature>.onnx`` for every convertible signature,
    each checked with onnxruntime against the SavedModel.

    The files are written into a staging directory and swapped in when all
    are done, so an older ``onnx/`` is replaced whole, never mixed.

    Args:
      export: the loaded export (gan_zoo.exported.load_export).
      seed: of the random check inputs.

    Returns:
      A :class:`Converted`.

    Raises:
      UserError: a signature that should convert did not, or onnxruntime's
        outputs differ from TensorFlow's by more than TOLERANCE; nothing is
        written then. The extra is missing, or the export is mixed_bfloat16.
    """
    import onnxruntime

    precision = export.metadata["config"].get("mixed_precision", "float32")
    require("ONNX export", precision)
    tolerance = TOLERANCE[precision]
    directory = os.path.join(export.directory, DIRECTORY)
    staging = directory + storage.STAGING
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    files, diffs, skipped = {}, {}, {}
    rng = np.random.default_rng(seed)
    try:
        for name in sorted(export.module.signatures):
            signature = export.module.signatures[name]
            reason = skip_reason(name, signature)
            if reason:
                skipped[name] = reason
                continue
            path = os.path.join(staging, name + ".onnx")
            with open(path, "wb") as f:
                f.write(convert(signature).SerializeToString())
            try:
                session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
                diffs[name] = max_difference(
                    signature, session, random_inputs(signature, CHECK_BATCH, rng)
                )
            except Exception as e:  # onnxruntime raises its own Fail / InvalidGraph / ...
                message = " ".join(str(e).split())[:300]
                raise UserError(
                    f"cannot convert the {name!r} signature of {export.directory} "
                    f"to ONNX: onnxruntime fails on it ({message})."
                ) from None
            if not diffs[name] <= tolerance:
                raise UserError(
                    f"the ONNX conversion of {name!r} ({export.directory}) differs "
                    f"from TensorFlow by {diffs[name]:.2g} on random inputs (more "
                    f"than {tolerance:g}); nothing was written."
                )
            files[name] = os.path.join(directory, name + ".onnx")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    storage.replace_directory(staging, directory)
    return Converted(directory, files, diffs, skipped)


def convert_export(directory: str) -> Converted:
    """Loads the export in ``directory``, writes its ONNX files (:func:`write`)
    and prints what was written and skipped."""
    converted = write(exported.load_export(directory))
    for line in converted.lines():
        print(line)
    return converted


def _define_flags():
    # Only as a command: train.py imports this module and must not get --export.
    from absl import flags

    flags.DEFINE_string(
        "export",
        None,
        "An export directory written by train.py; the .onnx files go into its onnx/ folder.",
    )
    return flags.FLAGS


def check_settings() -> None:
    require("ONNX export")  # before loading anything
    exported.check_given(FLAGS.export)


def main(argv):
    del argv
    check_settings()
    convert_export(FLAGS.export)


if __name__ == "__main__":
    FLAGS = _define_flags()
    cli.run(main, check=check_settings)
